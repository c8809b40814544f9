"""Leader election on the ring: the owner of the name's key leads (``rp.leadership``).

::

    leadership = rp.leadership("compactor")
    async with leadership as term:            # waits until this node leads
        while not term.lost.is_set():
            await compact(fencing_token=term.token)

A node leads ``name`` while it owns the ring key ``ringpop-leader:<name>``. On
becoming owner it reads the last token from the state store, takes a token greater
than it from its hybrid clock (:mod:`ringpop.actors.fencing`), writes it back, and
then leads (:class:`LeadershipAcquired`); when the ring moves the key away it stops
at once (:class:`LeadershipLost`). In a converged cluster exactly one node owns the
key, so exactly one leads. During a partition each side's ring has its own owner:
two leaders, with different tokens (the node id is part of the token; the side
that cannot reach a quorum of the store takes a token from its own clock only). On
every ring change a leader re-reads the stored token and takes a new, greater one
if another node stored a greater one meanwhile (the other side of a healed
partition), so the leader after a heal holds the greatest token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import TYPE_CHECKING

import msgspec

from ringpop.actors.errors import LeadershipLostError
from ringpop.actors.events import LeadershipAcquired, LeadershipLost
from ringpop.actors.fencing import next_token
from ringpop.events import Ready, RingChanged
from ringpop.state.hlc import Version

if TYPE_CHECKING:
    from ringpop.actors.runtime import ActorSystem

__all__ = ["Leadership", "Term"]

log = logging.getLogger(__name__)

_VERSION = msgspec.msgpack.Decoder(Version)

_RECHECK = 1.0
"""Seconds between a waiting ``wait_leader``'s looks at whether the node closed."""


class Term:
    """One period of leadership: its fencing ``token``; ``lost`` is set when it ends."""

    def __init__(self, name: str, token: Version) -> None:
        self.name = name
        self.token = token
        self.lost = asyncio.Event()

    def __repr__(self) -> str:
        return f"Term({self.name!r}, {self.token!r}, lost={self.lost.is_set()})"


class Leadership:
    """Whether this node leads ``name`` (see the module docstring). ``key`` overrides
    the ring key (per-key jobs lead on the key's own owner)."""

    def __init__(self, system: ActorSystem, name: str, *, key: str | None = None) -> None:
        self.system = system
        self.rp = system.rp
        self.name = name
        self.key = key if key is not None else f"ringpop-leader:{name}"
        self._store_key = f"ringpop-leader-token:{self.key}"
        self.term: Term | None = None
        """The current term while leading."""
        self.terms = 0
        """Terms started here."""
        self._acquiring: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closed = False
        self.rp.events.on(RingChanged, self._on_ring)
        self.rp.events.on(Ready, self._on_ring)
        self._evaluate()

    @property
    def is_leader(self) -> bool:
        """Whether this node leads now."""
        return self.term is not None

    @property
    def token(self) -> Version | None:
        """The fencing token of the current term (``None`` when not leading)."""
        return None if self.term is None else self.term.token

    def leader(self) -> str:
        """The address that leads according to this node's ring."""
        return self.rp.lookup(self.key)

    async def wait_leader(self, timeout: float | None = None) -> Term:
        """Wait until this node leads; its term. :class:`LeadershipLostError` once this
        leadership or the node is closed (it will never lead)."""
        async with asyncio.timeout(timeout):
            while self.term is None:
                if self._closed or self.rp.closed:
                    raise LeadershipLostError(
                        f"leadership {self.name!r}: closed here, this node will not lead"
                    )
                self._changed.clear()
                # the node's close sends no event here: look again at least every second
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_RECHECK):
                        await self._changed.wait()
        return self.term

    async def __aenter__(self) -> Term:
        return await self.wait_leader()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def close(self) -> None:
        """Stop leading and stop following the ring (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self.rp.events.off(RingChanged, self._on_ring)
        self.rp.events.off(Ready, self._on_ring)
        self._lose()
        self._changed.set()  # waiters hear that this node will not lead
        if self._acquiring is not None:
            self._acquiring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acquiring

    # -- following the ring --------------------------------------------------------------

    def _owns(self) -> bool:
        rp = self.rp
        return not self._closed and rp.is_ready and not rp.is_leaving and rp.owns(self.key)

    def _on_ring(self, event: object) -> None:
        self._evaluate()

    def _evaluate(self) -> None:
        if self._owns():
            if self._acquiring is None or self._acquiring.done():
                self._acquiring = asyncio.create_task(self._acquire())
        else:
            if self._acquiring is not None and not self._acquiring.done():
                self._acquiring.cancel()
            self._lose()

    async def _acquire(self) -> None:
        """Read the last token, take a greater one, store it, lead (or renew the term)."""
        state = self.system.state
        seen: list[Version | None] = []
        try:
            got = await state.get(self._store_key)
            if got is not None:
                seen = [_VERSION.decode(got[0]), got[1]]
        except Exception as error:  # a minority side: our clock's token still differs
            log.warning("leadership %r: reading the last token failed: %s", self.name, error)
        current = self.term
        if current is not None and all(t is None or t <= current.token for t in seen):
            return  # still the greatest token: the term goes on
        token = next_token(self.system.hlc, [*seen, None if current is None else current.token])
        try:
            await state.put(self._store_key, msgspec.msgpack.encode(token))
        except Exception as error:
            log.warning("leadership %r: storing token failed: %s", self.name, error)
        if not self._owns():
            return
        self._lose()
        self.term = Term(self.name, token)
        self.terms += 1
        self.rp.events.emit(LeadershipAcquired(self.name, self.system.address, token))
        self._changed.set()

    def _lose(self) -> None:
        term, self.term = self.term, None
        if term is not None:
            term.lost.set()
            self.rp.events.emit(LeadershipLost(self.name, self.system.address, term.token))
            self._changed.set()
