"""The ``--tls-*`` flags of node programs (testpop, the examples) and ``ringpop admin``.

A node speaks TLS when it is given ``--tls-cert`` (it must present a certificate to
listen); an admin client when it is given ``--tls-ca`` or ``--tls-cert``. Nothing
TLS-related is imported unless a flag is used.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ringpop.cli.argtypes import seconds_or_zero

if TYPE_CHECKING:
    from ringpop.tlsconfig import TLSConfig

__all__ = ["add_tls_arguments", "tls_config"]


def add_tls_arguments(
    parser: argparse.ArgumentParser, *, node: bool = True, suppress: bool = False
) -> None:
    """Add the TLS flags (a group of their own); ``node``: a listening node's too.

    ``suppress``: no defaults (``argparse.SUPPRESS``), for flags shared by a parser
    and its sub-parsers; :func:`tls_config` copes with absent attributes.
    """
    group = parser.add_argument_group(
        "TLS (Python-only clusters: ringpop-node and ringpop-go have no TLS)",
        argument_default=argparse.SUPPRESS if suppress else None,
    )
    off: bool | str = argparse.SUPPRESS if suppress else False
    group.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="PEM certificate (chain) to present; turns TLS on"
        if node
        else "PEM client certificate to present (clusters that require one)",
    )
    group.add_argument(
        "--tls-key", metavar="FILE", help="its PEM private key (default: in --tls-cert)"
    )
    group.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="PEM CA bundle peers' certificates must chain to"
        if node
        else "PEM CA bundle the nodes' certificates must chain to; turns TLS on",
    )
    if node:
        group.add_argument(
            "--tls-require-client-cert",
            action="store_true",
            default=off,
            help="mutual TLS: refuse peers without a certificate from --tls-ca",
        )
    group.add_argument(
        "--tls-check-hostname",
        action="store_true",
        default=off,
        help="the server's certificate must name the IP dialled (subjectAltName)",
    )
    group.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="the server's certificate must carry this DNS name (one name for all nodes)",
    )
    if node:
        group.add_argument(
            "--tls-reload-interval",
            type=seconds_or_zero,
            default=60.0,
            metavar="SECONDS",
            help="check the files for changes this often, on new connections (60; 0: never)",
        )


def tls_config(args: argparse.Namespace, *, node: bool = True) -> TLSConfig | None:
    """The :class:`~ringpop.tlsconfig.TLSConfig` the flags ask for (``None``: no TLS).

    Raises ``ValueError`` (a ``TLSError``) for combinations that cannot work.
    """
    cert = getattr(args, "tls_cert", None)
    key = getattr(args, "tls_key", None)
    ca = getattr(args, "tls_ca", None)
    require = bool(getattr(args, "tls_require_client_cert", False))
    check = bool(getattr(args, "tls_check_hostname", False))
    name = getattr(args, "tls_server_name", None)
    if cert is None and ca is None and key is None and name is None and not (require or check):
        return None
    from ringpop.tlsconfig import TLSConfig, TLSError

    if key is not None and cert is None:
        raise TLSError("--tls-key needs --tls-cert")
    if node and cert is None:
        raise TLSError("a TLS node needs --tls-cert (and --tls-key) to listen")
    if cert is None and ca is None:
        raise TLSError("TLS needs --tls-ca (or --tls-cert)")
    if require and ca is None:
        raise TLSError("--tls-require-client-cert needs --tls-ca")
    return TLSConfig(
        cert_file=cert,
        key_file=key,
        ca_file=ca,
        require_client_cert=require,
        check_hostname=check,
        server_name=name,
        reload_interval=getattr(args, "tls_reload_interval", 60.0),
    )
