"""Sans-IO state machine of one TChannel connection (spec tchannel.md §4, §5-§13).

:class:`ConnectionCore` owns the protocol in both directions, as h11 does for
HTTP: the handshake, frame parsing, message reassembly and validation, the
frames sent automatically (init res, ping res, error frames for bad input), the
encoding of our call requests, responses, errors, pings and cancels (headers,
ttl, tracing, checksums, fragmentation), and the table of our outstanding calls
(ids, deadlines, the stale-connection rule). It never touches a socket or a
clock: the driver

* feeds received bytes to :meth:`~ConnectionCore.receive` and acts on the
  returned events (:mod:`ringpop.tchannel.events`), then writes whatever
  :attr:`~ConnectionCore.outbox` holds;
* writes the bytes the ``send_*`` methods return;
* calls :meth:`~ConnectionCore.expire` with the current time when
  :meth:`~ConnectionCore.next_deadline` (a time on the same clock as the
  deadlines it passed in) comes.

A driver that passes ``now`` to :meth:`~ConnectionCore.receive` also bounds the
peer's unfinished requests in time: one whose last frame has not come when its
ttl has passed is dropped (its bytes freed, its later frames skipped) and the
peer gets a ``timeout`` error frame for it.

(Just over 400 lines: one state machine; its parts already live beside it in
``calls.py``, ``serving.py``, ``peers.py`` and ``events.py``.)
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ringpop.tchannel.api import CODE_APPLICATION_ERROR, Request, Response
from ringpop.tchannel.budget import ReceiveBudget
from ringpop.tchannel.calls import CallTable, HeaderBlocks, ttl_ms
from ringpop.tchannel.errors import TOO_LARGE, BusyError, ErrorCode, ProtocolError, error_for_code
from ringpop.tchannel.events import (
    CallAnswered,
    CallExpired,
    CallFailed,
    Event,
    HandshakeComplete,
    ProtocolFailure,
)
from ringpop.tchannel.fragments import MessageAssembler, MessageRejectedError, encode_call
from ringpop.tchannel.frames import (
    MAX_ARG1_SIZE,
    NO_ID,
    PROTOCOL_VERSION,
    TRACING_SIZE,
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
    pack_code_tracing,
)
from ringpop.tchannel.hostport import validate_host_port
from ringpop.tchannel.stale import DEFAULT_STALE_PERIOD

__all__ = ["ConnectionCore", "State"]


class State(Enum):
    """Lifecycle of a connection."""

    AWAIT_INIT_REQ = "await-init-req"
    AWAIT_INIT_RES = "await-init-res"
    READY = "ready"
    CLOSED = "closed"


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
    bounds all partially received messages together. ``stale_period`` is the
    stale-connection rule's period (0 disables it; see :mod:`.stale`).
    """

    __slots__ = (
        "_blocks",
        "_reader",
        "_request_deadlines",
        "_requests",
        "_responses",
        "calls",
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
        stale_period: float = DEFAULT_STALE_PERIOD,
        budget: ReceiveBudget | None = None,
    ) -> None:
        if max_arg_size <= 0:
            raise ValueError("max_arg_size must be positive")
        self.initiator = initiator
        self.init_headers = dict(init_headers)
        self.state = State.AWAIT_INIT_RES if initiator else State.AWAIT_INIT_REQ
        self.remote_headers: dict[str, str] = {}
        #: Frames queued by :meth:`receive` (automatic replies) and :meth:`start`.
        self.outbox: list[bytes] = []
        self._reader = FrameReader()
        buffered = max_buffered if max_buffered is not None else 4 * max_arg_size
        self._requests = MessageAssembler(max_arg_size, buffered, budget)
        self._responses = MessageAssembler(max_arg_size, buffered, budget)
        #: Our outstanding calls (ids, tags, deadlines); the driver only reads it.
        self.calls = CallTable(stale_period)
        self._request_deadlines: dict[int, float] = {}  # unfinished requests: ttl's end
        self._blocks = HeaderBlocks()

    @property
    def ready(self) -> bool:
        """Whether the handshake is done and the connection not failed."""
        return self.state is State.READY

    def start(self) -> None:
        """Queue the init request (initiator only; call once, first)."""
        if not self.initiator:
            raise RuntimeError("only the initiator sends an init request")
        self.outbox.append(encode_frame(InitRequest(self.next_id(), self.init_headers)))

    def next_id(self) -> int:
        """The next message id of this side: 1, 2, ... skipping ``0xFFFFFFFF``, wrapping to 1."""
        return self.calls.next_id()

    def release(self) -> None:
        """Forget the unfinished messages of both directions (the connection is gone):
        their bytes go back to the channel's :class:`ReceiveBudget`."""
        self._requests.clear()
        self._responses.clear()
        self._request_deadlines.clear()

    def next_request_deadline(self) -> float | None:
        """When the first unfinished request's ttl ends (``None``: none is waiting)."""
        deadlines = self._request_deadlines
        return min(deadlines.values()) if deadlines else None

    def next_deadline(self) -> float | None:
        """When :meth:`expire` has work next: a call's deadline, the stale check or an
        unfinished request's ttl."""
        at = self.calls.next_deadline()
        first = self.next_request_deadline()
        if first is not None and (at is None or first < at):
            return first
        return at

    def fail(self, message: str) -> None:
        """Queue a fatal protocol error frame and stop parsing (local decision)."""
        if self.state is not State.CLOSED:
            self.outbox.append(encode_error(NO_ID, ErrorCode.FATAL, message))
            self.state = State.CLOSED

    # ------------------------------------------------------------ our calls

    def send_request(
        self,
        tag: Any,
        deadline: float,
        timeout: float,
        service: str,
        arg1: bytes,
        arg2: bytes,
        arg3: bytes,
        checksum_type: int,
        scheme: str = "raw",
        caller: str = "",
        headers: dict[str, str] | None = None,
        tracing: bytes | None = None,
    ) -> tuple[int, bytes]:
        """Encode a call request and remember it; its id and the bytes to write.

        ``tag`` (anything but ``None``) comes back in the call's event;
        ``deadline`` is when :meth:`expire` gives up on it; ``timeout`` (seconds)
        is sent as the ttl. ``scheme`` and ``caller`` are the ``as`` and ``cn``
        headers, ``headers`` extra transport headers, ``tracing`` the 25-byte
        span (zeros by default). Raises ``ValueError`` for fields that do not fit and
        for arguments over ``max_arg_size`` (the peer would close the connection).
        """
        if len(arg1) > MAX_ARG1_SIZE:
            raise ValueError(f"arg1 longer than {MAX_ARG1_SIZE} bytes")
        self._check_size("call", len(arg1) + len(arg2) + len(arg3))
        prefix = self._blocks.request_prefix(timeout, service, scheme, caller, headers, tracing)
        fid = self.calls.add(tag, deadline)
        try:
            frames = encode_call(fid, False, prefix, (arg1, arg2, arg3), checksum_type)
        except BaseException:
            self.calls.pop(fid)
            raise
        return fid, frames[0] if len(frames) == 1 else b"".join(frames)

    def _check_size(self, what: str, size: int) -> None:
        """``ValueError`` for a message this side would refuse itself: a peer with the
        same ``max_arg_size`` closes the connection on it (and every call on it fails)."""
        limit = self._requests.max_arg_size
        if size > limit:
            raise ValueError(
                f"{what} of {size} bytes (arg1+arg2+arg3) {TOO_LARGE} {limit}: not sent"
            )

    def send_ping(self, tag: Any, deadline: float) -> tuple[int, bytes]:
        """A protocol ping (answered by the peer's core): its id and bytes, as a call."""
        fid = self.calls.add(tag, deadline)
        return fid, encode_ping(fid)

    def send_cancel(self, fid: int, timeout: float) -> bytes:
        """Give up on our call ``fid``: forget it; the cancel frame (``b""`` if not outstanding).

        ``timeout`` is the call's (the cancel repeats its ttl).
        """
        if self._forget(fid) is None:
            return b""
        return encode_frame(Cancel(fid, ttl_ms(timeout), ZERO_TRACING, "cancelled by caller"))

    def drop_call(self, fid: int) -> bool:
        """Forget our call ``fid`` without telling the peer; whether it was outstanding."""
        return self._forget(fid) is not None

    def _forget(self, fid: int) -> Any:
        tag = self.calls.pop(fid)
        if tag is not None:
            self._responses.discard(fid)  # skip the rest of a fragmented response
        return tag

    def expire(self, now: float) -> list[Event]:
        """Time is ``now``: :class:`CallExpired` for each overdue call, in order.

        A :class:`ConnectionStale` (always last) says the stale rule fired; the
        calls still outstanding then are the driver's to fail as it aborts.
        """
        if self._request_deadlines:
            for fid, deadline in list(self._request_deadlines.items()):
                if deadline <= now:
                    del self._request_deadlines[fid]
                    self._requests.discard(fid)
                    self.outbox.append(
                        encode_error(
                            fid, ErrorCode.TIMEOUT, "request's ttl ended before its last frame came"
                        )
                    )
        events = self.calls.expire(now)
        for event in events:
            if type(event) is CallExpired:
                self._responses.discard(event.id)
        return events

    # ------------------------------------------------------- answering peers

    def send_response(self, request: Request, response: Response) -> bytes:
        """The frames answering the peer's ``request`` (checksum type echoed for 1 and 3).

        Response headers default to the request's ``as``; codes other than 0
        are sent as 0x01 (application error). A response that cannot be encoded
        is answered with an ``unexpected`` error frame instead.
        """
        code = response.code
        if code != 0 and code != CODE_APPLICATION_ERROR:
            code = CODE_APPLICATION_ERROR
        checksum_type = request.checksum_type
        if checksum_type != 1 and checksum_type != 3:
            checksum_type = 0
        fid = request.id
        try:
            self._check_size("response", len(response.arg2) + len(response.arg3))
            block = self._blocks.response_headers(response.headers, request.headers)
            prefix = pack_code_tracing(code, request.tracing) + block
            frames = encode_call(
                fid, True, prefix, (b"", response.arg2, response.arg3), checksum_type
            )
        except Exception as exc:  # whatever a handler returned: answer, never hang
            return self.send_error(
                fid,
                ErrorCode.UNEXPECTED,
                f"bad response: {type(exc).__name__}: {exc}",
                request.tracing,
            )
        return frames[0] if len(frames) == 1 else b"".join(frames)

    @staticmethod
    def send_error(fid: int, code: int, message: str, tracing: bytes = ZERO_TRACING) -> bytes:
        """An error frame failing the peer's request ``fid`` (bad tracing sent as zeros)."""
        if len(tracing) != TRACING_SIZE:
            tracing = ZERO_TRACING
        return encode_error(fid, code, message, tracing)

    # ------------------------------------------------------------- receiving

    def receive(self, data: bytes | memoryview, now: float | None = None) -> list[Event]:
        """Process received bytes; returns the resulting events in order. ``data`` is
        copied before this returns (the caller may reuse a buffer it lent). ``now``
        (the deadlines' clock) starts the ttl of requests that arrive in parts."""
        self.calls.stale.since = None  # the peer is alive: earlier timeouts were slow calls
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
                elif kind is CallResponse or kind is CallResponseContinue:
                    self._on_response_frame(frame, events)  # type: ignore[arg-type]
                elif kind is CallRequest or kind is CallRequestContinue:
                    self._on_request_frame(frame, events, now)  # type: ignore[arg-type]
                elif kind is ErrorFrame:
                    if not self._on_error_frame(frame, events):  # type: ignore[arg-type]
                        break
                elif kind is PingRequest:
                    self.outbox.append(encode_ping(frame.id, response=True))
                elif kind is PingResponse:
                    tag = self._forget(frame.id)
                    if tag is not None:
                        events.append(CallAnswered(frame.id, tag, None))
                elif kind is Cancel:
                    events.append(frame)  # type: ignore[arg-type]
                elif kind is InitRequest or kind is InitResponse:
                    raise ProtocolError("duplicate init frame")
                # Claim and unknown frame types are ignored (spec §3).
        except ProtocolError as exc:
            self.fail(exc.message or str(exc))
            events.append(ProtocolFailure(exc.message or str(exc)))
        return events

    def _on_error_frame(self, frame: ErrorFrame, events: list[Event]) -> bool:
        """An error frame after the handshake; False if it ends the connection."""
        fid = frame.id
        if fid == NO_ID:
            self.state = State.CLOSED
            events.append(ProtocolFailure(f"peer reported a protocol error: {frame.message}"))
            return False
        tag = self._forget(fid)
        if tag is not None:
            events.append(CallFailed(fid, tag, error_for_code(frame.code, frame.message)))
        return True

    def _on_response_frame(
        self, frame: CallResponse | CallResponseContinue, events: list[Event]
    ) -> None:
        try:
            if type(frame) is CallResponse:
                message = self._responses.first(frame)
            else:
                message = self._responses.cont(frame)  # type: ignore[arg-type]
        except MessageRejectedError as exc:
            fid = exc.frame_id
            tag = self._forget(fid)
            if tag is not None:
                error = BusyError if exc.code == ErrorCode.BUSY else ProtocolError
                events.append(CallFailed(fid, tag, error(exc.message)))
            return
        if message is None:
            return
        first = message.first
        fid = first.id
        tag = self.calls.pop(fid)
        if tag is None:
            return  # a late answer to a call that expired or was cancelled
        response = Response(message.arg2, message.arg3, first.code, first.headers)  # type: ignore[union-attr]
        events.append(CallAnswered(fid, tag, response))

    def _on_request_frame(
        self, frame: CallRequest | CallRequestContinue, events: list[Event], now: float | None
    ) -> None:
        deadlines = self._request_deadlines
        try:
            if type(frame) is CallRequest:
                message = self._requests.first(frame)
                if message is None and now is not None:
                    deadlines[frame.id] = now + frame.ttl / 1000
            else:
                message = self._requests.cont(frame)  # type: ignore[arg-type]
        except MessageRejectedError as exc:
            deadlines.pop(exc.frame_id, None)
            self.outbox.append(encode_error(exc.frame_id, exc.code, exc.message))
            return
        if message is None:
            return
        first = message.first
        if deadlines:
            deadlines.pop(first.id, None)
        problem = _request_problem(first, message.arg1)  # type: ignore[arg-type]
        if problem is not None:
            self.outbox.append(
                encode_error(first.id, ErrorCode.BAD_REQUEST, problem, first.tracing)
            )
            return
        events.append(message)

    def _handshake(self, frame: object, events: list[Event]) -> bool:
        """Handle a frame before the handshake is done; False if the connection failed."""
        if self.state is State.AWAIT_INIT_REQ:
            if not isinstance(frame, InitRequest):
                raise ProtocolError(f"expected init request, got {type(frame).__name__}")
            _check_init(frame.version, frame.headers, require_host_port=True)
            self.outbox.append(encode_frame(InitResponse(frame.id, self.init_headers)))
            headers = frame.headers
        else:
            if isinstance(frame, ErrorFrame):
                self.state = State.CLOSED
                events.append(ProtocolFailure(f"peer rejected the handshake: {frame.message}"))
                return False
            if not isinstance(frame, InitResponse):
                raise ProtocolError(f"expected init response, got {type(frame).__name__}")
            _check_init(frame.version, frame.headers, require_host_port=False)
            headers = frame.headers
        self.remote_headers = headers
        self.state = State.READY
        events.append(HandshakeComplete(headers))
        return True


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
