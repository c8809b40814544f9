"""Bootstrap: join the cluster from a list of hosts (spec §14).

Join requests go out in parallel groups of ``(join_size - joined) x parallelism``
(so exactly ``min(6, n)`` in the first round with the defaults), preferring hosts on
another IP. Every successful response's membership is applied at once (go style)
but not disseminated (§7.6). Rounds repeat with a capped, jittered exponential
backoff until ``join_size`` nodes answered or ``max_join_duration`` ran out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

import msgspec

from ringpop.discovery import DiscoverProvider, DiscoveryError
from ringpop.errors import RingpopError
from ringpop.membership.network import CallError, RemoteError
from ringpop.membership.node import SwimNode

__all__ = ["APP_MISMATCH", "BootstrapError", "JoinResult", "bootstrap", "join_backoff"]

log = logging.getLogger(__name__)


class BootstrapError(RingpopError, RuntimeError):
    """The node could not join its cluster.

    Raised after ``max_join_duration`` without enough joins, or at once for a
    permanent problem that retrying cannot fix (the seeds run another app, the
    hosts file is unusable). ``reason`` says why in one line (the last failure
    seen, ``None`` when no attempt failed with a reason); ``failures`` maps each
    host that failed to its last error; ``permanent`` tells the two cases apart.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        failures: Mapping[str, str] | None = None,
        permanent: bool = False,
    ) -> None:
        super().__init__(message if reason is None else f"{message}: {reason}")
        self.reason = reason
        self.failures = dict(failures or {})
        self.permanent = permanent


APP_MISMATCH = "ringpop.invalid-join.app"
"""The error type of a join refused because the joiner's app name differs."""


class JoinResult(msgspec.Struct):
    """What a bootstrap did."""

    joined: list[str] = msgspec.field(default_factory=list)
    """Hosts whose join response was applied."""
    attempts: int = 0
    """Join requests sent."""
    rounds: int = 0
    alone: bool = False
    """The host list named only this node: a one-node cluster by design."""


def join_backoff(attempt: int, low: float, high: float, previous_cap: float) -> tuple[float, float]:
    """Delay before retry ``attempt`` (0-based) and the cap to pass to the next call.

    ringpop-go's shape: the cap doubles from ``low`` up to ``high``; the delay is
    uniform in ``[previous cap, current cap)``, so delays never shrink.
    """
    cap = min(high, low * (2**attempt))
    return max(previous_cap, 0.0), cap


async def bootstrap(
    node: SwimNode,
    provider: DiscoverProvider,
    *,
    discover: DiscoverProvider | None = None,
    on_stalled: Callable[[float, int], None] | None = None,
    on_island: Callable[[list[str]], None] | None = None,
) -> JoinResult:
    """Join the cluster named by ``provider``; mark the node ready on success.

    Raises :class:`BootstrapError` after ``max_join_duration`` without enough joins,
    unless ``options.join_forever``: then it starts with the members that answered,
    or, when none did, keeps trying (calling ``on_stalled(elapsed, joined)`` and
    warning about once a minute).

    ``discover`` is the cluster's discovery source when it differs from the bootstrap
    list. A bootstrap list naming only this node normally means a one-node cluster;
    if ``discover`` names others, the node joins them instead (``on_island(hosts)``)
    rather than starting a permanent island.
    """
    options = node.options
    clock = node.clock  # the one injected clock (the node's deadlines run on it too)
    started = clock.monotonic()
    result = JoinResult()
    joined: set[str] = set()
    pool_preferred: list[str] = []
    pool_other: list[str] = []
    cap = 0.0
    retries = 0  # counts every wait, also after unreadable host lists (no rounds then)
    stalled_logged = float("-inf")
    my_ip = node.address.rsplit(":", 1)[0]
    # A peer that joins us is up: while we back off after failed joins, retry at
    # once and with it first, rather than sleep out a backoff that grew while
    # nobody was listening yet (cold start of a whole cluster).
    woken = asyncio.Event()
    joiners: list[str] = []

    def on_join_request(source: str) -> None:
        joiners.append(source)
        woken.set()

    node.on_join_request = on_join_request
    try:
        report = _FailureReport(node.address, clock.monotonic)
        while True:
            try:
                hosts = await provider.hosts()
            except DiscoveryError as error:
                hosts = None
                report.failed("hosts", f"cannot read hosts: {error}")
                if error.permanent and not options.join_forever:
                    raise BootstrapError(
                        f"{node.address} cannot bootstrap",
                        reason=f"cannot read hosts: {error}",
                        permanent=True,
                    ) from error
            if hosts is not None:
                potential = [h for h in dict.fromkeys(hosts) if h != node.address]
                if not potential and discover is not None and discover is not provider:
                    others = await _other_hosts(node, discover)
                    if others:
                        log.warning(
                            "%s: the bootstrap list names only this node but discovery names "
                            "%d others (%s); joining them instead of starting alone",
                            node.address,
                            len(others),
                            ", ".join(others[:5]),
                        )
                        if on_island is not None:
                            on_island(others)
                        provider = discover
                        continue
                if not potential:
                    result.alone = True
                    log.warning(
                        "%s: the host list names only this node; starting a one-node cluster "
                        "(list the other members' addresses to join them)",
                        node.address,
                    )
                    break
                join_size = min(options.join_size, len(potential))
                if len(joined) >= join_size:
                    break
                if not pool_preferred and not pool_other:
                    fresh = [h for h in potential if h not in joined]
                    pool_preferred = [h for h in fresh if h.rsplit(":", 1)[0] != my_ip]
                    pool_other = [h for h in fresh if h.rsplit(":", 1)[0] == my_ip]
                    node.rng.shuffle(pool_preferred)
                    node.rng.shuffle(pool_other)
                want = (join_size - len(joined)) * options.join_parallelism
                fresh_joiners = (h for h in dict.fromkeys(joiners) if h in potential)
                group = [h for h in fresh_joiners if h not in joined][:want]
                joiners.clear()
                for pool in (pool_preferred, pool_other):
                    pool[:] = [h for h in pool if h not in group]
                while len(group) < want and (pool_preferred or pool_other):
                    group.append((pool_preferred or pool_other).pop())
                result.rounds += 1
                result.attempts += len(group)
                woken.clear()
                mismatched = False
                for host, failure, permanent in await _join_group(node, group):
                    if failure is None:
                        joined.add(host)
                        result.joined.append(host)
                        continue
                    report.failed(host, failure, warn=permanent or failure.startswith("ringpop."))
                    mismatched = mismatched or permanent
                if len(joined) >= join_size:
                    break
                if mismatched and not joined and not options.join_forever:
                    # A seed that runs another app will never let us in: the host list or
                    # the app name is wrong, and retrying for minutes would only hide it.
                    raise BootstrapError(
                        f"{node.address} cannot bootstrap app {node.app!r}",
                        reason=report.reason,
                        failures=report.failures,
                        permanent=True,
                    )
            elapsed = clock.monotonic() - started
            if elapsed >= options.max_join_duration:
                if not options.join_forever:
                    raise BootstrapError(
                        f"{node.address} joined {len(joined)} of the needed members "
                        f"in {elapsed:.1f} s ({result.attempts} join requests); giving up",
                        reason=report.reason,
                        failures=report.failures,
                    )
                if joined:
                    log.warning(
                        "%s: only %d member(s) answered in %.0f s; starting with them, "
                        "gossip will find the rest",
                        node.address,
                        len(joined),
                        elapsed,
                    )
                    break
                if elapsed - stalled_logged >= 60.0:
                    stalled_logged = elapsed
                    log.warning(
                        "%s: no member answered a join in %.0f s (%d join requests); still trying",
                        node.address,
                        elapsed,
                        result.attempts,
                    )
                    if on_stalled is not None:
                        on_stalled(elapsed, len(joined))
            low, cap = join_backoff(
                retries, options.join_retry_delay_min, options.join_retry_delay_max, cap
            )
            retries += 1
            delay = min(node.rng.uniform(low, cap) if cap > low else cap, options.max_join_duration)
            report.summary(len(joined), delay)
            if not woken.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), delay)
    finally:
        node.on_join_request = None
    node.disseminator.clear_non_local()
    node.mark_ready()
    return result


async def _other_hosts(node: SwimNode, discover: DiscoverProvider) -> list[str]:
    try:
        hosts = await discover.hosts()
    except DiscoveryError as error:
        log.warning("%s: cannot read the discovery source: %s", node.address, error)
        return []
    return [h for h in dict.fromkeys(hosts) if h != node.address]


_JoinOutcome = tuple[str, str | None, bool]
"""(host, error or ``None`` when joined, whether the error is permanent)."""


async def _join_group(node: SwimNode, group: Sequence[str]) -> list[_JoinOutcome]:
    """Send joins to ``group`` in parallel and wait for all; each host's outcome."""

    async def join_one(host: str) -> _JoinOutcome:
        try:
            response = await node.send_join(host, timeout=node.options.join_timeout)
        except RemoteError as error:  # logged by the caller's report
            return host, str(error), error.type == APP_MISMATCH
        except CallError as error:
            return host, str(error), False
        # An app absent, null or not a string is unknown (§1.1): ringpop-node's joiner
        # never looks at it. A present, different name means another app's cluster.
        if response.app is not msgspec.UNSET and response.app != node.app:
            message = f"{APP_MISMATCH}: {host} runs app {response.app!r}, not {node.app!r}"
            return host, message, True
        node.apply_changes(response.membership, disseminate=False, peer=host, join_list=True)
        return host, None, False

    return list(await asyncio.gather(*(join_one(host) for host in group)))


class _FailureReport:
    """Why joins fail, for the logs (WARNING, rate-limited) and :class:`BootstrapError`.

    A kind of failure is logged at WARNING once: at once for a refusal or an
    unreadable host list, after ``grace`` seconds for a join that failed in transit
    (peers that are not up yet are normal while a whole cluster starts).
    """

    def __init__(
        self, address: str, now: Callable[[], float], every: float = 30.0, grace: float = 5.0
    ) -> None:
        self.address = address
        self.now = now
        self.every = every
        self.grace = grace
        self.failures: dict[str, str] = {}
        self.reason: str | None = None
        self._seen: set[str] = set()
        self._started = now()
        self._last_summary = self._started

    def failed(self, host: str, error: str, *, warn: bool = False) -> None:
        """Record ``host``'s failure (``"hosts"`` for the host list itself); ``warn``:
        a refusal (or the host list), worth a WARNING without the grace period."""
        self.failures[host] = error
        self.reason = error if host == "hosts" else f"{host}: {error}"
        kind = _kind(error)
        urgent = warn or host == "hosts" or self.now() - self._started >= self.grace
        if kind not in self._seen and urgent:
            self._seen.add(kind)
            log.warning("%s: bootstrap: %s", self.address, self.reason)
        else:
            log.info("%s: bootstrap: %s", self.address, self.reason)

    def summary(self, joined: int, delay: float) -> None:
        """Log the state before a backoff: INFO, WARNING every ``every`` seconds."""
        now = self.now()
        level = logging.INFO
        if self.failures and now - self._last_summary >= self.every:
            self._last_summary = now
            level = logging.WARNING
        log.log(
            level,
            "%s: joined %d so far; next join round in %.2f s%s",
            self.address,
            joined,
            delay,
            f" (last failure: {self.reason})" if level == logging.WARNING else "",
        )


def _kind(error: str) -> str:
    """A failure's kind for rate limiting: its text without addresses and numbers."""
    return "".join(c for c in error if not (c.isdigit() or c in ".:[]"))
