"""TLS on real TCP (127.0.0.1): calls, mutual TLS, mismatches, certificate rotation.

Certificates are made at test time (``ringpop.tchannel.tlsgen``, on ``cryptography``);
every async test runs on asyncio's loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ringpop.tchannel import Channel, NetworkError, Request, Response
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.events import ProtocolFailure
from ringpop.tchannel.tls import TLSConfig, TLSContexts, TLSError, certificate_info
from ringpop.tchannel.tlsgen import Issued, make_ca, make_cert

from .peers import RawPeer

pytestmark = pytest.mark.timeout(30)

LOCAL = ["127.0.0.1"]


@dataclass
class PKI:
    """A throwaway CA, a second unrelated CA, and where to write files."""

    ca: Issued
    other_ca: Issued
    ca_file: Path
    other_ca_file: Path
    dir: Path

    def issue(self, name: str, *, ca: Issued | None = None, **kwargs: Any) -> Issued:
        return make_cert(ca or self.ca, name, **kwargs)

    def files(self, issued: Issued, name: str) -> tuple[str, str]:
        cert, key = issued.write(self.dir, name)
        return str(cert), str(key)

    def server(self, name: str = "server", **kwargs: Any) -> TLSConfig:
        """A listener's config with a fresh 127.0.0.1 certificate from the CA."""
        cert, key = self.files(self.issue(name, ips=LOCAL), name)
        return TLSConfig(cert_file=cert, key_file=key, **kwargs)

    def client(self, name: str = "client", *, cert: bool = True, **kwargs: Any) -> TLSConfig:
        """A caller's config trusting the CA (with a client certificate when ``cert``)."""
        if not cert:
            return TLSConfig(ca_file=str(self.ca_file), **kwargs)
        cert_file, key_file = self.files(self.issue(name), name)
        return TLSConfig(
            cert_file=cert_file,
            key_file=key_file,
            ca_file=str(self.ca_file),
            **kwargs,
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = make_ca("test CA"), make_ca("some other CA")
    return PKI(
        ca,
        other,
        ca.write_cert(directory, "ca"),
        other.write_cert(directory, "other-ca"),
        directory,
    )


async def echo(request: Request) -> Response:
    return Response(request.arg2, request.arg3)


@asynccontextmanager
async def serving(tls: TLSConfig | None, **options: Any) -> AsyncIterator[Channel]:
    channel = Channel("127.0.0.1:0", tls=tls, drain_timeout=0.5, **options)
    channel.register("svc", "echo", echo)
    await channel.listen()
    try:
        yield channel
    finally:
        await channel.close(drain_timeout=0)


@asynccontextmanager
async def calling(tls: TLSConfig | None) -> AsyncIterator[Channel]:
    channel = Channel(tls=tls)
    try:
        yield channel
    finally:
        await channel.close(drain_timeout=0)


async def call(client: Channel, server: Channel, body: bytes = b"hi") -> bytes:
    response = await client.call(server.host_port, "svc", "echo", b"", body, timeout=2.0)
    return response.arg3


def peer_serial(client: Channel, server: Channel) -> int:
    """Serial of the certificate ``server`` presented on ``client``'s connection."""
    conn = client.peer_connection(server.host_port)
    assert conn is not None
    assert conn.transport is not None
    ssl_object = conn.transport.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def serial_of(config: TLSConfig) -> int:
    assert config.cert_file is not None
    return x509.load_pem_x509_certificate(Path(config.cert_file).read_bytes()).serial_number


# -- calls ------------------------------------------------------------------------------


async def test_tls_call_round_trip(pki: PKI) -> None:
    server_tls = pki.server()
    async with serving(server_tls) as server, calling(pki.client(cert=False)) as client:
        assert await call(client, server) == b"hi"
        assert peer_serial(client, server) == serial_of(server_tls)
        conn = client.peer_connection(server.host_port)
        assert conn is not None
        assert conn.transport is not None
        assert conn.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        big = os.urandom(200_000)  # fragmented over many frames and TLS records
        assert await call(client, server, big) == big


async def test_two_nodes_call_each_other_over_one_tls_connection(pki: PKI) -> None:
    mutual = {"ca_file": str(pki.ca_file), "require_client_cert": True}
    async with serving(pki.server("a", **mutual)) as a, serving(pki.server("b", **mutual)) as b:
        assert await call(a, b) == b"hi"
        assert await call(b, a) == b"hi"  # over the connection a opened
        assert len(a.connections) == 1
        assert len(b.connections) == 1


async def test_mutual_tls_with_and_without_a_client_certificate(
    pki: PKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "ringpop.tchannel.tls")
    server_tls = pki.server(ca_file=str(pki.ca_file), require_client_cert=True)
    async with serving(server_tls) as server:
        async with calling(pki.client()) as client:
            assert await call(client, server) == b"hi"
        started = time.monotonic()
        async with calling(pki.client(cert=False)) as anonymous:
            with pytest.raises(NetworkError, match="client certificate"):
                await call(anonymous, server)
        assert time.monotonic() - started < 1.0
        await _until(lambda: server.tls_handshake_failures == 1)
        assert "TLS handshake from 127.0.0.1:" in caplog.text
        assert "did not return a certificate" in caplog.text
        # A client certificate from another CA is refused as well.
        stranger_cert, stranger_key = pki.files(pki.issue("stranger", ca=pki.other_ca), "stranger")
        stranger = TLSConfig(
            cert_file=stranger_cert, key_file=stranger_key, ca_file=str(pki.ca_file)
        )
        async with calling(stranger) as client:
            with pytest.raises(NetworkError):
                await call(client, server)
        await _until(lambda: server.tls_handshake_failures == 2)
        async with calling(pki.client()) as client:  # and the node still serves
            assert await call(client, server) == b"hi"


async def test_server_from_an_unknown_ca_is_rejected(pki: PKI) -> None:
    async with serving(pki.server()) as server:
        distrusting = TLSConfig(ca_file=str(pki.other_ca_file))
        async with calling(distrusting) as client:
            with pytest.raises(NetworkError, match="certificate verify failed"):
                await call(client, server)


async def test_expired_certificate_is_rejected(pki: PKI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ringpop.tchannel.tls")
    now = datetime.datetime.now(datetime.UTC)
    expired = pki.issue(
        "expired",
        ips=LOCAL,
        not_before=now - datetime.timedelta(days=10),
        not_after=now - datetime.timedelta(days=1),
    )
    cert, key = pki.files(expired, "expired")
    async with serving(TLSConfig(cert_file=cert, key_file=key)) as server:
        assert "EXPIRED" in caplog.text
        async with calling(pki.client(cert=False)) as client:
            with pytest.raises(NetworkError, match="expired"):
                await call(client, server)


async def test_hostname_checks(pki: PKI) -> None:
    named = pki.issue("named", ips=LOCAL, dns_names=["ringpop.example"])
    cert, key = pki.files(named, "named")
    async with serving(TLSConfig(cert_file=cert, key_file=key)) as server:
        for good in (
            pki.client(cert=False, check_hostname=True),
            pki.client(cert=False, server_name="ringpop.example"),
        ):
            async with calling(good) as client:
                assert await call(client, server) == b"hi"
        async with calling(pki.client(cert=False, server_name="other.example")) as client:
            with pytest.raises(NetworkError, match=r"other\.example"):
                await call(client, server)
    nameless = pki.issue("nameless")  # no subjectAltName for 127.0.0.1
    cert, key = pki.files(nameless, "nameless")
    async with serving(TLSConfig(cert_file=cert, key_file=key)) as server:
        async with calling(pki.client(cert=False)) as client:  # names are not checked
            assert await call(client, server) == b"hi"
        async with calling(pki.client(cert=False, check_hostname=True)) as client:
            with pytest.raises(NetworkError, match=r"127\.0\.0\.1"):
                await call(client, server)


# -- mismatches -------------------------------------------------------------------------


async def test_plaintext_and_tls_mismatch_fails_fast_and_clearly(pki: PKI) -> None:
    async with serving(pki.server()) as tls_server, serving(None) as plain_server:
        async with calling(None) as plain, calling(pki.client(cert=False)) as secure:
            started = time.monotonic()
            with pytest.raises(
                NetworkError, match=r"before the handshake.*does the peer require TLS"
            ):
                await call(plain, tls_server)
            with pytest.raises(NetworkError, match="not using TLS"):
                await call(secure, plain_server)
            assert time.monotonic() - started < 1.0
            # Both nodes keep serving their own kind.
            assert await call(plain, plain_server) == b"hi"
            assert await call(secure, tls_server) == b"hi"
        await _until(lambda: tls_server.tls_handshake_failures == 1)


async def test_refused_tls_connection_is_reported_as_such(pki: PKI) -> None:
    async with serving(pki.server()) as server:
        address = server.host_port
    async with calling(pki.client(cert=False)) as client:
        with pytest.raises(NetworkError, match="cannot connect to") as caught:
            await client.call(address, "svc", "echo", timeout=1.0)
        assert "TLS" not in str(caught.value)


async def test_a_plaintext_listener_recognises_a_tls_client(pki: PKI) -> None:
    async with serving(None) as server:
        peer = await RawPeer.connect(server.host_port)
        await peer.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64))
        frame = await peer.read_frame()
        assert "TLS" in getattr(frame, "message", "")
        with pytest.raises(EOFError):
            await peer.read_frame()


def test_core_names_tls_records_before_the_handshake() -> None:
    acceptor = ConnectionCore(initiator=False, init_headers={"host_port": "127.0.0.1:1"})
    events = acceptor.receive(b"\x16\x03\x01\x00\x05hello")
    assert isinstance(events[0], ProtocolFailure)
    assert "peer started a TLS handshake" in events[0].message
    initiator = ConnectionCore(initiator=True, init_headers={"host_port": "127.0.0.1:1"})
    initiator.start()
    events = initiator.receive(b"\x15\x03\x03\x00\x02\x02\x46")
    assert isinstance(events[0], ProtocolFailure)
    assert "peer answered with TLS" in events[0].message


async def test_silent_peer_on_a_tls_listener_is_dropped_after_init_timeout(pki: PKI) -> None:
    async with serving(pki.server(), init_timeout=0.3) as server:
        peer = await RawPeer.connect(server.host_port)
        started = time.monotonic()
        with pytest.raises((EOFError, ConnectionError)):
            await peer.read_frame(timeout=3.0)
        assert time.monotonic() - started < 2.0
        await _until(lambda: server.tls_handshake_failures == 1)
        # A handshake still in progress does not hold up close().
        await RawPeer.connect(server.host_port)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0


# -- rotation ---------------------------------------------------------------------------


def read(path: Path) -> bytes:
    return path.read_bytes()


def write(path: Path, data: bytes) -> None:
    """Overwrite ``path`` in place (not atomically: a reader may see half of it)."""
    path.write_bytes(data)


def rotate(config: TLSConfig, issued: Issued) -> None:
    """Replace the files of ``config`` with ``issued`` (atomically, as cert-manager does)."""
    assert config.cert_file is not None
    assert config.key_file is not None
    directory, name = Path(config.cert_file).parent, Path(config.cert_file).stem
    issued.write(directory, name)
    assert Path(config.key_file) == directory / f"{name}-key.pem"


async def test_new_connections_use_rotated_certificates(pki: PKI) -> None:
    server_tls = pki.server("rotating", reload_interval=0.1)
    first = serial_of(server_tls)
    async with serving(server_tls) as server, calling(pki.client(cert=False)) as old:
        assert await call(old, server) == b"hi"
        assert peer_serial(old, server) == first
        rotate(server_tls, pki.issue("rotating", ips=LOCAL))
        second = serial_of(server_tls)
        await asyncio.sleep(0.15)
        async with calling(pki.client(cert=False)) as new:
            assert await call(new, server) == b"hi"
            assert peer_serial(new, server) == second
        # The connection made before the rotation keeps working.
        assert await call(old, server) == b"hi"
        assert peer_serial(old, server) == first
        assert server.tls is not None
        assert server.tls.reloads == 1
        assert server.tls.certificate is not None
        assert server.tls.certificate.serial == second


async def test_explicit_reload(pki: PKI) -> None:
    server_tls = pki.server("manual", reload_interval=0)
    async with serving(server_tls) as server:
        first = serial_of(server_tls)
        rotate(server_tls, pki.issue("manual", ips=LOCAL))
        second = serial_of(server_tls)
        async with calling(pki.client(cert=False)) as client:
            await call(client, server)
            assert peer_serial(client, server) == first  # never checked by itself
        assert server.tls is not None
        info = server.tls.reload()
        assert info is not None
        assert info.serial == second
        async with calling(pki.client(cert=False)) as client:
            await call(client, server)
            assert peer_serial(client, server) == second


async def test_bad_rotated_files_keep_the_old_certificates(
    pki: PKI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "ringpop.tchannel.tls")
    server_tls = pki.server("fragile", reload_interval=0.05)
    first = serial_of(server_tls)
    assert server_tls.cert_file is not None
    assert server_tls.key_file is not None
    cert_path, key_path = Path(server_tls.cert_file), Path(server_tls.key_file)
    old_key = read(key_path)
    async with serving(server_tls) as server:
        assert server.tls is not None
        replacement = pki.issue("fragile", ips=LOCAL)
        # Half a certificate, then a certificate with the old key: neither loads.
        for broken in (replacement.cert_pem()[:200], replacement.cert_pem()):
            write(cert_path, broken)
            await asyncio.sleep(0.08)
            async with calling(pki.client(cert=False)) as client:
                assert await call(client, server) == b"hi"
                assert peer_serial(client, server) == first
            with pytest.raises(TLSError):
                server.tls.reload()
        assert "do not load, keeping the previous certificates" in caplog.text
        assert "does not match" in (server.tls.last_error or "")
        assert read(key_path) == old_key
        # The key arrives: the next connection gets the new certificate.
        write(key_path, replacement.key_pem())
        await asyncio.sleep(0.08)
        async with calling(pki.client(cert=False)) as client:
            assert await call(client, server) == b"hi"
            assert peer_serial(client, server) == replacement.serial
        assert server.tls.last_error is None


async def test_ca_rotation_applies_to_client_certificates(pki: PKI, tmp_path: Path) -> None:
    ca_file = tmp_path / "bundle.pem"
    write(ca_file, pki.ca.cert_pem())
    server_tls = pki.server(
        "ca-rotating", ca_file=str(ca_file), require_client_cert=True, reload_interval=0.05
    )
    new_cert, new_key = pki.files(pki.issue("new-client", ca=pki.other_ca), "new-client")
    new_client = TLSConfig(cert_file=new_cert, key_file=new_key, ca_file=str(pki.ca_file))
    async with serving(server_tls) as server:
        async with calling(pki.client()) as client:
            assert await call(client, server) == b"hi"
        async with calling(new_client) as client:
            with pytest.raises(NetworkError):
                await call(client, server)
        write(ca_file, pki.other_ca.cert_pem())  # the cluster moved to the other CA
        await asyncio.sleep(0.08)
        async with calling(new_client) as client:
            assert await call(client, server) == b"hi"
        async with calling(pki.client()) as client:
            with pytest.raises(NetworkError):
                await call(client, server)


# -- configuration ----------------------------------------------------------------------


def test_config_is_validated(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(TLSError, match="require_client_cert needs ca_file"):
        TLSConfig(cert_file="c.pem", require_client_cert=True)
    with pytest.raises(TLSError, match="key_file is given without cert_file"):
        TLSConfig(key_file="k.pem")
    with pytest.raises(TLSError, match="reload_interval"):
        TLSConfig(ca_file="ca.pem", reload_interval=-1)
    with pytest.raises(TLSError, match="minimum_version"):
        TLSConfig(ca_file="ca.pem", minimum_version="1.1")  # type: ignore[arg-type]
    with pytest.raises(TLSError, match="cannot read"):
        Channel("127.0.0.1:0", tls=TLSConfig(cert_file=str(tmp_path / "missing.pem")))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(TLSError, match=r"holds no certificate|cannot load the CA"):
        Channel(tls=TLSConfig(ca_file=str(garbage)))
    server = pki.server()
    mismatched = TLSConfig(cert_file=server.cert_file, key_file=pki.client().key_file)
    with pytest.raises(TLSError, match="does not match"):
        TLSContexts(mismatched)


async def test_a_listener_needs_a_certificate(pki: PKI) -> None:
    channel = Channel("127.0.0.1:0", tls=pki.client(cert=False))
    with pytest.raises(TLSError, match="needs cert_file"):
        await channel.listen()
    await channel.close()


def test_certificate_info_reads_serial_and_validity(pki: PKI) -> None:
    late = datetime.datetime(2061, 5, 4, 3, 2, 1, tzinfo=datetime.UTC)  # GeneralizedTime
    for issued in (pki.ca, pki.issue("x", not_after=late)):
        info = certificate_info(issued.cert_pem().decode())
        assert info.serial == issued.serial
        assert info.not_after == issued.certificate.not_valid_after_utc
        assert info.not_before == issued.certificate.not_valid_before_utc
        assert f"{issued.serial:#x}" in str(info)
    with pytest.raises(ValueError, match="no PEM certificate"):
        certificate_info("nothing here")


async def _until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
