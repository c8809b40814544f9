"""Late news (docs/membership.md#late-news): cautious rumours and heal pings.

A faulty or tombstone verdict from a peer we hold unreachable, about a member we can
reach, is taken as suspect; from a peer we hold alive it is applied as the spec says.
"""

from __future__ import annotations

import logging
import random

import pytest

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


def held(node: SwimNode) -> Status:
    """How ``node`` holds OTHER now."""
    member = node.members.get(OTHER)
    assert member is not None
    return member.status


def suspected(node: SwimNode) -> SwimNode:
    """``node`` after the detector's rumour: OTHER suspect, from PEER (a verdict about
    a member we hold suspect this way is not doubted for that reason alone)."""
    [applied] = node.apply_changes([change(OTHER, "suspect", INC, source=PEER)], peer=PEER)
    assert applied.new.status == Status.SUSPECT
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


async def test_verdicts_from_a_reachable_peer_about_a_suspect_are_applied() -> None:
    node = suspected(node_with("alive"))
    [applied] = node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)
    assert applied.new.status == Status.FAULTY


async def test_gossip_never_takes_a_member_from_alive_to_faulty() -> None:
    """A verdict about a member we hold alive (we never saw it suspected) was decided
    elsewhere - after a heal, often across the split (the fault suite's
    partition-12s: n1 took "n3 faulty" from n4, which it had never stopped trusting,
    about n3 on its own side). It is a doubt, and stays one for every repeat until the
    member refutes or our own suspect timer declares it faulty."""
    node = node_with("alive")
    core = node.core
    now = node.clock.monotonic()
    [doubt] = core.apply_changes(
        [change(OTHER, "faulty", INC, source=PEER)], now, peer=PEER
    ).applied
    assert doubt.new.status == Status.SUSPECT
    # the same rumour from another trusted peer, now that we hold OTHER suspect
    helper = address(4)
    core.apply_changes([change(helper, "alive", INC)], now, disseminate=False)
    again = change(OTHER, "faulty", INC, tombstone=True, source=helper)
    assert core.apply_changes([again], now + 1.0, peer=helper).applied == []
    held = core.members.get(OTHER)
    assert held is not None
    assert held.status == Status.SUSPECT
    # our own timer decides
    core.expire(now + node.options.suspect_period + 0.1)
    held = core.members.get(OTHER)
    assert held is not None
    assert held.status == Status.FAULTY
    # once it refuted, a new verdict about it is weighed afresh
    node2 = node_with("alive")
    core2 = node2.core
    core2.apply_changes([change(OTHER, "faulty", INC, source=PEER)], now, peer=PEER)
    core2.apply_changes([change(OTHER, "alive", INC + 1, source=OTHER)], now, peer=OTHER)
    core2.apply_changes([change(OTHER, "suspect", INC + 1, source=PEER)], now + 9, peer=PEER)
    verdict = change(OTHER, "faulty", INC + 1, source=PEER)
    [applied] = core2.apply_changes([verdict], now + 9.5, peer=PEER).applied
    assert applied.new.status == Status.FAULTY


async def test_a_verdict_whose_source_we_hold_down_is_a_doubt() -> None:
    """Relayed by a peer we trust, a verdict made by a member we hold faulty (or do
    not know) was made across a split (partition-12s: n2 took "n1 faulty" from n5,
    which it still held alive, made by n4, which it held faulty)."""
    down, stranger = address(5), address(9)
    for source, expected in (
        (down, Status.SUSPECT),
        (stranger, Status.SUSPECT),
        ("", Status.FAULTY),
    ):
        node = suspected(node_with("alive"))
        node.apply_changes(
            [change(down, "alive", INC), change(down, "faulty", INC)], disseminate=False
        )
        node.apply_changes([change(OTHER, "faulty", INC, source=source)], peer=PEER)
        assert held(node) == expected, source


async def test_a_verdict_its_source_made_before_refuting_is_a_doubt() -> None:
    """A source that refuted since made the verdict while suspected (partition-12s:
    n6 took "n4 faulty" from n3, made by n2 at the incarnation n2 left when it
    refuted after the heal, a few ms before)."""
    for made_at, expected in ((INC, Status.SUSPECT), (INC + 5, Status.FAULTY), (0, Status.FAULTY)):
        node = suspected(node_with("alive"))
        node.apply_changes([change(PEER, "alive", INC + 5, source=PEER)], peer=PEER)
        verdict = change(OTHER, "faulty", INC, source=PEER, source_incarnation_number=made_at)
        node.apply_changes([verdict], peer=PEER)
        assert held(node) == expected, made_at


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


async def test_verdicts_from_an_unknown_peer_become_doubts() -> None:
    """A peer we evicted (or never heard of) is across a split for us: its verdicts
    about members we reach are doubts (the fault suite's asymmetric partition)."""
    node = node_with("alive")
    evicted = address(7)
    for verdict in (
        change(OTHER, "faulty", INC, source=evicted),
        change(OTHER, "tombstone", INC, source=evicted),
    ):
        [doubt] = node_with("alive").apply_changes([verdict], peer=evicted)
        assert doubt.new.status == Status.SUSPECT
    # Its news about itself and about members we do not reach is applied as is.
    applied = node.apply_changes(
        [change(evicted, "alive", INC + 9), change(address(8), "faulty", INC)], peer=evicted
    )
    assert [(a.new.address, a.new.status) for a in applied] == [
        (evicted, Status.ALIVE),
        (address(8), Status.FAULTY),
    ]


async def test_a_join_list_is_applied_as_the_spec_says_whoever_sent_it() -> None:
    node = node_with("alive")
    seed = address(7)  # a seed we did not know yet
    [applied] = node.apply_changes(
        [change(OTHER, "faulty", INC, source=seed)], peer=seed, disseminate=False, join_list=True
    )
    assert applied.new.status == Status.FAULTY


async def test_an_evicted_members_rumour_is_no_longer_spread() -> None:
    """After the tombstone period the member is evicted and its tombstone is old news:
    after a split it would reach members that see the evicted one alive again."""
    for cautious, spread in ((True, False), (False, True)):
        node = suspected(node_with("alive", cautious=cautious))
        node.apply_changes([change(OTHER, "tombstone", INC, source=PEER)], peer=PEER)
        assert OTHER in node.disseminator
        node.core.expire(node.clock.monotonic() + node.options.tombstone_period + 1)
        assert node.members.get(OTHER) is None  # evicted
        assert (OTHER in node.disseminator) is spread


async def test_a_verdict_about_a_member_we_just_heard_from_is_a_doubt() -> None:
    """After a heal a peer we hold alive again still sends its view from before:
    "C tombstone" about a C that spoke to us a moment ago (the fault suite's
    asymmetric partition: n4 took "n5 tombstone" from n1 just after n1 refuted)."""
    node = suspected(node_with("alive"))
    core = node.core
    now = node.clock.monotonic()
    core.heard_from(OTHER, now)
    verdict = change(OTHER, "faulty", INC, tombstone=True, source=PEER)
    assert core.apply_changes([verdict], now + 1.0, peer=PEER).applied == []
    assert held(node) == Status.SUSPECT  # a doubt: our own timer decides
    # A repeat stays a doubt, also after the contact is a suspect period old.
    later = now + 1.0 + node.options.suspect_period
    assert core.apply_changes([verdict], later, peer=PEER).applied == []
    assert held(node) == Status.SUSPECT


async def test_a_verdict_is_applied_once_the_contact_is_a_suspect_period_old() -> None:
    node = suspected(node_with("alive"))
    core = node.core
    now = node.clock.monotonic()
    core.heard_from(OTHER, now)
    later = now + node.options.suspect_period + 0.1
    verdict = change(OTHER, "faulty", INC, source=PEER)
    [applied] = core.apply_changes([verdict], later, peer=PEER).applied
    assert applied.new.status == Status.FAULTY


async def test_a_member_declaring_itself_gone_is_believed() -> None:
    """Self-eviction: the member says it is faulty itself (it spoke to us just now)."""
    node = node_with("alive")
    core = node.core
    now = node.clock.monotonic()
    core.heard_from(OTHER, now)
    leaving = change(OTHER, "faulty", INC + 1, source=OTHER)
    [applied] = core.apply_changes([leaving], now + 0.5, peer=PEER).applied
    assert applied.new.status == Status.FAULTY


async def test_contacts_are_noted_only_with_cautious_rumours() -> None:
    for cautious in (True, False):
        node = suspected(node_with("alive", cautious=cautious))
        node.note_contact(OTHER)
        node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)
        assert held(node) == (Status.SUSPECT if cautious else Status.FAULTY)


async def test_a_self_eviction_is_believed_even_from_a_doubted_sender() -> None:
    node = node_with("suspect")  # PEER is suspect for us; it self-evicts
    [applied] = node.apply_changes([change(PEER, "faulty", INC + 1, source=PEER)], peer=PEER)
    assert applied.new.status == Status.FAULTY


async def test_the_verdicts_log_says_who_told_us(caplog: pytest.LogCaptureFixture) -> None:
    """``ringpop.membership.verdicts`` at INFO traces each status change of another
    member with the peer it came from and its source (how the fault benches find
    where a wrong verdict came from)."""
    node = node_with("alive")
    with caplog.at_level(logging.INFO, logger="ringpop.membership.verdicts"):
        node.apply_changes([change(OTHER, "suspect", INC, source=PEER)], peer=PEER)
        node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)
        node.apply_changes([change(OTHER, "faulty", INC, source=PEER)], peer=PEER)  # no news
    lines = [r.getMessage() for r in caplog.records if r.name == "ringpop.membership.verdicts"]
    assert lines == [
        f"{NODE}: {OTHER} alive -> suspect (incarnation {INC}) from {PEER}, source {PEER}",
        f"{NODE}: {OTHER} suspect -> faulty (incarnation {INC}) from {PEER}, source {PEER}",
    ]
