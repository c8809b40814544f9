"""Flap damping on a running node (spec §4.4, §10; ringpop-node's damping).

:class:`Damper` scores every accepted update of another member
(:class:`~ringpop.membership.damping.DampScores`), decays the scores every second and,
while flappers exist, asks up to 6 other members for their scores of them
(``/protocol/damp-req``). A flapper that every answer also scores above the suppress
limit is *damped* for an hour: ringpop-node only logs it; with
``damp_evict_from_ring`` it also leaves our hash ring for that time. It answers
other members' damp-reqs with its own scores.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from ringpop.membership.damping import DampingConfig, DampScores
from ringpop.membership.events import (
    DampReqReceived,
    DampScoreChanged,
    MemberDamped,
    MembershipEvicted,
    MembershipUpdated,
)
from ringpop.membership.network import CallError, EndpointHandler, RemoteError
from ringpop.membership.node import SwimNode
from ringpop.messages import (
    DampReqRequest,
    DampReqResponse,
    DampScore,
    MessageError,
    encode,
)
from ringpop.receiving import receive

__all__ = ["Damper"]

log = logging.getLogger(__name__)


class Damper:
    """Damp scores, the damp-req sub-protocol and damped members of one node."""

    def __init__(self, node: SwimNode) -> None:
        options = node.options
        self.node = node
        self.scores = DampScores(
            DampingConfig(
                penalty=options.damp_penalty,
                maximum=options.damp_max_score,
                suppress_limit=options.damp_suppress_limit,
                reuse_limit=options.damp_reuse_limit,
                half_life=options.damp_half_life,
            )
        )
        self.damped: dict[str, float] = {}
        """Damped address -> monotonic time its damping ends."""
        self._started = False
        node.events.on(MembershipUpdated, self._on_updated)
        node.events.on(MembershipEvicted, self._on_evicted)

    # -- scoring ---------------------------------------------------------------------------

    def _on_updated(self, event: MembershipUpdated) -> None:
        now = self.node.clock.monotonic()
        emit = self.node.events.emit
        for item in event.applied:
            if not item.local and item.old is not None:
                address = item.new.address
                emit(DampScoreChanged(address, self.scores.penalize(address, now)))
        self._keep_damped_out_of_ring()

    def _on_evicted(self, event: MembershipEvicted) -> None:
        for member in event.evicted:
            self.scores.forget(member.address)
            self.damped.pop(member.address, None)

    def score(self, address: str) -> float:
        """The current damp score of ``address``."""
        return self.scores.score(address, self.node.clock.monotonic())

    def all_scores(self) -> dict[str, float]:
        """Every member's non-zero damp score."""
        return self.scores.scores(self.node.clock.monotonic())

    # -- loops -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start decaying scores and confirming flappers."""
        if self._started:
            return
        self._started = True
        self.node.spawn(self._decay_loop())
        self.node.spawn(self._damp_req_loop())

    async def _decay_loop(self) -> None:
        while True:
            await self.node.clock.sleep(self.node.options.damp_decay_interval)
            for address in self.scores.decay(self.node.clock.monotonic()):
                log.info("%s: %s stopped flapping", self.node.address, address)

    async def _damp_req_loop(self) -> None:
        while True:
            await self.node.clock.sleep(self.node.options.damp_req_interval)
            self._expire_damped()
            if self.scores.flappers:
                try:
                    await self.confirm_flappers()
                except Exception:  # a failing round must not stop the next
                    log.exception("%s: damp-req round failed", self.node.address)

    # -- the damp-req sub-protocol -----------------------------------------------------------

    async def confirm_flappers(self) -> list[str]:
        """One damp-req round; the members damped by it."""
        node = self.node
        options = node.options
        flappers = sorted(self.scores.flappers - self.damped.keys())
        limit = options.damped_max_percentage / 100 * len(node.members)
        if not flappers or len(self.damped) >= limit:
            return []
        helpers = node.members.random_pingable(
            options.damp_req_fanout, exclude=self.scores.flappers
        )
        if not helpers:
            return []
        body = encode(
            DampReqRequest(
                source_addr=node.address,
                source_incarnation_number=node.local.incarnation,
                source_checksum=node.members.checksum,
                flappers=flappers,
            )
        )
        answers = await asyncio.gather(*(self._damp_req(h.address, body) for h in helpers))
        responses = [a for a in answers if a is not None]
        needed = min(options.damp_req_min_responses, len(helpers))
        if len(responses) < needed:
            log.info(
                "%s: damp-req got %d of the %d answers needed",
                node.address,
                len(responses),
                needed,
            )
            return []
        newly: list[str] = []
        for flapper in flappers:
            seen = [r.get(flapper) for r in responses]
            if all(s is not None and s >= options.damp_suppress_limit for s in seen):
                self.damped[flapper] = node.clock.monotonic() + options.damp_suppress_duration
                newly.append(flapper)
                log.warning(
                    "%s: ringpop member would have been damped: %s (scores %s)",
                    node.address,
                    flapper,
                    seen,
                )
                node.events.emit(MemberDamped(flapper))
        self._keep_damped_out_of_ring()
        return newly

    async def _damp_req(self, address: str, body: bytes) -> dict[str, float] | None:
        try:
            raw = await self.node.network.call(
                address, "/protocol/damp-req", body, timeout=self.node.options.damp_req_timeout
            )
            response = self.node.guard.accept(address, receive(raw, DampReqResponse))
        except (CallError, MessageError) as error:
            log.debug("%s: damp-req to %s failed: %s", self.node.address, address, error)
            return None
        return {s.member: float(s.damp_score) for s in response.scores}

    def _expire_damped(self) -> None:
        now = self.node.clock.monotonic()
        for address, until in list(self.damped.items()):
            if until <= now:
                del self.damped[address]
                log.info("%s: %s is no longer damped", self.node.address, address)
                member = self.node.members.get(address)
                evicting = self.node.options.damp_evict_from_ring
                if evicting and member is not None and member.is_reachable:
                    identity = None if member.identity == address else member.identity
                    self.node.ring.add_server(address, identity)

    def _keep_damped_out_of_ring(self) -> None:
        if not self.node.options.damp_evict_from_ring or not self.damped:
            return
        present = [a for a in self.damped if self.node.ring.has_server(a)]
        if present:
            self.node.ring.add_remove_servers((), present)

    # -- serving ------------------------------------------------------------------------------

    def handlers(self) -> dict[str, EndpointHandler]:
        """The ``/protocol/damp-req`` endpoint (answers with our scores of the flappers)."""

        async def damp_req(body: bytes) -> bytes:
            self.node.events.emit(DampReqReceived())
            try:
                raw = msgspec.json.decode(body) if body.strip() else {}
            except msgspec.DecodeError as error:
                raise RemoteError(
                    "ringpop.server.damp-req.bad-request", f"Bad request: {error}"
                ) from None
            if not isinstance(raw, dict) or "flappers" not in raw:
                raise RemoteError(
                    "ringpop.server.damp-req.bad-request.flappers-required",
                    "Bad request: flappers is required",
                )
            if not isinstance(raw["flappers"], list):
                raise RemoteError(
                    "ringpop.server.damp-req.bad-request.flappers-array",
                    "Bad request: flappers must be an array",
                )
            try:
                received = receive(body, DampReqRequest)
            except MessageError as error:
                raise RemoteError(
                    "ringpop.server.damp-req.bad-request", f"Bad request: {error}"
                ) from None
            request = self.node.guard.accept(received.message.source_addr, received)
            known = [a for a in request.flappers if a in self.node.members]
            return encode(
                DampReqResponse(
                    scores=[DampScore(member=a, damp_score=self.score(a)) for a in known]
                )
            )

        return {"/protocol/damp-req": damp_req}
