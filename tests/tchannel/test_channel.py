"""The asyncio channel over real TCP on 127.0.0.1: calls, errors, timeouts, lifecycle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from ringpop.tchannel import (
    ApplicationError,
    BadRequestError,
    BusyError,
    CallCancelledError,
    CallTimeoutError,
    Channel,
    ChecksumType,
    DeclinedError,
    NetworkError,
    ProtocolError,
    Request,
    Response,
    TChannelError,
    UnexpectedError,
    UnhealthyError,
)
from ringpop.tchannel.errors import ErrorCode
from ringpop.tchannel.frames import (
    NO_ID,
    CallRequest,
    CallRequestContinue,
    ErrorFrame,
    InitRequest,
    InitResponse,
    encode_frame,
)

from .peers import RawPeer, black_hole, free_port

pytestmark = pytest.mark.timeout(30)


async def echo(request: Request) -> Response:
    return Response(request.arg2, request.arg3)


@pytest.fixture
async def server() -> AsyncIterator[Channel]:
    channel = Channel("127.0.0.1:0", init_timeout=0.5, drain_timeout=2.0)
    channel.register("svc", "echo", echo)
    await channel.listen()
    try:
        yield channel
    finally:
        await channel.close(drain_timeout=0)


@pytest.fixture
async def client() -> AsyncIterator[Channel]:
    channel = Channel("0.0.0.0:0")
    try:
        yield channel
    finally:
        await channel.close(drain_timeout=0)


async def test_listen_binds_identity(server: Channel) -> None:
    host, port = server.host_port.split(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert server.listening
    assert server.init_headers()["host_port"] == server.host_port
    with pytest.raises(ValueError, match="routable"):
        await Channel("0.0.0.0:0").listen()
    with pytest.raises(ValueError, match="IPv4"):
        Channel("localhost:3000")


async def test_raw_call_and_request_fields(server: Channel, client: Channel) -> None:
    seen: list[Request] = []

    async def inspect(request: Request) -> Response:
        seen.append(request)
        return Response(b"h2", b"b3", headers={"x": "y"})

    server.register("svc", "inspect", inspect)
    response = await client.call(
        server.host_port, "svc", "inspect", b"a2", b"a3", timeout=1.5, headers={"sk": "key"}
    )
    assert (response.ok, response.code, response.arg2, response.arg3) == (True, 0, b"h2", b"b3")
    assert response.headers == {"as": "raw", "x": "y"}
    [request] = seen
    assert (request.service, request.endpoint, request.arg1) == ("svc", "inspect", b"inspect")
    assert (request.arg2, request.arg3) == (b"a2", b"a3")
    assert request.caller == "ringpop"
    assert request.scheme == "raw"
    assert request.headers["sk"] == "key"
    assert 1.0 < request.ttl <= 1.5
    # the ephemeral client is identified by its socket address
    assert request.remote.startswith("127.0.0.1:")
    assert request.remote != "0.0.0.0:0"


class Ping(msgspec.Struct):
    checksum: int
    source: str


async def test_json_calls(server: Channel, client: Channel) -> None:
    async def ping(request: Request, body: Any) -> Any:
        assert request.scheme == "json"
        return {"changes": [], "got": body}

    server.register_json("ringpop", "/protocol/ping", ping)
    body = {"checksum": 1, "source": "127.0.0.1:1"}
    result = await client.call_json(server.host_port, "ringpop", "/protocol/ping", body, timeout=1)
    assert result == {"changes": [], "got": body}
    raw = await client.call_json(
        server.host_port, "ringpop", "/protocol/ping", b'{"checksum":2}\n', timeout=1
    )
    assert raw["got"] == {"checksum": 2}
    empty = await client.call_json(server.host_port, "ringpop", "/protocol/ping", timeout=1)
    assert empty["got"] is None

    async def typed(request: Request, body: Any) -> Any:
        return Ping(7, "x")

    server.register_json("ringpop", "/typed", typed)
    ping_body = await client.call_json(
        server.host_port, "ringpop", "/typed", timeout=1, response_type=Ping
    )
    assert ping_body == Ping(7, "x")


async def test_json_body_that_is_not_json(server: Channel, client: Channel) -> None:
    async def ok_text(request: Request) -> Response:
        return Response(b"", b"ok")

    server.register("ringpop", "/admin/tick", ok_text)
    assert await client.call_json(server.host_port, "ringpop", "/admin/tick", timeout=1) == b"ok"
    server.register_json("ringpop", "/strict", lambda r, b: asyncio.sleep(0, b))
    with pytest.raises(BadRequestError, match="invalid JSON"):
        await client.call(server.host_port, "ringpop", "/strict", b"", b"{nope", timeout=1)


async def test_what_cannot_be_served_or_sent_is_refused_where_it_is_given(
    server: Channel, client: Channel
) -> None:
    """A handler that is not callable was taken and failed every call ("unexpected");
    a service or header that is not a str was an AttributeError from deep inside."""
    ok = lambda request: Response(b"", b"")  # noqa: E731
    with pytest.raises(TypeError, match="must be callable"):
        server.register("svc", "/none", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="service and endpoint must be str"):
        server.register("svc", b"/bytes", ok)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="service and endpoint must be str"):
        server.register_json(None, "/x", ok)  # type: ignore[arg-type]
    assert server.find_handler("svc", b"/none") is None
    with pytest.raises(TypeError, match="service must be a str, not 5"):
        await client.call(server.host_port, 5, "/x", timeout=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="header value must be a str"):
        await client.call(server.host_port, "svc", "/x", timeout=1, headers={"k": 1})  # type: ignore[dict-item]
    # arguments that are not bytes: "object of type 'NoneType' has no len()" before
    with pytest.raises(TypeError, match=r"arg3 must be bytes, not str \(encode text first\)"):
        await client.call(server.host_port, "svc", "/x", b"", "text", timeout=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="arg2 must be bytes, not NoneType"):
        await client.call(server.host_port, "svc", "/x", None, timeout=1)  # type: ignore[arg-type]
    server.register("svc", "/echo", lambda request: Response(b"", request.arg3))
    echoed = await client.call(server.host_port, "svc", "/echo", b"", bytearray(b"ba"), timeout=1)  # type: ignore[arg-type]
    assert echoed.arg3 == b"ba"


async def test_application_errors(server: Channel, client: Channel) -> None:
    async def fails(request: Request, body: Any) -> Any:
        raise ApplicationError("ringpop.invalid-join", "not allowed", None)

    server.register_json("ringpop", "/join", fails)
    with pytest.raises(ApplicationError) as info:
        await client.call_json(server.host_port, "ringpop", "/join", {}, timeout=1)
    assert (info.value.type, info.value.message) == ("ringpop.invalid-join", "not allowed")
    assert info.value.body == {"type": "ringpop.invalid-join", "message": "not allowed"}
    raw = await client.call(server.host_port, "ringpop", "/join", b"", b"{}", timeout=1)
    assert (raw.ok, raw.code) == (False, 1)
    assert msgspec.json.decode(raw.arg3) == {
        "type": "ringpop.invalid-join",
        "message": "not allowed",
    }

    async def not_ok_text(request: Request) -> Response:
        return Response(b"", b"plain failure", code=1)

    server.register("ringpop", "/text", not_ok_text)
    with pytest.raises(ApplicationError) as text_info:
        await client.call_json(server.host_port, "ringpop", "/text", timeout=1)
    assert text_info.value.message == "plain failure"


@pytest.mark.parametrize(
    "error",
    [
        CallTimeoutError("t"),
        CallCancelledError("c"),
        BusyError("b"),
        DeclinedError("d"),
        UnexpectedError("u"),
        BadRequestError("r"),
        NetworkError("n"),
        UnhealthyError("h"),
    ],
)
async def test_error_frames_are_typed(
    server: Channel, client: Channel, error: TChannelError
) -> None:
    async def raises(request: Request) -> Response:
        raise error

    server.register("svc", "raises", raises)
    with pytest.raises(type(error)) as info:
        await client.call(server.host_port, "svc", "raises", timeout=1)
    assert info.value.message == error.message
    assert type(info.value) is type(error)


async def test_unknown_endpoint_and_crashing_handler(server: Channel, client: Channel) -> None:
    with pytest.raises(BadRequestError, match='no handler for service "svc" and method "/nope"'):
        await client.call(server.host_port, "svc", "/nope", timeout=1)
    with pytest.raises(BadRequestError, match='service "other"'):
        await client.call(server.host_port, "other", "echo", timeout=1)

    async def crash(request: Request) -> Response:
        raise ZeroDivisionError("boom")

    server.register("svc", "crash", crash)
    with pytest.raises(UnexpectedError, match="ZeroDivisionError: boom"):
        await client.call(server.host_port, "svc", "crash", timeout=1)
    # the connection is still fine
    assert (await client.call(server.host_port, "svc", "echo", b"", b"x", timeout=1)).arg3 == b"x"


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
async def test_a_timeout_that_is_not_a_positive_finite_number_is_refused(
    server: Channel, client: Channel, timeout: float
) -> None:
    """Sent as the ttl in milliseconds: NaN once waited for a connect that "timed
    out", infinity failed deep in the encoder with an OverflowError."""
    with pytest.raises(ValueError, match="positive, finite number of seconds"):
        await client.call(server.host_port, "svc", "echo", timeout=timeout)
    with pytest.raises(ValueError, match="positive, finite number of seconds"):
        await client.call_json(server.host_port, "svc", "echo", timeout=timeout)
    with pytest.raises(ValueError, match="positive, finite number of seconds"):
        await client.ping(server.host_port, timeout=timeout)


async def test_a_response_that_cannot_be_encoded_is_answered_not_dropped(
    server: Channel, client: Channel
) -> None:
    """A handler returning a Response with the wrong types inside (a ``str`` body,
    headers that are not a mapping): the caller gets ``unexpected`` at once, not
    silence until its timeout, and the connection goes on."""

    async def text_body(request: Request) -> Response:
        return Response(b"", "not bytes")  # type: ignore[arg-type]

    async def bad_headers(request: Request) -> Response:
        return Response(b"", b"", 0, ["k", "v"])  # type: ignore[arg-type]

    def sync_text_body(request: Request) -> Response:
        return Response(b"", 42)  # type: ignore[arg-type]

    server.register("svc", "text", text_body)
    server.register("svc", "headers", bad_headers)
    server.register("svc", "sync", sync_text_body)
    for endpoint, why in (("text", "TypeError"), ("headers", "Error"), ("sync", "TypeError")):
        with pytest.raises(UnexpectedError, match=f"bad response: .*{why}"):
            await client.call(server.host_port, "svc", endpoint, timeout=30)
    assert (await client.call(server.host_port, "svc", "echo", b"", b"x", timeout=1)).arg3 == b"x"


class _OddCodeError(TChannelError):
    code = 999  # not a byte: no error frame can carry it


async def test_errors_that_cannot_be_sent_as_raised_still_answer_the_caller(
    server: Channel, client: Channel
) -> None:
    """Lone surrogates (UTF-8 cannot carry them) in an exception's message or in an
    application error, an error code outside a byte: the caller hears at once."""

    async def surrogate_message(request: Request) -> Response:
        raise ValueError("bad \udcff byte")

    async def surrogate_application_error(request: Request) -> Response:
        raise ApplicationError("kind\udcff", "message\udcff")

    async def odd_code(request: Request) -> Response:
        raise _OddCodeError("odd")

    server.register("svc", "message", surrogate_message)
    server.register("svc", "application", surrogate_application_error)
    server.register("svc", "code", odd_code)
    with pytest.raises(UnexpectedError, match=r"ValueError: bad \\udcff byte"):
        await client.call(server.host_port, "svc", "message", timeout=30)
    answer = await client.call(server.host_port, "svc", "application", timeout=30)
    assert not answer.ok
    assert msgspec.json.decode(answer.arg3) == {
        "type": "kind\\udcff",
        "message": "message\\udcff",
    }
    with pytest.raises(UnexpectedError, match="error"):
        await client.call(server.host_port, "svc", "code", timeout=30)
    assert (await client.call(server.host_port, "svc", "echo", b"", b"x", timeout=1)).arg3 == b"x"


@pytest.mark.parametrize("size", [0, 65_535, 65_537, 1 << 20])
@pytest.mark.parametrize("csum", list(ChecksumType))
async def test_argument_sizes_and_checksums(
    server: Channel, client: Channel, size: int, csum: ChecksumType
) -> None:
    arg3 = bytes(i % 253 for i in range(size))
    arg2 = arg3[: size // 2]
    response = await client.call(
        server.host_port, "svc", "echo", arg2, arg3, timeout=5, checksum_type=csum
    )
    assert response.arg2 == arg2
    assert response.arg3 == arg3


async def test_calls_in_both_directions_share_one_connection() -> None:
    a = Channel("127.0.0.1:0")
    b = Channel("127.0.0.1:0")
    try:
        await a.listen()
        await b.listen()
        callers: list[str] = []

        async def who(request: Request) -> Response:
            callers.append(request.remote)
            return Response(b"", request.remote.encode())

        a.register("svc", "who", who)
        b.register("svc", "who", who)
        assert (await a.call(b.host_port, "svc", "who", timeout=1)).arg3 == a.host_port.encode()
        # b answers back over the connection a opened (served on a's outbound connection)
        assert (await b.call(a.host_port, "svc", "who", timeout=1)).arg3 == b.host_port.encode()
        assert callers == [a.host_port, b.host_port]
        assert len(a.connections) == 1
        assert len(b.connections) == 1
        assert a.connections[0].initiator
        assert not b.connections[0].initiator
    finally:
        await a.close(drain_timeout=0)
        await b.close(drain_timeout=0)


async def test_one_connection_per_peer_under_concurrency(server: Channel, client: Channel) -> None:
    results = await asyncio.gather(
        *(
            client.call(server.host_port, "svc", "echo", b"", b"%d" % i, timeout=2)
            for i in range(100)
        )
    )
    assert [r.arg3 for r in results] == [b"%d" % i for i in range(100)]
    assert len(client.connections) == 1
    assert len(server.connections) == 1


async def test_timeout_is_sent_as_ttl_and_bounds_the_call(server: Channel, client: Channel) -> None:
    cancelled = asyncio.Event()

    async def slow(request: Request) -> Response:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    server.register("svc", "slow", slow)
    started = time.monotonic()
    with pytest.raises(CallTimeoutError):
        await client.call(server.host_port, "svc", "slow", timeout=0.2)
    assert 0.15 < time.monotonic() - started < 1.5  # far below the 10 s the handler sleeps
    # the server gives up on the handler once the ttl has passed
    await asyncio.wait_for(cancelled.wait(), 2)
    # a late answer does not disturb later calls
    assert (await client.call(server.host_port, "svc", "echo", b"", b"ok", timeout=1)).arg3 == b"ok"


async def test_server_answers_timeout_error_when_ttl_expires(server: Channel) -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(10)
        return Response()

    server.register("svc", "slow", slow)
    peer = await RawPeer.connect(server.host_port)
    try:
        assert isinstance(await peer.handshake(), InitResponse)
        await peer.send(
            encode_frame(
                CallRequest(5, "svc", [b"slow", b"", b""], {"as": "raw", "cn": "t"}, ttl=50)
            )
        )
        frame = await peer.read_frame(timeout=2)
        assert isinstance(frame, ErrorFrame)
        assert (frame.id, frame.code) == (5, ErrorCode.TIMEOUT)
    finally:
        await peer.close()


async def test_caller_cancellation_cancels_the_handler(server: Channel, client: Channel) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    server.register("svc", "slow", slow)
    task = asyncio.create_task(client.call(server.host_port, "svc", "slow", timeout=5))
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 2)  # the cancel frame reached the server
    conn = client.peer_connection(server.host_port)
    assert conn is not None
    assert conn.in_flight == 0


async def test_ping(server: Channel, client: Channel) -> None:
    await client.ping(server.host_port, timeout=1)
    await server.ping(server.host_port, timeout=1)  # a channel can even ping itself
    with pytest.raises(NetworkError):
        await client.ping(f"127.0.0.1:{free_port()}", timeout=1)


async def test_refused_connection_fails_fast(client: Channel) -> None:
    started = time.monotonic()
    with pytest.raises(NetworkError, match="cannot connect"):
        await client.call(f"127.0.0.1:{free_port()}", "svc", "echo", timeout=5)
    assert time.monotonic() - started < 2.0  # the call timeout is 5 s


async def test_unreachable_address_is_bounded_by_the_call_timeout(client: Channel) -> None:
    with black_hole() as address:
        started = time.monotonic()
        with pytest.raises(CallTimeoutError):
            await client.call(address, "svc", "echo", timeout=0.3)
        elapsed = time.monotonic() - started
        assert 0.25 < elapsed < 2.0  # connect_timeout is 3 s: the call timeout bounded it
        # the event loop was never blocked meanwhile
        loop_started = time.monotonic()
        await asyncio.sleep(0)
        assert time.monotonic() - loop_started < 0.1


async def test_connect_timeout_bounds_a_shared_connect(client: Channel) -> None:
    channel = Channel("0.0.0.0:0", connect_timeout=0.2)
    try:
        with black_hole() as address, pytest.raises(NetworkError, match="timed out connecting"):
            await channel.call(address, "svc", "echo", timeout=5)
    finally:
        await channel.close()


async def test_connection_drop_fails_pending_calls_immediately(client: Channel) -> None:
    server = Channel("127.0.0.1:0")

    async def slow(request: Request) -> Response:
        await asyncio.sleep(10)
        return Response()

    server.register("svc", "slow", slow)
    await server.listen()
    try:
        calls = [
            asyncio.create_task(client.call(server.host_port, "svc", "slow", timeout=10))
            for _ in range(5)
        ]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await server.close(drain_timeout=0)
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 2)
        assert all(isinstance(r, NetworkError) for r in results), results
        assert time.monotonic() - started < 2.0  # the calls had 10 s
        # the peer is forgotten; the next call reconnects (and is refused)
        with pytest.raises(NetworkError):
            await client.call(server.host_port, "svc", "slow", timeout=1)
    finally:
        await server.close()


async def test_graceful_close_drains_in_flight_calls(client: Channel) -> None:
    server = Channel("127.0.0.1:0")
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return Response(b"", b"done")

    server.register("svc", "slow", slow)
    server.register("svc", "echo", echo)
    await server.listen()
    in_flight = asyncio.create_task(client.call(server.host_port, "svc", "slow", timeout=5))
    await asyncio.sleep(0.1)
    closing = asyncio.create_task(server.close(drain_timeout=5))
    await asyncio.sleep(0.1)
    assert not closing.done()
    # new calls on the open connection are declined while draining
    with pytest.raises(DeclinedError):
        await client.call(server.host_port, "svc", "echo", timeout=1)
    # new connections are refused
    with pytest.raises(NetworkError):
        await Channel("0.0.0.0:0").call(server.host_port, "svc", "echo", timeout=1)
    release.set()
    assert (await asyncio.wait_for(in_flight, 2)).arg3 == b"done"
    await asyncio.wait_for(closing, 2)
    assert server.closed
    assert not server.listening
    with pytest.raises(NetworkError, match="closed"):
        await server.call(client.host_port, "svc", "echo", timeout=1)


async def test_close_gives_up_after_drain_timeout(client: Channel) -> None:
    server = Channel("127.0.0.1:0")

    async def hang(request: Request) -> Response:
        await asyncio.sleep(10)
        return Response()

    server.register("svc", "hang", hang)
    await server.listen()
    call = asyncio.create_task(client.call(server.host_port, "svc", "hang", timeout=10))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await server.close(drain_timeout=0.2)
    assert time.monotonic() - started < 3.0
    with pytest.raises(NetworkError):
        await asyncio.wait_for(call, 2)


async def test_silent_peer_is_dropped_after_init_timeout(server: Channel, client: Channel) -> None:
    peer = await RawPeer.connect(server.host_port)
    try:
        started = time.monotonic()
        assert await peer.wait_closed_by_peer(timeout=3) == []
        assert 0.4 < time.monotonic() - started < 3.0  # init_timeout=0.5 on this server
    finally:
        await peer.close()
    # the server is unaffected
    assert (await client.call(server.host_port, "svc", "echo", timeout=1)).ok


async def test_handshake_that_never_finishes_fails_the_call(client: Channel) -> None:
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(CallTimeoutError):
            await client.call(f"127.0.0.1:{port}", "svc", "echo", timeout=0.3)
        assert time.monotonic() - started < 1.5  # below the 2 s init timeout
    finally:
        silent.close()


_FULL_CALL = encode_frame(CallRequest(3, "svc", [b"a"], {"as": "raw", "cn": "c"}))


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\x05abc",  # size smaller than the header
        b"\x00\x14\x03\x00\x00\x00\x00\x02" + bytes(8) + b"\x00\x00\x00\x00",  # truncated call req
        b"\x00\x1e" + _FULL_CALL[2:30],  # call req cut inside its fixed fields
        encode_frame(CallRequestContinue(9, [b"x"])),  # continuation of an unknown message
        encode_frame(InitRequest(1, {"host_port": "127.0.0.1:1", "process_name": "again"})),
    ],
)
async def test_malformed_frame_closes_only_that_connection(
    server: Channel, client: Channel, garbage: bytes
) -> None:
    assert (await client.call(server.host_port, "svc", "echo", timeout=1)).ok
    peer = await RawPeer.connect(server.host_port)
    try:
        await peer.handshake()
        await peer.send(garbage)
        frames = await peer.wait_closed_by_peer(timeout=3)
        assert len(frames) == 1
        assert isinstance(frames[0], ErrorFrame)
        assert (frames[0].id, frames[0].code) == (NO_ID, ErrorCode.FATAL)
    finally:
        await peer.close()
    assert (await client.call(server.host_port, "svc", "echo", timeout=1)).ok
    assert len(client.connections) == 1


async def test_oversized_message_is_a_protocol_error(client: Channel) -> None:
    server = Channel("127.0.0.1:0", max_arg_size=100_000)
    server.register("svc", "echo", echo)
    await server.listen()
    try:
        assert (
            await client.call(server.host_port, "svc", "echo", b"", b"x" * 99_000, timeout=2)
        ).ok
        with pytest.raises(ProtocolError, match="max_arg_size"):
            await client.call(server.host_port, "svc", "echo", b"", b"x" * 200_000, timeout=2)
        # a new connection works again
        assert (await client.call(server.host_port, "svc", "echo", timeout=2)).ok
    finally:
        await server.close()


async def test_busy_when_too_many_concurrent_requests(client: Channel) -> None:
    server = Channel("127.0.0.1:0", max_concurrent_requests=1)
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return Response()

    server.register("svc", "slow", slow)
    await server.listen()
    try:
        first = asyncio.create_task(client.call(server.host_port, "svc", "slow", timeout=2))
        await asyncio.sleep(0.1)
        with pytest.raises(BusyError):
            await client.call(server.host_port, "svc", "slow", timeout=2)
        release.set()
        assert (await first).ok
    finally:
        await server.close()


async def test_argument_validation(client: Channel) -> None:
    with pytest.raises(ValueError, match="timeout"):
        await client.call("127.0.0.1:1", "svc", "echo", timeout=0)
    with pytest.raises(ValueError, match="IPv4"):
        await client.call("localhost:1", "svc", "echo", timeout=1)
    with pytest.raises(ValueError, match="routable"):
        await client.call("0.0.0.0:0", "svc", "echo", timeout=1)


async def test_context_manager_listens_and_closes() -> None:
    async with Channel("127.0.0.1:0") as channel:
        channel.register("svc", "echo", echo)
        assert channel.listening
        async with Channel() as caller:
            assert (
                await caller.call(channel.host_port, "svc", "echo", b"", b"1", timeout=1)
            ).arg3 == b"1"
    assert channel.closed


async def test_no_new_outgoing_calls_while_draining() -> None:
    a = Channel("127.0.0.1:0")
    b = Channel("127.0.0.1:0")
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        await release.wait()
        return Response(b"", b"done")

    a.register("svc", "slow", slow)
    b.register("svc", "echo", echo)
    try:
        await a.listen()
        await b.listen()
        assert (await a.call(b.host_port, "svc", "echo", timeout=1)).ok
        in_flight = asyncio.create_task(b.call(a.host_port, "svc", "slow", timeout=5))
        await asyncio.sleep(0.1)
        closing = asyncio.create_task(a.close(drain_timeout=5))
        await asyncio.sleep(0.05)
        with pytest.raises(NetworkError, match="closed"):
            await a.call(b.host_port, "svc", "echo", timeout=1)
        with pytest.raises(NetworkError, match="closed"):
            await a.call_json(b.host_port, "svc", "echo", timeout=1)
        release.set()
        assert (await asyncio.wait_for(in_flight, 2)).arg3 == b"done"
        await asyncio.wait_for(closing, 2)
    finally:
        await a.close(drain_timeout=0)
        await b.close(drain_timeout=0)


async def test_plain_function_handlers(server: Channel, client: Channel) -> None:
    def ping(request: Request, body: Any) -> Any:
        return {"pong": body}

    def raw(request: Request) -> Response:
        return Response(b"", request.arg3[::-1])

    def refuses(request: Request, body: Any) -> Any:
        raise ApplicationError("plain.no", "refused")

    def busy(request: Request) -> Response:
        raise BusyError("plain busy")

    def broken(request: Request) -> Response:
        return "not a response"  # type: ignore[return-value]

    async def later(body: Any) -> Any:
        await asyncio.sleep(0.01)
        return {"later": body}

    server.register_json("svc", "ping", ping)
    server.register("svc", "raw", raw)
    server.register_json("svc", "refuses", refuses)
    server.register("svc", "busy", busy)
    server.register("svc", "broken", broken)
    server.register_json("svc", "later", lambda request, body: later(body))
    peer = server.host_port
    assert await client.call_json(peer, "svc", "ping", [1], timeout=1) == {"pong": [1]}
    assert (await client.call(peer, "svc", "raw", b"", b"abc", timeout=1)).arg3 == b"cba"
    with pytest.raises(ApplicationError, match="refused"):
        await client.call_json(peer, "svc", "refuses", timeout=1)
    with pytest.raises(BusyError, match="plain busy"):
        await client.call(peer, "svc", "busy", timeout=1)
    with pytest.raises(UnexpectedError, match="not a Response"):
        await client.call(peer, "svc", "broken", timeout=1)
    assert await client.call_json(peer, "svc", "later", 5, timeout=1) == {"later": 5}


async def test_messages_over_max_arg_size_are_not_sent_and_the_connection_lives() -> None:
    """A peer closes the connection on a message over its max_arg_size (every call on it
    fails, membership pings included): a call that large is a ValueError before
    anything is written, a response that large an ``unexpected`` error frame."""
    server = Channel("127.0.0.1:0", max_arg_size=1000)

    async def big(request: Request) -> Response:
        return Response(b"", b"x" * 2000)

    server.register("svc", "echo", echo)
    server.register("svc", "big", big)
    address = await server.listen()
    client = Channel("127.0.0.1:0", max_arg_size=1000)
    try:
        assert (await client.call(address, "svc", "echo", b"", b"a", timeout=2.0)).arg3 == b"a"
        with pytest.raises(ValueError, match=r"call of 1004 bytes .* exceeds max_arg_size 1000"):
            await client.call(address, "svc", "echo", b"", b"y" * 1000, timeout=2.0)
        with pytest.raises(UnexpectedError, match=r"response of 2000 bytes .* exceeds"):
            await client.call(address, "svc", "big", timeout=2.0)
        connection = client._peers[address]
        assert (await client.call(address, "svc", "echo", b"", b"b", timeout=2.0)).arg3 == b"b"
        assert client._peers[address] is connection  # the same connection, still usable
    finally:
        await client.close(drain_timeout=0)
        await server.close(drain_timeout=0)
