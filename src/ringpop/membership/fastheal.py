"""Heal in seconds: as soon as a member we believe faulty turns out to be reachable.

The periodic healer (§11) runs a pass every 30 s with probability 3/N, so after a
network partition ends both sides typically keep each other faulty for half a
minute (issue 18: median ~27 s). This heals sooner, beyond the spec but with the
same wire traffic as a heal pass (a join, then one ping), so ringpop-node and
ringpop-go peers heal with us as before:

* **evidence of contact**: a ``/protocol/join``, ``/protocol/ping`` or
  ``/protocol/ping-req`` from a member we hold faulty or tombstone, or evicted (the
  other side's healer or probe got through) starts a heal with that member at once;
* **probes**: about once per ``fast_heal_probe_interval`` (jittered) a node makes
  one heal attempt with a random member it has held faulty or tombstone, or
  evicted, for less than ``fast_heal_probe_window``, as memberlist keeps gossiping
  to the dead for a while. While the network is still split the attempt's join fails (no connection
  can be made; a connection that was open goes stale and is aborted), which costs
  one connection attempt.

A member that declared itself faulty (self-eviction, §15: it left on purpose, e.g.
one step of a rolling restart) is not held down: there is nothing to heal, and
when it comes back its join and its new incarnation spread as usual. Healing with
it would cost a join with the whole membership per node and per restart (at
1,000 nodes a rolling restart spent most of its CPU there; docs/scale.md).

A heal started this way repeats its attempt every ``fast_heal_retry_delay``
(jittered) while it is in the reincarnation phase, until the merge phase ran, at
most ``fast_heal_max_attempts`` times: the first attempt makes the members the two
sides disagree about refute, the merge follows once they have. One heal runs at a
time, and heals start at most every ``fast_heal_min_interval``, each after a small
random delay (many nodes notice the network return at the same moment).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ringpop.membership.events import (
    Contacted,
    FastHealStarted,
    HealTriggered,
    MembershipEvicted,
    MembershipUpdated,
)
from ringpop.membership.status import GONE, Status

if TYPE_CHECKING:
    from ringpop.membership.heal import Healer

__all__ = ["FastHealer"]

log = logging.getLogger(__name__)


class FastHealer:
    """Contact- and probe-triggered heals of one node (see the module docstring)."""

    def __init__(self, healer: Healer) -> None:
        self.healer = healer
        self.node = healer.node
        self._down: dict[str, float] = {}
        """Members held faulty/tombstone or evicted -> since when (monotonic)."""
        self._departed: set[str] = set()
        """Members that evicted themselves (not held down, not once evicted either)."""
        self._running: asyncio.Task[None] | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._last_start = float("-inf")
        self._installed = False
        self.started = 0
        """Heals started (by contact or probe)."""
        self.merged = 0
        """Heals that reached the merge phase."""
        self.probes = 0
        """Probe attempts made."""

    @property
    def down(self) -> list[str]:
        """Members held faulty or tombstone, or evicted (the probe candidates)."""
        return list(self._down)

    @property
    def healing(self) -> bool:
        """Whether a fast heal is running."""
        return self._running is not None and not self._running.done()

    def start(self) -> None:
        """Watch membership and contacts; start probing."""
        node = self.node
        if not self._installed:
            self._installed = True
            now = node.clock.monotonic()
            for member in node.members:
                if member.status in GONE and member.address != node.address:
                    self._down[member.address] = now
            node.events.on(MembershipUpdated, self._on_updated)
            node.events.on(MembershipEvicted, self._on_evicted)
            node.events.on(Contacted, self._on_contacted)
        if self._probe_task is None:
            self._probe_task = node.spawn(self._probe_loop())

    # -- what we hold down -----------------------------------------------------------------

    def _on_updated(self, event: MembershipUpdated) -> None:
        down = self._down
        now: float | None = None
        for item in event.applied:
            if item.local:
                continue
            address = item.new.address
            if item.new.status in GONE:
                if item.new.status == Status.FAULTY and item.change.source == address:
                    self._departed.add(address)  # it evicted itself: it left, no heal
                    down.pop(address, None)
                    continue
                if address not in down and address not in self._departed:
                    if now is None:
                        now = self.node.clock.monotonic()
                    down[address] = now
            else:
                if down:
                    down.pop(address, None)
                if self._departed:
                    self._departed.discard(address)

    def _on_evicted(self, event: MembershipEvicted) -> None:
        # Evicted members stay candidates: with short faulty and tombstone periods a
        # long partition ends with each side having evicted the other, and a probe (or
        # a contact from one) is then the only quick way back. Kept until the window
        # passes (see ``_probe_target``).
        now = self.node.clock.monotonic()
        for member in event.evicted:
            if member.address in self._departed:
                self._departed.discard(member.address)
                continue
            self._down.setdefault(member.address, now)

    # -- triggers --------------------------------------------------------------------------

    def _on_contacted(self, event: Contacted) -> None:
        self.on_contact(event.address)

    def on_contact(self, address: str) -> None:
        """``address`` called us (join, ping or ping-req): heal if we hold it down."""
        if address in self._down:
            self.trigger(address, "contact")

    def trigger(self, target: str, reason: str) -> bool:
        """Start a heal with ``target`` unless one runs or one started too recently."""
        node = self.node
        if self.healing or not node.ready:
            return False
        now = node.clock.monotonic()
        if now - self._last_start < node.options.fast_heal_min_interval:
            return False
        self._last_start = now
        self.started += 1
        node.events.emit(FastHealStarted(target, reason))
        self._running = node.spawn(self._heal_with(target, reason))
        return True

    def _probe_target(self) -> str | None:
        """A random member held down (or evicted) for less than the probe window."""
        node = self.node
        horizon = node.clock.monotonic() - node.options.fast_heal_probe_window
        members = node.members
        expired = [a for a, t in self._down.items() if t < horizon and members.get(a) is None]
        for address in expired:  # evicted long ago: forget it (the periodic healer remains)
            del self._down[address]
        candidates = [address for address, since in self._down.items() if since >= horizon]
        if not candidates:
            return None
        return node.rng.choice(sorted(candidates))

    async def _probe_loop(self) -> None:
        node = self.node
        options = node.options
        while True:
            await node.clock.sleep(options.fast_heal_probe_interval * node.rng.uniform(0.5, 1.5))
            target = self._probe_target()
            if target is not None and self.trigger(target, "probe"):
                self.probes += 1

    # -- one heal --------------------------------------------------------------------------

    async def _heal_with(self, target: str, reason: str) -> None:
        """Attempt until the merge phase ran with ``target`` (or it fails / gives up)."""
        from ringpop.membership.heal import HealError

        node = self.node
        options = node.options
        # Many nodes see the network return at once: spread their heals a little.
        await node.clock.sleep(node.rng.uniform(0, options.fast_heal_min_interval / 2))
        for attempt in range(options.fast_heal_max_attempts):
            if attempt:
                await node.clock.sleep(options.fast_heal_retry_delay * node.rng.uniform(0.75, 1.25))
            member = node.members.get(target)
            if attempt == 0 and member is not None and member.status not in GONE:
                return  # healed meanwhile (gossip, or another node's heal reached us)
            try:
                _reachable, merged = await self.healer.attempt_phase(target)
            except HealError as error:
                log.debug("%s: %s heal with %s failed: %s", node.address, reason, target, error)
                return
            if merged:
                member = node.members.get(target)
                if member is not None and member.status in GONE:
                    # Merged, and it is still down: it says so itself (a self-evicted node
                    # still draining). Nothing to heal; stop probing it.
                    self._down.pop(target, None)
                self.merged += 1
                node.events.emit(HealTriggered((target,)))
                log.info(
                    "%s healed with %s (%s, attempt %d)", node.address, target, reason, attempt + 1
                )
                return
        log.info(
            "%s: heal with %s still disagreeing after %d attempts",
            node.address,
            target,
            options.fast_heal_max_attempts,
        )
