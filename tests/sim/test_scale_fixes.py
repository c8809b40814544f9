"""The opt-in scaling fixes of docs/scale.md: background probes and the agreement shortcut.

Both are off by default (ringpop-go and ringpop-node behave as without them, and the
conformance suite checks that); these tests run them on.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ringpop.clock import ManualClock
from ringpop.membership.dissemination import Disseminator
from ringpop.membership.memberlist import MemberList
from ringpop.messages import Change
from ringpop.options import Options
from ringpop.testing import CallRecord, SimCluster, sim_address

pytestmark = pytest.mark.looptime(noop_cycles=1)

LOCAL = "10.0.0.1:3000"


async def _pings_while_members_are_dead(background: int) -> tuple[int, set[str]]:
    """Pings one live node sends in 6 s while 2 of 20 members are dead; who it suspects."""
    cluster = SimCluster(20, seed=4, options=Options(background_probes=background))
    await cluster.bootstrap()
    await cluster.wait_for(cluster.converged, timeout=30)
    a = cluster.addresses
    watched = a[0]
    sent: Counter[str] = Counter()

    def tap(record: CallRecord) -> None:
        if record.source == watched and record.endpoint == "/protocol/ping":
            sent[record.destination] += 1

    for victim in a[18:]:
        await cluster.crash(victim)
    cluster.network.add_tap(tap)
    await cluster.run_for(6)
    cluster.network.remove_tap(tap)
    suspected = {v for v in a[18:] if cluster.status_everywhere(v, [watched]) != {"alive"}}
    await cluster.stop()
    return sum(sent.values()), suspected


async def test_background_probes_keep_the_period_while_members_are_dead() -> None:
    blocking, suspected_blocking = await _pings_while_members_are_dead(0)
    background, suspected_background = await _pings_while_members_are_dead(3)
    periods = 6 / Options().min_protocol_period
    # Blocking: every probe of a dead member holds the period ~2 x ping_timeout.
    assert blocking < 0.6 * periods
    # Background: a ping every period (and pings as a ping-req helper, counted too).
    assert background >= 0.85 * periods
    # Failure detection is the same: both dead members are suspected either way.
    assert suspected_blocking == suspected_background == {sim_address(i) for i in range(18, 20)}


def _disseminator(shortcut: bool) -> tuple[MemberList, Disseminator]:
    members = MemberList(LOCAL, clock=ManualClock(), rng=random.Random(1))
    members.apply(
        [
            Change(address=f"10.0.0.{i}:3000", status="alive", incarnation_number=1)
            for i in range(2, 5)
        ]
    )
    disseminator = Disseminator(members, agreement_shortcut=shortcut)
    disseminator.adjust_max_p()
    disseminator.record(Change(address="10.0.0.2:3000", status="suspect", incarnation_number=1))
    return members, disseminator


@pytest.mark.parametrize("shortcut", [False, True])
def test_agreeing_requester_gets_no_changes_only_with_the_shortcut(shortcut: bool) -> None:
    members, disseminator = _disseminator(shortcut)
    max_p = disseminator.max_p
    for _ in range(max_p - 1):
        changes, full_sync = disseminator.issue_as_receiver("10.0.0.3:3000", 1, members.checksum)
        assert full_sync is False
        assert len(changes) == (0 if shortcut else 1)
    # Counted as sent either way: the change leaves at max_p, as without the shortcut.
    assert disseminator.pending()["10.0.0.2:3000"][1] == max_p - 1
    changes, _ = disseminator.issue_as_receiver("10.0.0.3:3000", 1, members.checksum ^ 1)
    assert [c.address for c in changes] == ["10.0.0.2:3000"]  # a requester that differs
    assert "10.0.0.2:3000" not in disseminator


async def _converge_then_kill(shortcut: bool) -> tuple[float, int]:
    cluster = SimCluster(30, seed=2, options=Options(agreement_shortcut=shortcut))
    await cluster.bootstrap()
    converged = await cluster.wait_for(cluster.converged, timeout=30, step=0.05)
    victim = cluster.addresses[5]
    await cluster.crash(victim)
    live = cluster.live([victim])
    await cluster.wait_for(
        lambda: cluster.status_everywhere(victim, live) == {"faulty"}, timeout=30
    )
    await cluster.wait_for(lambda: cluster.converged(live), timeout=10)
    await cluster.stop()
    return converged, cluster.network.stats.bytes_sent


async def test_shortcut_cluster_converges_and_detects_like_the_default() -> None:
    converged_off, bytes_off = await _converge_then_kill(False)
    converged_on, bytes_on = await _converge_then_kill(True)
    assert converged_on <= converged_off + 0.5
    assert bytes_on < bytes_off  # quiet answers to agreeing requesters
