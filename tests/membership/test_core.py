"""The sans-IO membership core, driven with plain numbers for ``now`` (no event loop)."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import ringpop.membership
from ringpop.clock import ManualClock
from ringpop.eventbus import Event, EventEmitter, Kind
from ringpop.membership.core import MembershipCore, Step
from ringpop.membership.events import (
    InputRefused,
    LocalHealthChanged,
    MembershipEvicted,
    MembershipUpdated,
    SuspicionConfirmed,
)
from ringpop.membership.limits import LimitError
from ringpop.membership.status import Status
from ringpop.messages import Change
from ringpop.options import Options

LOCAL = "127.0.0.1:3000"
B = "127.0.0.1:3001"
C = "127.0.0.1:3002"
D = "127.0.0.1:3003"
E = "127.0.0.1:3004"


def _core(**options: object) -> tuple[MembershipCore, list[Event]]:
    events = EventEmitter()
    seen: list[Event] = []
    events.on(Event, seen.append)
    core = MembershipCore(
        LOCAL,
        events=events,
        clock=ManualClock(),
        rng=random.Random(1),
        options=Options(**options),  # type: ignore[arg-type]
    )
    return core, seen


def _change(address: str, status: str, incarnation: int = 1, source: str = B) -> Change:
    return Change(
        address=address,
        status=status,
        incarnation_number=incarnation,
        source=source,
        source_incarnation_number=1,
    )


def test_suspect_faulty_tombstone_evicted_by_deadlines() -> None:
    core, seen = _core(suspect_period=5.0, faulty_period=20.0, tombstone_period=7.0)
    step = core.apply_changes([_change(B, "alive"), _change(C, "alive")], 100.0, peer=D)
    assert [a.new.address for a in step.applied] == [B, C]
    assert step.deadline is None
    assert set(core.ring.servers()) == {LOCAL, B, C}

    step = core.apply_changes([_change(B, "suspect", source=C)], 101.0, peer=C)
    assert step.deadline == 106.0
    assert core.expire(105.999) == Step([], [], 106.0)  # nothing due yet

    step = core.expire(106.0)
    assert [(a.new.address, a.new.status) for a in step.applied] == [(B, Status.FAULTY)]
    assert step.deadline == 126.0
    assert not core.ring.has_server(B)

    step = core.expire(126.0)
    assert [(a.new.address, a.new.status) for a in step.applied] == [(B, Status.TOMBSTONE)]
    assert step.deadline == 133.0

    step = core.expire(133.0)
    assert step.applied == []
    assert [m.address for m in step.evicted] == [B]
    assert step.deadline is None
    assert core.members.get(B) is None
    evicted = [e for e in seen if isinstance(e, MembershipEvicted)]
    assert [[m.address for m in e.evicted] for e in evicted] == [[B]]
    assert evicted[0].stats() == (
        (Kind.GAUGE, "checksum", core.members.checksum),
        (Kind.GAUGE, "num-members", 2),
    )


def test_a_refutation_cancels_the_deadline() -> None:
    core, _ = _core(suspect_period=5.0)
    core.apply_changes([_change(B, "alive")], 0.0, peer=B)
    assert core.apply_changes([_change(B, "suspect", source=C)], 1.0, peer=C).deadline == 6.0
    assert core.apply_changes([_change(B, "alive", 2)], 2.0, peer=B).deadline is None
    assert core.expire(10.0) == Step([], [], None)
    member = core.members.get(B)
    assert member is not None
    assert member.status == Status.ALIVE


def test_membership_updated_stands_for_todays_stats() -> None:
    core, seen = _core()
    core.apply_changes([_change(B, "alive"), _change(C, "suspect")], 0.0, peer=D)
    [updated] = [e for e in seen if isinstance(e, MembershipUpdated)]
    assert updated.stats() == (
        (Kind.COUNTER, "membership-update.alive", 1),
        (Kind.COUNTER, "membership-update.suspect", 1),
        (Kind.GAUGE, "checksum", core.members.checksum),
        (Kind.GAUGE, "num-members", 3),
    )


def test_bootstrap_lists_are_not_disseminated_but_self_changes_are() -> None:
    core, _ = _core()
    core.disseminator.clear()
    core.apply_changes([_change(B, "alive")], 0.0, disseminate=False, peer=B)
    assert B not in core.disseminator
    core.set_local_status(Status.LEAVE, 1.0)
    assert LOCAL in core.disseminator


def test_too_many_changes_apply_nothing_or_raise_when_strict() -> None:
    core, seen = _core(max_changes_per_message=1)
    changes = [_change(B, "alive"), _change(C, "alive")]
    assert core.apply_changes(changes, 0.0, peer=D) == Step([], [], None)
    with pytest.raises(LimitError):
        core.apply_changes(changes, 0.0, peer=D, strict=True)
    refused = [e for e in seen if isinstance(e, InputRefused)]
    assert [(e.reason, e.count) for e in refused] == [("changes", 1), ("changes", 1)]
    assert refused[0].stats() == ((Kind.COUNTER, "limits.refused.changes", 1),)
    assert len(core.members) == 1


def test_cautious_rumours_turn_verdicts_of_a_doubted_peer_into_doubts() -> None:
    core, _ = _core(cautious_rumours=True, suspect_period=5.0)
    core.apply_changes([_change(B, "alive"), _change(C, "alive")], 0.0, peer=D)
    core.declare(C, Status.FAULTY, 1, 1.0)  # C is on the other side, for us
    step = core.apply_changes([_change(B, "faulty", source=C)], 2.0, peer=C)
    assert [(a.new.address, a.new.status) for a in step.applied] == [(B, Status.SUSPECT)]
    assert step.deadline == 7.0


def test_lifeguard_confirmations_shrink_the_deadline_and_health_moves() -> None:
    core, seen = _core(lifeguard_enabled=True, min_protocol_period=0.2)
    others = [f"127.0.0.1:{4000 + i}" for i in range(8)]
    core.apply_changes([_change(a, "alive") for a in others], 0.0, peer=others[0])
    subject = others[0]
    first = core.apply_changes([_change(subject, "suspect", source=others[1])], 10.0, peer=B)
    assert first.deadline is not None
    confirmed = core.apply_changes([_change(subject, "suspect", source=others[2])], 11.0, peer=B)
    assert confirmed.deadline is not None
    assert confirmed.deadline < first.deadline
    assert [e.source for e in seen if isinstance(e, SuspicionConfirmed)] == [others[2]]

    core.probe_failed()
    core.probe_failed()
    core.probe_succeeded()
    assert [(e.before, e.after) for e in seen if isinstance(e, LocalHealthChanged)] == [
        (0, 1),
        (1, 2),
        (2, 1),
    ]
    assert core.scaled(1.0) == pytest.approx(2.0)


def test_suspecting_a_suspect_again_confirms_with_lifeguard() -> None:
    core, seen = _core(lifeguard_enabled=True)
    others = [f"127.0.0.1:{4000 + i}" for i in range(6)]
    core.apply_changes([_change(a, "alive") for a in others], 0.0, peer=others[0])
    target = core.members.get(others[0])
    assert target is not None
    first = core.suspect(target, 1.0)
    assert [a.new.status for a in first.applied] == [Status.SUSPECT]
    suspected = core.members.get(others[0])
    assert suspected is not None
    core.apply_changes([_change(others[0], "suspect", source=others[1])], 1.5, peer=B)
    again = core.suspect(suspected, 2.0)
    assert again.applied == []
    assert again.deadline is not None
    assert first.deadline is not None
    assert again.deadline <= first.deadline
    assert not any(e.source == LOCAL for e in seen if isinstance(e, SuspicionConfirmed))


def test_same_inputs_same_steps() -> None:
    def run() -> list[Step]:
        core, _ = _core(suspect_period=1.0, faulty_period=2.0, tombstone_period=3.0)
        steps = [core.apply_changes([_change(a, "alive") for a in (B, C, D, E)], 0.0, peer=B)]
        steps.append(core.apply_changes([_change(C, "suspect", source=B)], 0.5, peer=B))
        steps += [core.expire(float(t)) for t in range(1, 8)]
        return steps

    first = run()
    assert first == run()
    assert [len(s.evicted) for s in first].count(1) == 1


# -- the core is sans-IO ----------------------------------------------------------------

_IO = {"asyncio", "socket", "selectors", "threading", "time", "subprocess"}
_DRIVERS = {
    "damper",
    "deadlines",
    "evict",
    "fastheal",
    "fullsync",
    "gossip",
    "heal",
    "join",
    "joinsender",
    "memnet",
    "network",
    "node",
    "ping",
    "pingreq",
    "protocol",
    "runtime",
}


def _imports(path: Path) -> set[str]:
    """Modules imported at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    names: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                names.update(alias.name for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
                names.add(sub.module)
    return names


def test_the_core_and_the_pure_modules_it_uses_import_no_io() -> None:
    package = Path(ringpop.membership.__file__).parent
    seen: set[str] = set()
    todo = ["core"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        imports = _imports(package / f"{name}.py")
        assert not imports & _IO, f"membership/{name}.py imports {imports & _IO}"
        for module in imports:
            if module.startswith("ringpop.membership."):
                todo.append(module.removeprefix("ringpop.membership."))
    assert "core" in seen
    assert "timers" in seen
    assert not seen & _DRIVERS, f"the core depends on drivers: {seen & _DRIVERS}"


def test_reap_makes_faulty_members_tombstones() -> None:
    core, _ = _core(suspect_period=5.0, faulty_period=20.0, tombstone_period=7.0)
    core.apply_changes([_change(B, "suspect"), _change(C, "faulty")], 0.0, peer=D)
    step = core.reap(1.0)
    assert [(a.new.address, a.new.status) for a in step.applied] == [(C, Status.TOMBSTONE)]
    assert step.deadline == 5.0  # B's suspect timer; C's tombstone one is due at 8.0
    assert core.timers.get(C) is not None
