"""Test and simulation support: an in-memory network and a whole-cluster harness.

* :class:`MemoryNetwork` / :class:`MemoryTransport` (:mod:`ringpop.testing.memnet`):
  a simulated network with latency, jitter, loss, partitions, crashes, pauses, taps
  and counters, whose per-node transports satisfy :class:`~ringpop.transport.Transport`;
* :class:`SimCluster` (:mod:`ringpop.testing.cluster`): N full
  :class:`~ringpop.Ringpop` nodes built on it, in loop time, with seeded randomness.

For tests, benchmarks and experiments: the library itself never imports this
package. See ``docs/testing.md``.
"""

from __future__ import annotations

from ringpop.testing.cluster import Observation, SimCluster, sim_address
from ringpop.testing.memnet import (
    CallRecord,
    HandlerFailure,
    MemoryNetwork,
    MemoryTransport,
    NetworkStats,
)

__all__ = [
    "CallRecord",
    "HandlerFailure",
    "MemoryNetwork",
    "MemoryTransport",
    "NetworkStats",
    "Observation",
    "SimCluster",
    "sim_address",
]
