"""What SWIM as ringpop runs it should achieve: the figures a simulation is held to.

Every node starts a protocol period every ``T`` seconds (``min_protocol_period``,
0.2 s), at its own phase, and pings one member (shuffled round robin). Changes ride
on the ping *and* on its response (§7.2, §7.3), so one period of one node is a
push to its target and a pull from it: gossip is a **push-pull epidemic** with
asynchronous clocks. Latency (milliseconds) is small against ``T`` and ignored.

Model: ``n`` nodes, ``i`` of them informed. An uninformed node learns the change
when an informed one pings it (rate ``i / ((n - 1) T)``) or when it pings an
informed one (the same rate), so informing the next node takes
``(n - 1) T / (2 i (n - i))`` on average, and the expected time until all ``n``
know it is the sum (:func:`epidemic_time`)::

    E[all informed] = T (n - 1)/n H(n - 1) ~ T (ln n + 0.577)

(``H`` the harmonic number). It treats each node's clock as a Poisson clock of
rate ``1/T``; real periods are regular, which only narrows the spread, so the
expectation is an upper estimate of the mean. The synchronous-rounds view (every
informed node triples per round, ``log3 n`` rounds) is the lower one; both grow
as ``log n``.

Losing each message with probability ``p`` leaves a push that works with
``1 - p`` and a pull (request and response) with ``(1 - p)^2``: the same epidemic
at rate ``((1 - p) + (1 - p)^2) / 2`` of the lossless one.

Many rumours at once (a cold start: every node's own ``alive``; a healed
partition: every refutation): with ``k`` rumours the last of ``k (n - 1)``
node-rumour pairs to be informed matters. In the mean field each pair is still
uninformed at ``t`` with probability ``~ (n - 1) e^(-2t/T)``; the expected maximum
(Gumbel) is :func:`many_rumours_time`: ``T/2 (ln(k n (n - 1)) + 0.577)``.

First detection of a dead member (:func:`first_detection_time`): each of the
``m`` live members pings it once per round of ``m`` periods, at a random place
in its shuffled order, so the first probe comes ``~T`` after the death (the
minimum of ``m`` residual times of density ``1 / (m T)`` each); then the direct
ping times out (``ping_timeout``), the ping-req helpers' own pings time out
(``ping_timeout`` again) and their ``pingStatus: false`` makes the prober
declare it suspect. All ``j`` of ``j`` dead members: ``T H(j)`` for the first
probes instead of ``T``.

False suspicions under loss (:func:`false_suspect_probability`): a probe of a
live member declares it suspect when the direct ping or its response is lost,
no helper's ``pingStatus: true`` comes back, and at least one helper's
``pingStatus: false`` does (any "unreachable" answer suspects, as in
ringpop-node).
"""

from __future__ import annotations

import math

__all__ = [
    "EULER_GAMMA",
    "epidemic_max_time",
    "epidemic_time",
    "false_suspect_probability",
    "first_detection_time",
    "harmonic",
    "many_rumours_time",
    "sync_rounds",
]

EULER_GAMMA = 0.5772156649015329


def harmonic(n: int) -> float:
    """``H(n) = 1 + 1/2 + ... + 1/n`` (0 for ``n <= 0``)."""
    if n <= 0:
        return 0.0
    if n < 10_000:
        return math.fsum(1.0 / k for k in range(1, n + 1))
    return math.log(n) + EULER_GAMMA + 1 / (2 * n) - 1 / (12 * n * n)


def _loss_factor(loss: float) -> float:
    if not 0.0 <= loss < 1.0:
        raise ValueError(f"loss must be in [0, 1), not {loss}")
    kept = 1.0 - loss
    return 2.0 / (kept + kept * kept)


def epidemic_time(n: int, period: float, *, loss: float = 0.0) -> float:
    """Expected seconds until all ``n`` nodes know one change that one of them has.

    Push-pull gossip, one exchange per node per ``period`` (see the module docstring).
    """
    if n <= 1:
        return 0.0
    return period * (n - 1) / n * harmonic(n - 1) * _loss_factor(loss)


def epidemic_max_time(n: int, period: float, rumours: int, *, loss: float = 0.0) -> float:
    """Expected seconds until the slowest of ``rumours`` independent changes (each
    started by its own node, at its own time) reaches all ``n`` nodes, counted from
    its own start.

    The completion time of one epidemic has a Gumbel tail of scale ``T/2`` (the last
    nodes are informed at rate ``2/T``), so the largest of ``k`` is ``T/2 ln k``
    later on average: :func:`epidemic_time` ``+ T/2 ln k``.
    """
    extra = period / 2 * math.log(rumours) * _loss_factor(loss) if rumours > 1 else 0.0
    return epidemic_time(n, period, loss=loss) + extra


def many_rumours_time(n: int, rumours: int, period: float, *, loss: float = 0.0) -> float:
    """Expected seconds until all ``n`` nodes know all of ``rumours`` concurrent changes.

    Mean field plus the Gumbel maximum (see the module docstring); for one rumour
    use :func:`epidemic_time`.
    """
    if n <= 1 or rumours <= 0:
        return 0.0
    pairs = rumours * n * (n - 1)
    return period / 2 * (math.log(pairs) + EULER_GAMMA) * _loss_factor(loss)


def sync_rounds(n: int) -> float:
    """Rounds of synchronous push-pull to reach ``n`` nodes: ``log3 n`` (a lower bound)."""
    return math.log(n, 3) if n > 1 else 0.0


def first_detection_time(
    live: int, period: float, ping_timeout: float, *, dead: int = 1, latency: float = 0.0
) -> float:
    """Expected seconds from a death until some live member declares it suspect.

    ``dead > 1``: until all ``dead`` members are suspected somewhere. ``latency``
    is one way; a probe costs ~4 one-way trips beyond its two timeouts.
    """
    if live <= 0:
        return math.inf
    first_probe = period * live / (live + 1) * harmonic(dead)
    return first_probe + 2 * ping_timeout + 4 * latency


def false_suspect_probability(loss: float, helpers: int = 3) -> float:
    """Probability that one probe of a live member declares it suspect, under ``loss``.

    Direct ping: request and response must arrive. Each of ``helpers`` ping-req
    helpers: answers ``true`` if the request, its ping, the ping's response and
    the answer all arrive; answers ``false`` if the request arrives, its ping
    fails and the answer arrives.
    """
    if not 0.0 <= loss <= 1.0:
        raise ValueError(f"loss is a probability, not {loss}")
    kept = 1.0 - loss
    direct_fails = 1.0 - kept**2
    answers_true = kept**4
    answers_false = kept * (1.0 - kept**2) * kept
    silent = 1.0 - answers_true - answers_false
    no_true = (1.0 - answers_true) ** helpers
    return direct_fails * (no_true - silent**helpers)
