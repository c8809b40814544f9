"""Sans-IO TChannel v2 frame codec (spec tchannel.md §2-§3, §5-§6, §11-§12).

One ``msgspec.Struct`` per frame type; :func:`encode_frame` turns a frame into bytes and
:func:`decode_frame` a frame's type, id and payload back into a frame, raising
:class:`~ringpop.tchannel.errors.MalformedFrameError` for anything that is not a
valid frame. :class:`FrameReader` cuts a byte stream into frames.

Call frames carry argument *chunks*; joining chunks into whole arguments across
continuation frames is :mod:`ringpop.tchannel.fragments`' job.

Longer than ~400 lines on purpose: it is the whole frame codec, each frame type's
encoder beside its decoder so the two halves that must agree on a layout (spec §3,
§5-§12) are read and changed together; it has no state and no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from typing import TypeAlias

import msgspec

from ringpop.tchannel.checksum import CHECKSUM_SIZE
from ringpop.tchannel.errors import MalformedFrameError

__all__ = [
    "FLAG_MORE_FRAGMENTS",
    "HEADER_SIZE",
    "MAX_ARG1_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_PAYLOAD_SIZE",
    "NO_ID",
    "PROTOCOL_VERSION",
    "TRACING_SIZE",
    "ZERO_TRACING",
    "CallRequest",
    "CallRequestContinue",
    "CallResponse",
    "CallResponseContinue",
    "Cancel",
    "Claim",
    "ErrorFrame",
    "Frame",
    "FrameReader",
    "FrameType",
    "InitRequest",
    "InitResponse",
    "PingRequest",
    "PingResponse",
    "UnknownFrame",
    "call_request_prefix",
    "call_response_prefix",
    "decode_frame",
    "encode_args",
    "encode_call_headers",
    "encode_checksum",
    "encode_error",
    "encode_frame",
    "encode_ping",
    "encode_service_headers",
    "pack_code_tracing",
    "pack_header",
    "pack_ttl_tracing",
]

HEADER_SIZE = 16
MAX_FRAME_SIZE = 0xFFFF
MAX_PAYLOAD_SIZE = MAX_FRAME_SIZE - HEADER_SIZE
NO_ID = 0xFFFFFFFF
MAX_ARG1_SIZE = 16_384
TRACING_SIZE = 25
ZERO_TRACING = bytes(TRACING_SIZE)
PROTOCOL_VERSION = 2
FLAG_MORE_FRAGMENTS = 0x01
MAX_CALL_HEADERS = 128


class FrameType(IntEnum):
    """Frame type codes."""

    INIT_REQ = 0x01
    INIT_RES = 0x02
    CALL_REQ = 0x03
    CALL_RES = 0x04
    CALL_REQ_CONTINUE = 0x13
    CALL_RES_CONTINUE = 0x14
    CANCEL = 0xC0
    CLAIM = 0xC1
    PING_REQ = 0xD0
    PING_RES = 0xD1
    ERROR = 0xFF


class InitRequest(msgspec.Struct):
    """Init request: protocol version and init headers (``host_port``, ...)."""

    id: int
    headers: dict[str, str]
    version: int = PROTOCOL_VERSION


class InitResponse(msgspec.Struct):
    """Init response; echoes the init request's id."""

    id: int
    headers: dict[str, str]
    version: int = PROTOCOL_VERSION


class CallRequest(msgspec.Struct):
    """First (or only) frame of a call request; ``args`` are its argument chunks."""

    id: int
    service: str
    args: list[bytes]
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    ttl: int = 1000
    flags: int = 0
    tracing: bytes = ZERO_TRACING
    checksum_type: int = 0
    checksum: int = 0


class CallResponse(msgspec.Struct):
    """First (or only) frame of a call response; code 0 is OK, non-zero "not ok"."""

    id: int
    args: list[bytes]
    code: int = 0
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    flags: int = 0
    tracing: bytes = ZERO_TRACING
    checksum_type: int = 0
    checksum: int = 0


class CallRequestContinue(msgspec.Struct):
    """A continuation frame of a fragmented call request."""

    id: int
    args: list[bytes]
    flags: int = 0
    checksum_type: int = 0
    checksum: int = 0


class CallResponseContinue(msgspec.Struct):
    """A continuation frame of a fragmented call response."""

    id: int
    args: list[bytes]
    flags: int = 0
    checksum_type: int = 0
    checksum: int = 0


class Cancel(msgspec.Struct):
    """Cancel of an outstanding request (``why`` is free text)."""

    id: int
    ttl: int = 0
    tracing: bytes = ZERO_TRACING
    why: str = ""


class Claim(msgspec.Struct):
    """Claim frame (unused by ringpop; decoded and ignored)."""

    id: int
    ttl: int = 0
    tracing: bytes = ZERO_TRACING


class PingRequest(msgspec.Struct):
    """Protocol-level ping (not ringpop's ``/protocol/ping``)."""

    id: int


class PingResponse(msgspec.Struct):
    """Answer to a :class:`PingRequest` with the same id."""

    id: int


class ErrorFrame(msgspec.Struct):
    """Error frame failing request ``id`` (``NO_ID``: a connection-level error)."""

    id: int
    code: int
    message: str = ""
    tracing: bytes = ZERO_TRACING


class UnknownFrame(msgspec.Struct):
    """A frame of a type this codec does not know; kept so callers can ignore it."""

    id: int
    type: int
    payload: bytes = b""


Frame: TypeAlias = (
    InitRequest
    | InitResponse
    | CallRequest
    | CallResponse
    | CallRequestContinue
    | CallResponseContinue
    | Cancel
    | Claim
    | PingRequest
    | PingResponse
    | ErrorFrame
    | UnknownFrame
)

_HEADER = struct.Struct(">HBxI8x")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_CALL_REQ_FIXED = struct.Struct(">BI25s")  # flags ttl tracing
_CALL_RES_FIXED = struct.Struct(">BB25s")  # flags code tracing
_TTL_TRACING = struct.Struct(">I25s")  # ttl tracing (call req after flags, cancel, claim)
_ERROR_FIXED = struct.Struct(">B25s")  # code tracing (error, call res after flags)

_unpack_u16 = _U16.unpack_from
#: ``pack_header(size, type, id)``: the 16-byte frame header.
pack_header = _HEADER.pack
#: ``pack_ttl_tracing(ttl, tracing)``: call req fields after the flags byte.
pack_ttl_tracing = _TTL_TRACING.pack
#: ``pack_code_tracing(code, tracing)``: call res fields after the flags byte.
pack_code_tracing = _ERROR_FIXED.pack
_unpack_u32 = _U32.unpack_from

# ---------------------------------------------------------------------------
# encoding


def _check_id(frame_id: int) -> None:
    if not 0 <= frame_id <= NO_ID:
        raise ValueError(f"frame id out of range: {frame_id}")


def _frame(frame_type: int, frame_id: int, payload: bytes) -> bytes:
    size = HEADER_SIZE + len(payload)
    if size > MAX_FRAME_SIZE:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME_SIZE}")
    return _HEADER.pack(size, frame_type, frame_id) + payload


def _str1(value: str, what: str) -> bytes:
    try:
        raw = value.encode()
    except AttributeError:  # not a str (bytes included)
        raise TypeError(f"{what} must be a str, not {value!r:.40}") from None
    if len(raw) > 0xFF:
        raise ValueError(f"{what} longer than 255 bytes: {value[:40]!r}")
    return bytes((len(raw),)) + raw


def _str2(value: str | bytes, what: str) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    if not isinstance(raw, bytes):
        raise TypeError(f"{what} must be a str or bytes, not {value!r:.40}")
    if len(raw) > 0xFFFF:
        raise ValueError(f"{what} longer than 65535 bytes")
    return _U16.pack(len(raw)) + raw


def encode_call_headers(headers: dict[str, str]) -> bytes:
    """Encode call transport headers ``nh:1 (hk~1 hv~1){nh}``."""
    if len(headers) > MAX_CALL_HEADERS:
        raise ValueError(f"more than {MAX_CALL_HEADERS} transport headers")
    parts = [bytes((len(headers),))]
    for key, value in headers.items():
        parts.append(_str1(key, "header key"))
        parts.append(_str1(value, "header value"))
    return b"".join(parts)


def _init_headers(headers: dict[str, str]) -> bytes:
    if len(headers) > 0xFFFF:
        raise ValueError("too many init headers")
    parts = [_U16.pack(len(headers))]
    for key, value in headers.items():
        parts.append(_str2(key, "init header key"))
        parts.append(_str2(value, "init header value"))
    return b"".join(parts)


def encode_checksum(csum_type: int, value: int) -> bytes:
    """Encode ``csumtype:1 (csum:4){0,1}``."""
    size = CHECKSUM_SIZE.get(csum_type)
    if size is None:
        raise ValueError(f"unknown checksum type {csum_type}")
    if size == 0:
        return bytes((csum_type,))
    return bytes((csum_type,)) + _U32.pack(value & 0xFFFFFFFF)


def encode_args(args: list[bytes]) -> bytes:
    """Encode argument chunks ``(arg~2)*``."""
    parts: list[bytes] = []
    for arg in args:
        if len(arg) > 0xFFFF:
            raise ValueError("argument chunk longer than 65535 bytes")
        parts.append(_U16.pack(len(arg)))
        parts.append(arg)
    return b"".join(parts)


def encode_service_headers(service: str, headers: dict[str, str]) -> bytes:
    """Encode ``service~1 nh:1 (hk~1 hv~1){nh}`` of a call request."""
    return _str1(service, "service") + encode_call_headers(headers)


def call_request_prefix(ttl: int, tracing: bytes, service: str, headers: dict[str, str]) -> bytes:
    """The call req payload after the flags byte, up to (excluding) the checksum."""
    if len(tracing) != TRACING_SIZE:
        raise ValueError("tracing must be 25 bytes")
    return _TTL_TRACING.pack(ttl, tracing) + encode_service_headers(service, headers)


def call_response_prefix(code: int, tracing: bytes, headers: dict[str, str]) -> bytes:
    """The call res payload after the flags byte, up to (excluding) the checksum."""
    if len(tracing) != TRACING_SIZE:
        raise ValueError("tracing must be 25 bytes")
    return _ERROR_FIXED.pack(code, tracing) + encode_call_headers(headers)


def encode_frame(frame: Frame) -> bytes:
    """Encode one frame; raises ``ValueError`` when a field does not fit its size."""
    _check_id(frame.id)
    if isinstance(frame, CallRequest):
        payload = (
            bytes((frame.flags,))
            + call_request_prefix(frame.ttl, frame.tracing, frame.service, frame.headers)
            + encode_checksum(frame.checksum_type, frame.checksum)
            + encode_args(frame.args)
        )
        return _frame(FrameType.CALL_REQ, frame.id, payload)
    if isinstance(frame, CallResponse):
        payload = (
            bytes((frame.flags,))
            + call_response_prefix(frame.code, frame.tracing, frame.headers)
            + encode_checksum(frame.checksum_type, frame.checksum)
            + encode_args(frame.args)
        )
        return _frame(FrameType.CALL_RES, frame.id, payload)
    if isinstance(frame, CallRequestContinue | CallResponseContinue):
        payload = (
            bytes((frame.flags,))
            + encode_checksum(frame.checksum_type, frame.checksum)
            + encode_args(frame.args)
        )
        ftype = (
            FrameType.CALL_REQ_CONTINUE
            if isinstance(frame, CallRequestContinue)
            else FrameType.CALL_RES_CONTINUE
        )
        return _frame(ftype, frame.id, payload)
    if isinstance(frame, InitRequest | InitResponse):
        payload = _U16.pack(frame.version) + _init_headers(frame.headers)
        ftype = FrameType.INIT_REQ if isinstance(frame, InitRequest) else FrameType.INIT_RES
        return _frame(ftype, frame.id, payload)
    if isinstance(frame, ErrorFrame):
        return encode_error(frame.id, frame.code, frame.message, frame.tracing)
    if isinstance(frame, PingRequest):
        return _frame(FrameType.PING_REQ, frame.id, b"")
    if isinstance(frame, PingResponse):
        return _frame(FrameType.PING_RES, frame.id, b"")
    if isinstance(frame, Cancel):
        payload = _TTL_TRACING.pack(frame.ttl, frame.tracing) + _str2(frame.why, "cancel reason")
        return _frame(FrameType.CANCEL, frame.id, payload)
    if isinstance(frame, Claim):
        return _frame(FrameType.CLAIM, frame.id, _TTL_TRACING.pack(frame.ttl, frame.tracing))
    if frame.type in _DECODERS:
        raise ValueError(f"UnknownFrame with known type 0x{frame.type:02x}")
    return _frame(frame.type, frame.id, frame.payload)


def encode_error(frame_id: int, code: int, message: str, tracing: bytes = ZERO_TRACING) -> bytes:
    """Encode an error frame; an over-long message is truncated to fit one frame, and
    characters UTF-8 cannot carry (lone surrogates) are sent as backslash escapes."""
    raw = message.encode("utf-8", "backslashreplace")
    room = MAX_PAYLOAD_SIZE - 1 - TRACING_SIZE - 2
    if len(raw) > room:
        raw = raw[:room].decode(errors="ignore").encode()
    if len(tracing) != TRACING_SIZE:
        raise ValueError("tracing must be 25 bytes")
    return _frame(FrameType.ERROR, frame_id, _ERROR_FIXED.pack(code, tracing) + _str2(raw, "msg"))


def encode_ping(frame_id: int, *, response: bool = False) -> bytes:
    """Encode a ping request (or, with ``response=True``, a ping response)."""
    return _HEADER.pack(
        HEADER_SIZE, FrameType.PING_RES if response else FrameType.PING_REQ, frame_id
    )


# ---------------------------------------------------------------------------
# decoding (each decoder reads an exact payload and must consume all of it)


def _read_str2(p: bytes, o: int, errors: str = "strict") -> tuple[str, int]:
    (n,) = _unpack_u16(p, o)
    end = o + 2 + n
    if end > len(p):
        raise MalformedFrameError("truncated string")
    return p[o + 2 : end].decode(errors=errors), end


# Transport header blocks repeat (``as``/``cn`` of the same few callers): their
# parsed form is memoized by their raw bytes (callers receive a copy).
_HEADER_CACHE: dict[bytes, dict[str, str]] = {}
_HEADER_CACHE_SIZE = 512


def _parse_call_headers(p: bytes, o: int, nh: int) -> dict[str, str]:
    o += 1
    headers: dict[str, str] = {}
    for _ in range(nh):
        n = p[o]
        o += 1
        key = p[o : o + n].decode()
        o += n
        n = p[o]
        o += 1
        value = p[o : o + n].decode()
        o += n
        if key in headers:
            raise MalformedFrameError(f"duplicate transport header {key!r}")
        headers[key] = value
    return headers


def _read_headers_and_args(p: bytes, o: int) -> tuple[dict[str, str], int, int, list[bytes]]:
    """``nh:1 (hk~1 hv~1){nh} csumtype:1 (csum:4){0,1} (arg~2){0,3}`` to the payload's end.

    The hot path of every call frame, so written out inline; a truncated field
    leads to an IndexError/struct.error or to the final length check.
    """
    end = len(p)
    start = o
    nh = p[o]
    o += 1
    for _ in range(nh):  # find the end of the header block
        o += 1 + p[o]
        o += 1 + p[o]
    block = p[start:o]
    cached = _HEADER_CACHE.get(block)
    if cached is None:
        cached = _parse_call_headers(p, start, nh)
        if o <= end and len(block) <= 256 and len(_HEADER_CACHE) < _HEADER_CACHE_SIZE:
            _HEADER_CACHE[block] = cached
    headers = cached.copy()
    csum_type = p[o]
    if csum_type == 0:
        csum = 0
        o += 1
    elif csum_type <= 3:
        csum = _unpack_u32(p, o + 1)[0]
        o += 5
    else:
        raise MalformedFrameError(f"unknown checksum type {csum_type}")
    args: list[bytes] = []
    count = 0
    while o < end:
        if count == 3:
            raise MalformedFrameError("more than 3 argument chunks in one frame")
        stop = o + 2 + ((p[o] << 8) | p[o + 1])
        if stop > end:
            raise MalformedFrameError("truncated argument")
        args.append(p[o + 2 : stop])
        o = stop
        count += 1
    return headers, csum_type, csum, args


def _dec_call_req(fid: int, p: bytes) -> CallRequest:
    flags, ttl, tracing = _CALL_REQ_FIXED.unpack_from(p, 0)
    n = p[30]
    if 31 + n > len(p):
        raise MalformedFrameError("truncated service name")
    service = p[31 : 31 + n].decode()
    headers, csum_type, csum, args = _read_headers_and_args(p, 31 + n)
    return CallRequest(fid, service, args, headers, ttl, flags, tracing, csum_type, csum)


def _dec_call_res(fid: int, p: bytes) -> CallResponse:
    flags, code, tracing = _CALL_RES_FIXED.unpack_from(p, 0)
    headers, csum_type, csum, args = _read_headers_and_args(p, 27)
    return CallResponse(fid, args, code, headers, flags, tracing, csum_type, csum)


def _dec_call_req_cont(fid: int, p: bytes) -> CallRequestContinue | CallResponseContinue:
    return _read_continue(_CALL_REQ_CONTINUE, fid, p, 0, len(p), _NO_VIEWS)


def _dec_call_res_cont(fid: int, p: bytes) -> CallRequestContinue | CallResponseContinue:
    return _read_continue(_CALL_RES_CONTINUE, fid, p, 0, len(p), _NO_VIEWS)


def _read_continue(
    frame_type: int, frame_id: int, buf: bytes, o: int, end: int, view_min: int
) -> CallRequestContinue | CallResponseContinue:
    """The continuation frame whose payload is ``buf[o:end]``:
    ``flags:1 csumtype:1 (csum:4){0,1} (arg~2){0,3}``.

    An argument chunk of at least ``view_min`` bytes, and at least a quarter of
    ``buf``, is a read-only view of ``buf`` (a view keeps all of ``buf`` alive, so
    small chunks are copied); the others are ``bytes``. The one parser of both
    :func:`decode_frame` (no views) and :meth:`FrameReader.next_frame`.
    """
    if end - o < 2:
        raise MalformedFrameError("truncated flags or checksum type")
    flags = buf[o]
    csum_type = buf[o + 1]
    if csum_type == 0:
        csum = 0
        o += 2
    elif csum_type > 3:
        raise MalformedFrameError(f"unknown checksum type {csum_type}")
    elif o + 6 > end:
        raise MalformedFrameError("truncated checksum")
    else:
        (csum,) = _unpack_u32(buf, o + 2)
        o += 6
    args: list[bytes] = []
    view: memoryview | None = None
    quarter = len(buf) >> 2
    while o < end:
        if len(args) == 3:
            raise MalformedFrameError("more than 3 argument chunks in one frame")
        if o + 2 > end:
            raise MalformedFrameError("truncated argument size")
        stop = o + 2 + ((buf[o] << 8) | buf[o + 1])
        if stop > end:
            raise MalformedFrameError("truncated argument")
        n = stop - o - 2
        if n >= view_min and n >= quarter:
            if view is None:
                view = memoryview(buf)
            args.append(view[o + 2 : stop])  # type: ignore[arg-type]  # read-only, bytes-like
        else:
            args.append(buf[o + 2 : stop])
        o = stop
    if frame_type == _CALL_RES_CONTINUE:
        return CallResponseContinue(frame_id, args, flags, csum_type, csum)
    return CallRequestContinue(frame_id, args, flags, csum_type, csum)


def _read_init(p: bytes) -> tuple[int, dict[str, str]]:
    version, nh = struct.unpack_from(">HH", p, 0)
    o = 4
    headers: dict[str, str] = {}
    for _ in range(nh):
        key, o = _read_str2(p, o)
        value, o = _read_str2(p, o)
        if key in headers:
            raise MalformedFrameError(f"duplicate init header {key!r}")
        headers[key] = value
    _expect_end(p, o)
    return version, headers


def _dec_init_req(fid: int, p: bytes) -> InitRequest:
    version, headers = _read_init(p)
    return InitRequest(fid, headers, version)


def _dec_init_res(fid: int, p: bytes) -> InitResponse:
    version, headers = _read_init(p)
    return InitResponse(fid, headers, version)


def _dec_error(fid: int, p: bytes) -> ErrorFrame:
    code, tracing = _ERROR_FIXED.unpack_from(p, 0)
    message, o = _read_str2(p, 26, "replace")
    _expect_end(p, o)
    return ErrorFrame(fid, code, message, tracing)


def _dec_cancel(fid: int, p: bytes) -> Cancel:
    ttl, tracing = _TTL_TRACING.unpack_from(p, 0)
    why, o = _read_str2(p, 29, "replace")
    _expect_end(p, o)
    return Cancel(fid, ttl, tracing, why)


def _dec_claim(fid: int, p: bytes) -> Claim:
    ttl, tracing = _TTL_TRACING.unpack_from(p, 0)
    _expect_end(p, 29)
    return Claim(fid, ttl, tracing)


def _dec_ping_req(fid: int, p: bytes) -> PingRequest:
    _expect_end(p, 0)
    return PingRequest(fid)


def _dec_ping_res(fid: int, p: bytes) -> PingResponse:
    _expect_end(p, 0)
    return PingResponse(fid)


def _expect_end(p: bytes, o: int) -> None:
    if o != len(p):
        raise MalformedFrameError(f"{len(p) - o} unexpected trailing bytes")


_DECODERS: dict[FrameType, Callable[[int, bytes], Frame]] = {
    FrameType.INIT_REQ: _dec_init_req,
    FrameType.INIT_RES: _dec_init_res,
    FrameType.CALL_REQ: _dec_call_req,
    FrameType.CALL_RES: _dec_call_res,
    FrameType.CALL_REQ_CONTINUE: _dec_call_req_cont,
    FrameType.CALL_RES_CONTINUE: _dec_call_res_cont,
    FrameType.CANCEL: _dec_cancel,
    FrameType.CLAIM: _dec_claim,
    FrameType.PING_REQ: _dec_ping_req,
    FrameType.PING_RES: _dec_ping_res,
    FrameType.ERROR: _dec_error,
}
_DECODER_BY_INT: dict[int, Callable[[int, bytes], Frame]] = {
    int(k): v for k, v in _DECODERS.items()
}


def decode_frame(frame_type: int, frame_id: int, payload: bytes) -> Frame:
    """Decode one frame's payload; raises ``MalformedFrameError`` if it is invalid."""
    decoder = _DECODER_BY_INT.get(frame_type)
    if decoder is None:
        return UnknownFrame(frame_id, frame_type, payload)
    try:
        return decoder(frame_id, payload)
    except MalformedFrameError as exc:
        raise _in_frame(frame_type, frame_id, str(exc)) from None
    except (IndexError, struct.error) as exc:
        raise _in_frame(frame_type, frame_id, str(exc), "truncated ") from None
    except UnicodeDecodeError:
        raise _in_frame(frame_type, frame_id, "string is not UTF-8") from None


def _in_frame(frame_type: int, frame_id: int, why: str, prefix: str = "") -> MalformedFrameError:
    """``why`` as the error of frame ``frame_id`` of type ``frame_type``."""
    return MalformedFrameError(f"{prefix}frame type 0x{frame_type:02x} id {frame_id}: {why}")


class FrameReader:
    """Cuts a byte stream into frames.

    ``feed`` appends received bytes (copied at once: the caller may reuse its
    buffer); ``next_frame`` returns the next complete frame, ``None`` when more
    bytes are needed, or raises ``MalformedFrameError`` (after which the stream is
    unusable: the connection must be closed).

    The bytes of a large message cross the reader with one copy: ``feed`` joins
    what is left of a frame with the new bytes into one immutable ``bytes``, and a
    continuation frame's large argument chunks are read-only views of it (they are
    joined into the whole argument once the message is complete, see
    :class:`~ringpop.tchannel.fragments.MessageAssembler`), not copied out of a
    copy of the frame's payload. A frame that arrives in many small pieces is
    gathered in a list and joined once, when it is complete.
    """

    __slots__ = ("_buf", "_gather", "_gathered", "_joined", "_need", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._gather: list[bytes] | None = None  # pieces of an incomplete frame
        self._gathered = 0
        self._need = 0  # bytes that frame needs (when gathering)
        self._joined = False  # the buffer joined a frame's start with the next read

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        gather = self._gather
        if gather is not None:
            gather.append(bytes(data))
            self._gathered += len(data)
            if self._gathered >= self._need:
                self._buf = b"".join(gather)
                self._pos = 0
                self._gather = None
            return
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._joined = False
        else:
            self._buf = b"".join((memoryview(buf)[pos:], data))
            self._joined = True
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as frames."""
        if self._gather is not None:
            return self._gathered
        return len(self._buf) - self._pos

    def next_frame(self) -> Frame | None:
        """The next complete frame, or ``None`` if more bytes are needed."""
        if self._gather is not None:
            return None
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            return None
        size = (buf[pos] << 8) | buf[pos + 1]
        if size < HEADER_SIZE:
            raise MalformedFrameError(f"frame size {size} is smaller than the 16-byte header")
        if avail < size:
            if pos == 0 and self._joined and avail >= _GATHER_AFTER:
                # it spans three reads or more: gather the rest, join once
                self._gather = [buf]
                self._gathered = avail
                self._need = size
                self._buf = b""
            return None
        frame_type = buf[pos + 2]
        (frame_id,) = _unpack_u32(buf, pos + 4)
        end = pos + size
        self._pos = end
        if frame_type in (_CALL_REQ_CONTINUE, _CALL_RES_CONTINUE):
            try:
                return _read_continue(frame_type, frame_id, buf, pos + HEADER_SIZE, end, _VIEW_MIN)
            except MalformedFrameError as exc:
                raise _in_frame(frame_type, frame_id, str(exc)) from None
        payload = buf[pos + HEADER_SIZE : end]
        decoder = _DECODER_BY_INT.get(frame_type)
        if decoder is not None:
            try:
                return decoder(frame_id, payload)
            except (IndexError, struct.error, UnicodeDecodeError, MalformedFrameError):
                pass  # decode_frame below raises the error with its explanation
        return decode_frame(frame_type, frame_id, payload)


_CALL_REQ_CONTINUE = int(FrameType.CALL_REQ_CONTINUE)
_CALL_RES_CONTINUE = int(FrameType.CALL_RES_CONTINUE)
# An incomplete frame with at least this many bytes already joined is gathered
# (pieces kept, joined once) rather than joined again with every feed.
_GATHER_AFTER = 1024
# A continuation chunk at least this long, and at least a quarter of the bytes it
# is read from, is kept as a view of them rather than copied: a view keeps all of
# those bytes alive, so small chunks (whose bytes would cost far more memory than
# the ``max_buffered`` that counts them) are copied.
_VIEW_MIN = 4096
# decode_frame's chunks are all copies (``bytes``), however long.
_NO_VIEWS = 1 << 62
