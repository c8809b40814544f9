"""Every tunable of a ringpop node, with the defaults of ``spec/defaults.md``.

Durations are in **seconds** (floats), the Python convention; the spec's tables are
in milliseconds. Construct with keyword arguments and anything not given keeps its
default; every value is checked when the object is built and a bad one raises
:class:`OptionsError` naming the option::

    opts = Options(suspect_period=2.0, checksum_flavour="node")
    faster = opts.replace(ping_timeout=0.5)
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_type_hints

import msgspec
import msgspec.structs

from ringpop.checks import number_problem
from ringpop.errors import RingpopError
from ringpop.tlsconfig import TLSConfig

__all__ = [
    "MAX_REPLICA_POINTS",
    "ChecksumFlavour",
    "InSeconds",
    "Options",
    "OptionsError",
    "check_schedule",
]

ChecksumFlavour = Literal["go", "node"]


class OptionsError(RingpopError, ValueError):
    """An option has a value it cannot take."""


class _Positive(msgspec.Struct, frozen=True):
    unit: str
    zero: bool = False
    """Whether 0 is allowed too."""


class _AtLeast(msgspec.Struct, frozen=True):
    minimum: int
    maximum: int | None = None


Seconds = Annotated[float, _Positive("seconds")]
Seconds0 = Annotated[float, _Positive("seconds", zero=True)]
Ratio = Annotated[float, _Positive("")]
Count = Annotated[int, _AtLeast(1)]
Count0 = Annotated[int, _AtLeast(0)]

MAX_REPLICA_POINTS = 10_000
"""Most points a server may have on the ring (ringpop uses 100; a million servers'
worth of points for one would take the ring minutes and gigabytes to build)."""

_MS_RATIO = 200
"""A duration this many times its default (and >= 100 s) was meant in milliseconds."""


_LONGEST = 365 * 86_400
"""The longest duration an option may be (seconds): a year."""


class InSeconds(float):
    """A duration known to be in seconds (converted from milliseconds, say): the
    options never take it for milliseconds given by mistake, however long it is
    (``Options(suspect_period=InSeconds(5000))`` is 5000 s)."""

    __slots__ = ()


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """Tunables of one node. See ``docs/options.md`` for the full table."""

    # -- SWIM failure detection (defaults.md §1) --------------------------------
    min_protocol_period: Seconds = 0.2
    """Shortest gossip period; the first tick is delayed uniformly in [0, this]."""
    protocol_rate_interval: Seconds = 1.0
    """How often the period is recomputed from recent ping round trips."""
    ping_timeout: Seconds = 1.5
    ping_req_size: Count = 3
    """Helpers asked to ping a target indirectly (k)."""
    ping_req_timeout: Seconds = 5.0
    suspect_period: Seconds = 5.0
    """suspect -> faulty."""
    faulty_period: Seconds = 86_400.0
    """faulty -> tombstone (24 h)."""
    tombstone_period: Seconds = 60.0
    """tombstone -> evicted from the member list."""
    piggyback_factor: Count = 15
    max_reverse_full_syncs: Count0 = 5
    reverse_full_sync_timeout: Seconds = 5.0
    requires_app_in_ping: bool = False
    checksum_flavour: ChecksumFlavour = "go"
    """``"go"`` (default, ringpop-go and the conformance suite) or ``"node"``
    (ringpop-node with isCrossPlatform: by-address order, no trailing ``;``)."""
    auto_gossip: bool = True
    """Start the gossip loop as soon as the node is ready."""
    startup_sync_enabled: bool = True
    """Beyond the spec (wire-neutral): a node ready for less than ``startup_sync_window``
    pulls the membership of a member that pings it with a different checksum even when
    it answered with changes (a reverse full sync, §7.5); see docs/membership.md."""
    startup_sync_window: Seconds = 10.0
    startup_sync_interval: Seconds = 0.5
    """At most one such startup sync per this many seconds."""
    background_probes: Count0 = 0
    """Beyond the spec (wire-neutral, opt-in): each probe (ping, then ping-req if it
    fails) runs in the background and the next period starts on time, with at most
    this many probes in flight (then the period waits for one). 0: the period waits
    for the probe, as in ringpop-go and ringpop-node, which slows gossip while
    members are dead (2 x ``ping_timeout`` per dead member per round; docs/scale.md)."""
    agreement_shortcut: bool = False
    """Beyond the spec (wire-neutral, opt-in): a ping or ping-req whose requester's
    checksum equals ours is answered with no changes (they count as sent) and its
    own changes are not applied; halves the piggyback tail after a cold start of
    many nodes (docs/scale.md). Off: ringpop-go and ringpop-node piggyback anyway."""

    # -- Lifeguard (beyond the originals; opt-in, wire-neutral) -------------------
    lifeguard_enabled: bool = False
    """Local health multiplier and dynamic suspicion timeouts (docs/membership.md)."""
    lifeguard_max_multiplier: Count = 8
    """Highest local health multiplier; timeouts stretch by at most this + 1."""
    lifeguard_suspicion_mult: Ratio = 25.0
    """min suspicion timeout = this x max(1, log10 N) x ``min_protocol_period``."""
    lifeguard_confirmations: Count = 3
    """Independent confirmations (k) that shrink a suspicion timeout to its minimum."""

    # -- join / bootstrap (defaults.md §2) --------------------------------------
    join_size: Count = 3
    join_parallelism: Count = 2
    join_timeout: Seconds = 1.0
    max_join_duration: Seconds = 120.0
    join_retry_delay_min: Seconds = 0.1
    join_retry_delay_max: Seconds = 60.0
    join_forever: bool = False
    """Never give up bootstrapping: after ``max_join_duration`` start with whichever
    members answered, or keep trying (backoff capped at ``join_retry_delay_max``)
    while none has, instead of raising ``BootstrapError``."""
    member_blacklist: tuple[str, ...] = ()
    """Regular expressions; joiners whose address matches one are refused."""

    # -- hash ring (defaults.md §3) ----------------------------------------------
    replica_points: Annotated[int, _AtLeast(1, MAX_REPLICA_POINTS)] = 100
    """Points per server on the ring, 1 to ``MAX_REPLICA_POINTS``; 100 in every ringpop."""

    # -- partition healing (defaults.md §5) --------------------------------------
    heal_enabled: bool = True
    heal_period: Seconds = 30.0
    heal_base_probability: Ratio = 3.0
    heal_max_failures: Count = 10
    heal_join_timeout: Seconds = 1.0
    heal_ping_timeout: Seconds = 1.0
    # Beyond the spec, wire-neutral (docs/membership.md#fast-heal).
    fast_heal_enabled: bool = True
    """Heal as soon as a member held faulty/tombstone calls us or answers a probe."""
    fast_heal_probe_interval: Seconds = 1.0
    """Mean time between probes (one heal attempt with a member held down), jittered."""
    fast_heal_probe_window: Seconds = 600.0
    """Members held down longer than this are left to the periodic healer."""
    fast_heal_retry_delay: Seconds = 0.5
    """Between the attempts of one fast heal while it is in the reincarnation phase."""
    fast_heal_max_attempts: Count = 8
    fast_heal_min_interval: Seconds = 0.5
    """Fast heals start at most this often (and after up to half of it at random)."""
    cautious_rumours: bool = True
    """Faulty/tombstone changes about a member we hold alive, from a peer (or with a
    source) we hold suspect/faulty/tombstone or do not know (join lists excepted),
    about a member that spoke to us within the last suspect period, or repeating one
    doubted at that incarnation, are applied as suspect if we hold the member alive or
    suspect (our own timer decides); an evicted member's tombstone is no longer
    piggybacked (docs/membership.md#late-news)."""

    # -- self-eviction (defaults.md §6) ------------------------------------------
    self_evict_ping_ratio: Ratio = 0.4
    self_evict_ping_enabled: bool = True

    # -- flap damping (defaults.md §7, ringpop-node) -----------------------------
    damp_scoring_enabled: bool = True
    """Score members for flapping and run the damp-req sub-protocol (node does)."""
    damp_evict_from_ring: bool = False
    """Take damped members out of the hash ring for ``damp_suppress_duration`` (node only
    logs "would have been damped"; opt-in, wire-neutral)."""
    damp_penalty: Count = 500
    damp_max_score: Count = 10_000
    damp_suppress_limit: Count = 5000
    damp_reuse_limit: Count = 2500
    damp_half_life: Seconds = 300.0
    damp_decay_interval: Seconds = 1.0
    damp_suppress_duration: Seconds = 3600.0
    damp_req_interval: Seconds = 60.0
    """How often flappers are confirmed with other members (damp-req)."""
    damp_req_fanout: Count = 6
    damp_req_min_responses: Count = 3
    damp_req_timeout: Seconds = 1.0
    damped_max_percentage: Ratio = 10.0
    """No more members than this percentage are damped at once."""

    # -- bounded input from peers (beyond the originals; wire-neutral) -----------
    max_members: Count = 100_000
    """Members tracked at most; changes that would add more are dropped."""
    max_changes_per_message: Count = 100_000
    """A message with more changes is refused whole."""
    max_message_bytes: Count = 16 * 1024 * 1024
    """A protocol message body larger than this is refused."""

    # -- labels (defaults.md §8) -------------------------------------------------
    label_max_key_size: Count = 32
    label_max_value_size: Count = 128
    label_max_count: Count0 = 5

    # -- forwarding, ringpop-node style /proxy/req (defaults.md §9) -------------
    proxy_max_retries: Count0 = 5
    """Beyond node's 3: the default budget (0+1+2+4+4 = 11 s) outlasts failure detection
    (a killed owner leaves the ring ~``suspect_period`` + 1-2 s after it died)."""
    proxy_retry_schedule: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 4.0)
    """Delay before retry #1, #2, ... (seconds); the last entry repeats if needed.
    ringpop-node's is ``(0, 1, 3.5)`` with 3 retries, which ends before a dead owner
    leaves the ring."""
    proxy_failover_methods: tuple[str, ...] = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
    """Methods that may go at once to the key's next owner when the owner cannot be
    reached (refused, dropped, timed out); ``()`` turns failover off. Beyond node."""
    proxy_timeout: Seconds = 30.0
    proxy_reroute_retries: bool = True
    """Look the keys up again before each retry (a new owner gets the retry)."""
    skip_lookup_on_retry: bool | None = None
    """Deprecated alias: ``skip_lookup_on_retry=True`` is ``proxy_reroute_retries=False``
    (warns; read ``proxy_reroute_retries``, this one is always ``None``)."""
    enforce_consistency: bool = True
    """Refuse /proxy/req whose ring checksum differs from ours."""
    enforce_key_consistency: bool = False
    """Refuse /proxy/req for keys we do not own (key-consistent forwarding)."""
    body_limit: Count0 = 1_048_576
    """Largest HTTP body forwarded (bytes); larger requests get 413."""
    backpressure_enabled: bool = False
    max_inflight_requests: Count = 5000
    max_event_loop_lag: Seconds = 1.5
    lag_sample_interval: Seconds = 1.0

    # -- forwarding, ringpop-go style (defaults.md §9) ---------------------------
    forward_max_retries: Count0 = 3
    forward_retry_schedule: tuple[float, ...] = (3.0, 6.0, 12.0)
    forward_timeout: Seconds = 3.0
    forward_reroute_retries: bool = False

    # -- transport (defaults.md §11) ---------------------------------------------
    init_timeout: Seconds = 2.0
    """TChannel handshake deadline for peers that connect and say nothing."""
    connect_timeout: Seconds = 3.0
    """Upper bound on one TCP connect + TChannel handshake to a peer (each call is
    also bounded by its own timeout)."""
    drain_timeout: Seconds0 = 5.0
    """How long :meth:`Ringpop.close` lets in-flight calls finish before closing
    connections (0: at once)."""
    max_arg_size: Count = 16 * 1024 * 1024
    """Largest arg1+arg2+arg3 of one received call (bytes); a peer sending more gets a
    protocol error and its connection is closed."""
    stale_period: Seconds = 1.5
    """A connection whose calls time out with nothing read for this long is aborted,
    with what is queued on it (tchannel-node's ``CONN_STALE_PERIOD``)."""
    tls: TLSConfig | None = None
    """TLS (mutual TLS with a CA) on every TChannel connection; Python-only clusters."""

    def __post_init__(self) -> None:
        for name in ("proxy_retry_schedule", "forward_retry_schedule", "member_blacklist"):
            value = getattr(self, name)
            if isinstance(value, list):  # as from_mapping() accepts them
                msgspec.structs.force_setattr(self, name, tuple(value))
        if isinstance(self.member_blacklist, str):  # one pattern, not one per character
            msgspec.structs.force_setattr(self, "member_blacklist", (self.member_blacklist,))
        methods = self.proxy_failover_methods
        if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
            raise OptionsError("proxy_failover_methods must be a tuple of HTTP method names")
        msgspec.structs.force_setattr(
            self, "proxy_failover_methods", tuple(m.upper() for m in methods)
        )
        for name, rule in _rules().items():
            _check_field(name, getattr(self, name), rule)
        if self.skip_lookup_on_retry is not None:
            _deprecated_skip_lookup(self)
        if self.tls is not None and not isinstance(self.tls, TLSConfig):
            raise OptionsError(f"tls must be a TLSConfig or None, not {type(self.tls).__name__}")
        if self.checksum_flavour not in ("go", "node"):
            raise OptionsError(
                f"checksum_flavour must be 'go' or 'node', not {self.checksum_flavour!r}"
            )
        if self.join_retry_delay_min > self.join_retry_delay_max:
            raise OptionsError(
                "join_retry_delay_min must not exceed join_retry_delay_max "
                f"({self.join_retry_delay_min} > {self.join_retry_delay_max})"
            )
        if self.self_evict_ping_ratio > 1:
            raise OptionsError(
                f"self_evict_ping_ratio is a fraction of members, at most 1, "
                f"not {self.self_evict_ping_ratio}"
            )
        for name in ("proxy_retry_schedule", "forward_retry_schedule"):
            check_schedule(name, getattr(self, name))
        for pattern in self.member_blacklist:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise OptionsError(
                    f"member_blacklist entry {pattern!r} is not a regular expression: {error}"
                ) from None

    def replace(self, **changes: Any) -> Options:
        """A copy with some options changed (validated like the original)."""
        try:
            return msgspec.structs.replace(self, **changes)
        except TypeError as error:
            raise OptionsError(str(error)) from None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Options:
        """Build from a mapping (e.g. parsed configuration); unknown keys are an error."""
        known = set(cls.__struct_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise OptionsError(f"unknown option(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value for key, value in values.items()
        }
        return cls(**converted)


@functools.cache
def _rules() -> dict[str, _Positive | _AtLeast | type[bool]]:
    """Field name -> its check, read from the annotations once."""
    rules: dict[str, _Positive | _AtLeast | type[bool]] = {}
    for name, hint in get_type_hints(Options, include_extras=True).items():
        if hint is bool:
            rules[name] = bool
        for marker in getattr(hint, "__metadata__", ()):
            if isinstance(marker, _Positive | _AtLeast):
                rules[name] = marker
    return rules


def _check_field(name: str, value: object, rule: _Positive | _AtLeast | type[bool]) -> None:
    if rule is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{name} must be True or False, not {value!r}")
        return
    if isinstance(rule, _AtLeast):
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{name} must be a whole number, not {value!r}")
        if value < rule.minimum:
            raise OptionsError(f"{name} must be >= {rule.minimum}, not {value}")
        if rule.maximum is not None and value > rule.maximum:
            raise OptionsError(f"{name} must be <= {rule.maximum}, not {value}")
        return
    problem = number_problem(value, unit=rule.unit, zero_ok=rule.zero)
    if problem is not None:
        raise OptionsError(f"{name} {problem}, not {value!r}")
    if rule.unit != "seconds" or not isinstance(value, int | float):
        return
    if type(value) is not InSeconds:
        default = Options.__struct_defaults__[Options.__struct_fields__.index(name)]
        if value >= 100 and value >= _MS_RATIO * default:
            raise OptionsError(
                f"{name}={value:g} looks like milliseconds: durations are in seconds "
                f"(default {default:g}); for {value:g} ms pass {name}={value / 1000:g}"
            )
    if value > _LONGEST:
        raise OptionsError(f"{name}={value:g} s is more than a year, the longest a duration may be")


def _deprecated_skip_lookup(options: Options) -> None:
    """Map the deprecated ``skip_lookup_on_retry`` onto ``proxy_reroute_retries``."""
    skip = options.skip_lookup_on_retry
    if not isinstance(skip, bool):
        raise OptionsError(f"skip_lookup_on_retry must be True or False, not {skip!r}")
    warnings.warn(
        f"Options(skip_lookup_on_retry=...) is deprecated: use proxy_reroute_retries={not skip}",
        DeprecationWarning,
        stacklevel=3,
    )
    msgspec.structs.force_setattr(options, "proxy_reroute_retries", not skip)
    msgspec.structs.force_setattr(options, "skip_lookup_on_retry", None)


def check_schedule(name: str, schedule: object) -> None:
    """``OptionsError`` unless ``schedule`` (option ``name``) is a non-empty tuple of
    finite delays in seconds, none negative."""
    if not isinstance(schedule, tuple) or not schedule:
        raise OptionsError(f"{name} must be a non-empty list or tuple of delays in seconds")
    for delay in schedule:
        problem = number_problem(delay, zero_ok=True)
        if problem is not None:
            raise OptionsError(f"{name} entries {problem}, not {delay!r}")
