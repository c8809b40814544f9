"""Go-style forwarding of the application's own TChannel calls (spec §5.9), over TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec
import pytest

from ringpop import Options
from ringpop.events import RequestProxied, RetryFailed, RetryRerouted, RetryScheduled
from ringpop.forward import FORWARD_KEYS_HEADER, ForwardError, ForwardTooLargeError
from ringpop.ring import HashRing
from ringpop.tchannel import (
    BadRequestError,
    BusyError,
    Channel,
    Handler,
    Request,
    Response,
    UnexpectedError,
)
from tests.forward.conftest import Member, key_owned_by, start_members

GO = Options(
    min_protocol_period=0.05,
    forward_retry_schedule=(0.0, 0.05, 0.05),
    forward_timeout=2.0,
)


@dataclass
class Recorder:
    """What one node's application endpoint received (arg2 as the handler saw it)."""

    member: Member
    calls: list[Request] = field(default_factory=list)
    raw_arg2: list[bytes] = field(default_factory=list)
    answer: str = "ok"


@pytest.fixture
async def go_trio() -> AsyncIterator[list[Recorder]]:
    members = await start_members(3, GO)
    recorders = [Recorder(m) for m in members]
    for recorder in recorders:
        rp = recorder.member.rp

        async def handler(request: Request, recorder: Recorder = recorder) -> Response:
            recorder.calls.append(request)
            if recorder.answer == "app-error":
                return Response.application_error("app.failed", "the app said no")
            if recorder.answer == "busy":
                raise BusyError("too busy")
            return Response.from_json({"by": recorder.member.address})

        def keys(request: Request) -> list[str]:
            return [str(k) for k in request.json()["keys"]]

        # like register_forwarded, but seeing arg2 exactly as it arrives
        async def spy(
            request: Request, recorder: Recorder = recorder, handler: Handler = handler
        ) -> Response:
            recorder.raw_arg2.append(request.arg2)
            return await recorder.member.rp.forwarder.handle_or_forward(
                keys(request), request, handler
            )

        rp.channel.register("kvapp", "/get", spy)
    try:
        yield recorders
    finally:
        await asyncio.gather(*(r.member.rp.close(self_evict=False) for r in recorders))


async def call(
    target: Recorder, keys: list[str], headers: dict[str, str] | None = None
) -> Response:
    async with Channel("127.0.0.1:0") as client:
        return await client.call(
            target.member.address,
            "kvapp",
            "/get",
            msgspec.json.encode(headers or {}),
            msgspec.json.encode({"keys": keys}),
            timeout=5,
            scheme="json",
        )


async def test_call_is_forwarded_once_with_the_marker(go_trio: list[Recorder]) -> None:
    a, b, _ = go_trio
    members = [r.member for r in go_trio]
    key = key_owned_by(members, b.member)
    response = await call(a, [key], {"trace": "t1"})
    assert response.ok
    assert response.json() == {"by": b.member.address}
    assert not a.calls  # a forwarded, it did not handle
    [raw] = b.raw_arg2[-1:]
    headers = msgspec.json.decode(raw)
    assert headers == {"trace": "t1", FORWARD_KEYS_HEADER: msgspec.json.encode([key]).decode()}
    [handled] = b.calls
    assert msgspec.json.decode(handled.arg2) == {"trace": "t1"}  # marker removed
    proxied = a.member.of(RequestProxied)
    assert [(p.destination, p.endpoint, p.ok) for p in proxied] == [
        (b.member.address, "/get", True)
    ]


async def test_local_keys_are_handled_without_a_hop(go_trio: list[Recorder]) -> None:
    a = go_trio[0]
    key = key_owned_by([r.member for r in go_trio], a.member)
    response = await call(a, [key])
    assert response.json() == {"by": a.member.address}
    assert not a.member.of(RequestProxied)


async def test_marked_calls_are_handled_locally_whatever_the_ring_says(
    go_trio: list[Recorder],
) -> None:
    """No loops: a receiver that disagrees about the owner still handles the call."""
    a, b, c = go_trio
    members = [r.member for r in go_trio]
    key = key_owned_by(members, b.member)
    b.member.rp.node.ring.remove_server(b.member.address)  # b now thinks a or c owns it
    assert b.member.rp.lookup(key) != b.member.address
    response = await call(a, [key])
    assert response.json() == {"by": b.member.address}
    assert not b.member.of(RequestProxied)
    assert not c.calls


async def test_application_errors_are_returned_not_retried(go_trio: list[Recorder]) -> None:
    a, b, _ = go_trio
    b.answer = "app-error"
    key = key_owned_by([r.member for r in go_trio], b.member)
    response = await call(a, [key])
    assert not response.ok
    assert response.json() == {"type": "app.failed", "message": "the app said no"}
    assert len(b.calls) == 1
    assert not a.member.of(RetryScheduled)


async def test_transport_errors_are_retried_then_fail(go_trio: list[Recorder]) -> None:
    a, b, _ = go_trio
    b.answer = "busy"
    key = key_owned_by([r.member for r in go_trio], b.member)
    with pytest.raises(ForwardError, match="after 3 retries"):
        await a.member.rp.forward(key, "kvapp", "/get", b"{}", msgspec.json.encode({"keys": [key]}))
    assert len(b.calls) == 4
    assert [e.attempt for e in a.member.of(RetryScheduled)] == [1, 2, 3]
    assert a.member.of(RetryFailed)


async def test_reroute_retries_follow_the_new_owner(go_trio: list[Recorder]) -> None:
    a, b, c = go_trio
    members = [r.member for r in go_trio]
    b.answer = "busy"
    key = next(
        k
        for k in (f"go-{i}" for i in range(10_000))
        if a.member.rp.lookup(k) == b.member.address
        and _without(members, b.member).lookup(k) == c.member.address
    )
    a.member.rp.events.on(
        RetryScheduled, lambda e: a.member.rp.node.ring.remove_server(b.member.address)
    )
    response = await a.member.rp.forward(
        [key], "kvapp", "/get", b"{}", msgspec.json.encode({"keys": [key]}), reroute_retries=True
    )
    assert response.json() == {"by": c.member.address}
    [rerouted] = a.member.of(RetryRerouted)
    assert (rerouted.previous, rerouted.destination) == (b.member.address, c.member.address)


async def test_diverged_keys_are_refused(go_trio: list[Recorder]) -> None:
    a, b, c = go_trio
    members = [r.member for r in go_trio]
    keys = [key_owned_by(members, b.member), key_owned_by(members, c.member)]
    with pytest.raises(ForwardError, match="diverged"):
        await a.member.rp.forward(keys, "kvapp", "/get", b"{}", b"{}")


async def test_a_call_that_cannot_be_forwarded_is_an_error_frame_not_a_crash(
    go_trio: list[Recorder],
) -> None:
    """Each failed as an "unexpected" error with a ForwardError traceback in the log."""
    a, b, c = go_trio
    members = [r.member for r in go_trio]
    theirs, other = key_owned_by(members, b.member), key_owned_by(members, c.member)
    async with Channel("127.0.0.1:0") as client:

        async def send(arg2: bytes, keys: list[str]) -> None:
            body = msgspec.json.encode({"keys": keys})
            await client.call(
                a.member.address, "kvapp", "/get", arg2, body, timeout=5, scheme="json"
            )

        with pytest.raises(BadRequestError, match="cannot add ringpop-forward-keys"):
            await send(b"\x00\x00", [theirs])  # not JSON headers
        with pytest.raises(BadRequestError, match="diverged"):
            await send(b"{}", [theirs, other])
        with pytest.raises(BadRequestError, match="at least one key"):
            await send(b"{}", [])
        b.answer = "busy"
        with pytest.raises(UnexpectedError, match="forwarding failed after 3 retries"):
            await send(b"{}", [theirs])
    assert not a.calls
    assert len(b.calls) == 4


async def test_thrift_and_raw_schemes(go_trio: list[Recorder]) -> None:
    a, b, _ = go_trio
    members = [r.member for r in go_trio]
    key = key_owned_by(members, b.member)
    seen: list[Request] = []

    async def echo(request: Request) -> Response:
        seen.append(request)
        return Response(request.arg2, request.arg3)

    for recorder in go_trio:
        recorder.member.rp.register_forwarded("thriftapp", "Svc::get", echo, lambda r: [key])
    thrift_arg2 = b"\x00\x01\x00\x01a\x00\x01b"
    response = await a.member.rp.forward(
        key, "thriftapp", "Svc::get", thrift_arg2, b"body", scheme="thrift"
    )
    assert response.arg2 == thrift_arg2  # the handler saw arg2 without the marker
    assert response.arg3 == b"body"
    raw = await a.member.rp.forward(key, "thriftapp", "Svc::get", b"opaque", b"x", scheme="raw")
    assert raw.arg2 == b"opaque"
    assert len(seen) == 2


def _without(members: list[Member], gone: Member) -> HashRing:
    ring = HashRing()
    for member in members:
        if member is not gone:
            ring.add_server(member.address)
    return ring


SMALL_CALLS = Options(min_protocol_period=0.05, max_arg_size=64 << 10, forward_retry_schedule=(0,))
"""Calls of at most 64 KiB, one attempt: what the size tests send past."""


async def test_an_answer_too_large_to_send_is_not_retried() -> None:
    """The owner's answer failed to send on every retry, its handler running each time."""
    members = await start_members(2, SMALL_CALLS)
    calls: list[Request] = []

    def huge(request: Request) -> Response:
        calls.append(request)
        return Response(b"", b"y" * (100 << 10))

    try:
        for member in members:
            member.rp.register_forwarded("bigapp", "/big", huge, lambda request: ["k"])
        key = key_owned_by(members, members[1])
        with pytest.raises(ForwardError, match="exceeds max_arg_size"):
            await members[0].rp.forward(key, "bigapp", "/big")
        assert len(calls) == 1
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_arguments_no_call_can_carry_are_a_forward_error_and_nothing_is_sent() -> None:
    """A call's own arg3 over max_arg_size raised a bare ValueError out of forward."""
    members = await start_members(2, SMALL_CALLS)
    calls: list[Request] = []

    def record(request: Request) -> Response:
        calls.append(request)
        return Response()

    try:
        for member in members:
            member.rp.register_forwarded("bigapp", "/in", record, lambda request: ["k"])
        key = key_owned_by(members, members[1])
        with pytest.raises(ValueError, match="exceeds max_arg_size") as raised:
            await members[0].rp.forward(key, "bigapp", "/in", b"", b"x" * (100 << 10))
        assert isinstance(raised.value, ForwardTooLargeError)
        assert not calls
        assert not members[0].of(RetryScheduled)
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))


async def test_a_keys_function_may_return_one_key() -> None:
    """``keys`` returning a str ("user:42") was taken as its characters: every call
    failed with "key destinations have diverged"."""
    members = await start_members(3, GO)
    try:
        for member in members:

            def answer(request: Request, me: str = member.address) -> Response:
                return Response(b"", me.encode())

            member.rp.register_forwarded(
                "one", "/key", answer, lambda request: request.arg3.decode()
            )
            member.rp.register_forwarded("one", "/none", answer, lambda request: None)  # type: ignore[arg-type, return-value]
        a = members[0]
        for owner in members:
            key = key_owned_by(members, owner, "user:")
            response = await a.rp.channel.call(
                a.address, "one", "/key", b"", key.encode(), timeout=5
            )
            assert response.arg3 == owner.address.encode()
        with pytest.raises(BadRequestError, match="keys must be a key"):
            await a.rp.channel.call(a.address, "one", "/none", b"", b"", timeout=5)
        with pytest.raises(TypeError, match="handler must be callable"):
            a.rp.register_forwarded("one", "/x", None, lambda request: "k")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="keys must be callable"):
            a.rp.register_forwarded("one", "/x", answer, ["k"])  # type: ignore[arg-type]
    finally:
        await asyncio.gather(*(m.rp.close(self_evict=False) for m in members))
