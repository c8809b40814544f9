"""Per-call forwarding options and the retry policy (pure: no IO, no clock).

:class:`ForwardOptions` holds the overrides of one call (or one middleware) in one
object; ``None`` fields keep the node's :class:`~ringpop.options.Options`.
:class:`RetryPolicy` decides, after each failed attempt, whether to retry, after how
long and whether to look the keys up again; the async loop that follows its
decisions is :mod:`ringpop.forward.retrying`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

from ringpop.checks import check_seconds
from ringpop.options import Options, OptionsError, check_schedule

__all__ = [
    "RING_SETTLE_DELAY",
    "RING_SETTLE_TRIES",
    "ForwardOptions",
    "ForwardOverrides",
    "RetryPolicy",
    "RetryStep",
]

RING_SETTLE_DELAY = 0.05
"""While rings differ (a change is spreading), wait this long before trying again..."""
RING_SETTLE_TRIES = 20
"""...at most this many times per request (1 s) before the retry schedule applies."""


def _check_names(given: Mapping[str, object], what: str) -> None:
    if given.keys() <= _KNOWN:
        return
    unknown = sorted(set(given) - _KNOWN)
    known = ", ".join(ForwardOverrides.__annotations__)
    raise TypeError(f"unknown forwarding {what} {', '.join(unknown)} (known: {known})")


class ForwardOverrides(TypedDict, total=False):
    """The keyword arguments that override forwarding options for one call
    (the fields of :class:`ForwardOptions`)."""

    timeout: float | None
    max_retries: int | None
    retry_schedule: Sequence[float] | None
    reroute_retries: bool | None
    failover: bool | None
    skip_lookup_on_retry: bool | None


_KNOWN = frozenset(ForwardOverrides.__annotations__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardOptions:
    """Overrides of the forwarding options for a call or a middleware (``None``: the
    node's :class:`~ringpop.options.Options`).

    * ``timeout``: deadline of one attempt (``proxy_timeout`` / ``forward_timeout``);
    * ``max_retries``, ``retry_schedule``: retries after a failed attempt and the delays
      before them (``proxy_*`` / ``forward_*``);
    * ``reroute_retries``: look the keys up again before each retry
      (``proxy_reroute_retries``, default on / ``forward_reroute_retries``, default off);
    * ``failover`` (HTTP forwarding only): send at once to the key's next owner when the
      owner cannot be reached (default: the method is in ``proxy_failover_methods``).

    ``skip_lookup_on_retry`` is the deprecated opposite of ``reroute_retries`` (a
    ``DeprecationWarning``; ``skip_lookup_on_retry=True`` is ``reroute_retries=False``).
    """

    timeout: float | None = None
    max_retries: int | None = None
    retry_schedule: Sequence[float] | None = None
    reroute_retries: bool | None = None
    failover: bool | None = None
    skip_lookup_on_retry: bool | None = None
    """Deprecated: ``reroute_retries`` with the opposite polarity."""

    def __post_init__(self) -> None:
        timeout, retries, schedule = self.timeout, self.max_retries, self.retry_schedule
        if timeout is not None:
            check_seconds("timeout", timeout, error=OptionsError)
        if retries is not None and (isinstance(retries, bool) or retries < 0):
            raise OptionsError(f"max_retries must be >= 0, not {retries!r}")
        if schedule is not None:
            check_schedule("retry_schedule", tuple(schedule))
        skip = self.skip_lookup_on_retry
        if skip is not None:
            object.__setattr__(self, "reroute_retries", _reroute_for(skip, self.reroute_retries))
            object.__setattr__(self, "skip_lookup_on_retry", None)

    @classmethod
    def of(
        cls,
        options: ForwardOptions | Mapping[str, Any] | None = None,
        overrides: ForwardOverrides | None = None,
    ) -> ForwardOptions:
        """``options`` with the keyword ``overrides`` that are not ``None`` applied on top
        (what the convenience keyword arguments of the public methods map onto).

        ``options`` may be a mapping of the fields too; an unknown keyword or field is a
        ``TypeError`` (a misspelt ``retires=3`` was ignored without a word)."""
        if options is None:
            base = DEFAULT_OPTIONS
        elif isinstance(options, ForwardOptions):
            base = options
        elif isinstance(options, Mapping):
            _check_names(options, "options")
            base = cls.of(None, cast(ForwardOverrides, options))  # names checked above
        else:
            raise TypeError(f"options must be ForwardOptions or a mapping, not {options!r:.80}")
        if not overrides:
            return base
        _check_names(overrides, "keyword argument")
        timeout = overrides.get("timeout")
        max_retries = overrides.get("max_retries")
        schedule = overrides.get("retry_schedule")
        reroute = overrides.get("reroute_retries")
        failover = overrides.get("failover")
        skip = overrides.get("skip_lookup_on_retry")
        if skip is not None:
            reroute = _reroute_for(skip, reroute)
        if all(v is None for v in (timeout, max_retries, schedule, reroute, failover)):
            return base
        return cls(
            timeout=base.timeout if timeout is None else timeout,
            max_retries=base.max_retries if max_retries is None else max_retries,
            retry_schedule=base.retry_schedule if schedule is None else schedule,
            reroute_retries=base.reroute_retries if reroute is None else reroute,
            failover=base.failover if failover is None else failover,
        )

    # -- the values in effect -----------------------------------------------------------

    def proxy_policy(self, options: Options) -> RetryPolicy:
        """The retry policy of one HTTP (node-style) forward."""
        reroute = (
            options.proxy_reroute_retries if self.reroute_retries is None else self.reroute_retries
        )
        return RetryPolicy(
            options.proxy_max_retries if self.max_retries is None else self.max_retries,
            tuple(
                options.proxy_retry_schedule if self.retry_schedule is None else self.retry_schedule
            ),
            reroute,
            settle_tries=RING_SETTLE_TRIES if reroute else 0,
        )

    def forward_policy(self, options: Options) -> RetryPolicy:
        """The retry policy of one TChannel (go-style) forward."""
        return RetryPolicy(
            options.forward_max_retries if self.max_retries is None else self.max_retries,
            tuple(
                options.forward_retry_schedule
                if self.retry_schedule is None
                else self.retry_schedule
            ),
            options.forward_reroute_retries
            if self.reroute_retries is None
            else self.reroute_retries,
        )


DEFAULT_OPTIONS = ForwardOptions()
"""No overrides."""


def _reroute_for(skip: object, reroute: object) -> bool:
    """``reroute_retries`` for the deprecated ``skip_lookup_on_retry`` (with a warning)."""
    if not isinstance(skip, bool):
        raise TypeError(f"skip_lookup_on_retry must be True or False, not {skip!r}")
    warnings.warn(
        f"skip_lookup_on_retry is deprecated: use reroute_retries={not skip}",
        DeprecationWarning,
        stacklevel=4,
    )
    if reroute is not None and reroute == skip:
        raise ValueError(f"skip_lookup_on_retry={skip} contradicts reroute_retries={reroute}")
    return not skip


@dataclass(frozen=True, slots=True)
class RetryStep:
    """What to do before retry number ``attempt`` (1-based, counting every retry)."""

    attempt: int
    delay: float
    """Seconds to wait first."""
    lookup: bool
    """Look the keys up again (reroute to a new owner) before sending."""
    settling: bool
    """A quick retry while rings differ, not one of the schedule's."""


class RetryPolicy:
    """When to retry a failed forward: a schedule of delays, a budget of retries, and
    a few quick extra tries while rings differ (a membership change is spreading).

    Pure and single-use (one per forwarded request): call :meth:`next` after each
    failed attempt; ``None`` means give up.
    """

    __slots__ = (
        "max_retries",
        "reroute",
        "schedule",
        "settle_delay",
        "settle_tries",
        "tries",
        "used",
    )

    def __init__(
        self,
        max_retries: int,
        schedule: Sequence[float],
        reroute: bool,
        *,
        settle_tries: int = 0,
        settle_delay: float = RING_SETTLE_DELAY,
    ) -> None:
        self.max_retries = max_retries
        self.schedule = tuple(schedule)
        self.reroute = reroute
        self.settle_tries = settle_tries
        """Quick retries left for when the owner refuses because its ring differs."""
        self.settle_delay = settle_delay
        self.used = 0
        """Retries of the schedule used."""
        self.tries = 0
        """Every retry so far (the ``attempt`` of the events)."""

    def next(self, ring_differs: bool = False) -> RetryStep | None:
        """The next retry after a failed attempt, or ``None`` when the budget is spent.

        ``ring_differs``: the owner refused because its ring differs from ours; while
        quick tries are left, retry after ``settle_delay`` (re-looking the keys up)
        without spending the schedule.
        """
        if ring_differs and self.settle_tries > 0:
            self.settle_tries -= 1
            self.tries += 1
            return RetryStep(self.tries, self.settle_delay, True, True)
        self.used += 1
        if self.used > self.max_retries:
            return None
        self.tries += 1
        schedule = self.schedule
        delay = schedule[min(self.used - 1, len(schedule) - 1)] if schedule else 0.0
        return RetryStep(self.tries, delay, self.reroute, False)
