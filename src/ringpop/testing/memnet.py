"""An in-memory network of :class:`~ringpop.transport.Transport` s, with faults, on loop time.

:class:`MemoryNetwork` is a hub of nodes keyed by address; each node talks through
its own :class:`MemoryTransport`, which has the TChannel call model of the real
:class:`~ringpop.tchannel.Channel` (``register(service, endpoint, handler)``,
``call(peer, service, endpoint, arg2, arg3, timeout=...)`` returning a
:class:`~ringpop.tchannel.Response`), so a whole :class:`~ringpop.Ringpop` (membership,
forwarding, admin, tracing, state) runs on it unchanged. Nothing here opens a socket
or reads the wall clock: every message is a ``loop.call_later`` on the running
event loop, so a whole cluster runs in one process and, under a fast-forwarding
loop such as ``looptime``, in virtual time. Given the same seeds the same things
happen in the same order. Requests and responses are handed over as objects (no
frame encoding).

What a call sees, and which real failure each case stands for:

* normal: the handler's response after two hops of ``latency`` (+ ``jitter``);
* the handler raises :class:`~ringpop.tchannel.ApplicationError`: a not-ok
  response with its ``type`` and ``message``, like TChannel's application errors;
* the handler raises another :class:`~ringpop.tchannel.TChannelError`: that error
  (an error frame with its code);
* the handler raises anything else: :class:`~ringpop.tchannel.UnexpectedError` (an
  ``unexpected`` error frame), and the failure is recorded in
  :attr:`MemoryNetwork.handler_failures`;
* no handler for the endpoint: :class:`~ringpop.tchannel.BadRequestError`;
* unknown or stopped address: :class:`~ringpop.tchannel.NetworkError` at once
  (connection refused);
* :meth:`~MemoryNetwork.partition`, :meth:`~MemoryNetwork.crash`, loss on a link:
  the message vanishes and the caller gets :class:`~ringpop.tchannel.CallTimeoutError`
  when its timeout runs out (nobody answers);
* :meth:`~MemoryNetwork.pause` (SIGSTOP): requests to the node and everything it
  sends wait until :meth:`~MemoryNetwork.resume`; callers time out meanwhile.

A minimal cluster of full nodes (run it under ``looptime`` for virtual time; the
harness :class:`ringpop.testing.SimCluster` does this for you)::

    network = MemoryNetwork(latency=0.002, jitter=0.001, rng=random.Random(7))
    nodes = [
        Ringpop("app", transport=network.transport(a), clock=LoopClock(),
                rng=random.Random(a))
        for a in hosts
    ]
    await asyncio.gather(*(rp.bootstrap(hosts) for rp in nodes))
    network.partition(hosts[:3], hosts[3:])  # ... and watch the nodes react

A bare :class:`~ringpop.membership.node.SwimNode` takes the membership-level
network of :meth:`MemoryNetwork.membership` instead.

Limits: a paused node's own coroutines (its gossip loop, timers) keep running; only
its traffic is frozen, in both directions. Its outgoing calls still time out on
schedule.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ringpop.membership.network import TChannelNetwork
from ringpop.testing.memtransport import MemoryTransport
from ringpop.testing.netstats import NetworkStats, Traffic

__all__ = [
    "CallRecord",
    "HandlerFailure",
    "MemoryNetwork",
    "MemoryTransport",
    "NetworkStats",
    "Traffic",
]

log = logging.getLogger(__name__)

Tap = Callable[["CallRecord"], None]


class CallRecord(NamedTuple):
    """One call as the network saw it leave the caller (for taps)."""

    time: float
    """Loop time when ``call()`` was made."""
    source: str
    destination: str
    endpoint: str
    body: bytes
    """The request body (arg3)."""
    service: str = "ringpop"


class HandlerFailure(NamedTuple):
    """A handler that raised something other than a TChannel error."""

    address: str
    endpoint: str
    error: BaseException


class _Link(NamedTuple):
    latency: float | None
    jitter: float | None
    loss: float | None


_NO_LINK = _Link(None, None, None)


class MemoryNetwork:
    """A simulated network of ringpop nodes living in one event loop.

    ``latency`` is the one-way delay of every message in seconds; ``jitter`` adds
    ``rng.uniform(0, jitter)`` per message; ``loss`` is the probability that a
    message on a link without its own setting (:meth:`set_link`) is lost. ``rng``
    also decides loss; it defaults to ``random.Random(0)`` so that runs are
    reproducible.
    """

    def __init__(
        self,
        *,
        latency: float = 0.001,
        jitter: float = 0.0,
        loss: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0 seconds")
        self.latency = latency
        self.jitter = jitter
        self._loss = 0.0
        self.loss = loss
        self.rng = rng if rng is not None else random.Random(0)
        self.stats = NetworkStats()
        self.traffic: dict[str, Traffic] = {}
        """Messages and bytes per address (:class:`~ringpop.testing.netstats.Traffic`)."""
        self.handler_failures: list[HandlerFailure] = []
        """Handlers that crashed (not a TChannel error): a simulation should keep it empty."""
        self._transports: dict[str, MemoryTransport] = {}
        self._links: dict[tuple[str, str], _Link] = {}
        self._groups: dict[str, int] = {}
        self._crashed: set[str] = set()
        self._paused: dict[str, list[Callable[[], None]]] = {}
        self._taps: list[Tap] = []

    @property
    def loss(self) -> float:
        """The loss probability of every link without its own (see :meth:`set_link`)."""
        return self._loss

    @loss.setter
    def loss(self, probability: float) -> None:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss is a probability, not {probability}")
        self._loss = probability

    # -- nodes -------------------------------------------------------------------------

    def transport(self, address: str) -> MemoryTransport:
        """A new transport for ``address``, registered on the network.

        An address whose previous transport was stopped can be reused (a restarted
        node); a running one cannot.
        """
        current = self._transports.get(address)
        if current is not None and not current.stopped:
            raise ValueError(f"{address} already has a running transport")
        transport = MemoryTransport(self, address)
        self._transports[address] = transport
        return transport

    def membership(self, address: str) -> TChannelNetwork:
        """A new transport for ``address`` seen as membership's
        :class:`~ringpop.membership.network.Network` (``call(address, endpoint, body)``
        and ``serve(handlers)`` on service ``ringpop``), for tests that drive a bare
        :class:`~ringpop.membership.node.SwimNode`."""
        return TChannelNetwork(self.transport(address))

    def get(self, address: str) -> MemoryTransport | None:
        """The running transport of ``address``, if any."""
        transport = self._transports.get(address)
        return transport if transport is not None and not transport.stopped else None

    @property
    def addresses(self) -> list[str]:
        """Addresses with a running transport, in registration order."""
        return [a for a, t in self._transports.items() if not t.stopped]

    def add_tap(self, tap: Tap) -> None:
        """Call ``tap(record)`` for every call made (before any fault applies)."""
        self._taps.append(tap)

    def remove_tap(self, tap: Tap) -> None:
        """Stop calling ``tap``."""
        self._taps.remove(tap)

    # -- links -------------------------------------------------------------------------

    def set_link(
        self,
        source: str,
        destination: str,
        *,
        latency: float | None = None,
        jitter: float | None = None,
        loss: float | None = None,
        symmetric: bool = True,
    ) -> None:
        """Override latency, jitter and loss of a link (``None``: the network's).

        ``loss`` is the probability that one message (request or response) on the
        link is lost. ``symmetric`` applies the same to the way back.
        """
        if loss is not None and not 0.0 <= loss <= 1.0:
            raise ValueError(f"loss is a probability, not {loss}")
        if (latency is not None and latency < 0) or (jitter is not None and jitter < 0):
            raise ValueError("latency and jitter must be >= 0 seconds")
        link = _Link(latency, jitter, loss)
        pairs = [(source, destination)]
        if symmetric:
            pairs.append((destination, source))
        for pair in pairs:
            if link == _NO_LINK:
                self._links.pop(pair, None)
            else:
                self._links[pair] = link

    def set_loss(
        self, source: str, destination: str, probability: float, *, symmetric: bool = True
    ) -> None:
        """Lose messages on a link with ``probability`` (latency unchanged)."""
        current = self._links.get((source, destination), _NO_LINK)
        self.set_link(
            source,
            destination,
            latency=current.latency,
            jitter=current.jitter,
            loss=probability,
            symmetric=symmetric,
        )

    # -- faults ------------------------------------------------------------------------

    def partition(self, *groups: Iterable[str]) -> None:
        """Split the network: members of different ``groups`` cannot reach each other.

        Replaces any previous partition. Addresses in no group reach everyone.
        Messages already in flight across the cut are lost.
        """
        layout: dict[str, int] = {}
        for index, group in enumerate(groups):
            for address in group:
                if address in layout and layout[address] != index:
                    raise ValueError(f"{address} is in two partition groups")
                layout[address] = index
        self._groups = layout

    def heal_partition(self) -> None:
        """Remove the partition: everyone reaches everyone again."""
        self._groups = {}

    def crash(self, address: str) -> None:
        """Drop every message to and from ``address`` (host down, cable pulled)."""
        self._crashed.add(address)

    def recover(self, address: str) -> None:
        """Let ``address`` send and receive again after :meth:`crash`."""
        self._crashed.discard(address)

    def pause(self, address: str) -> None:
        """Freeze ``address``'s traffic like SIGSTOP: nothing it receives is handled,
        nothing it sends leaves, until :meth:`resume`."""
        self._paused.setdefault(address, [])

    def resume(self, address: str) -> None:
        """Let a paused node go on: held messages move on, in order."""
        held = self._paused.pop(address, [])
        loop = asyncio.get_running_loop() if held else None
        for deliver in held:
            assert loop is not None
            loop.call_soon(deliver)

    def is_paused(self, address: str) -> bool:
        """Whether ``address`` is paused."""
        return address in self._paused

    def is_crashed(self, address: str) -> bool:
        """Whether ``address`` is crashed."""
        return address in self._crashed

    def clear_faults(self) -> None:
        """Heal partitions, recover crashed nodes, resume paused ones, reset links."""
        self.heal_partition()
        self._crashed.clear()
        self._links.clear()
        for address in list(self._paused):
            self.resume(address)

    def can_reach(self, source: str, destination: str) -> bool:
        """Whether a message could go from ``source`` to ``destination`` now (ignoring loss)."""
        if source in self._crashed or destination in self._crashed:
            return False
        a = self._groups.get(source)
        b = self._groups.get(destination)
        return a is None or b is None or a == b

    # -- carrying messages -------------------------------------------------------------------

    def _delay(self, source: str, destination: str) -> float:
        link = self._links.get((source, destination), _NO_LINK)
        latency = self.latency if link.latency is None else link.latency
        jitter = self.jitter if link.jitter is None else link.jitter
        return latency + self.rng.uniform(0.0, jitter) if jitter > 0 else latency

    def _transmit(
        self,
        source: str,
        destination: str,
        deliver: Callable[[], None],
        size: int = 0,
        endpoint: str = "",
    ) -> None:
        """Carry one message of ``size`` payload bytes: held while ``source`` is
        paused, maybe lost, then delayed."""
        held = self._paused.get(source)
        if held is not None:
            held.append(lambda: self._transmit(source, destination, deliver, size, endpoint))
            return
        link = self._links.get((source, destination))
        loss = self._loss if link is None or link.loss is None else link.loss
        lost = loss > 0 and self.rng.random() < loss
        stats = self.stats
        if lost or not self.can_reach(source, destination):
            stats.messages_dropped += 1
            return
        stats.messages_sent += 1
        stats.bytes_sent += size
        if size > stats.largest_message:
            stats.largest_message = size
            stats.largest_endpoint = endpoint
        traffic = self.traffic.get(source)
        if traffic is None:
            traffic = self.traffic[source] = Traffic()
        traffic.messages_sent += 1
        traffic.bytes_sent += size
        if size > traffic.largest_sent:
            traffic.largest_sent = size
        asyncio.get_running_loop().call_later(
            self._delay(source, destination), self._arrive, source, destination, deliver, size
        )

    def _arrive(
        self, source: str, destination: str, deliver: Callable[[], None], size: int
    ) -> None:
        if not self.can_reach(source, destination):  # the cut happened in flight
            self.stats.messages_dropped += 1
            return
        traffic = self.traffic.get(destination)
        if traffic is None:
            traffic = self.traffic[destination] = Traffic()
        traffic.messages_received += 1
        traffic.bytes_received += size
        held = self._paused.get(destination)
        if held is not None:
            held.append(deliver)
            return
        deliver()

    def _called(
        self, source: str, destination: str, service: str, endpoint: str, body: bytes
    ) -> None:
        """Count a call and show it to the taps (by :class:`MemoryTransport`)."""
        stats = self.stats
        stats.calls += 1
        stats.by_endpoint[endpoint] += 1
        if self._taps:
            now = asyncio.get_running_loop().time()
            record = CallRecord(now, source, destination, endpoint, body, service)
            for tap in list(self._taps):
                tap(record)

    def _handler_failed(self, address: str, endpoint: str, error: BaseException) -> None:
        """Record a handler that crashed (by :class:`MemoryTransport`)."""
        self.handler_failures.append(HandlerFailure(address, endpoint, error))
