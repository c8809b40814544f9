"""The frame codec against the byte-exact examples of spec tchannel.md §14, and its edges."""

from __future__ import annotations

import zlib

import pytest

from ringpop.hashing import fingerprint32
from ringpop.tchannel import checksum
from ringpop.tchannel.errors import MalformedFrameError
from ringpop.tchannel.frames import (
    NO_ID,
    ZERO_TRACING,
    CallRequest,
    CallRequestContinue,
    CallResponse,
    CallResponseContinue,
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
    decode_frame,
    encode_frame,
)


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def _decode(data: bytes) -> Frame:
    reader = FrameReader()
    reader.feed(data)
    frame = reader.next_frame()
    assert frame is not None
    assert reader.buffered == 0
    return frame


INIT_REQ_HEX = _hex(
    """
    00a5010000000001 0000000000000000 000200050009686f 73745f706f727400
    0e3132372e302e30 2e313a3330303100 0c70726f63657373 5f6e616d65000f70
    7972696e67706f70 5b343234325d0011 746368616e6e656c 5f6c616e67756167
    650006707974686f 6e0019746368616e 6e656c5f6c616e67 756167655f766572
    73696f6e0006332e 31312e3700107463 68616e6e656c5f76 657273696f6e0005
    302e312e30
    """
)
INIT_HEADERS = {
    "host_port": "127.0.0.1:3001",
    "process_name": "pyringpop[4242]",
    "tchannel_language": "python",
    "tchannel_language_version": "3.11.7",
    "tchannel_version": "0.1.0",
}

PING_ARG3 = (
    b'{"checksum":3184296888,"changes":[],"source":"127.0.0.1:3001",'
    b'"sourceIncarnationNumber":1414142122276,"app":"ringpop"}'
)
CALL_REQ_HEX = _hex(
    """
    00 d8 03 00 00 00 00 02 00 00 00 00 00 00 00 00
    00 00 00 05 dc 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 07 72
    69 6e 67 70 6f 70 02 02 61 73 03 72 61 77 02 63
    6e 07 72 69 6e 67 70 6f 70 03 86 48 9d b4 00 0e
    2f 70 72 6f 74 6f 63 6f 6c 2f 70 69 6e 67 00 00
    00 76 7b 22 63 68 65 63 6b 73 75 6d 22 3a 33 31
    38 34 32 39 36 38 38 38 2c 22 63 68 61 6e 67 65
    73 22 3a 5b 5d 2c 22 73 6f 75 72 63 65 22 3a 22
    31 32 37 2e 30 2e 30 2e 31 3a 33 30 30 31 22 2c
    22 73 6f 75 72 63 65 49 6e 63 61 72 6e 61 74 69
    6f 6e 4e 75 6d 62 65 72 22 3a 31 34 31 34 31 34
    32 31 32 32 32 37 36 2c 22 61 70 70 22 3a 22 72
    69 6e 67 70 6f 70 22 7d
    """
)
CALL_RES_HEX = _hex(
    "004c04000000000200000000000000000000000000000000000000000000000000000000000000000000"
    "000102617303726177036bd5640600000000000e7b226368616e676573223a5b5d7d"
)
ERROR_HEX = _hex(
    "005fff00000000020000000000000000060000000000000000000000000000000000000000000000000000"
    "336e6f2068616e646c657220666f722073657276696365202272696e67706f702220616e64206d65"
    "74686f6420222f6e6f706522"
)
PING_REQ_HEX = _hex("00 10 d0 00 00 00 00 07 00 00 00 00 00 00 00 00")
PING_RES_HEX = _hex("00 10 d1 00 00 00 00 07 00 00 00 00 00 00 00 00")

PING_ARGS = [b"/protocol/ping", b"", PING_ARG3]
PING_HEADERS = {"as": "raw", "cn": "ringpop"}


def _ping_request(csum_type: int) -> CallRequest:
    return CallRequest(
        id=2,
        service="ringpop",
        args=list(PING_ARGS),
        headers=dict(PING_HEADERS),
        ttl=1500,
        checksum_type=csum_type,
        checksum=checksum.compute(csum_type, PING_ARGS),
    )


def test_check_values() -> None:
    assert checksum.compute(checksum.ChecksumType.CRC32, [b"123456789"]) == 0xCBF43926
    assert checksum.compute(checksum.ChecksumType.CRC32C, [b"123456789"]) == 0xE3069283
    # running over chunks equals one pass over the concatenation
    assert checksum.compute(1, [b"1234", b"", b"56789"]) == zlib.crc32(b"123456789")
    assert checksum.compute(3, [b"12", b"3456789"]) == 0xE3069283
    # type 2 as tchannel-node computes it: the last chunk's Fingerprint32
    assert checksum.compute(2, [b"abc", b"xyz"]) == fingerprint32(b"xyz")
    assert checksum.compute(0, [b"abc"]) == 0


def test_init_request_vector() -> None:
    frame = InitRequest(1, dict(INIT_HEADERS))
    assert encode_frame(frame) == INIT_REQ_HEX
    decoded = _decode(INIT_REQ_HEX)
    assert decoded == frame
    assert isinstance(decoded, InitRequest)
    assert list(decoded.headers) == list(INIT_HEADERS)


def test_init_response_layout_matches_request() -> None:
    res = encode_frame(InitResponse(1, dict(INIT_HEADERS)))
    assert res[2] == 0x02
    assert res[:2] + res[3:] == INIT_REQ_HEX[:2] + INIT_REQ_HEX[3:]


def test_call_request_vector_crc32c() -> None:
    frame = _ping_request(checksum.ChecksumType.CRC32C)
    assert frame.checksum == 0x86489DB4
    assert encode_frame(frame) == CALL_REQ_HEX
    assert _decode(CALL_REQ_HEX) == frame


def test_call_request_vector_crc32() -> None:
    frame = _ping_request(checksum.ChecksumType.CRC32)
    expected = bytearray(CALL_REQ_HEX)
    expected[0x49:0x4E] = bytes.fromhex("0135fd2898")
    assert frame.checksum == 0x35FD2898
    assert encode_frame(frame) == bytes(expected)
    assert _decode(bytes(expected)) == frame


def test_call_request_prefix_is_the_fixed_part() -> None:
    prefix = call_request_prefix(1500, ZERO_TRACING, "ringpop", PING_HEADERS)
    assert CALL_REQ_HEX[17:0x49] == prefix


def test_call_response_vector() -> None:
    args = [b"", b"", b'{"changes":[]}']
    frame = CallResponse(
        id=2,
        args=args,
        headers={"as": "raw"},
        checksum_type=3,
        checksum=checksum.compute(3, args),
    )
    assert frame.checksum == 0x6BD56406
    assert encode_frame(frame) == CALL_RES_HEX
    assert _decode(CALL_RES_HEX) == frame


def test_error_vector() -> None:
    frame = ErrorFrame(2, 0x06, 'no handler for service "ringpop" and method "/nope"')
    assert encode_frame(frame) == ERROR_HEX
    assert _decode(ERROR_HEX) == frame


def test_ping_vectors() -> None:
    assert encode_frame(PingRequest(7)) == PING_REQ_HEX
    assert encode_frame(PingResponse(7)) == PING_RES_HEX
    assert _decode(PING_REQ_HEX) == PingRequest(7)
    assert _decode(PING_RES_HEX) == PingResponse(7)


@pytest.mark.parametrize(
    "frame",
    [
        Cancel(9, 100, bytes(range(25)), "caller gave up"),
        Claim(9, 100, bytes(range(25))),
        CallRequestContinue(5, [b"abc", b"", b"x"], 1, 1, 77),
        CallResponseContinue(5, [b""], 0, 0, 0),
        ErrorFrame(NO_ID, 0xFF, "fatal"),
        UnknownFrame(3, 0x42, b"\x01\x02"),
    ],
)
def test_other_frames_round_trip(frame: Frame) -> None:
    assert _decode(encode_frame(frame)) == frame


def test_reader_splits_a_stream_fed_byte_by_byte() -> None:
    stream = INIT_REQ_HEX + CALL_REQ_HEX + PING_REQ_HEX + CALL_RES_HEX
    reader = FrameReader()
    frames = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    assert [type(f) for f in frames] == [InitRequest, CallRequest, PingRequest, CallResponse]
    assert reader.buffered == 0


def test_reader_handles_many_frames_in_one_chunk() -> None:
    reader = FrameReader()
    reader.feed(PING_REQ_HEX * 50 + PING_RES_HEX[:5])
    count = 0
    while reader.next_frame() is not None:
        count += 1
    assert count == 50
    assert reader.buffered == 5
    reader.feed(PING_RES_HEX[5:])
    assert reader.next_frame() == PingResponse(7)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_hex("000f d0 00 00000001 0000000000000000"), "smaller than"),
        (_hex("0011 d0 00 00000001 0000000000000000 00"), "trailing"),
        (_hex("0013 ff 00 00000001 0000000000000000 06 0000"), "truncated"),
        (CALL_REQ_HEX[:0x49] + b"\x07" + CALL_REQ_HEX[0x4A:], "checksum type"),
        (_hex("0016 01 00 00000001 0000000000000000 0002 0001 0005 61"), "truncated"),
    ],
)
def test_malformed_frames_raise(data: bytes, why: str) -> None:
    reader = FrameReader()
    reader.feed(data)
    with pytest.raises(MalformedFrameError, match=why):
        reader.next_frame()


def test_duplicate_headers_are_malformed() -> None:
    frame = bytearray(encode_frame(CallRequest(1, "s", [b"a"], {"as": "raw", "cn": "xx"})))
    # rename header "cn" to "as": same lengths, now a duplicate key
    index = frame.index(b"\x02cn")
    frame[index + 1 : index + 3] = b"as"
    with pytest.raises(MalformedFrameError, match="duplicate"):
        decode_frame(frame[2], 1, bytes(frame[16:]))


def test_more_than_three_chunks_in_a_frame_is_malformed() -> None:
    payload = bytes(encode_frame(CallRequestContinue(1, [b"a", b"b", b"c"])))[16:]
    with pytest.raises(MalformedFrameError, match="more than 3"):
        decode_frame(0x13, 1, payload + b"\x00\x00")


def test_invalid_utf8_service_is_malformed() -> None:
    data = bytearray(encode_frame(CallRequest(1, "ab", [b"x"])))
    data[16 + 31] = 0xFF
    with pytest.raises(MalformedFrameError, match="UTF-8"):
        decode_frame(0x03, 1, bytes(data[16:]))


def test_encode_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError, match="65535"):
        encode_frame(CallRequest(1, "s", [b"x" * 65_530]))
    with pytest.raises(ValueError, match="255"):
        encode_frame(CallRequest(1, "s", [b""], {"k": "v" * 256}))
    with pytest.raises(ValueError, match="id"):
        encode_frame(PingRequest(-1))
    with pytest.raises(ValueError, match="known type"):
        encode_frame(UnknownFrame(1, 0xD0, b""))


def _continue_frame(args: list[bytes]) -> bytes:
    return encode_frame(CallResponseContinue(9, args, 1, 0, 0))


def test_large_continuation_chunks_are_views_of_what_was_read_and_small_ones_copies() -> None:
    big, small = b"b" * 60_000, b"s" * 100
    reader = FrameReader()
    reader.feed(bytearray(_continue_frame([big])))  # the caller may reuse its buffer
    frame = reader.next_frame()
    assert isinstance(frame, CallResponseContinue)
    assert isinstance(frame.args[0], memoryview)
    assert frame.args[0].readonly
    assert frame.args == [big]
    reader.feed(_continue_frame([small]) + _continue_frame([b"x" * 5000]) * 20)
    frame = reader.next_frame()
    assert isinstance(frame, CallResponseContinue)
    assert type(frame.args[0]) is bytes
    assert frame.args == [small]
    # 5000 bytes of a 100 kB read: copied, or each would keep the whole read alive
    frame = reader.next_frame()
    assert isinstance(frame, CallResponseContinue)
    assert type(frame.args[0]) is bytes


def test_a_continuation_frame_fed_in_small_pieces_is_gathered_then_read_once() -> None:
    data = _continue_frame([b"a" * 30_000, b"b" * 20_000]) + PING_REQ_HEX
    reader = FrameReader()
    frames: list[Frame] = []
    for at in range(0, len(data), 700):
        reader.feed(data[at : at + 700])
        assert reader.buffered <= len(data)
        while (frame := reader.next_frame()) is not None:
            frames.append(frame)
    assert frames == [
        CallResponseContinue(9, [b"a" * 30_000, b"b" * 20_000], 1, 0, 0),
        PingRequest(7),
    ]
    assert reader.buffered == 0


def test_a_continuation_argument_running_past_its_frame_is_malformed() -> None:
    """Read in place, a chunk's length must stay inside its own frame, not run into
    the bytes of the next frame that happen to follow it in the buffer."""
    frame = bytearray(_continue_frame([b"z" * 5000]))
    frame[-5002:-5000] = (5010).to_bytes(2, "big")  # 10 bytes longer than the frame
    reader = FrameReader()
    reader.feed(bytes(frame) + PING_REQ_HEX * 4)
    with pytest.raises(MalformedFrameError, match="truncated"):
        reader.next_frame()
