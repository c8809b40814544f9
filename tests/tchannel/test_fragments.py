"""Fragmentation and reassembly of call messages (spec tchannel.md §8, §10)."""

from __future__ import annotations

import zlib

import pytest

from ringpop.tchannel import checksum
from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.errors import ErrorCode, MalformedFrameError, ProtocolError
from ringpop.tchannel.fragments import (
    CompleteMessage,
    MessageAssembler,
    MessageRejectedError,
    MessageTooLargeError,
    encode_call,
    split_args,
)
from ringpop.tchannel.frames import (
    FLAG_MORE_FRAGMENTS,
    MAX_FRAME_SIZE,
    MAX_PAYLOAD_SIZE,
    ZERO_TRACING,
    CallRequest,
    CallRequestContinue,
    CallResponse,
    CallResponseContinue,
    Frame,
    FrameReader,
    call_request_prefix,
    call_response_prefix,
    encode_frame,
)

HEADERS = {"as": "raw", "cn": "ringpop"}


def _frames(data: list[bytes]) -> list[Frame]:
    reader = FrameReader()
    out: list[Frame] = []
    for chunk in data:
        reader.feed(chunk)
        while (frame := reader.next_frame()) is not None:
            out.append(frame)
    return out


def _assemble(frames: list[Frame], assembler: MessageAssembler | None = None) -> CompleteMessage:
    asm = assembler if assembler is not None else MessageAssembler(1 << 30, 1 << 30)
    result = None
    for index, frame in enumerate(frames):
        if index == 0:
            assert isinstance(frame, CallRequest | CallResponse)
            result = asm.first(frame)
        else:
            assert isinstance(frame, CallRequestContinue | CallResponseContinue)
            result = asm.cont(frame)
        if index < len(frames) - 1:
            assert result is None
    assert result is not None
    assert len(asm) == 0
    assert asm.buffered == 0
    return result


def _request(args: tuple[bytes, bytes, bytes], csum_type: int = 1, fid: int = 7) -> list[bytes]:
    prefix = call_request_prefix(1000, ZERO_TRACING, "svc", HEADERS)
    return encode_call(fid, False, prefix, args, csum_type)


def _verify_running_checksums(frames: list[Frame], csum_type: int) -> None:
    seen: list[bytes] = []
    for frame in frames:
        assert isinstance(
            frame, CallRequest | CallResponse | CallRequestContinue | CallResponseContinue
        )
        seen.extend(frame.args)
        assert frame.checksum_type == csum_type
        assert frame.checksum == checksum.compute(csum_type, seen)


def test_small_message_is_one_frame() -> None:
    data = _request((b"/e", b"h", b"body"))
    assert len(data) == 1
    frames = _frames(data)
    assert frames[0].flags == 0  # type: ignore[union-attr]
    msg = _assemble(frames)
    assert (msg.arg1, msg.arg2, msg.arg3) == (b"/e", b"h", b"body")


def test_spec_example_arg_ending_exactly_on_a_frame_boundary() -> None:
    """Spec §10: arg2 fills frame 1 exactly; frame 2 starts with a zero-length chunk."""
    prefix = call_request_prefix(1000, ZERO_TRACING, "svc", HEADERS)
    first_overhead = 1 + len(prefix) + 1 + 4
    room = MAX_PAYLOAD_SIZE - first_overhead
    arg1 = b"/big"
    arg2 = b"a" * (room - 2 - len(arg1) - 2)
    arg3 = bytes(range(256)) * 512  # 131072 bytes
    data = encode_call(3, False, prefix, (arg1, arg2, arg3), checksum.ChecksumType.CRC32C)
    assert [len(f) for f in data][1:] == [65_535, 65_535, 76]
    assert len(data[0]) == MAX_FRAME_SIZE
    frames = _frames(data)
    assert frames[0].args == [arg1, arg2]  # type: ignore[union-attr]
    assert frames[1].args[0] == b""  # type: ignore[union-attr]
    assert [f.flags for f in frames] == [1, 1, 1, 0]  # type: ignore[union-attr]
    _verify_running_checksums(frames, 3)
    msg = _assemble(frames)
    assert (msg.arg1, msg.arg2, msg.arg3) == (arg1, arg2, arg3)


@pytest.mark.parametrize("size", [0, 65_535, 65_537, 1 << 20])
@pytest.mark.parametrize("csum_type", [0, 1, 2, 3])
def test_sizes_round_trip(size: int, csum_type: int) -> None:
    arg3 = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    arg2 = arg3[: size // 3]
    data = _request((b"/sized", arg2, arg3), csum_type)
    frames = _frames(data)
    assert all(len(f) <= MAX_FRAME_SIZE for f in data)
    _verify_running_checksums(frames, csum_type)
    msg = _assemble(frames)
    assert (msg.arg1, msg.arg2, msg.arg3) == (b"/sized", arg2, arg3)


def test_response_fragmentation() -> None:
    prefix = call_response_prefix(0, ZERO_TRACING, {"as": "json"})
    arg3 = b"x" * 150_000
    data = encode_call(9, True, prefix, (b"", b"", arg3), 1)
    frames = _frames(data)
    assert isinstance(frames[0], CallResponse)
    assert all(isinstance(f, CallResponseContinue) for f in frames[1:])
    assert frames[-1].checksum == zlib.crc32(arg3)  # type: ignore[union-attr]
    assert _assemble(frames).arg3 == arg3


def test_split_args_rules() -> None:
    # arg ends with exactly 2 bytes of room left: next arg moves to the next frame
    plan = split_args([b"ab", b"cd"], first_room=6, cont_room=10)
    assert plan == [(True, [b"ab"]), (False, [b"", b"cd"])]
    # more than 2 bytes of room: the next arg starts in the same frame
    plan = split_args([b"ab", b"cd"], first_room=7, cont_room=10)
    assert plan == [(True, [b"ab", b"c"]), (False, [b"d"])]
    # last arg ends exactly at the frame end: no extra frame
    assert split_args([b"abcd"], first_room=6, cont_room=10) == [(False, [b"abcd"])]
    with pytest.raises(ValueError, match="room"):
        split_args([b"a"], first_room=1, cont_room=10)


def test_checksum_mismatch_is_rejected_and_rest_skipped() -> None:
    frames = _frames(_request((b"/e", b"", b"z" * 100_000), 1))
    asm = MessageAssembler(1 << 30, 1 << 30)
    assert asm.first(frames[0]) is None  # type: ignore[arg-type]
    bad = frames[1]
    assert isinstance(bad, CallRequestContinue)
    bad.checksum ^= 1
    with pytest.raises(MessageRejectedError, match="checksum mismatch"):
        asm.cont(bad)
    for frame in frames[2:]:
        assert asm.cont(frame) is None  # type: ignore[arg-type]
    assert len(asm) == 0
    assert asm.buffered == 0
    # the id is usable again afterwards
    assert asm.first(_frames(_request((b"/e", b"", b"ok"), 1))[0]) is not None  # type: ignore[arg-type]


def test_single_frame_mismatch_and_unverified_farmhash() -> None:
    frame = _frames(_request((b"/e", b"", b"body"), 3))[0]
    assert isinstance(frame, CallRequest)
    frame.checksum ^= 0x10
    asm = MessageAssembler(1000, 1000)
    with pytest.raises(MessageRejectedError):
        asm.first(frame)
    frame.checksum_type = 2  # Fingerprint32 is never verified
    assert asm.first(frame) is not None


def test_checksum_type_change_is_rejected() -> None:
    frames = _frames(_request((b"/e", b"", b"z" * 70_000), 1))
    asm = MessageAssembler(1 << 30, 1 << 30)
    asm.first(frames[0])  # type: ignore[arg-type]
    cont = frames[1]
    assert isinstance(cont, CallRequestContinue)
    cont.checksum_type = 0
    with pytest.raises(MessageRejectedError, match="changed"):
        asm.cont(cont)


def test_limits() -> None:
    frames = _frames(_request((b"/e", b"", b"z" * 200_000), 0))
    with pytest.raises(MessageTooLargeError):
        _assemble(frames, MessageAssembler(150_000, 1 << 30))
    with pytest.raises(MessageTooLargeError):
        _assemble(frames, MessageAssembler(1 << 30, 100_000))
    small = _frames(_request((b"/e", b"", b"z" * 2000), 0))
    with pytest.raises(MessageTooLargeError):
        _assemble(small, MessageAssembler(1000, 1 << 30))


def test_protocol_violations() -> None:
    asm = MessageAssembler(1 << 20, 1 << 20)
    with pytest.raises(MalformedFrameError, match="unknown message"):
        asm.cont(CallRequestContinue(4, [b"x"]))
    first = CallRequest(4, "s", [b"a"], flags=FLAG_MORE_FRAGMENTS)
    asm.first(first)
    with pytest.raises(MalformedFrameError, match="second first frame"):
        asm.first(CallRequest(4, "s", [b"a"], flags=FLAG_MORE_FRAGMENTS))
    asm.cont(CallRequestContinue(4, [b"b", b"c"], FLAG_MORE_FRAGMENTS))
    with pytest.raises(ProtocolError, match="more than 3"):
        asm.cont(CallRequestContinue(4, [b"c", b"d", b"e"], 0))


def test_first_frame_without_chunks_and_short_messages() -> None:
    asm = MessageAssembler(1 << 20, 1 << 20)
    assert asm.first(CallRequest(1, "s", [], flags=FLAG_MORE_FRAGMENTS)) is None
    msg = asm.cont(CallRequestContinue(1, [b"/ep", b"x"], 0))
    assert msg is not None
    assert (msg.arg1, msg.arg2, msg.arg3) == (b"/ep", b"x", b"")
    msg = asm.first(CallRequest(2, "s", [b"/only"]))
    assert msg is not None
    assert (msg.arg1, msg.arg2, msg.arg3) == (b"/only", b"", b"")


def test_discard_skips_the_rest_of_a_message() -> None:
    frames = _frames(_request((b"/e", b"", b"z" * 140_000), 1))
    asm = MessageAssembler(1 << 30, 1 << 30)
    asm.first(frames[0])  # type: ignore[arg-type]
    asm.discard(7)
    assert asm.buffered == 0
    for frame in frames[1:]:
        assert asm.cont(frame) is None  # type: ignore[arg-type]


def _request_id(fid: int, size: int) -> list[Frame]:
    return _frames(_request((b"/e", b"", b"z" * size), fid=fid))


def test_a_channel_budget_bounds_unfinished_messages_over_connections() -> None:
    budget = ReceiveBudget(300_000)
    one, two = (MessageAssembler(1 << 30, 1 << 30, budget) for _ in range(2))
    first = _request_id(1, 200_000)  # 4 frames
    one.first(first[0])  # type: ignore[arg-type]
    one.cont(first[1])  # type: ignore[arg-type]
    held = budget.held
    assert held == one.buffered > 100_000
    second = _request_id(2, 200_000)
    two.first(second[0])  # type: ignore[arg-type]
    two.cont(second[1])  # type: ignore[arg-type]
    with pytest.raises(MessageRejectedError, match="refused") as refused:
        two.cont(second[2])  # type: ignore[arg-type]
    assert refused.value.code == ErrorCode.BUSY
    assert refused.value.frame_id == 2
    assert budget.refused == 1
    assert two.buffered == 0  # the refused message gave its bytes back
    assert budget.held == held
    for frame in second[3:]:  # the rest of the refused message is skipped
        assert two.cont(frame) is None  # type: ignore[arg-type]
    # a message in one frame never counts; the first message still completes
    assert two.first(_request_id(3, 100)[0]) is not None  # type: ignore[arg-type]
    assert [one.cont(frame) for frame in first[2:]][-1] is not None  # type: ignore[arg-type]
    assert budget.held == 0


def test_a_gone_connection_gives_its_unfinished_messages_back() -> None:
    budget = ReceiveBudget(1 << 20)
    asm = MessageAssembler(1 << 30, 1 << 30, budget)
    for fid in (1, 2):
        asm.first(_request_id(fid, 100_000)[0])  # type: ignore[arg-type]
    assert budget.held == asm.buffered > 0
    asm.clear()
    assert budget.held == asm.buffered == len(asm) == 0
    with pytest.raises(ValueError, match="positive"):
        ReceiveBudget(0)


def test_encode_frame_and_encode_call_agree() -> None:
    args = (b"/a", b"b", b"c")
    prefix = call_request_prefix(1000, ZERO_TRACING, "svc", HEADERS)
    expected = encode_frame(
        CallRequest(
            7, "svc", list(args), HEADERS, 1000, 0, ZERO_TRACING, 1, checksum.compute(1, list(args))
        )
    )
    assert encode_call(7, False, prefix, args, 1) == [expected]
