"""What each ringpop stat key means, as a Prometheus metric (name, help, labels).

ringpop's stat keys are ringpop-node's statsd names (``requestProxy.send.error``,
``ping-req.send``); statsd keeps them. Prometheus gets conventional metrics instead:
snake_case, units and ``_total`` in the names, HELP saying what is counted, and one
metric with a label where node has one key per value (``result="error"``). Keys
missing here still work: their name is derived (:func:`derived_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ringpop.stats.base import Kind

__all__ = ["CATALOG", "MetricSpec", "derived_name", "lookup"]


@dataclass(frozen=True)
class MetricSpec:
    """One Prometheus metric: its name, kind, HELP, label names and known values."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    values: tuple[tuple[str, ...], ...] = ()
    """Label values that exist from the start (so their series are exported at 0)."""
    buckets: tuple[float, ...] = field(default=())


_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_STATUSES = ("alive", "suspect", "faulty", "leave", "tombstone")
_RETRY_OUTCOMES = ("scheduled", "succeeded", "reroute", "failed", "aborted")
C, G, T = Kind.COUNTER, Kind.GAUGE, Kind.TIMING


def _spec(name: str, kind: Kind, help: str, /, **labels: tuple[str, ...]) -> MetricSpec:
    names = tuple(labels)
    values = tuple(zip(*labels.values(), strict=True)) if labels else ()
    buckets = _LATENCY if kind is T else ()
    return MetricSpec(name, kind, help, names, values, buckets)


_FORWARDED = _spec(
    "ringpop_forwarded_requests_total",
    C,
    "HTTP requests forwarded to their owner over /proxy/req (attempts), by result.",
    result=("success", "error"),
)
_RETRIES = _spec(
    "ringpop_forward_retries_total",
    C,
    "Retries of forwarded HTTP requests, by outcome (scheduled, succeeded, reroute, "
    "failed: retries ran out, aborted: keys diverged).",
    outcome=_RETRY_OUTCOMES,
)
_UPDATES = _spec(
    "ringpop_membership_updates_total",
    C,
    "Membership changes applied, by the member's new status.",
    status=_STATUSES,
)
_SYNCS = _spec(
    "ringpop_full_syncs_total",
    C,
    "Full membership syncs, by kind (sent: full, reverse, startup; reverse-skipped; "
    "other-flavour: a full sent to a peer whose checksum is ours in the other flavour).",
    kind=("full", "reverse", "startup", "reverse-skipped", "other-flavour"),
)

CATALOG: dict[str, tuple[MetricSpec, tuple[str, ...]]] = {
    "ping.send": (_spec("ringpop_pings_sent_total", C, "Direct pings sent to members."), ()),
    "ping.recv": (_spec("ringpop_pings_received_total", C, "Pings received from members."), ()),
    "ping-req.send": (
        _spec("ringpop_ping_requests_sent_total", C, "Indirect ping requests (ping-req) sent."),
        (),
    ),
    "ping-req.recv": (
        _spec("ringpop_ping_requests_received_total", C, "Indirect ping requests received."),
        (),
    ),
    "ping-req-ping.send": (
        _spec(
            "ringpop_ping_req_pings_sent_total",
            C,
            "Pings sent on behalf of another member's ping-req.",
        ),
        (),
    ),
    "join.send": (_spec("ringpop_joins_sent_total", C, "Join requests sent (bootstrap)."), ()),
    "join.recv": (_spec("ringpop_joins_received_total", C, "Join requests answered."), ()),
    "ring.changed": (_spec("ringpop_ring_changes_total", C, "Changes of the hash ring."), ()),
    "ring.checksum-computed": (
        _spec("ringpop_ring_checksums_computed_total", C, "Ring checksum computations."),
        (),
    ),
    "ring.server-added": (
        _spec("ringpop_ring_servers_added_total", C, "Servers added to the hash ring."),
        (),
    ),
    "ring.server-removed": (
        _spec("ringpop_ring_servers_removed_total", C, "Servers removed from the hash ring."),
        (),
    ),
    "requestProxy.send.success": (_FORWARDED, ("success",)),
    "requestProxy.send.error": (_FORWARDED, ("error",)),
    "requestProxy.recv": (
        _spec(
            "ringpop_forwarded_requests_received_total",
            C,
            "HTTP requests other nodes forwarded here (/proxy/req) and the handler served.",
        ),
        (),
    ),
    "requestProxy.failover": (
        _spec(
            "ringpop_forward_failovers_total",
            C,
            "Forwarded requests sent to the key's next owner because the owner was "
            "unreachable (idempotent methods).",
        ),
        (),
    ),
    "requestProxy.checksumsDiffer": (
        _spec(
            "ringpop_forward_checksum_mismatches_total",
            C,
            "Forwarded requests received with a ring checksum different from ours.",
        ),
        (),
    ),
    "requestProxy.backpressure": (
        _spec(
            "ringpop_forward_backpressure_refusals_total",
            C,
            "Forwarded requests refused with 429 because this node was overloaded.",
        ),
        (),
    ),
    "requestProxy.send": (
        _spec(
            "ringpop_forward_duration_seconds",
            T,
            "Time of one /proxy/req attempt, from sending to the owner's answer or failure.",
        ),
        (),
    ),
    "heal.triggered": (
        _spec("ringpop_heals_triggered_total", C, "Partition heal attempts started."),
        (),
    ),
    "full-sync": (_SYNCS, ("full",)),
    "full-sync.reverse": (_SYNCS, ("reverse",)),
    "full-sync.startup": (_SYNCS, ("startup",)),
    "full-sync.reverse-skipped": (_SYNCS, ("reverse-skipped",)),
    "full-sync.other-flavour": (_SYNCS, ("other-flavour",)),
    "damper.damped": (_spec("ringpop_members_damped_total", C, "Members damped for flapping."), ()),
    "damp-req.recv": (
        _spec("ringpop_damp_requests_received_total", C, "Damp requests (damp-req) answered."),
        (),
    ),
    "lifeguard.confirmation": (
        _spec(
            "ringpop_lifeguard_confirmations_total",
            C,
            "Independent suspicion confirmations (Lifeguard).",
        ),
        (),
    ),
    "num-members": (_spec("ringpop_members", G, "Members in the member list (any status)."), ()),
    "checksum": (_spec("ringpop_membership_checksum", G, "Current membership checksum."), ()),
    "ring.servers": (_spec("ringpop_ring_servers", G, "Servers in the hash ring."), ()),
    "ring.checksum": (_spec("ringpop_ring_checksum", G, "Current hash ring checksum."), ()),
    "lifeguard.lhm": (
        _spec("ringpop_lifeguard_health_multiplier", G, "Lifeguard local health multiplier."),
        (),
    ),
    "damp-score": (_spec("ringpop_damp_score", G, "Last flap-damping score computed."), ()),
    "ping": (_spec("ringpop_ping_rtt_seconds", T, "Round-trip time of direct pings."), ()),
    "ping-req": (
        _spec("ringpop_ping_req_rtt_seconds", T, "Round-trip time of indirect ping requests."),
        (),
    ),
    "protocol.frequency": (
        _spec("ringpop_protocol_period_seconds", T, "Time between two gossip protocol ticks."),
        (),
    ),
}
for _status in _STATUSES:
    CATALOG[f"membership-update.{_status}"] = (_UPDATES, (_status,))

_REFUSED = _spec(
    "ringpop_input_refused_total",
    C,
    "Peer input refused by the input limits, by reason.",
    reason=(),
)
_RETRY_KEYS = {f"requestProxy.retry.{o}": (_RETRIES, (o,)) for o in _RETRY_OUTCOMES}
CATALOG.update(_RETRY_KEYS)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID = re.compile(r"[^a-z0-9_]+")


def derived_name(key: str, kind: Kind) -> str:
    """A Prometheus name for a key not in the catalogue: ``fooBar.baz`` ->
    ``ringpop_foo_bar_baz_total`` (``_seconds`` for timings)."""
    base = "ringpop_" + _INVALID.sub("_", _CAMEL.sub("_", key).lower()).strip("_")
    if kind is Kind.COUNTER:
        return base + "_total"
    if kind is Kind.TIMING:
        return base + "_seconds"
    return base


def lookup(key: str, kind: Kind) -> tuple[MetricSpec, tuple[str, ...]]:
    """The metric of ``key`` and this key's label values."""
    found = CATALOG.get(key)
    if found is not None and found[0].kind is kind:
        return found
    if kind is Kind.COUNTER and key.startswith("limits.refused."):
        return _REFUSED, (key.removeprefix("limits.refused."),)
    help = f"ringpop stat {key!r} ({kind.name.lower()}; not in ringpop's metric catalogue)"
    return _spec(derived_name(key, kind), kind, help), ()
