"""The dashboard's model without I/O: ring layouts, partitions, viewpoint, timeline."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from ringpop.admin.client import AdminError, parse_stats
from ringpop.dashboard.model import ClusterView, NodeResult
from ringpop.dashboard.ringlayout import SPACE, build_ring, layout_of
from ringpop.membership.labels import IDENTITY_LABEL

A, B, C, D = (f"10.0.0.1:{3000 + i}" for i in range(4))


def stats_doc(members: dict[str, tuple[str, int]], checksum: int) -> dict[str, Any]:
    servers = [a for a, (status, _) in members.items() if status in ("alive", "suspect")]
    return {
        "membership": {
            "checksum": checksum,
            "members": [
                {"address": a, "status": s, "incarnationNumber": i} for a, (s, i) in members.items()
            ],
        },
        "ring": {"checksum": 1, "servers": servers},
        "protocol": {"timing": {"median": 1.5}, "protocolRate": 200},
    }


def ok(address: str, members: dict[str, tuple[str, int]], checksum: int) -> NodeResult:
    return NodeResult(address, stats=parse_stats(address, stats_doc(members, checksum)), rtt_ms=1)


def down(address: str) -> NodeResult:
    return NodeResult(address, error=AdminError(address, "/admin/stats", "unreachable", "gone"))


def kinds(view: ClusterView) -> list[tuple[str, str]]:
    return [(e.kind, e.address) for e in view.events]


def test_layout_shares_cover_the_space_and_follow_lookups() -> None:
    ring = build_ring([A, B, C], {})
    layout = layout_of(ring)
    assert sum(layout.shares.values()) == pytest.approx(1.0)
    total = sum(e - s for segs in layout.segments.values() for s, e in segs)
    assert total == SPACE
    # The stretches tile the hash space: no gap, no overlap.
    stretches = sorted(seg for segs in layout.segments.values() for seg in segs)
    assert stretches[0][0] == 0
    assert stretches[-1][1] == SPACE
    assert all(a[1] == b[0] for a, b in itertools.pairwise(stretches))
    single = layout_of(build_ring([A], {}))
    assert single.shares == {A: 1.0}
    assert layout_of(build_ring([], {})).shares == {}


def test_identity_labels_move_the_points() -> None:
    plain = layout_of(build_ring([A, B], {}))
    named = layout_of(build_ring([A, B], {A: {IDENTITY_LABEL: "sut"}}))
    assert plain.shares[A] != named.shares[A]


def test_timeline_of_a_member_going_suspect_faulty_and_back() -> None:
    now = [100.0]
    view = ClusterView([A], clock=lambda: now[0])
    alive = {A: ("alive", 1), B: ("alive", 1), C: ("alive", 1)}
    snap = view.update({A: ok(A, alive, 7), B: ok(B, alive, 7), C: ok(C, alive, 7)})
    assert kinds(view) == []  # the first round describes, it reports no change
    assert snap["viewpoint"] == A
    assert snap["split"] is False
    assert [m["address"] for m in snap["members"]] == [A, B, C]

    suspect = {**alive, C: ("suspect", 1)}
    view.update({A: ok(A, suspect, 8), B: ok(B, suspect, 8), C: down(C)})
    assert kinds(view) == [("down", C), ("suspect", C)]

    faulty = {**alive, C: ("faulty", 1)}
    snap = view.update({A: ok(A, faulty, 9), B: ok(B, faulty, 9), C: down(C)})
    assert kinds(view)[-2:] == [("faulty", C), ("ring", "")]
    assert snap["ring"]["servers"] == [A, B]
    assert sum(snap["ring"]["shares"].values()) == pytest.approx(1.0)

    back = {**alive, C: ("alive", 2), D: ("alive", 1)}
    view.update({A: ok(A, back, 10), B: ok(B, back, 10), C: ok(C, back, 10)})
    assert ("up", C) in kinds(view)
    assert ("alive", C) in kinds(view)
    assert ("join", D) in kinds(view)

    refuted = {**back, D: ("suspect", 1)}
    view.update({A: ok(A, refuted, 11)})
    view.update({A: ok(A, {**back, D: ("alive", 2)}, 12)})
    assert kinds(view)[-1] == ("refute", D)
    view.update({A: ok(A, {A: ("alive", 1)}, 13)})
    assert {("removed", B), ("removed", C), ("removed", D)} <= set(kinds(view))


def test_partitions_split_heal_and_viewpoint() -> None:
    view = ClusterView([C], clock=lambda: 0.0)
    one = {A: ("alive", 1), B: ("alive", 1), C: ("alive", 1)}
    view.update({A: ok(A, one, 1), B: ok(B, one, 1), C: ok(C, one, 1)})
    left = {A: ("alive", 1), B: ("alive", 1), C: ("faulty", 1)}
    right = {A: ("faulty", 1), B: ("faulty", 1), C: ("alive", 1)}
    snap = view.update({A: ok(A, left, 2), B: ok(B, left, 2), C: ok(C, right, 3)})
    assert snap["split"] is True
    assert [p["nodes"] for p in snap["partitions"]] == [[A, B], [C]]
    assert snap["viewpoint"] == A  # the seed C is in the smaller group
    assert {n["address"]: n["partition"] for n in snap["nodes"]} == {A: 0, B: 0, C: 1}
    assert ("split", "") in kinds(view)
    view.update({A: ok(A, one, 1), B: ok(B, one, 1), C: ok(C, one, 1)})
    assert ("heal", "") in kinds(view)
    assert view.snapshot["viewpoint"] == C


def test_nothing_answers_says_why() -> None:
    view = ClusterView([A], clock=lambda: 0.0)
    snap = view.update({A: down(A)})
    assert snap["problem"] == f"seed {A}: gone"
    assert snap["members"] == []
    assert snap["nodes"][0]["error"] == {"kind": "unreachable", "message": "gone"}
