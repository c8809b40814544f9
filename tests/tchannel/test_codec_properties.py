"""Property tests of the sans-IO codec: round trips, and garbage never escapes as a crash."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringpop.tchannel import checksum
from ringpop.tchannel.core import ConnectionCore
from ringpop.tchannel.errors import MalformedFrameError
from ringpop.tchannel.events import ProtocolFailure
from ringpop.tchannel.fragments import MessageAssembler, encode_call
from ringpop.tchannel.frames import (
    MAX_FRAME_SIZE,
    CallRequest,
    CallRequestContinue,
    CallResponse,
    CallResponseContinue,
    Cancel,
    Claim,
    ErrorFrame,
    Frame,
    FrameReader,
    FrameType,
    InitRequest,
    InitResponse,
    PingRequest,
    PingResponse,
    UnknownFrame,
    call_request_prefix,
    call_response_prefix,
    decode_frame,
    encode_frame,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.integers(0, 0xFFFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
tracing = st.binary(min_size=25, max_size=25)
short_text = st.text(max_size=12).filter(lambda s: len(s.encode()) <= 255)
call_headers = st.dictionaries(short_text, short_text, max_size=6)
init_headers = st.dictionaries(st.text(max_size=30), st.text(max_size=60), max_size=8)
chunks = st.lists(st.binary(max_size=600), max_size=3)
csum = st.sampled_from([0, 1, 2, 3]).flatmap(
    lambda t: st.tuples(st.just(t), st.just(0) if t == 0 else u32)
)
known_types = {int(t) for t in FrameType}


@st.composite
def call_requests(draw: Any) -> CallRequest:
    ctype, cval = draw(csum)
    return CallRequest(
        draw(ids),
        draw(short_text),
        draw(chunks),
        draw(call_headers),
        draw(u32),
        draw(st.integers(0, 255)),
        draw(tracing),
        ctype,
        cval,
    )


@st.composite
def call_responses(draw: Any) -> CallResponse:
    ctype, cval = draw(csum)
    return CallResponse(
        draw(ids),
        draw(chunks),
        draw(st.integers(0, 255)),
        draw(call_headers),
        draw(st.integers(0, 255)),
        draw(tracing),
        ctype,
        cval,
    )


@st.composite
def continues(draw: Any) -> CallRequestContinue | CallResponseContinue:
    ctype, cval = draw(csum)
    cls = draw(st.sampled_from([CallRequestContinue, CallResponseContinue]))
    frame: CallRequestContinue | CallResponseContinue = cls(
        draw(ids), draw(chunks), draw(st.integers(0, 255)), ctype, cval
    )
    return frame


frames_strategy: st.SearchStrategy[Frame] = st.one_of(
    st.builds(InitRequest, ids, init_headers, st.integers(0, 0xFFFF)),
    st.builds(InitResponse, ids, init_headers, st.integers(0, 0xFFFF)),
    call_requests(),
    call_responses(),
    continues(),
    st.builds(Cancel, ids, u32, tracing, st.text(max_size=40)),
    st.builds(Claim, ids, u32, tracing),
    st.builds(PingRequest, ids),
    st.builds(PingResponse, ids),
    st.builds(ErrorFrame, ids, st.integers(0, 255), st.text(max_size=80), tracing),
    st.builds(
        UnknownFrame,
        ids,
        st.integers(0, 255).filter(lambda t: t not in known_types),
        st.binary(max_size=100),
    ),
)


def _drain(reader: FrameReader) -> list[Frame]:
    out = []
    while (frame := reader.next_frame()) is not None:
        out.append(frame)
    return out


@SETTINGS
@given(st.lists(frames_strategy, min_size=1, max_size=6), st.data())
def test_every_frame_type_round_trips(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(f) for f in frames)
    # feed the stream in random pieces
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=5)))
    reader = FrameReader()
    decoded: list[Frame] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[last:cut])
        decoded.extend(_drain(reader))
        last = cut
    assert decoded == frames
    assert reader.buffered == 0


def _parse_all(data: bytes, pieces: list[int]) -> None:
    """Feed ``data``; only frames or MalformedFrameError may come out."""
    reader = FrameReader()
    last = 0
    try:
        for cut in [*sorted(pieces), len(data)]:
            reader.feed(data[last:cut])
            last = cut
            for frame in _drain(reader):
                if not isinstance(frame, UnknownFrame):
                    encode_frame(frame)  # whatever decodes can be encoded again
    except MalformedFrameError:
        pass


@SETTINGS
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=4))
def test_random_bytes_give_frames_or_protocol_error(data: bytes, pieces: list[int]) -> None:
    _parse_all(data, [p for p in pieces if p <= len(data)])


@SETTINGS
@given(
    st.lists(frames_strategy, min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 10_000),
)
def test_mutated_frames_give_frames_or_protocol_error(
    frames: list[Frame], mutations: list[tuple[int, int]], truncate: int
) -> None:
    stream = bytearray(b"".join(encode_frame(f) for f in frames))
    for position, value in mutations:
        stream[position % len(stream)] = value
    _parse_all(bytes(stream[: max(1, len(stream) - truncate % 40)]), [])


boundary_sizes = st.sampled_from(
    [0, 1, 2, 3, 65_440, 65_449, 65_450, 65_451, 65_509, 65_510, 65_511, 65_535, 65_536]
)
arg_sizes = st.one_of(boundary_sizes, st.integers(0, 140_000))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 16_384),
    arg_sizes,
    arg_sizes,
    st.sampled_from([0, 1, 2, 3]),
    st.booleans(),
    call_headers,
)
def test_fragmented_messages_round_trip(
    len1: int, len2: int, len3: int, csum_type: int, response: bool, headers: dict[str, str]
) -> None:
    arg1 = b"1" * len1
    arg2 = bytes(i % 251 for i in range(len2))
    arg3 = b"3" * len3
    if response:
        prefix = call_response_prefix(0, bytes(25), headers)
    else:
        prefix = call_request_prefix(100, bytes(25), "svc", headers)
    data = encode_call(11, response, prefix, (arg1, arg2, arg3), csum_type)
    assert all(len(f) <= MAX_FRAME_SIZE for f in data)
    reader = FrameReader()
    reader.feed(b"".join(data))
    frames = _drain(reader)
    assert len(frames) == len(data)
    asm = MessageAssembler(1 << 30, 1 << 30)
    message = None
    seen: list[bytes] = []
    for index, frame in enumerate(frames):
        assert isinstance(
            frame, CallRequest | CallResponse | CallRequestContinue | CallResponseContinue
        )
        assert frame.flags == (0 if index == len(frames) - 1 else 1)
        seen.extend(frame.args)
        assert frame.checksum == checksum.compute(csum_type, seen)
        if index == 0:
            assert isinstance(frame, CallResponse if response else CallRequest)
            message = asm.first(frame)
        else:
            assert isinstance(frame, CallResponseContinue if response else CallRequestContinue)
            message = asm.cont(frame)
    assert message is not None
    assert (message.arg1, message.arg2, message.arg3) == (arg1, arg2, arg3)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 200_000),
    st.sampled_from([0, 1, 3]),
    st.booleans(),
    st.lists(st.integers(1, 140_000), min_size=1, max_size=40),
)
def test_fragmented_messages_fed_in_reads_assemble_to_bytes(
    len3: int, csum_type: int, response: bool, reads: list[int]
) -> None:
    """Fed as a socket delivers it (reads of any size, the reader keeping views of the
    large chunks of what it joined), a message's arguments come out whole, as bytes."""
    arg3 = bytes(i % 253 for i in range(len3))
    if response:
        prefix = call_response_prefix(0, bytes(25), {})
    else:
        prefix = call_request_prefix(100, bytes(25), "svc", {})
    stream = b"".join(encode_call(7, response, prefix, (b"a", b"bb", arg3), csum_type))
    reader = FrameReader()
    asm = MessageAssembler(1 << 30, 1 << 30)
    messages = []
    at = 0
    index = 0
    while at < len(stream):
        size = reads[index % len(reads)]
        index += 1
        reader.feed(memoryview(stream)[at : at + size])  # the caller reuses its buffer
        at += size
        for frame in _drain(reader):
            if isinstance(frame, CallRequest | CallResponse):
                message = asm.first(frame)
            else:
                assert isinstance(frame, CallRequestContinue | CallResponseContinue)
                message = asm.cont(frame)
            if message is not None:
                messages.append(message)
    assert reader.buffered == 0
    assert len(messages) == 1
    got = messages[0]
    assert (got.arg1, got.arg2, got.arg3) == (b"a", b"bb", arg3)
    assert all(type(arg) is bytes for arg in (got.arg1, got.arg2, got.arg3))


def _ready_core() -> ConnectionCore:
    core = ConnectionCore(
        initiator=False,
        init_headers={"host_port": "127.0.0.1:1", "process_name": "t"},
        max_arg_size=100_000,
    )
    core.receive(encode_frame(InitRequest(1, {"host_port": "0.0.0.0:0", "process_name": "p"})))
    core.outbox.clear()
    return core


@SETTINGS
@given(st.lists(st.one_of(frames_strategy.map(encode_frame), st.binary(max_size=200)), max_size=8))
def test_connection_core_never_raises(pieces: list[bytes]) -> None:
    core = _ready_core()
    failed = False
    for piece in pieces:
        events = core.receive(piece)
        assert not failed or events == []
        if any(isinstance(e, ProtocolFailure) for e in events):
            failed = True
            [failure] = [e for e in events if isinstance(e, ProtocolFailure)]
            if failure.message.startswith("peer reported"):
                continue  # the peer's own fatal error frame: nothing is sent back
            assert core.outbox, "a protocol error frame is queued"
            assert core.outbox[-1][2] == 0xFF
        core.outbox.clear()


def _continue_payloads() -> st.SearchStrategy[bytes]:
    """Continuation payloads, well formed and not: flags, a checksum type (some
    unknown), a checksum (some cut short), then chunks whose sizes may lie."""
    chunk = st.tuples(st.integers(0, 9000), st.integers(0, 9000)).map(
        lambda sizes: sizes[0].to_bytes(2, "big") + b"c" * sizes[1]
    )
    return st.builds(
        lambda flags, csum_type, csum, chunks, cut: (
            bytes([flags, csum_type]) + csum + b"".join(chunks)
        )[: cut if cut is not None else None],
        st.integers(0, 255),
        st.sampled_from([0, 1, 2, 3, 4, 255]),
        st.sampled_from([b"", b"\x00\x00", b"\x01\x02\x03\x04"]),
        st.lists(chunk, max_size=5),
        st.none() | st.integers(0, 20),
    )


@SETTINGS
@given(
    _continue_payloads(),
    st.sampled_from([FrameType.CALL_REQ_CONTINUE, FrameType.CALL_RES_CONTINUE]),
)
def test_the_reader_and_decode_frame_agree_on_any_continuation(
    payload: bytes, frame_type: FrameType
) -> None:
    """One parser: what the reader makes of a continuation frame read in place (its
    chunks views or copies) is what ``decode_frame`` makes of its payload, frame or
    error, with the same explanation."""
    if len(payload) > MAX_FRAME_SIZE - 16:
        payload = payload[: MAX_FRAME_SIZE - 16]
    header = (
        (16 + len(payload)).to_bytes(2, "big") + bytes([frame_type, 0]) + (5).to_bytes(4, "big")
    )
    reader = FrameReader()
    reader.feed(header + bytes(8) + payload + encode_frame(PingRequest(1)))
    try:
        expected: Frame | str = decode_frame(frame_type, 5, payload)
    except MalformedFrameError as exc:
        expected = str(exc)
    try:
        got: Frame | str | None = reader.next_frame()
    except MalformedFrameError as exc:
        got = str(exc)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, type(expected))
        assert [bytes(a) for a in got.args] == expected.args  # type: ignore[union-attr]
        assert got == expected
        assert reader.next_frame() == PingRequest(1)
