"""Late news (docs/membership.md#late-news): cautious rumours and heal pings.

A faulty or tombstone verdict from a peer we hold unreachable, about a member we can
reach, is taken as suspect; from a peer we hold alive it is applied as the spec says.
"""

from __future__ import annotations

import random

from ringpop.clock import LoopClock
from ringpop.membership.node import SwimNode
from ringpop.membership.status import Status
from ringpop.options import Options
from ringpop.testing.memnet import MemoryNetwork
from tests.membership.helpers import address, change

INC = 1_700_000_000_000
NODE, PEER, OTHER = address(1), address(2), address(3)


def node_with(peer_status: str, *, cautious: bool = True) -> SwimNode:
    node = SwimNode(
        NODE,
        MemoryNetwork().membership(NODE),
        options=Options(cautious_rumours=cautious),
        clock=LoopClock(start_ms=INC),
        rng=random.Random(1),
    )
    # (A tombstone about an unknown member is refused, §6.1: make it known first.)
    node.apply_changes(
        [change(PEER, "alive", INC), change(PEER, peer_status, INC), change(OTHER, "alive", INC)],
        disseminate=False,
    )
    return node


async def test_verdicts_from_an_unreachable_peer_become_doubts() -> None:
    for peer_status in ("suspect", "faulty", "tombstone"):
        for verdict in (
            change(OTHER, "faulty", INC, source=PEER),
            change(OTHER, "faulty", INC, tombstone=True, source=PEER),
            change(OTHER, "tombstone", INC, source=PEER),
        ):
            node = node_with(peer_status)
            [applied] = node.apply_changes([verdict], peer=PEER)
            assert applied.new.status == Status.SUSPECT
            assert applied.new.incarnation == INC
            assert node.timers.get(OTHER) is not None  # our own suspect timer decides


async def test_verdicts_from_a_reachable_peer_are_applied() -> None:
    node = node_with("alive")
    [applied] = node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)
    assert applied.new.status == Status.FAULTY


async def test_option_off_applies_them_as_the_spec_says() -> None:
    node = node_with("faulty", cautious=False)
    [applied] = node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)
    assert applied.new.status == Status.FAULTY


async def test_verdicts_about_members_we_hold_down_or_do_not_know_are_unchanged() -> None:
    node = node_with("faulty")
    node.apply_changes([change(OTHER, "faulty", INC)], disseminate=False)
    [applied] = node.apply_changes([change(OTHER, "tombstone", INC, source=PEER)], peer=PEER)
    assert applied.new.status == Status.TOMBSTONE
    stranger = address(9)
    [new] = node.apply_changes([change(stranger, "faulty", INC, source=PEER)], peer=PEER)
    assert new.new.status == Status.FAULTY


async def test_a_verdict_about_us_is_refuted_either_way() -> None:
    node = node_with("faulty")
    [applied] = node.apply_changes(
        [change(NODE, "faulty", INC + 5, tombstone=True, source=PEER)], peer=PEER
    )
    assert applied.local
    assert applied.new.status == Status.ALIVE
    assert applied.new.incarnation > INC + 5
