"""What handlers receive and return, and the ``json`` arg scheme (spec tchannel.md §9).

A handler is ``async def handler(request: Request) -> Response``. For the
``json`` scheme (and ringpop's ``raw``-with-JSON-bodies convention) arg3 holds
a JSON value; application errors are responses with code 0x01 whose arg3 is
``{"type": ..., "message": ...}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import msgspec

from ringpop.checks import utf8_safe
from ringpop.tchannel.errors import ApplicationError
from ringpop.tchannel.frames import ZERO_TRACING

__all__ = [
    "CODE_APPLICATION_ERROR",
    "CODE_OK",
    "Endpoint",
    "Handler",
    "JsonHandler",
    "Request",
    "Response",
    "application_error",
    "dump_json",
    "load_json",
]

CODE_OK = 0x00
CODE_APPLICATION_ERROR = 0x01

T = TypeVar("T")

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def dump_json(value: Any) -> bytes:
    """Compact JSON of ``value``; bytes-like values are taken as already-encoded JSON."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return _encode(value)


def load_json(data: bytes, type: type[T] | None = None) -> Any:
    """Parse a JSON arg; empty (or blank) means ``None``; trailing whitespace is fine.

    With ``type`` (e.g. a ``msgspec.Struct``) the value is validated into it.
    Raises ``msgspec.DecodeError`` (a ``ValueError``) for invalid JSON.
    """
    if not data or data.isspace():
        return None
    if type is None:
        return _decode(data)
    return _decode(data, type=type)


class Request(msgspec.Struct):
    """An incoming call as a handler sees it.

    ``arg1`` is the endpoint, ``arg2`` the application headers, ``arg3`` the body;
    ``headers`` are the transport headers (``as``, ``cn``, ``re``, ...);
    ``remote`` the caller's advertised ``host_port``, or its socket address when
    it advertised ``0.0.0.0:0``; ``ttl`` the caller's timeout in seconds;
    ``checksum_type`` the checksum type the request arrived with.
    """

    service: str
    arg1: bytes
    arg2: bytes
    arg3: bytes
    headers: dict[str, str]
    remote: str
    ttl: float
    tracing: bytes = ZERO_TRACING
    id: int = 0
    checksum_type: int = 0

    @property
    def endpoint(self) -> str:
        """arg1 as text."""
        return self.arg1.decode("utf-8", "replace")

    @property
    def caller(self) -> str:
        """The caller's service name (``cn`` header)."""
        return self.headers.get("cn", "")

    @property
    def scheme(self) -> str:
        """The arg scheme (``as`` header): ``raw``, ``json``, ..."""
        return self.headers.get("as", "")

    def json(self, type: type[T] | None = None) -> Any:
        """arg3 parsed as JSON (``None`` when empty); see :func:`load_json`."""
        return load_json(self.arg3, type)


class Response(msgspec.Struct):
    """A call response: ``code`` 0 is OK, 0x01 an application error.

    ``headers`` are transport headers; ``as`` defaults to the request's scheme.
    """

    arg2: bytes = b""
    arg3: bytes = b""
    code: int = CODE_OK
    headers: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (code 0)."""
        return self.code == CODE_OK

    def json(self, type: type[T] | None = None) -> Any:
        """arg3 parsed as JSON (``None`` when empty); see :func:`load_json`."""
        return load_json(self.arg3, type)

    @classmethod
    def from_json(cls, body: Any, *, arg2: bytes = b"") -> Response:
        """An OK response whose arg3 is ``body`` as JSON (bytes are sent as is)."""
        return cls(arg2, dump_json(body))

    @classmethod
    def application_error(cls, type: str, message: str) -> Response:
        """A code-0x01 response with the JSON error body ``{"type", "message"}``
        (characters UTF-8 cannot carry, lone surrogates, as backslash escapes)."""
        body = {"type": utf8_safe(type), "message": utf8_safe(message)}
        return cls(b"", _encode(body), CODE_APPLICATION_ERROR)


def application_error(response: Response) -> ApplicationError:
    """The :class:`ApplicationError` a not-ok response stands for."""
    try:
        body: Any = load_json(response.arg3)
    except ValueError:
        body = response.arg3
    if isinstance(body, dict):
        kind = body.get("type")
        message = body.get("message")
        return ApplicationError(
            kind if isinstance(kind, str) else "error",
            message if isinstance(message, str) else "",
            body,
        )
    text = response.arg3.decode("utf-8", "replace")
    return ApplicationError("error", text, body)


#: ``async def handler(request) -> Response`` (or a plain function returning one).
Handler: TypeAlias = Callable[[Request], Awaitable[Response] | Response]
#: ``async def handler(request, body) -> result`` (or a plain function).
JsonHandler: TypeAlias = Callable[[Request, Any], Any]


class Endpoint(msgspec.Struct, frozen=True):
    """A registered handler.

    ``json`` handlers take ``(request, parsed arg3)`` and return a JSON-able
    result; ``plain`` ones are ordinary functions, run as soon as the request
    arrives instead of in a task of their own.
    """

    handler: Callable[..., Any]
    json: bool = False
    plain: bool = False

    @classmethod
    def of(cls, handler: Callable[..., Any], *, json: bool = False) -> Endpoint:
        """An endpoint for ``handler``, plain unless it is a coroutine function."""
        return cls(handler, json, not inspect.iscoroutinefunction(handler))
