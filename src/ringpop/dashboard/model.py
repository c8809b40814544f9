"""What the dashboard shows, built from one polling round's answers (pure: no I/O).

Every round the poller hands :meth:`ClusterView.update` one :class:`NodeResult` per
node it asked (``/admin/stats`` parsed, or the :class:`AdminError` it got, with the
round-trip time). The view groups the answering nodes by membership checksum
(partitions), takes the member list of the biggest group (the seed's group on a tie)
as *the* view, compares it with the previous round's to emit timeline
:class:`Event`\\ s (join, suspect, faulty, refute, leave, removed, ring changes,
splits, nodes not answering) and returns the JSON snapshot the page renders.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ringpop.admin.client import AdminError, MemberRow, NodeStats
from ringpop.admin.views import group_by_view
from ringpop.dashboard.ringlayout import build_ring, layout_of
from ringpop.hashing import fingerprint32
from ringpop.membership.labels import IDENTITY_LABEL

__all__ = ["ClusterView", "Event", "NodeResult"]

EVENTS_KEPT = 200
RING_LAYOUTS_KEPT = 8


@dataclass(frozen=True)
class NodeResult:
    """One node's answers in one round."""

    address: str
    stats: NodeStats | None = None
    error: AdminError | None = None
    rtt_ms: float | None = None  # round trip of /admin/stats as the dashboard saw it
    state: Mapping[str, Any] | None = None  # /admin/state (nodes keeping state)


@dataclass(frozen=True)
class Event:
    """One entry of the timeline."""

    seq: int
    at: float  # wall-clock seconds
    kind: str  # join suspect faulty refute alive leave tombstone removed ring split heal
    #            down up
    address: str
    text: str

    def to_json(self) -> dict[str, Any]:
        """The event as the page reads it."""
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "address": self.address,
            "text": self.text,
        }


def ring_id(servers: Sequence[str], labels: Mapping[str, Mapping[str, str]]) -> str:
    """A short name of a ring (its servers and their identities) for the page's cache."""
    text = ";".join(f"{s}#{labels.get(s, {}).get(IDENTITY_LABEL, '')}" for s in sorted(servers))
    return f"{fingerprint32(text):08x}-{len(servers)}"


class ClusterView:
    """The dashboard's model of the cluster, updated once per polling round."""

    def __init__(self, seeds: Sequence[str], *, clock: Callable[[], float]) -> None:
        self.seeds = list(seeds)
        self.clock = clock
        self.seq = 0
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self._event_seq = 0
        self._members: dict[str, MemberRow] | None = None  # the previous round's view
        self._servers: tuple[str, ...] | None = None
        self._partitions = 1
        self._down: set[str] = set()
        self._layouts: dict[str, dict[str, Any]] = {}
        self.snapshot: dict[str, Any] = {}

    # -- events ---------------------------------------------------------------------

    def _emit(self, kind: str, address: str, text: str) -> None:
        self._event_seq += 1
        self.events.append(Event(self._event_seq, self.clock(), kind, address, text))

    def _member_events(self, members: Mapping[str, MemberRow]) -> None:
        previous = self._members
        if previous is None:
            return  # the first round describes the cluster; it changes nothing
        for address, member in members.items():
            old = previous.get(address)
            if old is None:
                if member.status == "alive":
                    self._emit("join", address, f"{address} joined")
                else:
                    self._emit(member.status, address, f"{address} appeared as {member.status}")
            elif old.status != member.status:
                if member.status == "alive" and member.incarnation > old.incarnation:
                    kind = "refute" if old.status == "suspect" else "alive"
                    verb = "refuted suspicion" if kind == "refute" else "is alive again"
                    text = f"{address} {verb} (incarnation {member.incarnation})"
                else:
                    kind = member.status
                    text = f"{address} {old.status} -> {member.status}"
                self._emit(kind, address, text)
        for address in previous.keys() - members.keys():
            self._emit("removed", address, f"{address} is no longer in the member list")

    def _ring_events(self, servers: tuple[str, ...]) -> None:
        old = self._servers
        if old is not None and old != servers:
            added = sorted(set(servers) - set(old))
            removed = sorted(set(old) - set(servers))
            parts = [*(f"+{a}" for a in added), *(f"-{r}" for r in removed)]
            self._emit("ring", "", f"ring changed: {' '.join(parts)} ({len(servers)} servers)")
        self._servers = servers

    # -- the round ------------------------------------------------------------------

    def update(self, results: Mapping[str, NodeResult]) -> dict[str, Any]:
        """Take one round's answers; the new snapshot (also kept in :attr:`snapshot`)."""
        self.seq += 1
        answering = {a: r.stats for a, r in results.items() if r.stats is not None}
        groups = _partitions(answering)
        viewpoint = _viewpoint(groups, self.seeds)
        for address, result in results.items():
            if result.error is not None and address not in self._down:
                self._down.add(address)
                self._emit("down", address, f"{address} does not answer: {result.error.message}")
            elif result.stats is not None and address in self._down:
                self._down.discard(address)
                self._emit("up", address, f"{address} answers again")
        if len(groups) > 1 and self._partitions <= 1:
            self._emit("split", "", f"cluster split into {len(groups)} checksum partitions")
        elif len(groups) == 1 and self._partitions > 1:
            self._emit("heal", "", "one checksum again: the partitions healed")
        if groups:
            self._partitions = len(groups)
        members: dict[str, MemberRow] = {}
        servers: tuple[str, ...] = ()
        if viewpoint is not None:
            view = answering[viewpoint]
            members = {m.address: m for m in view.members}
            servers = view.ring_servers
            self._member_events(members)
            self._ring_events(servers)
            self._members = members
        labels = {a: m.labels for a, m in members.items()}
        rid = ring_id(servers, labels)
        layout = self._layout(rid, servers, labels)
        shares = layout["shares"]
        partition_of = {a: i for i, group in enumerate(groups) for a in group[1]}
        self.snapshot = {
            "seq": self.seq,
            "time": self.clock(),
            "seeds": self.seeds,
            "viewpoint": viewpoint,
            "ring": {"id": rid, "servers": list(servers), "shares": shares},
            "members": [_member_json(m, shares) for m in sorted(members.values(), key=_by_addr)],
            "nodes": [
                _node_json(results[a], partition_of.get(a), members.get(a)) for a in sorted(results)
            ],
            "partitions": [{"checksum": checksum, "nodes": nodes} for checksum, nodes in groups],
            "split": len(groups) > 1,
            "problem": _problem(results, self.seeds),
            "events": [e.to_json() for e in self.events],
        }
        return self.snapshot

    def _layout(
        self, rid: str, servers: Sequence[str], labels: Mapping[str, Mapping[str, str]]
    ) -> dict[str, Any]:
        layout = self._layouts.get(rid)
        if layout is None:
            layout = layout_of(build_ring(servers, labels)).to_json()
            layout["id"] = rid
            if len(self._layouts) >= RING_LAYOUTS_KEPT:
                self._layouts.pop(next(iter(self._layouts)))
            self._layouts[rid] = layout
        return layout

    def ring_layout(self, rid: str) -> dict[str, Any] | None:
        """A ring layout the snapshots named (the page fetches it when the ring changes)."""
        return self._layouts.get(rid)

    def lookup_ring(self) -> tuple[str | None, list[str], dict[str, dict[str, str]]]:
        """The viewpoint node, its ring servers and the members' labels (for lookups)."""
        snap = self.snapshot
        members = {m["address"]: m.get("labels", {}) for m in snap.get("members", [])}
        return snap.get("viewpoint"), list(snap.get("ring", {}).get("servers", [])), members


def _by_addr(member: MemberRow) -> str:
    return member.address


def _partitions(answering: Mapping[str, NodeStats]) -> list[tuple[int, list[str]]]:
    """Answering nodes grouped by the members they hold, biggest group first, each with
    its first node's membership checksum (nodes of two checksum flavours holding the
    same members are one group: :func:`~ringpop.admin.views.group_by_view`)."""
    return [(answering[g[0]].membership_checksum, g) for g in group_by_view(answering)]


def _viewpoint(groups: Sequence[tuple[int, list[str]]], seeds: Sequence[str]) -> str | None:
    """Whose member list is shown: the seed if it is in a biggest group, else the first
    node of the biggest group."""
    if not groups:
        return None
    size = len(groups[0][1])
    for seed in seeds:
        if any(seed in nodes for _, nodes in groups if len(nodes) == size):
            return seed
    return groups[0][1][0]


def _member_json(member: MemberRow, shares: Mapping[str, float]) -> dict[str, Any]:
    return {
        "address": member.address,
        "status": member.status,
        "incarnation": member.incarnation,
        "labels": member.labels,
        "identity": member.labels.get(IDENTITY_LABEL, member.address),
        "share": shares.get(member.address, 0.0),
        "dampScore": member.damp_score,
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _node_json(
    result: NodeResult, partition: int | None, member: MemberRow | None
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "address": result.address,
        "ok": result.stats is not None,
        "rttMs": None if result.rtt_ms is None else round(result.rtt_ms, 2),
        "partition": partition,
        "status": None if member is None else member.status,
    }
    if result.error is not None:
        node["error"] = {"kind": result.error.kind, "message": result.error.message}
    stats = result.stats
    if stats is not None:
        raw = stats.raw
        protocol = _dict(raw.get("protocol"))
        timing = _dict(protocol.get("timing"))
        memory = _dict(_dict(raw.get("process")).get("memory"))
        own = stats.own
        node.update(
            checksum=stats.membership_checksum,
            ringChecksum=stats.ring_checksum,
            incarnation=None if own is None else own.incarnation,
            selfStatus=None if own is None else own.status,
            counts=stats.counts(),
            protocolMedianMs=_number(timing.get("median")),
            protocolRate=_number(protocol.get("protocolRate")),
            rss=_number(memory.get("rss")),
            version=raw.get("version") if isinstance(raw.get("version"), str) else None,
        )
    if result.state is not None:
        handoff = result.state.get("handoff")
        node["keys"] = _number(result.state.get("keys"))
        node["handoffs"] = _number(handoff.get("pending")) if isinstance(handoff, dict) else None
    return node


def _problem(results: Mapping[str, NodeResult], seeds: Sequence[str]) -> str | None:
    """A banner line when nothing answers (an unreachable seed, not a ringpop node...)."""
    if any(r.stats is not None for r in results.values()):
        return None
    errors = [results[s].error for s in seeds if s in results and results[s].error is not None]
    if errors:
        return "; ".join(f"seed {e.address}: {e.message}" for e in errors if e is not None)
    return "no node answers yet"
