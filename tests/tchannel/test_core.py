"""The sans-IO connection state machine: handshake, dispatch, automatic replies, limits,
and our calls: encoding, the outstanding table, answers, errors, deadlines, staleness."""

from __future__ import annotations

import pytest

from ringpop.tchannel import checksum
from ringpop.tchannel.api import Response
from ringpop.tchannel.core import ConnectionCore, State
from ringpop.tchannel.errors import BusyError, ErrorCode, ProtocolError
from ringpop.tchannel.events import (
    CallAnswered,
    CallExpired,
    CallFailed,
    ConnectionStale,
    HandshakeComplete,
    ProtocolFailure,
)
from ringpop.tchannel.fragments import CompleteMessage, encode_call
from ringpop.tchannel.frames import (
    NO_ID,
    ZERO_TRACING,
    CallRequest,
    CallResponse,
    Cancel,
    Claim,
    ErrorFrame,
    Frame,
    FrameReader,
    InitRequest,
    InitResponse,
    PingRequest,
    PingResponse,
    UnknownFrame,
    call_request_prefix,
    call_response_prefix,
    encode_frame,
)
from tests.tchannel.cores import handshake, request_of

SERVER_HEADERS = {"host_port": "127.0.0.1:4000", "process_name": "server"}
CLIENT_HEADERS = {"host_port": "127.0.0.1:5000", "process_name": "client"}


def _out(core: ConnectionCore) -> list[Frame]:
    reader = FrameReader()
    for data in core.outbox:
        reader.feed(data)
    core.outbox.clear()
    frames = []
    while (frame := reader.next_frame()) is not None:
        frames.append(frame)
    return frames


def _pair() -> tuple[ConnectionCore, ConnectionCore]:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS)
    server = ConnectionCore(initiator=False, init_headers=SERVER_HEADERS, max_arg_size=200_000)
    return handshake(client, server, CLIENT_HEADERS, SERVER_HEADERS)


def _request(
    fid: int, args: tuple[bytes, bytes, bytes], headers: dict[str, str] | None = None
) -> bytes:
    prefix = call_request_prefix(
        1000, ZERO_TRACING, "svc", {"as": "raw", "cn": "c"} if headers is None else headers
    )
    return b"".join(encode_call(fid, False, prefix, args, 1))


def test_handshake_echoes_id_and_exchanges_headers() -> None:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS)
    server = ConnectionCore(initiator=False, init_headers=SERVER_HEADERS)
    client.start()
    [init] = _out(client)
    assert init == InitRequest(1, CLIENT_HEADERS)
    assert server.receive(encode_frame(init)) == [HandshakeComplete(CLIENT_HEADERS)]
    [res] = _out(server)
    assert res == InitResponse(1, SERVER_HEADERS)
    assert server.state is State.READY
    assert client.receive(encode_frame(res))[0].host_port == "127.0.0.1:4000"  # type: ignore[union-attr]
    assert client.ready
    assert client.next_id() == 2  # init used id 1


def test_ephemeral_client_is_accepted() -> None:
    server = ConnectionCore(initiator=False, init_headers=SERVER_HEADERS)
    headers = {"host_port": "0.0.0.0:0", "process_name": "admin"}
    [event] = server.receive(encode_frame(InitRequest(1, headers)))
    assert isinstance(event, HandshakeComplete)
    assert event.host_port == "0.0.0.0:0"


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (InitRequest(1, {"process_name": "x"}), "without host_port"),
        (InitRequest(1, {"host_port": "localhost:1", "process_name": "x"}), "invalid host_port"),
        (InitRequest(1, CLIENT_HEADERS, version=1), "version"),
        (PingRequest(1), "expected init request"),
        (CallRequest(1, "s", [b"a"], {"as": "raw", "cn": "c"}), "expected init request"),
    ],
)
def test_bad_handshakes_are_fatal(frame: Frame, why: str) -> None:
    server = ConnectionCore(initiator=False, init_headers=SERVER_HEADERS)
    [event] = server.receive(encode_frame(frame) + encode_frame(PingRequest(2)))
    assert isinstance(event, ProtocolFailure)
    assert why in event.message
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert (err.id, err.code) == (NO_ID, ErrorCode.FATAL)
    assert server.state is State.CLOSED
    assert server.receive(encode_frame(PingRequest(3))) == []


def test_initiator_sees_handshake_rejection() -> None:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS)
    client.start()
    client.outbox.clear()
    [event] = client.receive(encode_frame(ErrorFrame(NO_ID, 0xFF, "bad host_port")))
    assert isinstance(event, ProtocolFailure)
    assert "bad host_port" in event.message


def test_call_round_trip_between_cores() -> None:
    client, server = _pair()
    tag = object()
    fid, data = client.send_request(
        tag, 5.0, 1.5, "svc", b"/ep", b"{}", b"x" * 100_000, 3, "json", "c", {"re": "x"}
    )
    assert fid == 2  # the init request used id 1
    assert len(client.calls) == 1
    [message] = server.receive(data)
    assert isinstance(message, CompleteMessage)
    first = message.first
    assert isinstance(first, CallRequest)
    assert (first.service, first.ttl, first.headers) == (
        "svc",
        1500,
        {"as": "json", "cn": "c", "re": "x"},
    )
    assert (message.arg1, message.arg2, len(message.arg3)) == (b"/ep", b"{}", 100_000)
    answer = server.send_response(request_of(message), Response(b"", b"y" * 70_000))
    [event] = client.receive(answer)
    assert isinstance(event, CallAnswered)
    assert (event.id, event.tag) == (fid, tag)
    assert event.response == Response(b"", b"y" * 70_000, 0, {"as": "json"})
    assert len(client.calls) == 0
    assert client.receive(answer) == []  # a second (late) answer is dropped


def test_response_headers_codes_and_checksum_echo() -> None:
    client, server = _pair()
    _, data = client.send_request(1, 5.0, 1.0, "svc", b"/e", b"", b"", 2, "raw", "c")
    [message] = server.receive(data)
    request = request_of(message)  # type: ignore[arg-type]
    reader = FrameReader()
    reader.feed(server.send_response(request, Response(b"h", b"b", 7, {"k": "v"})))
    frame = reader.next_frame()
    assert isinstance(frame, CallResponse)
    assert (frame.code, frame.headers, frame.checksum_type) == (1, {"as": "raw", "k": "v"}, 0)
    reader.feed(server.send_response(request, Response(b"", b"", 0, {"as": "x" * 300})))
    error = reader.next_frame()
    assert isinstance(error, ErrorFrame)
    assert (error.id, error.code) == (request.id, ErrorCode.UNEXPECTED)


def test_answers_errors_and_pings_of_our_calls() -> None:
    client, server = _pair()
    fid, data = client.send_request("call", 5.0, 1.0, "svc", b"/e", b"", b"", 1, "raw", "c")
    ping_id, ping = client.send_ping("ping", 5.0)
    assert ping_id == fid + 1
    server.receive(data + ping)
    events = client.receive(b"".join(server.outbox))
    assert events == [CallAnswered(ping_id, "ping", None)]
    [failed] = client.receive(encode_frame(ErrorFrame(fid, ErrorCode.BUSY, "busy")))
    assert isinstance(failed, CallFailed)
    assert (failed.id, failed.tag, type(failed.error)) == (fid, "call", BusyError)
    assert client.receive(encode_frame(ErrorFrame(fid, ErrorCode.BUSY, "again"))) == []
    assert client.receive(encode_frame(PingResponse(ping_id))) == []


def test_cancel_and_drop_forget_a_call() -> None:
    client, _ = _pair()
    fid, _ = client.send_request("a", 5.0, 0.25, "svc", b"/e", b"", b"", 0, "raw", "c")
    reader = FrameReader()
    reader.feed(client.send_cancel(fid, 0.25))
    assert reader.next_frame() == Cancel(fid, 250, ZERO_TRACING, "cancelled by caller")
    assert client.send_cancel(fid, 0.25) == b""  # no longer outstanding
    ping_id, _ = client.send_ping("p", 5.0)
    assert client.drop_call(ping_id)
    assert not client.drop_call(ping_id)
    assert len(client.calls) == 0


def test_ids_skip_outstanding_calls_after_wrapping() -> None:
    client, _ = _pair()
    first, _ = client.send_ping("p", 5.0)
    client.calls._last_id = NO_ID - 1
    second, _ = client.send_ping("q", 5.0)
    assert (first, second) == (2, 1)
    third, _ = client.send_ping("r", 5.0)
    assert third == 3  # 2 is still outstanding


def test_calls_expire_at_their_deadline_and_feed_the_stale_rule() -> None:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS, stale_period=1.5)
    a, _ = client.send_ping("a", 10.0)
    b, _ = client.send_ping("b", 11.0)
    assert client.calls.next_deadline() == 10.0
    assert client.expire(9.9) == []
    assert client.expire(10.0) == [CallExpired(a, "a")]
    assert client.calls.next_deadline() == 11.0
    assert client.expire(11.0) == [CallExpired(b, "b")]  # 1 s after the first: not yet
    assert client.calls.next_deadline() == 11.5  # the stale check
    client.receive(b"")  # the peer said something: the timeouts were slow calls
    assert client.calls.next_deadline() is None
    c, _ = client.send_ping("c", 20.0)
    assert client.expire(20.0) == [CallExpired(c, "c")]
    assert client.expire(21.4) == []
    assert client.expire(21.5) == [ConnectionStale(1.5)]


def test_second_timeout_after_a_quiet_period_is_stale_at_once() -> None:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS, stale_period=1.0)
    a, _ = client.send_ping("a", 1.0)
    b, _ = client.send_ping("b", 3.0)
    client.send_ping("c", 3.0)
    assert client.expire(1.0) == [CallExpired(a, "a")]
    assert client.expire(3.0) == [CallExpired(b, "b"), ConnectionStale(2.0)]
    assert client.calls.take_all() == ["c"]  # left for the driver to fail


def test_no_stale_rule_with_period_zero() -> None:
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS, stale_period=0)
    for at in (1.0, 5.0, 9.0):
        fid, _ = client.send_ping("x", at)
        assert client.expire(at) == [CallExpired(fid, "x")]
    assert client.calls.next_deadline() is None


def test_peer_protocol_error_ends_the_connection() -> None:
    client, _ = _pair()
    client.send_ping("p", 5.0)
    events = client.receive(
        encode_frame(ErrorFrame(NO_ID, ErrorCode.FATAL, "boom")) + encode_frame(PingRequest(7))
    )
    assert events == [ProtocolFailure("peer reported a protocol error: boom")]
    assert client.state is State.CLOSED
    assert client.outbox == []  # nothing is sent back, nothing after it parsed


def test_ping_is_answered_and_other_frames_become_events() -> None:
    _, server = _pair()
    events = server.receive(
        encode_frame(PingRequest(9))
        + encode_frame(PingResponse(4))
        + encode_frame(Cancel(5, 10, ZERO_TRACING, "why"))
        + encode_frame(Claim(6, 10))
        + encode_frame(UnknownFrame(7, 0x77, b"??"))
        + encode_frame(ErrorFrame(8, ErrorCode.BUSY, "busy"))
    )
    # the ping response and the error are for no call of ours: dropped
    assert events == [Cancel(5, 10, ZERO_TRACING, "why")]
    assert _out(server) == [PingResponse(9)]


@pytest.mark.parametrize(
    ("headers", "args", "message"),
    [
        ({"as": "raw"}, (b"/e", b"", b""), '"cn" header'),
        ({"cn": "c"}, (b"/e", b"", b""), '"as" header'),
        ({"as": "raw", "cn": "c"}, (b"e" * 16_385, b"", b""), "arg1 longer"),
    ],
)
def test_bad_requests_get_an_error_frame(
    headers: dict[str, str], args: tuple[bytes, bytes, bytes], message: str
) -> None:
    _, server = _pair()
    data = bytearray(
        encode_frame(
            CallRequest(
                3,
                "svc",
                list(args),
                headers,
                1000,
                0,
                ZERO_TRACING,
                1,
                checksum.compute(1, list(args)),
            )
        )
        if len(args[0]) < 16_000
        else b"".join(_fragmented_long_arg1(args[0], headers))
    )
    assert server.receive(bytes(data)) == []
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert (err.id, err.code) == (3, ErrorCode.BAD_REQUEST)
    assert message in err.message
    assert server.ready  # the connection survives


def _fragmented_long_arg1(arg1: bytes, headers: dict[str, str]) -> list[bytes]:
    prefix = call_request_prefix(1000, ZERO_TRACING, "svc", headers)
    return encode_call(3, False, prefix, (arg1, b"", b""), 1)


def test_zero_ttl_is_a_bad_request() -> None:
    _, server = _pair()
    frame = CallRequest(3, "svc", [b"/e", b"", b""], {"as": "raw", "cn": "c"}, ttl=0)
    assert server.receive(encode_frame(frame)) == []
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert "ttl" in err.message


def test_checksum_mismatch_on_request_and_response() -> None:
    client, server = _pair()
    data = bytearray(_request(3, (b"/e", b"", b"payload")))
    data[-1] ^= 0xFF
    assert server.receive(bytes(data)) == []
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert err.code == ErrorCode.BAD_REQUEST
    assert "checksum" in err.message
    fid, _ = client.send_request("t", 5.0, 1.0, "svc", b"/e", b"", b"", 1, "raw", "c")
    prefix = call_response_prefix(0, ZERO_TRACING, {"as": "raw"})
    res = bytearray(b"".join(encode_call(fid, True, prefix, (b"", b"", b"r"), 1)))
    res[-1] ^= 0xFF
    [failed] = client.receive(bytes(res))
    assert isinstance(failed, CallFailed)
    assert (failed.id, failed.tag, type(failed.error)) == (fid, "t", ProtocolError)
    assert "checksum" in str(failed.error)
    assert len(client.calls) == 0


def test_oversized_message_is_fatal() -> None:
    _, server = _pair()
    events = server.receive(_request(3, (b"/e", b"", b"z" * 250_000)))
    assert isinstance(events[-1], ProtocolFailure)
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert err.code == ErrorCode.FATAL


def test_duplicate_init_and_garbage_after_handshake_are_fatal() -> None:
    _, server = _pair()
    [event] = server.receive(encode_frame(InitRequest(5, CLIENT_HEADERS)))
    assert isinstance(event, ProtocolFailure)
    _, server = _pair()
    [event] = server.receive(b"\x00\x03garbage")
    assert isinstance(event, ProtocolFailure)


def test_ids_skip_no_id_and_wrap() -> None:
    core = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS)
    core.calls._last_id = NO_ID - 2
    assert core.next_id() == NO_ID - 1
    assert core.next_id() == 1


def test_a_request_whose_last_frame_never_comes_is_dropped_at_its_ttl() -> None:
    """A peer stopped in the middle of a request (SIGSTOP, a cut link) held its frames
    here until the connection closed, however long; now until the request's ttl."""
    _, server = _pair()
    frames = encode_call(
        3,
        False,
        call_request_prefix(500, ZERO_TRACING, "svc", {"as": "raw", "cn": "c"}),
        (b"/e", b"", b"z" * 150_000),
        1,
    )
    assert len(frames) >= 3
    assert server.receive(b"".join(frames[:-1]), 10.0) == []
    assert server.next_request_deadline() == 10.5  # ttl 500 ms from when it came
    assert server.next_deadline() == 10.5
    assert server.expire(10.4) == []
    assert _out(server) == []
    assert server.expire(10.5) == []
    [err] = _out(server)
    assert isinstance(err, ErrorFrame)
    assert (err.id, err.code) == (3, ErrorCode.TIMEOUT)
    assert server._requests.buffered == 0
    assert server.next_deadline() is None
    assert server.receive(frames[-1], 11.0) == []  # its last frame, late: skipped
    assert _out(server) == []
    whole = _request(5, (b"/e", b"", b"z" * 150_000))  # a request that completes
    [message] = server.receive(whole, 12.0)
    assert isinstance(message, CompleteMessage)
    assert server.next_request_deadline() is None
