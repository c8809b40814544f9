"""What the actors need from a ringpop node: the facade's public methods, as a Protocol.

``ringpop.Ringpop`` satisfies it; the actors package never imports the facade (it
sits below it) and never touches its internals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, Unpack

from ringpop.events import EventEmitter
from ringpop.forward import ForwardOptions, ForwardOverrides
from ringpop.options import Options
from ringpop.tchannel import Handler, Request, Response

__all__ = ["Facade"]


class Facade(Protocol):
    """The public surface of ``ringpop.Ringpop`` the actors use."""

    @property
    def events(self) -> EventEmitter: ...

    @property
    def options(self) -> Options: ...

    @property
    def is_ready(self) -> bool: ...

    @property
    def is_leaving(self) -> bool: ...

    @property
    def closed(self) -> bool: ...

    def whoami(self) -> str: ...

    def lookup(self, key: str | bytes) -> str: ...

    def owns(self, key: str | bytes, n: int = 1) -> bool: ...

    def members(
        self, labels: Mapping[str, str] | None = None, *, reachable: bool = True
    ) -> list[str]: ...

    async def forward(
        self,
        keys: str | Sequence[str],
        service: str,
        endpoint: str,
        arg2: bytes = b"",
        arg3: bytes = b"",
        *,
        scheme: str = "json",
        options: ForwardOptions | None = None,
        **overrides: Unpack[ForwardOverrides],
    ) -> Response: ...

    def add_self_eviction_hooks(
        self,
        *,
        before: Callable[[], Awaitable[None] | None] | None = None,
        after: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None: ...

    def register_forwarded(
        self,
        service: str,
        endpoint: str,
        handler: Handler,
        keys: Callable[[Request], str | Sequence[str]],
    ) -> None: ...
