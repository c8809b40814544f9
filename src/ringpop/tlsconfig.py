"""The TLS settings of a channel (:class:`TLSConfig`), importable without the transport.

:mod:`ringpop.options` holds one (``Options.tls``) and is imported by code that never
opens a connection, so the settings live here, apart from the contexts and the
listener in :mod:`ringpop.tchannel.tls`, which re-exports them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from ringpop.checks import check_seconds
from ringpop.errors import RingpopError

__all__ = ["TLSConfig", "TLSError"]


class TLSError(RingpopError, ValueError):
    """TLS settings or files that cannot be used (the message says which and why)."""


class TLSConfig(msgspec.Struct, frozen=True, kw_only=True):
    """TLS settings of a channel (all nodes of a cluster need compatible ones).

    * ``cert_file`` - PEM certificate chain presented to peers (leaf first). Needed
      to listen; optional for a client that only calls (``ringpop admin``) unless
      the servers require client certificates.
    * ``key_file`` - PEM private key of ``cert_file`` (default: in ``cert_file``).
    * ``ca_file`` - PEM bundle of the CA(s) peers' certificates must chain to. As
      a client: the servers are verified against it (without it, against the
      system's trust store). As a server: presented client certificates are
      verified against it.
    * ``require_client_cert`` - mutual TLS: refuse clients without a certificate
      signed by ``ca_file`` (which must be given).
    * ``check_hostname`` - as a client, the server's certificate must name the IP
      (or host) dialled, as a subjectAltName.
    * ``server_name`` - as a client, the server's certificate must carry this DNS
      name instead (one name shared by every node, e.g. the cluster's service
      name; also sent as SNI).
    * ``reload_interval`` - seconds between checks of the files for changes, made
      when a connection is opened or accepted; ``0`` never checks
      (:meth:`TLSContexts.reload` still works).
    * ``minimum_version`` - ``"1.2"`` (default) or ``"1.3"``.
    """

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    require_client_cert: bool = False
    check_hostname: bool = False
    server_name: str | None = None
    reload_interval: float = 60.0
    minimum_version: Literal["1.2", "1.3"] = "1.2"

    def __post_init__(self) -> None:
        for name in ("cert_file", "key_file", "ca_file", "server_name"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise TLSError(f"tls {name} must be a non-empty string, not {value!r}")
        for name in ("require_client_cert", "check_hostname"):
            if not isinstance(getattr(self, name), bool):
                raise TLSError(f"tls {name} must be True or False")
        if self.key_file is not None and self.cert_file is None:
            raise TLSError("tls key_file is given without cert_file")
        if self.require_client_cert and self.ca_file is None:
            raise TLSError("tls require_client_cert needs ca_file to verify client certificates")
        check_seconds("tls reload_interval", self.reload_interval, zero_ok=True, error=TLSError)
        if self.minimum_version not in ("1.2", "1.3"):
            raise TLSError(
                f"tls minimum_version must be '1.2' or '1.3', not {self.minimum_version!r}"
            )

    @property
    def files(self) -> tuple[str, ...]:
        """The files the contexts are built from (watched for changes)."""
        names = (self.cert_file, self.key_file, self.ca_file)
        return tuple(dict.fromkeys(name for name in names if name is not None))
