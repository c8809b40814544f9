"""Options: the defaults of spec/defaults.md and clear errors for bad values."""

from __future__ import annotations

from typing import Any

import pytest

from ringpop.options import Options, OptionsError


def test_defaults_match_the_spec() -> None:
    o = Options()
    assert (o.min_protocol_period, o.ping_timeout, o.ping_req_size, o.ping_req_timeout) == (
        0.2,
        1.5,
        3,
        5.0,
    )
    assert (o.suspect_period, o.faulty_period, o.tombstone_period) == (5.0, 86_400.0, 60.0)
    assert (o.piggyback_factor, o.max_reverse_full_syncs, o.reverse_full_sync_timeout) == (
        15,
        5,
        5.0,
    )
    assert (o.join_size, o.join_parallelism, o.join_timeout, o.max_join_duration) == (
        3,
        2,
        1.0,
        120.0,
    )
    assert (o.join_retry_delay_min, o.join_retry_delay_max) == (0.1, 60.0)
    assert o.replica_points == 100
    assert (o.heal_period, o.heal_base_probability, o.heal_max_failures) == (30.0, 3.0, 10)
    assert (o.heal_join_timeout, o.heal_ping_timeout) == (1.0, 1.0)
    assert o.self_evict_ping_ratio == 0.4
    assert (o.label_max_key_size, o.label_max_value_size, o.label_max_count) == (32, 128, 5)
    # beyond node's (3, (0, 1, 3.5)): the budget outlasts failure detection (issue 12)
    assert (o.proxy_max_retries, o.proxy_retry_schedule, o.proxy_timeout) == (
        5,
        (0.0, 1.0, 2.0, 4.0, 4.0),
        30.0,
    )
    assert (o.enforce_consistency, o.enforce_key_consistency, o.body_limit) == (
        True,
        False,
        1_048_576,
    )
    assert (o.max_inflight_requests, o.max_event_loop_lag) == (5000, 1.5)
    assert (o.forward_max_retries, o.forward_retry_schedule, o.forward_timeout) == (
        3,
        (3.0, 6.0, 12.0),
        3.0,
    )
    assert o.checksum_flavour == "go"
    assert o.init_timeout == 2.0
    # The channel's own defaults (tchannel/options.py), reachable from here.
    assert (o.connect_timeout, o.drain_timeout, o.max_arg_size) == (3.0, 5.0, 16 * 1024 * 1024)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ping_timeout": -1}, "ping_timeout must be a positive, finite number of seconds, not -1"),
        ({"ping_timeout": 0}, "ping_timeout must be a positive, finite number of seconds, not 0"),
        ({"ping_timeout": "1"}, "ping_timeout must be a number of seconds, not '1'"),
        (
            {"suspect_period": float("inf")},
            "suspect_period must be a positive, finite number of seconds, not inf",
        ),
        ({"ping_req_size": 0}, "ping_req_size must be >= 1"),
        ({"ping_req_size": 2.5}, "ping_req_size must be a whole number"),
        ({"replica_points": True}, "replica_points must be a whole number, not True"),
        ({"replica_points": 10_001}, "replica_points must be <= 10000, not 10001"),
        ({"checksum_flavour": "rust"}, "checksum_flavour must be 'go' or 'node'"),
        ({"auto_gossip": "yes"}, "auto_gossip must be True or False"),
        ({"proxy_retry_schedule": ()}, "proxy_retry_schedule must be a non-empty list or tuple"),
        (
            {"proxy_retry_schedule": (0, -1)},
            "entries must be a finite number of seconds >= 0, not -1",
        ),
        ({"forward_retry_schedule": (1, "x")}, "entries must be a number of seconds, not 'x'"),
        ({"join_retry_delay_min": 5, "join_retry_delay_max": 1}, "must not exceed"),
        ({"self_evict_ping_ratio": 1.5}, "at most 1"),
        ({"member_blacklist": ("[",)}, "is not a regular expression"),
        ({"drain_timeout": -1}, "drain_timeout must be a finite number of seconds >= 0, not -1"),
        (
            {"connect_timeout": 0},
            "connect_timeout must be a positive, finite number of seconds, not 0",
        ),
        ({"max_arg_size": 0}, "max_arg_size must be >= 1"),
    ],
)
def test_bad_values_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        Options(**changes)


def test_zero_drain_timeout_is_allowed() -> None:
    assert Options(drain_timeout=0).drain_timeout == 0


def test_replace_validates_and_keeps_the_rest() -> None:
    o = Options(suspect_period=2.0)
    p = o.replace(ping_timeout=0.5)
    assert (p.suspect_period, p.ping_timeout) == (2.0, 0.5)
    assert o.ping_timeout == 1.5
    with pytest.raises(OptionsError, match="ping_timeout"):
        o.replace(ping_timeout=-2)
    with pytest.raises(OptionsError, match="bogus"):
        o.replace(bogus=1)


def test_from_mapping() -> None:
    o = Options.from_mapping({"proxy_retry_schedule": [0, 2], "suspect_period": 1})
    assert o.proxy_retry_schedule == (0, 2)
    assert o.suspect_period == 1
    with pytest.raises(OptionsError, match="unknown option"):
        Options.from_mapping({"suspectPeriod": 1})


def test_options_are_immutable() -> None:
    o = Options()
    with pytest.raises(AttributeError):
        o.ping_timeout = 3  # type: ignore[misc]


def test_one_blacklist_pattern_given_alone_is_one_pattern() -> None:
    """``member_blacklist="10.0.0.1:3000"`` was kept as a str and compiled one pattern
    per character: "1", "0" and "." refused nearly every member."""
    assert Options(member_blacklist="10.0.0.1:3000").member_blacklist == ("10.0.0.1:3000",)  # type: ignore[arg-type]
    assert Options.from_mapping({"member_blacklist": "10.0.0.*"}).member_blacklist == ("10.0.0.*",)
