"""HTTP requests forwarded ringpop-node style (``/proxy/req``, spec §5.8): the messages.

A request whose key belongs to another node is packed into a TChannel call to that
node's ``/proxy/req``: arg2 is a JSON "head" (url, headers, method, httpVersion,
our ring checksum, the keys), arg3 the raw body. The owner answers with
``{"statusCode", "headers"}`` + body. This module holds the framework-neutral
request/response types, the error type and the head codecs; the sender and the
receiver are :class:`ringpop.forward.proxy.RequestProxy`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import msgspec

from ringpop.checks import check_bytes
from ringpop.errors import RingpopError
from ringpop.tchannel import Response
from ringpop.tchannel.api import CODE_APPLICATION_ERROR

__all__ = [
    "ENDPOINT",
    "INVALID_CHECKSUM",
    "SERVICE",
    "Head",
    "HttpHandler",
    "HttpRequest",
    "HttpResponse",
    "ProxyError",
    "ResponseHead",
    "checked_request",
    "checked_response",
    "error_response",
    "error_text",
    "flat_headers",
    "request_head",
    "response_headers",
    "run_handler",
]

SERVICE = "ringpop"
ENDPOINT = "/proxy/req"
INVALID_CHECKSUM = "ringpop.request-proxy.invalid-checksum"
"""The error type of an owner whose ring differs from the sender's."""

encode = msgspec.json.Encoder().encode


class HttpRequest(msgspec.Struct):
    """A framework-neutral HTTP request.

    ``url`` is what the request line carried (path and query, e.g. ``/a?b=1``);
    header names are lower-case, repeated headers joined with ``", "`` (as node's
    ``req.headers``). On the owner, a request that arrived through ``/proxy/req``
    has ``source`` set to the ringpop address of the node that forwarded it and
    ``keys`` to the keys it was forwarded for.
    """

    method: str
    url: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    body: bytes = b""
    http_version: str = "1.1"
    source: str | None = None
    keys: tuple[str, ...] = ()

    @property
    def forwarded(self) -> bool:
        """Whether this request was forwarded to us by another node."""
        return self.source is not None


class HttpResponse(msgspec.Struct):
    """A framework-neutral HTTP response.

    Header names are lower-case; a list value is a header sent several times
    (``set-cookie``).
    """

    status: int = 200
    headers: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    body: bytes = b""


HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse] | HttpResponse]
"""``async def handler(request) -> HttpResponse`` (a plain function works too)."""


async def run_handler(handler: HttpHandler, request: HttpRequest) -> HttpResponse:
    """``handler``'s response to ``request``, awaited if it is a coroutine, checked
    (:func:`checked_response`); a ``TypeError`` when it is not an :class:`HttpResponse`."""
    response = handler(request)
    if inspect.isawaitable(response):
        response = await response
    if not isinstance(response, HttpResponse):
        raise TypeError(f"the HTTP handler returned {response!r:.80}, not an HttpResponse")
    return checked_response(response)


_NUMBER = (int, float)


def _body(body: object, what: str) -> bytes:
    if body.__class__ is bytes:
        return body
    check_bytes(f"{what} body", body)
    return bytes(cast("bytes | bytearray | memoryview", body))


def _header_text(name: object, value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, _NUMBER) and not isinstance(value, bool):
        return str(value)  # as node's setHeader and the wire head do
    raise TypeError(f"{what} header {name!r:.60} must be text, not {type(value).__name__}")


def _headers(headers: object, what: str, lists: bool) -> dict[str, Any] | None:
    """``headers`` checked; a normalised copy, or ``None`` when they were fine."""
    if not isinstance(headers, dict):
        raise TypeError(f"{what} headers must be a dict, not {type(headers).__name__}")
    fixed: dict[str, Any] | None = None
    for name, value in headers.items():
        if name.__class__ is str and value.__class__ is str:
            continue
        if not isinstance(name, str):
            raise TypeError(f"{what} header names must be str, not {name!r:.60}")
        if isinstance(value, list | tuple):
            texts = [_header_text(name, one, what) for one in value]
            new: str | list[str] = texts if lists else ", ".join(texts)
        else:
            new = _header_text(name, value, what)
        if fixed is None:
            fixed = dict(headers)
        fixed[name] = new
    return fixed


def checked_request(request: object) -> HttpRequest:
    """``request`` if it is a well-typed :class:`HttpRequest`, else a fixed copy
    (bytes-like bodies as bytes, number header values as text, list values joined);
    ``TypeError`` for what cannot be sent. The same rule serves a request here and
    forwards it, so a request that works on one node works on every node."""
    if not isinstance(request, HttpRequest):
        raise TypeError(f"request must be an HttpRequest, not {type(request).__name__}")
    for field, value in (("method", request.method), ("url", request.url)):
        if not isinstance(value, str):
            raise TypeError(f"the request's {field} must be str, not {value!r:.60}")
    body = _body(request.body, "the request's")
    headers = _headers(request.headers, "the request's", lists=False)
    if body is request.body and headers is None:
        return request
    return msgspec.structs.replace(
        request, body=body, headers=request.headers if headers is None else headers
    )


def checked_response(response: HttpResponse) -> HttpResponse:
    """``response`` if well-typed, else a fixed copy (as :func:`checked_request`);
    ``TypeError``/``ValueError`` for a status that is not a whole number 100-999 or
    what cannot be sent, so a local answer and a forwarded one are the same."""
    status = response.status
    if status.__class__ is not int:
        raise TypeError(f"the HTTP response's status must be an int, not {status!r:.40}")
    if not 100 <= status <= 999:
        raise ValueError(f"the HTTP response's status must be 100-999, not {status}")
    body = _body(response.body, "the HTTP response's")
    headers = _headers(response.headers, "the HTTP response's", lists=True)
    if body is response.body and headers is None:
        return response
    return HttpResponse(status, response.headers if headers is None else headers, body)


class ProxyError(RingpopError):
    """Forwarding failed; ``type`` is ringpop-node's error type, ``status`` the HTTP status,
    ``retry_after`` (seconds) what to tell the client when trying later may work."""

    def __init__(
        self, type: str, message: str, status: int = 500, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def as_response(self) -> HttpResponse:
        """The HTTP answer for the original client: status and message body (as node),
        the error type in ``x-ringpop-error`` and, if set, ``retry-after``."""
        headers: dict[str, str | list[str]] = {
            "content-type": "text/plain; charset=utf-8",
            "x-ringpop-error": self.type,
        }
        if self.retry_after is not None:
            headers["retry-after"] = str(self.retry_after)
        return HttpResponse(self.status, headers, self.message.encode())


class Head(msgspec.Struct, rename="camel"):
    """The arg2 of a ``/proxy/req`` call; every field may be missing or unusable (§1.1)."""

    url: str = "/"
    headers: dict[str, Any] = {}
    method: str = "GET"
    http_version: str = "1.1"
    ringpop_checksum: int | None = None
    ringpop_keys: list[str] = []
    """Non-string keys are dropped alone."""


class ResponseHead(msgspec.Struct, rename="camel"):
    """The arg2 of a ``/proxy/req`` answer."""

    status_code: int = 200
    headers: dict[str, Any] = {}


def _text(value: Any) -> str:
    # node's res.setHeader() accepts numbers, and they reach the JSON head as such.
    return value if isinstance(value, str) else str(value)


def flat_headers(headers: dict[str, Any]) -> dict[str, str]:
    """Request headers: lower-case names, repeated values joined with ", "."""
    flat: dict[str, str] = {}
    for name, value in headers.items():
        if value is None:
            continue
        text = ", ".join(map(_text, value)) if isinstance(value, list) else _text(value)
        key = name.lower()
        flat[key] = f"{flat[key]}, {text}" if key in flat else text
    return flat


def response_headers(headers: dict[str, Any]) -> dict[str, str | list[str]]:
    """Response headers: lower-case names; lists (e.g. set-cookie) stay lists."""
    out: dict[str, str | list[str]] = {}
    for name, value in headers.items():
        if value.__class__ is str and name.islower() and name not in out:  # the usual case
            out[name] = value
            continue
        if value is None:
            continue
        key = name.lower()
        new: str | list[str] = (
            [_text(v) for v in value] if isinstance(value, list) else _text(value)
        )
        old = out.get(key)
        if old is None:
            out[key] = new
        else:
            out[key] = [
                *(old if isinstance(old, list) else [old]),
                *(new if isinstance(new, list) else [new]),
            ]
    return out


def request_head(request: HttpRequest, checksum: int, keys: Sequence[str]) -> bytes:
    """The arg2 of a ``/proxy/req`` call for ``request``."""
    return encode(
        {
            "url": request.url,
            "headers": request.headers,
            "method": request.method,
            "httpVersion": request.http_version,
            "ringpopChecksum": checksum,
            "ringpopKeys": list(keys),
        }
    )


def error_response(type: str, message: str, **fields: Any) -> Response:
    """An application-error answer of ``/proxy/req`` (node's error object in arg3)."""
    return Response(
        b"", encode({"type": type, "message": message, **fields}), CODE_APPLICATION_ERROR
    )


def error_text(body: bytes) -> str:
    """``type: message`` of an application-error answer (its arg3 as text otherwise)."""
    try:
        error = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('message', '')}"
    return str(error)
