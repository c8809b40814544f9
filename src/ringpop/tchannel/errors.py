"""TChannel error codes and the typed exceptions callers see (spec tchannel.md §11).

Error frames received for a call become one exception class per code; local
failures use the same classes (a call that outlives its timeout raises
:class:`CallTimeoutError`, a refused connection :class:`NetworkError`).
Application errors (call res code 0x01) are :class:`ApplicationError`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar

from ringpop.errors import RingpopError

__all__ = [
    "ApplicationError",
    "BadRequestError",
    "BusyError",
    "CallCancelledError",
    "CallTimeoutError",
    "DeclinedError",
    "ErrorCode",
    "MalformedFrameError",
    "NetworkError",
    "ProtocolError",
    "TChannelError",
    "UnexpectedError",
    "UnhealthyError",
    "error_for_code",
    "too_large",
]

TOO_LARGE = "exceeds max_arg_size"
"""How a message refused for its size reads: ours before sending (``ValueError``), or a
peer's error frame for an answer it could not send."""


def too_large(error: BaseException | str) -> bool:
    """Whether ``error`` (or its text) is a message refused for its size: sending it
    again fails the same way."""
    return TOO_LARGE in str(error)


class ErrorCode(IntEnum):
    """Codes of the error frame (type 0xFF)."""

    INVALID = 0x00
    TIMEOUT = 0x01
    CANCELLED = 0x02
    BUSY = 0x03
    DECLINED = 0x04
    UNEXPECTED = 0x05
    BAD_REQUEST = 0x06
    NETWORK = 0x07
    UNHEALTHY = 0x08
    FATAL = 0xFF


class TChannelError(RingpopError):
    """Base class of every TChannel failure.

    ``code`` is the error frame code this error maps to (received from the peer,
    or sent to it when a handler raises it); ``message`` the human-readable text.
    """

    code: ClassVar[int] = ErrorCode.UNEXPECTED

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class CallTimeoutError(TChannelError, TimeoutError):
    """The call did not complete within its timeout (locally, or ttl at the peer)."""

    code = ErrorCode.TIMEOUT


class CallCancelledError(TChannelError):
    """The peer reports the call as cancelled."""

    code = ErrorCode.CANCELLED


class BusyError(TChannelError):
    """The peer is overloaded and refused the call."""

    code = ErrorCode.BUSY


class DeclinedError(TChannelError):
    """The peer refused the call for a non-load reason (e.g. it is shutting down)."""

    code = ErrorCode.DECLINED


class UnexpectedError(TChannelError):
    """The peer's handler failed unexpectedly."""

    code = ErrorCode.UNEXPECTED


class BadRequestError(TChannelError):
    """The peer could not accept the request (unknown endpoint, bad args, ...)."""

    code = ErrorCode.BAD_REQUEST


class NetworkError(TChannelError):
    """Connecting failed, or the connection dropped before the call completed."""

    code = ErrorCode.NETWORK


class UnhealthyError(TChannelError):
    """The peer declares itself unhealthy."""

    code = ErrorCode.UNHEALTHY


class ProtocolError(TChannelError):
    """A TChannel protocol violation (ours or the peer's); the connection is closed."""

    code = ErrorCode.FATAL


class MalformedFrameError(ProtocolError):
    """Bytes that do not form a valid frame (raised by the sans-IO codec)."""


class ApplicationError(TChannelError):
    """A call response with code 0x01 ("not ok"), or raised by a handler to send one.

    ``type`` and ``message`` come from the JSON error body ``{"type", "message"}``;
    ``body`` is the parsed response body (or its raw bytes when it is not JSON).
    """

    code = ErrorCode.UNEXPECTED

    def __init__(self, type: str, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.type = type
        self.body = body

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


_BY_CODE: dict[int, type[TChannelError]] = {
    ErrorCode.TIMEOUT: CallTimeoutError,
    ErrorCode.CANCELLED: CallCancelledError,
    ErrorCode.BUSY: BusyError,
    ErrorCode.DECLINED: DeclinedError,
    ErrorCode.UNEXPECTED: UnexpectedError,
    ErrorCode.BAD_REQUEST: BadRequestError,
    ErrorCode.NETWORK: NetworkError,
    ErrorCode.UNHEALTHY: UnhealthyError,
    ErrorCode.FATAL: ProtocolError,
}


def error_for_code(code: int, message: str) -> TChannelError:
    """The exception for an error frame with ``code`` (unknown codes: ``ProtocolError``)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return ProtocolError(f"error frame with unknown code 0x{code:02x}: {message}")
    return cls(message)
