"""The handle-or-forward flow every framework integration runs; imports no framework.

:class:`ForwardingFlow` is the whole decision for one incoming request: ask the key
function, apply the ``unmatched`` policy, serve requests that are not sharded or that
we own, refuse sharded requests before ringpop is ready, read the body (413 over the
limit) and send the rest to the owner with :meth:`Ringpop.handle_or_proxy`. A
framework integration subclasses it and only adapts its request and response types
(:meth:`passthrough`, :meth:`read_body`, :meth:`to_request`, :meth:`respond`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ringpop.forward import ForwardOptions, HttpRequest, HttpResponse
from ringpop.integrations._common import (
    UNMATCHED_ERROR,
    KeyResult,
    NotReady,
    UnmatchedKeyError,
    decide,
    plain,
    resolve_keys,
)

if TYPE_CHECKING:
    from ringpop.ringpop import Ringpop

__all__ = ["ForwardingFlow"]

C = TypeVar("C")
"""What the framework gives for one request (ASGI: scope, receive, send)."""
R = TypeVar("R")
"""What the framework expects back (ASGI: nothing, aiohttp: a response)."""

NOT_READY_MESSAGE = "ringpop is not ready: the node is still joining its cluster"


class ForwardingFlow(ABC, Generic[C, R]):
    """Handle-or-forward for one framework: the flow here, the types in a subclass.

    ``key`` gets the framework's request object (:meth:`subject`) and returns a key,
    several keys (they must share an owner, else 500 ``keys-diverged``) or ``None``
    (not sharded). ``not_ready``: what to do with sharded requests before ringpop is
    ready, ``"refuse"`` (503) or ``"serve"`` here. ``options`` override the ringpop
    forwarding options.
    """

    def __init__(
        self,
        ringpop: Ringpop,
        key: Callable[[Any], KeyResult | Awaitable[KeyResult]],
        not_ready: NotReady,
        options: ForwardOptions,
    ) -> None:
        if not_ready not in ("refuse", "serve"):
            raise ValueError(f"not_ready must be 'refuse' or 'serve', not {not_ready!r}")
        if not callable(key):  # else every request is a 500 "'str' object is not callable"
            hint = " (a helper makes one: path_key, match_info_key)" if isinstance(key, str) else ""
            raise TypeError(f"key must be a function of the request, not {key!r:.60}{hint}")
        self.ringpop = ringpop
        self.key = key
        self.not_ready: NotReady = not_ready
        self.forward_options = options

    async def dispatch(self, context: C) -> R:
        """Serve, forward or refuse the request of ``context``."""
        try:
            keys = await resolve_keys(self.key, self.subject(context))
        except UnmatchedKeyError as error:
            if not error.reject:
                raise
            response = plain(404, str(error))
            response.headers["x-ringpop-error"] = UNMATCHED_ERROR
            return await self.respond(context, response)
        if keys is None:
            return await self.passthrough(context)
        decision = decide(self.ringpop, keys, self.not_ready)
        if decision == "local":
            return await self.passthrough(context)
        if decision == "not-ready":
            response = plain(503, NOT_READY_MESSAGE)
            response.headers["retry-after"] = "1"
            return await self.respond(context, response)
        limit = self.ringpop.options.body_limit
        body = await self.read_body(context, limit)
        if body is None:
            return await self.respond(
                context, plain(413, f"request body exceeds the limit of {limit} bytes")
            )
        answer = await self.ringpop.handle_or_proxy(
            keys, self.to_request(context, body), self.forward_options
        )
        return await self.respond(context, answer)

    # -- what a framework adapts ----------------------------------------------------------

    @abstractmethod
    def subject(self, context: C) -> Any:
        """What the key function gets."""

    @abstractmethod
    async def passthrough(self, context: C) -> R:
        """Serve the request here, with the application."""

    @abstractmethod
    async def read_body(self, context: C, limit: int) -> bytes | None:
        """The request body, or ``None`` when it is longer than ``limit`` bytes."""

    @abstractmethod
    def to_request(self, context: C, body: bytes) -> HttpRequest:
        """The :class:`HttpRequest` to forward."""

    @abstractmethod
    async def respond(self, context: C, response: HttpResponse) -> R:
        """Answer the client with ``response``."""
