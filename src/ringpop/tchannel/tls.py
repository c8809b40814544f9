"""Optional TLS for TChannel connections: configuration, SSL contexts and reloading.

Off by default: ringpop-node and ringpop-go speak TChannel over plain TCP, so a
cluster that mixes implementations must stay plaintext. A cluster of Python nodes
can turn it on (and mutual TLS with a CA) on every node at once::

    tls = TLSConfig(cert_file="node.pem", key_file="node-key.pem", ca_file="ca.pem",
                    require_client_cert=True)
    channel = Channel("10.0.3.7:3000", tls=tls)

Peers are addressed by ``ip:port``. Clients always verify the server's certificate
chain against ``ca_file``; its *name* is checked only when asked: against the IP
dialled (``check_hostname``, the certificate needs that IP as a subjectAltName) or
against one fixed name every node's certificate carries (``server_name``).

:class:`TLSContexts` holds the contexts built from the files and rebuilds them
when the files change on disk (checked at most every ``reload_interval`` seconds,
when a connection is made) or on :meth:`TLSContexts.reload`. New connections use
the new material; established ones are not touched. Files that do not load (half
written, key not matching the certificate, no CA in the bundle) leave the previous
contexts in place: the failure is logged and the load is tried again later.
"""

from __future__ import annotations

import datetime
import logging
import os
import ssl
import time
from collections.abc import Callable

import msgspec

from ringpop.tlsconfig import TLSConfig, TLSError

__all__ = [
    "CertificateInfo",
    "TLSConfig",
    "TLSContexts",
    "TLSError",
    "certificate_info",
    "describe_tls_error",
]

log = logging.getLogger("ringpop.tchannel.tls")

_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class CertificateInfo(msgspec.Struct, frozen=True):
    """What the logs say about a certificate: serial number, validity, subject."""

    serial: int
    not_before: datetime.datetime
    not_after: datetime.datetime

    def expired(self, now: datetime.datetime | None = None) -> bool:
        """Whether ``now`` (default: the current time) is past ``not_after``."""
        return (now or datetime.datetime.now(datetime.UTC)) > self.not_after

    def __str__(self) -> str:
        return f"serial {self.serial:#x}, valid until {self.not_after:%Y-%m-%d %H:%M:%S}Z"


# -- contexts ---------------------------------------------------------------------------

_Signature = tuple[tuple[int, int, int] | None, ...]


class _Material(msgspec.Struct, frozen=True):
    server: ssl.SSLContext | None
    client: ssl.SSLContext
    signature: _Signature
    certificate: CertificateInfo | None


class TLSContexts:
    """The server and client SSL contexts of a channel, rebuilt when the files change.

    Built from ``config`` at once: files that cannot be used raise :class:`TLSError`
    here, so a node with broken TLS material does not start. Later rebuilds that
    fail keep the previous contexts.
    """

    def __init__(self, config: TLSConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        signature = self._signature()
        self._material = _build(config, signature)
        self._checked_at = clock()
        self._failed: _Signature | None = None
        #: Successful reloads since start.
        self.reloads = 0
        #: The last reload failure (``None`` after a successful load).
        self.last_error: str | None = None
        if self._material.certificate is not None:
            _log_loaded("loaded", config, self._material.certificate)

    @property
    def certificate(self) -> CertificateInfo | None:
        """The leaf certificate presented to peers now, if any."""
        return self._material.certificate

    def server_context(self) -> ssl.SSLContext:
        """The context for the next accepted connection (after checking the files)."""
        self.maybe_reload()
        context = self._material.server
        if context is None:
            raise TLSError("a TLS listener needs cert_file (and key_file)")
        return context

    def client_context(self) -> ssl.SSLContext:
        """The context for the next outgoing connection (after checking the files)."""
        self.maybe_reload()
        return self._material.client

    def server_hostname(self, host: str) -> str:
        """``server_hostname`` of a connection to ``host``: SNI and the name checked."""
        return self.config.server_name or host

    def maybe_reload(self) -> bool:
        """Rebuild the contexts if ``reload_interval`` passed and a file changed.

        Never raises: a failed rebuild is logged (once per version of the files) and
        the previous contexts stay. True when new contexts were built.
        """
        interval = self.config.reload_interval
        if interval <= 0:
            return False
        now = self._clock()
        if now - self._checked_at < interval:
            return False
        self._checked_at = now
        signature = self._signature()
        if signature == self._material.signature:
            return False
        try:
            self._load(signature)
        except TLSError as error:
            first = signature != self._failed
            self._failed = signature
            self.last_error = str(error)
            log.log(
                logging.WARNING if first else logging.DEBUG,
                "TLS: the changed files do not load, keeping the previous certificates "
                "(retrying every %g s): %s",
                interval,
                error,
            )
            return False
        return True

    def reload(self) -> CertificateInfo | None:
        """Build the contexts from the files now, changed or not; the new certificate.

        Raises :class:`TLSError` if they do not load (the previous contexts stay).
        """
        signature = self._signature()
        try:
            self._load(signature)
        except TLSError as error:
            self.last_error = str(error)
            raise
        self._checked_at = self._clock()
        return self._material.certificate

    def _load(self, signature: _Signature) -> None:
        material = _build(self.config, signature)
        self._material = material
        self._failed = None
        self.last_error = None
        self.reloads += 1
        if material.certificate is not None:
            _log_loaded("reloaded", self.config, material.certificate)
        else:
            log.info("TLS: reloaded %s", ", ".join(self.config.files))

    def _signature(self) -> _Signature:
        """(inode, size, mtime) of every file; symlink swaps (Kubernetes) change it."""
        result: list[tuple[int, int, int] | None] = []
        for path in self.config.files:
            try:
                st = os.stat(path)
            except OSError:
                result.append(None)
            else:
                result.append((st.st_ino, st.st_size, st.st_mtime_ns))
        return tuple(result)


def _log_loaded(verb: str, config: TLSConfig, info: CertificateInfo) -> None:
    if info.expired():
        log.warning("TLS: %s %s, which has EXPIRED (%s)", verb, config.cert_file, info)
    else:
        log.info("TLS: %s %s (%s)", verb, config.cert_file, info)


def _build(config: TLSConfig, signature: _Signature) -> _Material:
    """Both contexts from the files (``TLSError`` naming the file that failed)."""
    version = _VERSIONS[config.minimum_version]
    server: ssl.SSLContext | None = None
    certificate: CertificateInfo | None = None
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.minimum_version = version
    client.check_hostname = config.check_hostname or config.server_name is not None
    client.verify_mode = ssl.CERT_REQUIRED
    if config.ca_file is not None:
        _load_ca(client, config.ca_file)
    else:
        client.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if config.cert_file is not None:
        certificate = _read_certificate(config.cert_file)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.minimum_version = version
        _load_chain(server, config.cert_file, config.key_file)
        _load_chain(client, config.cert_file, config.key_file)
        if config.ca_file is not None:
            _load_ca(server, config.ca_file)
            server.verify_mode = (
                ssl.CERT_REQUIRED if config.require_client_cert else ssl.CERT_OPTIONAL
            )
        else:
            server.verify_mode = ssl.CERT_NONE
    return _Material(server, client, signature, certificate)


def _load_chain(context: ssl.SSLContext, cert_file: str, key_file: str | None) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if "KEY_VALUES_MISMATCH" in reason:
            raise TLSError(
                f"the key in {key_file or cert_file} does not match {cert_file}"
            ) from None
        raise TLSError(
            f"cannot load the certificate {cert_file} / key {key_file or cert_file}: {reason}"
        ) from None
    except OSError as error:
        raise TLSError(f"cannot read {error.filename or cert_file}: {error.strerror}") from None


def _load_ca(context: ssl.SSLContext, ca_file: str) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as error:
        raise TLSError(f"cannot load the CA bundle {ca_file}: {error.reason or error}") from None
    except OSError as error:
        raise TLSError(f"cannot read the CA bundle {ca_file}: {error.strerror}") from None
    if context.cert_store_stats()["x509"] == 0:
        raise TLSError(f"the CA bundle {ca_file} holds no certificate")


def _read_certificate(cert_file: str) -> CertificateInfo:
    try:
        with open(cert_file, encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError as error:
        raise TLSError(f"cannot read {cert_file}: {error.strerror}") from None
    try:
        return certificate_info(text)
    except ValueError as error:
        raise TLSError(f"{cert_file}: {error}") from None


# -- reading a certificate (for the logs and the expiry warning) ------------------------

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"


def certificate_info(pem: str) -> CertificateInfo:
    """Serial number and validity of the first certificate of a PEM text.

    ``ValueError`` if there is none or it is not a well-formed X.509 certificate;
    :class:`TLSError` if the ``cryptography`` package (``ringpop[tls]``) is missing.
    """
    start = pem.find(_PEM_BEGIN)
    end = pem.find(_PEM_END, start)
    if start < 0 or end < 0:
        raise ValueError("no PEM certificate found")
    try:
        from cryptography import x509
    except ImportError:
        raise TLSError(
            "TLS needs the cryptography package to read certificates: pip install 'ringpop[tls]'"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(pem[start : end + len(_PEM_END)].encode())
    except ValueError as error:
        raise ValueError(f"not an X.509 certificate ({error})") from None
    return CertificateInfo(
        certificate.serial_number,
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
    )


# -- errors ------------------------------------------------------------------------------


def describe_tls_error(error: BaseException) -> str:
    """A one-line reason for a failed TLS handshake, with a hint where one helps."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        reason = error.reason or str(error)
        text = reason.replace("_", " ").lower()
        if reason in {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"} or (
            reason == "UNEXPECTED_EOF_WHILE_READING"
        ):
            return f"{text} (is the peer not using TLS? every node needs the same tls setting)"
        return text
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "the peer closed the connection during the TLS handshake (not using TLS?)"
    if isinstance(error, TimeoutError | ConnectionAbortedError):
        return f"the handshake did not finish in time ({error})"
    return str(error) or type(error).__name__
