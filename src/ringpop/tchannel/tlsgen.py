"""Throwaway certificates for TLS clusters: a CA and the certificates it signs.

For tests and local clusters (``ringpop tick-cluster --tls``), not for production
PKI. Needs the ``cryptography`` package (``pip install 'ringpop[tls]'``); running
TLS itself needs only Python's ``ssl``. Keys are ECDSA P-256 (fast to make).

::

    ca = make_ca()
    node = make_cert(ca, "node-1", ips=["127.0.0.1"])
    cert_file, key_file = node.write(directory, "node-1")
    ca_file = ca.write_cert(directory, "ca")
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "make_ca", "make_cert", "write_pem"]


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return self.certificate.serial_number

    def cert_pem(self) -> bytes:
        """The certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write_cert(self, directory: Path, name: str) -> Path:
        """Write ``directory/<name>.pem`` (certificate only, e.g. a CA); its path."""
        path = directory / f"{name}.pem"
        write_pem(path, self.cert_pem())
        return path

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem`` and ``<name>-key.pem`` (mode 0600); their paths."""
        key = directory / f"{name}-key.pem"
        write_pem(key, self.key_pem(), mode=0o600)
        return self.write_cert(directory, name), key


def write_pem(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ringpop"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str = "ringpop throwaway CA",
    *,
    days: float = 30.0,
) -> Issued:
    """A self-signed CA certificate valid from a minute ago for ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = _name(common_name)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def make_cert(
    ca: Issued,
    common_name: str,
    *,
    ips: Iterable[str] = (),
    dns_names: Iterable[str] = (),
    days: float = 30.0,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> Issued:
    """A certificate signed by ``ca`` for both TLS server and client use.

    ``ips`` and ``dns_names`` become subjectAltNames (what hostname checks match).
    Valid from a minute ago for ``days`` days unless ``not_before``/``not_after``
    say otherwise (an expired certificate for tests: ``not_after`` in the past).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    start = not_before if not_before is not None else now - datetime.timedelta(minutes=1)
    end = not_after if not_after is not None else now + datetime.timedelta(days=days)
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    names += [x509.DNSName(name) for name in dns_names]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.private_key, hashes.SHA256()), key)
