"""The sans-IO connection state machine: handshake, dispatch, automatic replies, limits."""

from __future__ import annotations

import pytest

from ringpop.tchannel import checksum
from ringpop.tchannel.core import (
    ConnectionCore,
    HandshakeComplete,
    ProtocolFailure,
    ResponseFailed,
    State,
)
from ringpop.tchannel.errors import ErrorCode
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
    client.start()
    server_events = server.receive(b"".join(client.outbox))
    client.outbox.clear()
    assert server_events == [HandshakeComplete(CLIENT_HEADERS)]
    client_events = client.receive(b"".join(server.outbox))
    server.outbox.clear()
    assert client_events == [HandshakeComplete(SERVER_HEADERS)]
    return client, server


def _request(
    fid: int, args: tuple[bytes, bytes, bytes], headers: dict[str, str] | None = None
) -> bytes:
    prefix = call_request_prefix(
        1000, ZERO_TRACING, "svc", {"as": "raw", "cn": "c"} if headers is None else headers
    )
    client = ConnectionCore(initiator=True, init_headers=CLIENT_HEADERS)
    return b"".join(client.request_frames(fid, prefix, *args, checksum_type=1))


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
    fid = client.next_id()
    prefix = call_request_prefix(1000, ZERO_TRACING, "svc", {"as": "json", "cn": "c"})
    data = client.request_frames(fid, prefix, b"/ep", b"{}", b"x" * 100_000, checksum_type=3)
    [message] = server.receive(b"".join(data))
    assert isinstance(message, CompleteMessage)
    assert isinstance(message.first, CallRequest)
    assert (message.arg1, message.arg2, len(message.arg3)) == (b"/ep", b"{}", 100_000)
    res_prefix = call_response_prefix(0, ZERO_TRACING, {"as": "json"})
    frames = server.response_frames(fid, res_prefix, b"", b"y" * 70_000, checksum_type=3)
    [response] = client.receive(b"".join(frames))
    assert isinstance(response, CompleteMessage)
    assert isinstance(response.first, CallResponse)
    assert response.first.id == fid
    assert response.arg3 == b"y" * 70_000


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
    assert events == [
        PingResponse(4),
        Cancel(5, 10, ZERO_TRACING, "why"),
        ErrorFrame(8, ErrorCode.BUSY, "busy"),
    ]
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
    res = bytearray(
        b"".join(
            server.response_frames(
                3, call_response_prefix(0, ZERO_TRACING, {"as": "raw"}), b"", b"r", 1
            )
        )
    )
    res[-1] ^= 0xFF
    [failed] = client.receive(bytes(res))
    assert isinstance(failed, ResponseFailed)
    assert failed.id == 3


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
    core._last_id = NO_ID - 2
    assert core.next_id() == NO_ID - 1
    assert core.next_id() == 1
