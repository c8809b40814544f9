"""Throwaway mutual-TLS material for a local cluster (``ringpop tick-cluster --tls``).

One CA, one certificate per node (its IP as subjectAltName, so nodes can check
hostnames) and one for admin clients, written to a directory; the flags that make
testpop, the examples and ``ringpop admin`` use them. Needs ``cryptography``
(``pip install 'ringpop[tls]'``): :class:`MissingCryptographyError` says so otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ringpop.tlsconfig import TLSConfig

__all__ = ["ClusterCerts", "MissingCryptographyError", "make_cluster_certs"]


class MissingCryptographyError(RuntimeError):
    """Certificates cannot be made without the ``cryptography`` package."""


@dataclass(frozen=True)
class ClusterCerts:
    """Where the files are: ``ca.pem``, ``<node>.pem``/``<node>-key.pem``, ``admin.pem``."""

    directory: Path
    ca_file: Path
    nodes: dict[str, tuple[Path, Path]]
    admin: tuple[Path, Path]

    def node_flags(self, address: str) -> list[str]:
        """testpop's flags for the node at ``address``: mutual TLS, hostnames checked."""
        cert, key = self.nodes[address]
        return [
            f"--tls-cert={cert}",
            f"--tls-key={key}",
            f"--tls-ca={self.ca_file}",
            "--tls-require-client-cert",
            "--tls-check-hostname",
        ]

    def admin_flags(self) -> list[str]:
        """``ringpop admin``'s flags."""
        cert, key = self.admin
        return [f"--tls-ca={self.ca_file}", f"--tls-cert={cert}", f"--tls-key={key}"]

    def admin_tls(self) -> TLSConfig:
        """An admin client's settings (CA and client certificate)."""
        from ringpop.tlsconfig import TLSConfig

        cert, key = self.admin
        return TLSConfig(cert_file=str(cert), key_file=str(key), ca_file=str(self.ca_file))


def make_cluster_certs(directory: Path, addresses: Sequence[str]) -> ClusterCerts:
    """A fresh CA and certificates for ``addresses`` (``ip:port``) in ``directory``."""
    try:
        from ringpop.tchannel.tlsgen import make_ca, make_cert
    except ImportError:
        raise MissingCryptographyError(
            "TLS certificates need the cryptography package: pip install 'ringpop[tls]'"
        ) from None
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca("ringpop tick-cluster CA")
    nodes: dict[str, tuple[Path, Path]] = {}
    for address in addresses:
        host, port = address.rsplit(":", 1)
        issued = make_cert(ca, f"ringpop node {address}", ips=[host])
        nodes[address] = issued.write(directory, f"node-{host}-{port}")
    admin = make_cert(ca, "ringpop admin").write(directory, "admin")
    return ClusterCerts(directory, ca.write_cert(directory, "ca"), nodes, admin)
