"""Sans-IO state machine of one TChannel connection (spec tchannel.md §4, §5-§13).

:class:`ConnectionCore` owns the handshake, frame parsing, message reassembly,
request ids and the frames sent automatically (init res, ping res, error frames
for bad input). It never touches a socket or a clock: the driver feeds received
bytes to :meth:`ConnectionCore.receive`, acts on the returned events, and writes
whatever :attr:`ConnectionCore.outbox` holds.

Events returned by ``receive``:

* :class:`HandshakeComplete` - the peer's init headers; calls may flow.
* :class:`~ringpop.tchannel.fragments.CompleteMessage` - a whole call request
  (``first`` is a ``CallRequest``) or call response (``first`` is a ``CallResponse``).
* :class:`~ringpop.tchannel.frames.ErrorFrame` - the peer failed our request ``id``.
* :class:`~ringpop.tchannel.frames.PingResponse` and ``Cancel`` frames.
* :class:`ResponseFailed` - a response for request ``id`` was unusable (bad checksum).
* :class:`ProtocolFailure` - fatal: a protocol error frame is queued; write the
  outbox and close the connection. Nothing more is parsed afterwards.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeAlias

import msgspec

from ringpop.tchannel.errors import ErrorCode, ProtocolError
from ringpop.tchannel.fragments import (
    CompleteMessage,
    MessageAssembler,
    MessageRejectedError,
    encode_call,
)
from ringpop.tchannel.frames import (
    MAX_ARG1_SIZE,
    NO_ID,
    PROTOCOL_VERSION,
    ZERO_TRACING,
    CallRequest,
    CallRequestContinue,
    CallResponse,
    CallResponseContinue,
    Cancel,
    ErrorFrame,
    FrameReader,
    InitRequest,
    InitResponse,
    PingRequest,
    PingResponse,
    encode_error,
    encode_frame,
    encode_ping,
)
from ringpop.tchannel.hostport import validate_host_port

__all__ = [
    "ConnectionCore",
    "Event",
    "HandshakeComplete",
    "ProtocolFailure",
    "ResponseFailed",
    "State",
]


class State(Enum):
    """Lifecycle of a connection."""

    AWAIT_INIT_REQ = "await-init-req"
    AWAIT_INIT_RES = "await-init-res"
    READY = "ready"
    CLOSED = "closed"


class HandshakeComplete(msgspec.Struct):
    """The init handshake finished; ``headers`` are the peer's init headers."""

    headers: dict[str, str]

    @property
    def host_port(self) -> str:
        """The peer's advertised ``host_port`` (``0.0.0.0:0`` if it does not listen)."""
        return self.headers.get("host_port", "0.0.0.0:0")


class ProtocolFailure(msgspec.Struct):
    """Fatal protocol error; the connection must be closed after the outbox is sent."""

    message: str


class ResponseFailed(msgspec.Struct):
    """The response to our request ``id`` could not be accepted."""

    id: int
    message: str


Event: TypeAlias = (
    HandshakeComplete
    | CompleteMessage
    | ErrorFrame
    | PingResponse
    | Cancel
    | ResponseFailed
    | ProtocolFailure
)

_DEFAULT_MAX_ARG_SIZE = 16 * 1024 * 1024

# A TLS handshake (0x16) or alert (0x15) record, TLS 1.x: what a TLS peer sends first.
# As a TChannel frame it would be an init frame of over 5 KB, which no peer sends.
_TLS_RECORD_STARTS = (b"\x16\x03", b"\x15\x03")


class ConnectionCore:
    """One connection's protocol state, independent of any I/O.

    ``initiator`` says who opened the TCP connection (and so sends the init
    request). ``init_headers`` are the headers of our init req/res; they must
    include ``host_port`` and ``process_name``. ``max_arg_size`` bounds the
    arguments of one received message; ``max_buffered`` (default four times that)
    bounds all partially received messages together.
    """

    __slots__ = (
        "_last_id",
        "_reader",
        "_requests",
        "_responses",
        "init_headers",
        "initiator",
        "outbox",
        "remote_headers",
        "state",
    )

    def __init__(
        self,
        *,
        initiator: bool,
        init_headers: dict[str, str],
        max_arg_size: int = _DEFAULT_MAX_ARG_SIZE,
        max_buffered: int | None = None,
    ) -> None:
        if max_arg_size <= 0:
            raise ValueError("max_arg_size must be positive")
        self.initiator = initiator
        self.init_headers = dict(init_headers)
        self.state = State.AWAIT_INIT_RES if initiator else State.AWAIT_INIT_REQ
        self.remote_headers: dict[str, str] = {}
        self.outbox: list[bytes] = []
        self._reader = FrameReader()
        buffered = max_buffered if max_buffered is not None else 4 * max_arg_size
        self._requests = MessageAssembler(max_arg_size, buffered)
        self._responses = MessageAssembler(max_arg_size, buffered)
        self._last_id = 0

    # ------------------------------------------------------------------ sending

    def start(self) -> None:
        """Queue the init request (initiator only; call once, first)."""
        if not self.initiator:
            raise RuntimeError("only the initiator sends an init request")
        self.outbox.append(encode_frame(InitRequest(self.next_id(), self.init_headers)))

    def next_id(self) -> int:
        """The next message id of this side: 1, 2, ... skipping ``0xFFFFFFFF``, wrapping to 1."""
        last = self._last_id + 1
        if last >= NO_ID:
            last = 1
        self._last_id = last
        return last

    @property
    def ready(self) -> bool:
        """Whether the handshake is done and the connection not failed."""
        return self.state is State.READY

    def request_frames(
        self,
        frame_id: int,
        prefix: bytes,
        arg1: bytes,
        arg2: bytes,
        arg3: bytes,
        checksum_type: int,
    ) -> list[bytes]:
        """Frames of a call request; ``prefix`` from ``frames.call_request_prefix``."""
        if len(arg1) > MAX_ARG1_SIZE:
            raise ValueError(f"arg1 longer than {MAX_ARG1_SIZE} bytes")
        return encode_call(frame_id, False, prefix, (arg1, arg2, arg3), checksum_type)

    def response_frames(
        self, frame_id: int, prefix: bytes, arg2: bytes, arg3: bytes, checksum_type: int
    ) -> list[bytes]:
        """Frames of a call response (arg1 empty); ``prefix`` from ``call_response_prefix``."""
        return encode_call(frame_id, True, prefix, (b"", arg2, arg3), checksum_type)

    @staticmethod
    def error_frame(frame_id: int, code: int, message: str, tracing: bytes = ZERO_TRACING) -> bytes:
        """An error frame failing the peer's request ``frame_id``."""
        return encode_error(frame_id, code, message, tracing)

    @staticmethod
    def ping_frame(frame_id: int) -> bytes:
        """A ping request."""
        return encode_ping(frame_id)

    @staticmethod
    def cancel_frame(frame_id: int, ttl: int, why: str, tracing: bytes = ZERO_TRACING) -> bytes:
        """A cancel frame for our outstanding request ``frame_id``."""
        return encode_frame(Cancel(frame_id, ttl, tracing, why))

    def forget_response(self, frame_id: int) -> None:
        """Skip the rest of a partially received response to a call we gave up on."""
        self._responses.discard(frame_id)

    def fail(self, message: str) -> None:
        """Queue a fatal protocol error frame and stop parsing (local decision)."""
        if self.state is not State.CLOSED:
            self.outbox.append(encode_error(NO_ID, ErrorCode.FATAL, message))
            self.state = State.CLOSED

    # ---------------------------------------------------------------- receiving

    def receive(self, data: bytes) -> list[Event]:
        """Process received bytes; returns the resulting events in order."""
        events: list[Event] = []
        if self.state is not State.READY:
            if self.state is State.CLOSED:
                return events
            if self._reader.buffered == 0 and data[:2] in _TLS_RECORD_STARTS:
                message = (
                    "peer started a TLS handshake"
                    if self.state is State.AWAIT_INIT_REQ
                    else "peer answered with TLS"
                ) + ", but this channel does not use TLS (TLS on one side only?)"
                self.fail(message)
                events.append(ProtocolFailure(message))
                return events
        reader = self._reader
        reader.feed(data)
        try:
            while True:
                frame = reader.next_frame()
                if frame is None:
                    break
                kind = type(frame)
                if self.state is not State.READY:
                    if not self._handshake(frame, events):
                        break
                elif kind is CallRequest or kind is CallRequestContinue:
                    self._on_request_frame(frame, events)  # type: ignore[arg-type]
                elif kind is CallResponse or kind is CallResponseContinue:
                    self._on_response_frame(frame, events)  # type: ignore[arg-type]
                elif kind is ErrorFrame:
                    self._responses.discard(frame.id)
                    events.append(frame)  # type: ignore[arg-type]
                elif kind is PingRequest:
                    self.outbox.append(encode_ping(frame.id, response=True))
                elif kind is PingResponse or kind is Cancel:
                    events.append(frame)  # type: ignore[arg-type]
                elif kind is InitRequest or kind is InitResponse:
                    raise ProtocolError("duplicate init frame")
                # Claim and unknown frame types are ignored (spec §3).
        except ProtocolError as exc:
            self.fail(exc.message or str(exc))
            events.append(ProtocolFailure(exc.message or str(exc)))
        return events

    def _handshake(self, frame: object, events: list[Event]) -> bool:
        """Handle a frame before the handshake is done; False if the connection failed."""
        if self.state is State.AWAIT_INIT_REQ:
            if not isinstance(frame, InitRequest):
                raise ProtocolError(f"expected init request, got {type(frame).__name__}")
            self._check_init(frame.version, frame.headers, require_host_port=True)
            self.outbox.append(encode_frame(InitResponse(frame.id, self.init_headers)))
            headers = frame.headers
        else:
            if isinstance(frame, ErrorFrame):
                self.state = State.CLOSED
                events.append(ProtocolFailure(f"peer rejected the handshake: {frame.message}"))
                return False
            if not isinstance(frame, InitResponse):
                raise ProtocolError(f"expected init response, got {type(frame).__name__}")
            self._check_init(frame.version, frame.headers, require_host_port=False)
            headers = frame.headers
        self.remote_headers = headers
        self.state = State.READY
        events.append(HandshakeComplete(headers))
        return True

    @staticmethod
    def _check_init(version: int, headers: dict[str, str], *, require_host_port: bool) -> None:
        if version != PROTOCOL_VERSION:
            raise ProtocolError(f"unsupported protocol version {version}")
        host_port = headers.get("host_port")
        if host_port is None:
            if require_host_port:
                raise ProtocolError("init request without host_port header")
            return
        reason = validate_host_port(host_port)
        if reason is not None and require_host_port:
            raise ProtocolError(f"invalid host_port in init request: {reason}")

    def _on_request_frame(
        self, frame: CallRequest | CallRequestContinue, events: list[Event]
    ) -> None:
        try:
            if type(frame) is CallRequest:
                message = self._requests.first(frame)
            else:
                message = self._requests.cont(frame)  # type: ignore[arg-type]
        except MessageRejectedError as exc:
            self.outbox.append(encode_error(exc.frame_id, ErrorCode.BAD_REQUEST, exc.message))
            return
        if message is None:
            return
        first = message.first
        problem = _request_problem(first, message.arg1)  # type: ignore[arg-type]
        if problem is not None:
            self.outbox.append(
                encode_error(first.id, ErrorCode.BAD_REQUEST, problem, first.tracing)
            )
            return
        events.append(message)

    def _on_response_frame(
        self, frame: CallResponse | CallResponseContinue, events: list[Event]
    ) -> None:
        try:
            if type(frame) is CallResponse:
                message = self._responses.first(frame)
            else:
                message = self._responses.cont(frame)  # type: ignore[arg-type]
        except MessageRejectedError as exc:
            events.append(ResponseFailed(exc.frame_id, exc.message))
            return
        if message is not None:
            events.append(message)


def _request_problem(first: CallRequest, arg1: bytes) -> str | None:
    headers = first.headers
    if "cn" not in headers:
        return 'Expected incoming call request to have "cn" header set.'
    if "as" not in headers:
        return 'Expected incoming call request to have "as" header set.'
    if first.ttl == 0:
        return "call request ttl must be greater than 0"
    if len(arg1) > MAX_ARG1_SIZE:
        return f"arg1 longer than {MAX_ARG1_SIZE} bytes"
    return None
