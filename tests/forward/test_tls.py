"""Forwarding over a mutual-TLS cluster: both styles ride the node's TLS channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ringpop import HttpRequest, Options
from ringpop.options import OptionsError
from ringpop.tchannel import Channel, Connection, NetworkError, Request, Response
from ringpop.tchannel.tlsgen import make_ca, make_cert
from ringpop.tlsconfig import TLSConfig
from tests.forward.conftest import FAST, Member, key_owned_by, start_members


@pytest.fixture
async def tls_trio(tmp_path: Path) -> AsyncIterator[tuple[list[Member], TLSConfig]]:
    ca = make_ca()
    cert, key = make_cert(ca, "node", ips=["127.0.0.1"]).write(tmp_path, "node")
    tls = TLSConfig(
        cert_file=str(cert),
        key_file=str(key),
        ca_file=str(ca.write_cert(tmp_path, "ca")),
        require_client_cert=True,
        check_hostname=True,
    )
    members = await start_members(3, FAST.replace(tls=tls))
    try:
        yield members, tls
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


def is_tls(member: Member, peer: Member) -> bool:
    conn = member.rp.channel.peer_connection(peer.address)
    assert isinstance(conn, Connection)
    assert conn.transport is not None
    return conn.transport.get_extra_info("ssl_object") is not None


async def test_both_forwarding_styles_run_over_tls(
    tls_trio: tuple[list[Member], TLSConfig],
) -> None:
    members, tls = tls_trio
    a, b, c = members

    # ringpop-node style: an HTTP request proxied to the key's owner (/proxy/req).
    key = key_owned_by(members, b)
    response = await a.rp.handle_or_proxy(key, HttpRequest("PUT", "/kv/x", {}, b"secret"))
    assert response.status == 200
    assert response.headers["x-handled-by"] == b.address
    assert b.seen[-1].body == b"secret"
    assert is_tls(a, b)

    # ringpop-go style: an application endpoint forwarded to the owner.
    async def whoami(request: Request) -> Response:
        return Response(b"", request.arg3 + b" handled by " + request.service.encode())

    for member in members:
        member.rp.register_forwarded("app", "/who", whoami, lambda request: [request.arg3.decode()])
    key = key_owned_by(members, c)
    answer = await a.rp.forward(key, "app", "/who", arg3=key.encode(), scheme="raw")
    assert answer.arg3 == key.encode() + b" handled by app"
    assert is_tls(a, c)

    # Nobody gets in without TLS, nor with TLS but no client certificate.
    for outsider in (Channel(), Channel(tls=TLSConfig(ca_file=tls.ca_file))):
        try:
            with pytest.raises(NetworkError, match="before the handshake"):
                await outsider.call(b.address, "ringpop", "/proxy/req", timeout=1.0)
        finally:
            await outsider.close()


async def test_tls_is_an_option_like_any_other(tmp_path: Path) -> None:
    ca = make_ca()
    cert, key = make_cert(ca, "node").write(tmp_path, "node")
    tls = TLSConfig(cert_file=str(cert), key_file=str(key))
    assert Options(tls=tls).tls == tls
    assert Options().tls is None
    with pytest.raises(OptionsError, match="tls must be a TLSConfig or None, not str"):
        Options(tls="yes")  # type: ignore[arg-type]
