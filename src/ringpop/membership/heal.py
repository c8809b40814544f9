"""Partition healing through the discover provider (spec §11).

Every ``heal_period`` the healer runs a heal pass with probability
``heal_base_probability / N``; ``/admin/healpartition/disco`` runs one on demand. A
pass joins hosts that we do not know or believe faulty/left/gone, and either makes
both sides re-assert themselves (reincarnation phase: each side hears a source-less
``suspect`` about members the other side has wrongly given up) or merges the two
memberships (merge phase).
"""

from __future__ import annotations

import asyncio
import logging

from ringpop.discovery import DiscoverProvider
from ringpop.errors import RingpopError
from ringpop.membership.events import HealTriggered
from ringpop.membership.fastheal import FastHealer
from ringpop.membership.member import Member, change_from_wire
from ringpop.membership.network import CallError
from ringpop.membership.node import SwimNode
from ringpop.membership.status import PRECEDENCE, Status, is_pingable_status
from ringpop.messages import Change

__all__ = ["HealError", "Healer"]

log = logging.getLogger(__name__)

_FAULTY = PRECEDENCE[Status.FAULTY]


class HealError(RingpopError, RuntimeError):
    """A heal attempt with one target failed."""


def _overrides(inc_x: int, status_x: str, inc_y: int, status_y: str) -> bool:
    return inc_x > inc_y or (inc_x == inc_y and PRECEDENCE[status_x] > PRECEDENCE[status_y])


def _suspect_copy(address: str, incarnation: int, labels: dict[str, str]) -> Change:
    """A ``suspect`` change without source: cannot trigger a full sync (§11)."""
    return Change(
        address=address, status=Status.SUSPECT, incarnation_number=incarnation, labels=labels
    )


class Healer:
    """Heal passes and the periodic healer of one node."""

    def __init__(self, node: SwimNode, provider: DiscoverProvider | None) -> None:
        self.node = node
        self.provider = provider
        self.last_host_count = 0
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self.fast = FastHealer(self)
        """Heals started by contact with, or a probe of, a member held faulty."""

    # -- one pass --------------------------------------------------------------------

    async def heal(self) -> list[str]:
        """Run one heal pass; the targets healed with. Raises discovery errors."""
        node = self.node
        if self.provider is None:
            return []
        hosts = await self.provider.hosts()
        self.passes += 1
        self.last_host_count = len(hosts)
        targets = []
        for host in dict.fromkeys(hosts):
            if host == node.address:
                continue
            member = node.members.get(host)
            if member is None or PRECEDENCE[member.status] >= _FAULTY:
                targets.append(host)
        node.rng.shuffle(targets)
        healed: list[str] = []
        failures = 0
        while targets and failures < node.options.heal_max_failures:
            target = targets.pop()
            try:
                reachable = await self.attempt(target)
            except HealError as error:
                failures += 1
                log.info("%s: heal with %s failed: %s", node.address, target, error)
                continue
            healed.append(target)
            targets = [t for t in targets if t not in reachable]
        if healed:
            node.events.emit(HealTriggered(tuple(healed)))
            log.info("%s healed with %s", node.address, ", ".join(healed))
        return healed

    async def attempt(self, target: str) -> set[str]:
        """Heal with ``target``; the addresses pingable on its side."""
        reachable, _merged = await self.attempt_phase(target)
        return reachable

    async def attempt_phase(self, target: str) -> tuple[set[str], bool]:
        """Heal with ``target``: the addresses pingable on its side, and whether this
        was the merge phase (``False``: reincarnation, another attempt must follow
        once the members the two sides disagreed about have refuted)."""
        node = self.node
        options = node.options
        try:
            response = await node.send_join(target, timeout=options.heal_join_timeout)
        except CallError as error:
            raise HealError(str(error)) from None
        # The partition is over: the refutations this heal asks for must spread within
        # the suspect period, not at the period that failed probes stretched (§8.1).
        node.reset_protocol_rate()
        theirs = [c for c in map(change_from_wire, response.membership) if c is not None]
        for_them: list[Change] = []
        for_us: list[Change] = []
        for b in theirs:
            a: Member | None = node.members.get(b.address)
            if a is None:
                continue
            b_pingable = is_pingable_status(b.status)
            a_pingable = is_pingable_status(a.status)
            if (
                b_pingable
                and not a_pingable
                and _overrides(a.incarnation, a.status, b.incarnation_number, b.status)
            ):
                for_them.append(_suspect_copy(a.address, a.incarnation, dict(a.labels)))
            if (
                a_pingable
                and not b_pingable
                and _overrides(b.incarnation_number, b.status, a.incarnation, a.status)
            ):
                for_us.append(_suspect_copy(b.address, b.incarnation_number, dict(b.labels)))
        # The heal pings' responses are not applied (ringpop-node and ringpop-go do not
        # either): they carry the target's pending rumours, which after a partition are
        # its side's verdicts on our side ("faulty", "tombstone") - exactly what the
        # reincarnation phase is there to overturn, not to adopt.
        if for_us or for_them:
            node.apply_changes(for_us, peer=target)
            sent = not for_them or await node.send_ping(
                target, timeout=options.heal_ping_timeout, changes=for_them, apply_response=False
            )
        else:
            node.apply_changes(theirs, peer=target)
            sent = await node.send_ping(
                target,
                timeout=options.heal_ping_timeout,
                changes=node.members.as_changes(),
                apply_response=False,
            )
        if not sent:  # like go: the attempt failed, count it and try another target
            raise HealError(f"heal ping to {target} failed")
        merged = not (for_us or for_them)
        return {c.address for c in theirs if is_pingable_status(c.status)}, merged

    # -- periodic --------------------------------------------------------------------

    def start(self) -> None:
        """Run heal passes every ``heal_period`` with probability ``base / N``, and
        fast heals (``fast_heal_enabled``)."""
        options = self.node.options
        if not options.heal_enabled:
            return
        if self._task is None and self.provider is not None:
            self._task = self.node.spawn(self._loop())
        if options.fast_heal_enabled:
            self.fast.start()

    async def _loop(self) -> None:
        node = self.node
        options = node.options
        while True:
            await node.clock.sleep(options.heal_period)
            reachable = sum(1 for m in node.members if m.is_reachable)
            population = max(1, self.last_host_count, reachable)
            if node.rng.random() >= options.heal_base_probability / population:
                continue
            try:
                await self.heal()
            except Exception as error:  # discovery or network trouble: try next period
                log.warning("%s: heal pass failed: %s", node.address, error)
