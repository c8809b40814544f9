"""What the framework integrations share; imports no web framework.

:class:`~ringpop.forward.ForwardOptions` lives in :mod:`ringpop.forward` (one options
object for every forwarding entry point) and is re-exported here.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ringpop.errors import RingpopError
from ringpop.forward import ForwardOptions, HttpRequest, HttpResponse, owns_all

if TYPE_CHECKING:
    from ringpop.ringpop import Ringpop

__all__ = [
    "FRAMING_HEADERS",
    "ForwardInfo",
    "ForwardOptions",
    "KeyResult",
    "NotReady",
    "RateLimitedLog",
    "Unmatched",
    "UnmatchedKeyError",
    "decide",
    "raw_bytes",
    "resolve_keys",
]

KeyResult: TypeAlias = str | Sequence[str] | None
"""What a key function returns: one key, several keys (must share an owner), or
``None`` for requests that are not sharded (served where they arrive)."""

NotReady = Literal["refuse", "serve"]
"""What to do with a sharded request before ringpop is ready: answer 503, or serve it."""

# Hop-by-hop and framing headers: never copied from one HTTP message to another,
# each server frames its own message.
FRAMING_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)


def raw_bytes(text: str) -> bytes:
    """A header, path or query string of the forward wire as the bytes of an HTTP message.

    Latin-1, one byte a character, as HTTP servers decode them (ours and ringpop-node
    send them so), unless the text holds a character beyond it: then the peer decoded
    raw bytes as UTF-8 (ringpop-go), and UTF-8 gives them back.
    """
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ForwardInfo:
    """Attached to a request that ringpop dispatched into the application.

    Its presence tells the middleware to serve the request here (never forward it
    again). ``source`` is the ringpop address of the node that forwarded it, or
    ``None`` when it did not travel: a retry found that this node owns the keys now.
    """

    source: str | None
    keys: tuple[str, ...]

    @property
    def forwarded(self) -> bool:
        """Whether the request came from another node."""
        return self.source is not None

    @classmethod
    def of(cls, request: HttpRequest) -> ForwardInfo:
        return cls(request.source, request.keys)


async def resolve_keys(key: Callable[[Any], Any], subject: Any) -> list[str] | None:
    """Call a key function (sync or async) and normalise its answer to a key list."""
    result = key(subject)
    if isinstance(result, str):
        return [result]
    if result is None:
        return None
    if inspect.isawaitable(result):
        result = await result
        if result is None:
            return None
        if isinstance(result, str):
            return [result]
    if isinstance(result, bytes):
        raise TypeError("keys must be str, not bytes")
    keys = list(result)
    for item in keys:
        if not isinstance(item, str):
            raise TypeError(f"keys must be str, not {type(item).__name__}")
    return keys


Decision = Literal["local", "forward", "not-ready"]


def decide(ringpop: Ringpop, keys: Sequence[str], not_ready: NotReady) -> Decision:
    """Serve here (we own every key), forward, or refuse because ringpop is not ready.

    No keys means forward: :meth:`Ringpop.handle_or_proxy` answers 400 (keys required);
    so does a closed ringpop (503 ``ringpop.request-proxy.closed``: it owns nothing).
    """
    if ringpop.closed:
        return "forward"
    if not ringpop.is_ready:
        return "local" if not_ready == "serve" else "not-ready"
    return "local" if owns_all(ringpop.lookup, ringpop.whoami(), keys) else "forward"


def forward_request_headers(headers: Iterator[tuple[str, str]], body_length: int) -> dict[str, str]:
    """The headers to send to the owner: lower-case, repeats joined, no chunked framing."""
    out: dict[str, str] = {}
    chunked = False
    for name, value in headers:
        key = name.lower()
        if key == "transfer-encoding":
            chunked = True
            continue
        out[key] = f"{out[key]}, {value}" if key in out else value
    if chunked or body_length or "content-length" in out:  # the length of what is sent
        out["content-length"] = str(body_length)
    return out


def response_header_items(response: HttpResponse) -> Iterator[tuple[str, str]]:
    """The response headers to write (a list value is one header line per item)."""
    for name, value in response.headers.items():
        if name.lower() in FRAMING_HEADERS:
            continue
        if isinstance(value, list):
            for item in value:
                yield name, item
        else:
            yield name, value


def collect_response_headers(items: Iterator[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Headers a framework produced, as an :class:`HttpResponse` holds them."""
    out: dict[str, str | list[str]] = {}
    for name, value in items:
        key = name.lower()
        if key in FRAMING_HEADERS:
            continue
        old = out.get(key)
        if old is None:
            out[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            out[key] = [old, value]
    return out


def plain(status: int, message: str) -> HttpResponse:
    """A text/plain response."""
    return HttpResponse(status, {"content-type": "text/plain; charset=utf-8"}, message.encode())


Unmatched = Literal["warn", "local", "reject", "raise"]
"""What a key function does with a request none of its patterns/routes match:

* ``"warn"`` (default): serve it where it arrived, not sharded, and log a WARNING
  (at most one every 10 s, with how many were skipped) - a pattern that does not
  match is usually a mistake;
* ``"local"``: serve it where it arrived, silently (some paths are not sharded);
* ``"reject"``: answer 404 with ``x-ringpop-error: ringpop.unmatched-key``;
* ``"raise"``: raise :class:`UnmatchedKeyError` (the server answers 500).
"""

UNMATCHED_ERROR = "ringpop.unmatched-key"


class UnmatchedKeyError(RingpopError, LookupError):
    """A request matched none of a key function's patterns (``unmatched="raise"``
    or ``"reject"``)."""

    def __init__(self, path: str, patterns: Sequence[str], *, reject: bool = False) -> None:
        super().__init__(f"{path!r} matches none of the key patterns {list(patterns)}")
        self.path = path
        self.patterns = tuple(patterns)
        self.reject = reject


class RateLimitedLog:
    """Log a message at most once every ``every`` seconds; counts what it skipped."""

    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self.logger = logger
        self.every = every
        self._last = float("-inf")
        self._skipped = 0

    def warning(self, message: str, *args: object) -> None:
        """Log at WARNING unless one was logged less than ``every`` seconds ago."""
        now = time.monotonic()
        if now - self._last < self.every:
            self._skipped += 1
            return
        skipped, self._skipped, self._last = self._skipped, 0, now
        suffix = f" ({skipped} more like it since the last warning)" if skipped else ""
        self.logger.warning(message + suffix, *args)


def check_unmatched(unmatched: str) -> Unmatched:
    """``unmatched`` when it is a valid policy, else ``ValueError``."""
    if unmatched not in ("warn", "local", "reject", "raise"):
        raise ValueError(
            f"unmatched must be 'warn', 'local', 'reject' or 'raise', not {unmatched!r}"
        )
    return unmatched  # type: ignore[return-value]


def on_unmatched(
    unmatched: Unmatched, path: str, patterns: Sequence[str], limiter: RateLimitedLog
) -> None:
    """Apply the ``unmatched`` policy to a request no pattern matched."""
    if unmatched == "warn":
        limiter.warning(
            "ringpop: %s matches none of the key patterns %s: served here, NOT sharded "
            "(add a pattern, or pass unmatched='local' if that is intended)",
            path,
            list(patterns),
        )
    elif unmatched in ("reject", "raise"):
        raise UnmatchedKeyError(path, patterns, reject=unmatched == "reject")
