"""The pure parts of forwarding: ownership, the retry policy, the options object."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from ringpop.forward import ForwardOptions, OwnershipError, RetryPolicy, owner_of, owns_all
from ringpop.forward.policy import RING_SETTLE_DELAY, RING_SETTLE_TRIES
from ringpop.options import Options, OptionsError
from ringpop.ring import HashRing

ME = "10.0.0.1:3000"
OTHER = "10.0.0.2:3000"


def ring_of(*servers: str) -> HashRing:
    ring = HashRing()
    for server in servers:
        ring.add_server(server)
    return ring


def keys_of(ring: HashRing, server: str, count: int) -> list[str]:
    found = [k for k in (f"key-{i}" for i in range(10_000)) if ring.lookup(k) == server]
    return found[:count]


def test_one_owner_for_keys_that_share_it() -> None:
    ring = ring_of(ME, OTHER)
    mine, theirs = keys_of(ring, ME, 3), keys_of(ring, OTHER, 3)
    assert owner_of(ring.lookup, ME, mine) == ME
    assert owner_of(ring.lookup, ME, theirs) == OTHER
    assert owns_all(ring.lookup, ME, mine)
    assert not owns_all(ring.lookup, ME, theirs)
    assert not owns_all(ring.lookup, ME, [mine[0], theirs[0]])


def test_no_keys_and_split_keys_have_no_owner() -> None:
    ring = ring_of(ME, OTHER)
    with pytest.raises(OwnershipError, match="at least one key") as none:
        owner_of(ring.lookup, ME, [])
    assert none.value.no_keys
    split = [keys_of(ring, ME, 1)[0], keys_of(ring, OTHER, 1)[0]]
    with pytest.raises(OwnershipError, match=f"different nodes: {ME}, {OTHER}") as diverged:
        owner_of(ring.lookup, ME, split)
    assert diverged.value.owners == {ME, OTHER}
    assert not diverged.value.no_keys
    assert not owns_all(ring.lookup, ME, [])


def test_an_empty_ring_means_ourselves() -> None:
    ring = HashRing()
    assert owner_of(ring.lookup, ME, ["a", "b"]) == ME
    assert owns_all(ring.lookup, ME, ["a"])


def test_schedule_delays_then_gives_up() -> None:
    policy = RetryPolicy(4, (0.0, 1.0, 2.5), reroute=True)
    steps = [policy.next() for _ in range(5)]
    assert [s.delay for s in steps if s] == [0.0, 1.0, 2.5, 2.5]  # the last entry repeats
    assert [s.attempt for s in steps if s] == [1, 2, 3, 4]
    assert all(s.lookup and not s.settling for s in steps if s)
    assert steps[4] is None
    assert policy.next() is None


def test_no_retries_and_no_reroute() -> None:
    assert RetryPolicy(0, (1.0,), reroute=True).next() is None
    step = RetryPolicy(1, (3.0,), reroute=False).next()
    assert step is not None
    assert (step.delay, step.lookup) == (3.0, False)


def test_settling_retries_do_not_spend_the_schedule() -> None:
    policy = RetryPolicy(1, (5.0,), reroute=True, settle_tries=2)
    first, second, third = policy.next(True), policy.next(True), policy.next(True)
    assert first is not None
    assert second is not None
    assert third is not None
    assert [(s.attempt, s.delay, s.settling) for s in (first, second)] == [
        (1, RING_SETTLE_DELAY, True),
        (2, RING_SETTLE_DELAY, True),
    ]
    assert (third.attempt, third.delay, third.settling) == (3, 5.0, False)  # out of quick tries
    assert policy.next(True) is None


def test_options_give_each_style_its_defaults() -> None:
    options = Options()
    proxy = ForwardOptions().proxy_policy(options)
    assert (proxy.max_retries, proxy.schedule, proxy.reroute) == (
        5,
        (0.0, 1.0, 2.0, 4.0, 4.0),
        True,
    )
    assert proxy.settle_tries == RING_SETTLE_TRIES
    forward = ForwardOptions().forward_policy(options)
    assert (forward.max_retries, forward.schedule, forward.reroute) == (3, (3.0, 6.0, 12.0), False)
    assert forward.settle_tries == 0
    custom = ForwardOptions(max_retries=1, retry_schedule=[0.5], reroute_retries=False)
    assert custom.proxy_policy(options).schedule == (0.5,)
    assert custom.proxy_policy(options).settle_tries == 0  # no lookups, no quick retries
    assert custom.forward_policy(options).max_retries == 1


def test_keyword_overrides_map_onto_the_options_object() -> None:
    base = ForwardOptions(timeout=2.0, max_retries=1)
    assert ForwardOptions.of(base, {}) is base
    assert ForwardOptions.of(base, {"timeout": None}) is base
    merged = ForwardOptions.of(base, {"max_retries": 4, "failover": False})
    assert merged == ForwardOptions(timeout=2.0, max_retries=4, failover=False)
    assert ForwardOptions.of(None, {"reroute_retries": True}).reroute_retries is True


def test_options_may_be_a_mapping_and_unknown_names_are_refused() -> None:
    """A dict of options was an AttributeError deep inside; a misspelt keyword
    (``retires=3``) was ignored without a word."""
    assert ForwardOptions.of({"timeout": 2.0, "failover": False}) == ForwardOptions(
        timeout=2.0, failover=False
    )
    merged = ForwardOptions.of({"timeout": 2.0}, {"max_retries": 1})
    assert merged == ForwardOptions(timeout=2.0, max_retries=1)
    with pytest.raises(TypeError, match="unknown forwarding keyword argument retires"):
        ForwardOptions.of(None, {"retires": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown forwarding options bogus"):
        ForwardOptions.of({"bogus": 1})
    with pytest.raises(TypeError, match="must be ForwardOptions or a mapping"):
        ForwardOptions.of(3)  # type: ignore[arg-type]


def test_skip_lookup_on_retry_is_a_deprecated_alias() -> None:
    with pytest.warns(DeprecationWarning, match="reroute_retries=False"):
        assert ForwardOptions(skip_lookup_on_retry=True).reroute_retries is False
    with pytest.warns(DeprecationWarning, match="reroute_retries=True"):
        merged = ForwardOptions.of(None, {"skip_lookup_on_retry": False})
    assert merged.reroute_retries is True
    assert merged.skip_lookup_on_retry is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError, match="contradicts"):
            ForwardOptions(skip_lookup_on_retry=True, reroute_retries=True)


def test_options_take_the_old_flag_with_a_warning() -> None:
    assert Options().proxy_reroute_retries is True
    with pytest.warns(DeprecationWarning, match="proxy_reroute_retries=False"):
        old = Options(skip_lookup_on_retry=True)
    assert old.proxy_reroute_retries is False
    assert old.skip_lookup_on_retry is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the alias is consumed: copies do not warn again
        assert old.replace(ping_timeout=1.0).proxy_reroute_retries is False
    with pytest.warns(DeprecationWarning, match="proxy_reroute_retries=True"):
        assert Options.from_mapping({"skip_lookup_on_retry": False}).proxy_reroute_retries


def test_forward_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ForwardOptions(1.0)  # type: ignore[call-arg]  # a positional flag could flip polarity


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"timeout": 0.0}, "timeout must be"),
        ({"timeout": float("nan")}, "timeout must be"),
        ({"max_retries": -1}, "max_retries must be"),
        ({"retry_schedule": [float("nan")]}, "entries must be"),
        ({"retry_schedule": [-1.0]}, "entries must be"),
        ({"retry_schedule": []}, "non-empty"),
    ],
)
def test_forward_overrides_are_checked_like_the_options(override: dict[str, Any], why: str) -> None:
    """A NaN timeout or delay was taken and failed later, deep in a forward."""
    with pytest.raises(OptionsError, match=why):
        ForwardOptions(**override)
    with pytest.raises(OptionsError, match=why):
        ForwardOptions.of(None, override)  # type: ignore[arg-type]
