"""``Ringpop``: the public facade that wires transport, membership and ring together.

::

    async with Ringpop("myapp", "127.0.0.1:3000") as rp:
        await rp.bootstrap(["127.0.0.1:3000", "127.0.0.1:3001"])
        owner = rp.lookup("user:42")

The node runs over the :class:`~ringpop.transport.Transport` it is given: by default
a TChannel :class:`~ringpop.tchannel.Channel` on ``listen`` built from
:class:`~ringpop.options.Options`; the simulator (``ringpop.testing``) passes an
in-memory one, so a simulated node is built by this same constructor, with every
part a real one has.

Over ~400 lines on purpose: this is the whole public API of a node in one class
(lifecycle, lookups, ownership, labels, forwarding), each method a thin delegation
to the module doing the work; splitting it would scatter the API, not the logic.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

from ringpop.checks import check_callable, check_seconds, is_utf8_text
from ringpop.clock import Clock, SystemClock
from ringpop.discovery import DiscoverProvider, from_spec
from ringpop.errors import RingpopError
from ringpop.events import (
    BootstrapStalled,
    ChecksumComputed,
    EventEmitter,
    IslandAvoided,
    LookupTiming,
    MembersEvicted,
    MembershipChanged,
    MemberUpdate,
    OwnershipChanged,
    Ready,
    RingChanged,
    ServerAdded,
    ServerRemoved,
)
from ringpop.forward import (
    Forwarder,
    ForwardError,
    ForwardOptions,
    ForwardOverrides,
    HttpHandler,
    HttpRequest,
    HttpResponse,
    ProxyError,
    RequestProxy,
)
from ringpop.forward.ownership import key_list
from ringpop.membership import labels as labelling
from ringpop.membership.damper import Damper
from ringpop.membership.events import MembershipEvicted, MembershipUpdated
from ringpop.membership.heal import Healer
from ringpop.membership.join import BootstrapError, JoinResult, bootstrap
from ringpop.membership.labels import IDENTITY_LABEL, check_identity
from ringpop.membership.network import TChannelNetwork
from ringpop.membership.node import SwimNode
from ringpop.membership.protocol import protocol_handlers
from ringpop.options import Options
from ringpop.ring import HashRing, RingChange
from ringpop.ring.ownership import OwnershipTracker, Range, owned_ranges, range_of
from ringpop.stats import Stats, StatsBackend
from ringpop.stats.recorder import StatsRecorder
from ringpop.tchannel import Channel, Handler, Request, Response
from ringpop.trace import Tracing
from ringpop.transport import Transport

if TYPE_CHECKING:
    from ringpop.actors import ActorSystem, JobContext, Leadership, Singleton

__all__ = ["BootstrapError", "NotReadyError", "Ringpop", "channel_for"]

log = logging.getLogger(__name__)


class NotReadyError(RingpopError, RuntimeError):
    """The node has not joined its cluster yet, or was closed: it cannot answer for the ring."""


def channel_for(listen: str, options: Options) -> Channel:
    """The TChannel :class:`~ringpop.tchannel.Channel` a node listening on ``listen``
    runs over by default, with the transport tunables of ``options``."""
    return Channel(
        listen,
        init_timeout=options.init_timeout,
        connect_timeout=options.connect_timeout,
        drain_timeout=options.drain_timeout,
        max_arg_size=options.max_arg_size,
        stale_period=options.stale_period,
        tls=options.tls,
    )


HostsSpec = DiscoverProvider | Sequence[str] | str | os.PathLike[str]


class Ringpop:
    """One member of a ringpop cluster.

    ``app`` must be equal across the cluster. ``listen`` is this node's address
    (``"ip:port"``; port 0 picks a free one at :meth:`start`): a TChannel
    :class:`~ringpop.tchannel.Channel` is built there with the transport options of
    ``options``. Give ``transport`` instead to run over another
    :class:`~ringpop.transport.Transport` (a channel built by hand, or the in-memory
    network of ``ringpop.testing``); the node then closes it on :meth:`close`.
    ``options`` is an :class:`~ringpop.options.Options` or a mapping of its fields
    (parsed configuration, checked the same way). ``identity`` sets the
    ``__identity`` label used for the ring's replica points (§16). ``http_handler``
    serves HTTP requests that belong to this node, whether they arrive directly
    (through :meth:`handle_or_proxy`) or forwarded by another node (``/proxy/req``).
    ``ownership_n`` is the replication factor of :class:`OwnershipChanged` events and
    the default ``n`` of :meth:`owns` and :meth:`owned_ranges`. ``clock`` and ``rng``
    are injected time and randomness (defaults: the system clock, a fresh
    ``random.Random``).

    Advanced: the parts behind the facade are reachable for tooling, tests and
    extensions, with no stability promise beyond that of their own modules:
    :attr:`channel` (the transport; applications register their own endpoints on
    it, as ``ringpop.state`` does), :attr:`node` (the SWIM membership node, its
    member list and hash ring), :attr:`healer` (partition healing), :attr:`damper`
    (flap damping), :attr:`proxy` (``/proxy/req`` forwarding) and :attr:`forwarder`
    (go-style forwarding). Everything else an application needs is a method of
    this class or an event on :attr:`events`.
    """

    def __init__(
        self,
        app: str,
        listen: str | None = None,
        *,
        transport: Transport | None = None,
        options: Options | Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        identity: str | None = None,
        stats_backend: StatsBackend | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        http_handler: HttpHandler | None = None,
        ownership_n: int = 3,
    ) -> None:
        if not isinstance(app, str) or not app or not is_utf8_text(app):
            raise ValueError(f"app name must be a non-empty string of text, not {app!r}")
        if (listen is None) == (transport is None):
            raise ValueError("give either listen (an ip:port to listen on) or a transport")
        self.app = app
        if isinstance(options, Mapping):  # parsed configuration: checked like Options(...)
            options = Options.from_mapping(options)
        elif options is not None and not isinstance(options, Options):
            raise TypeError(f"options must be an Options or a mapping, not {options!r:.80}")
        self.options = options if options is not None else Options()
        self._labels = dict(labels or {})
        labelling.check_labels(
            self._labels,
            max_key_bytes=self.options.label_max_key_size,
            max_value_bytes=self.options.label_max_value_size,
            max_labels=self.options.label_max_count,
        )
        if identity is not None:
            check_identity(identity)
            self._labels[IDENTITY_LABEL] = identity
        if stats_backend is not None and not all(
            callable(getattr(stats_backend, m, None)) for m in ("emit", "close")
        ):
            raise TypeError(
                f"stats_backend {stats_backend!r:.60} is not a StatsBackend (emit, close)"
            )
        self._stats_backend = stats_backend
        self._clock = clock if clock is not None else SystemClock()
        self._rng = rng
        if transport is None:
            assert listen is not None
            transport = channel_for(listen, self.options)
        self.channel: Transport = transport
        """The transport (advanced): a TChannel :class:`~ringpop.tchannel.Channel` unless
        another was given; applications may register their own services on it."""
        self.events = EventEmitter()
        """Typed events: ``rp.events.on(RingChanged, callback)`` or ``rp.events.subscribe()``."""
        _check_handler(http_handler)
        self._http_handler = http_handler
        self._node: SwimNode | None = None
        self._healer: Healer | None = None
        self._proxy: RequestProxy | None = None
        self._forwarder: Forwarder | None = None
        self._damper: Damper | None = None
        self._tracing: Tracing | None = None
        self._closed_event = asyncio.Event()  # close() was called (see _closed)
        self._closing: asyncio.Future[None] | None = None
        self._evicting: asyncio.Future[int] | None = None
        self._joining: asyncio.Future[JoinResult] | None = None  # a bootstrap in progress
        self._bootstrapped = False  # a bootstrap succeeded (or the simulator's warm start)
        self._evicted = False
        self._last_checksum = 0
        if isinstance(ownership_n, bool) or not isinstance(ownership_n, int) or ownership_n < 1:
            raise ValueError(f"ownership_n must be a whole number >= 1, not {ownership_n!r}")
        self.ownership_n = ownership_n
        self._ownership: OwnershipTracker | None = None
        self._actor_system: ActorSystem | None = None  # rp.actors, built on first use

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> str:
        """Listen and serve the ringpop endpoints (not yet joined); our address.

        A closed node cannot start again (its channel and loops are gone): make a new
        :class:`Ringpop`."""
        if self._closed:
            raise RingpopError(
                f"{self.app}: this Ringpop was closed; make a new one to start again"
            )
        if self._node is not None:
            return self._node.address
        address = await self.channel.listen()
        stats = Stats(address, self._stats_backend)
        StatsRecorder(stats).attach(self.events)  # events that count reach the back end
        node = SwimNode(
            address,
            TChannelNetwork(self.channel),
            app=self.app,
            options=self.options,
            clock=self._clock,
            rng=self._rng,
            labels=self._labels,
            stats=stats,
            events=self.events,
        )
        self._node = node
        self._healer = Healer(node, None)
        self._proxy = RequestProxy(
            node, self.channel, self.events, self.options, self._http_handler, clock=self._clock
        )
        self._forwarder = Forwarder(
            node, self.channel, self.events, self.options, clock=self._clock
        )
        self.events.on(MembershipUpdated, self._on_applied)  # the node reports on our bus
        self.events.on(MembershipEvicted, self._on_evicted)
        node.ring.add_listener(self._on_ring_change)
        # The ring already holds us: announce it like any later change.
        self._on_ring_change(RingChange(tuple(node.ring.servers()), (), node.ring.checksum))
        network = node.network
        network.serve(protocol_handlers(node))
        from ringpop.admin import admin_handlers  # admin sits above membership

        if self.options.damp_scoring_enabled:
            self._damper = Damper(node)
            network.serve(self._damper.handlers())
        self._tracing = Tracing(
            address, self.events, self.channel, self._status_counts, self._clock
        )
        network.serve(admin_handlers(node, self._healer, self._damper, self._tracing))
        self.channel.register("ringpop", "/proxy/req", self._proxy.serve)
        self._proxy.start_lag_sampler()
        return address

    def _on_applied(self, event: MembershipUpdated) -> None:
        checksum = event.checksum
        if self.events.wants(MembershipChanged):  # a join response: thousands of updates
            self.events.emit(
                MembershipChanged(
                    tuple(
                        MemberUpdate(
                            a.new.address,
                            a.new.status.value,
                            a.new.incarnation,
                            None if a.old is None else a.old.status.value,
                            a.local,
                        )
                        for a in event.applied
                    ),
                    checksum,
                )
            )
        self._checksum_changed(checksum)

    def _status_counts(self) -> dict[str, int]:
        """Members per status (all of them, tombstones included), for tracing."""
        counts: dict[str, int] = {}
        for member in self._require()[0].members:
            counts[member.status.value] = counts.get(member.status.value, 0) + 1
        return counts

    def _on_evicted(self, event: MembershipEvicted) -> None:
        checksum = event.checksum
        self.events.emit(MembersEvicted(tuple(m.address for m in event.evicted), checksum))
        self._checksum_changed(checksum)

    def _checksum_changed(self, checksum: int) -> None:
        if checksum != self._last_checksum:
            self.events.emit(ChecksumComputed(checksum, self._last_checksum))
            self._last_checksum = checksum

    def _on_ring_change(self, change: RingChange) -> None:
        servers = self._require()[0].ring.server_count
        self.events.emit(RingChanged(change.added, change.removed, change.checksum, servers))
        self._ownership_changed(change)
        if self.events.wants(ServerAdded):
            for address in change.added:
                self.events.emit(ServerAdded(address))
        if self.events.wants(ServerRemoved):
            for address in change.removed:
                self.events.emit(ServerRemoved(address))

    def _ownership_changed(self, change: RingChange) -> None:
        tracker = self._ownership  # None until bootstrap: the ring of one is no ownership
        if tracker is None:
            return
        if not self.events.wants(OwnershipChanged):
            tracker.skip(change)
            return
        self._emit_ownership(tracker, change)

    def _ownership_start(self) -> None:
        """At bootstrap: what we took over by joining (the ring without us -> with us)."""
        node = self._require()[0]
        me = node.address
        others = [address for address in node.ring.servers() if address != me]
        self._ownership = tracker = OwnershipTracker(node.ring, servers=others)
        if node.ring.has_server(me) and self.events.wants(OwnershipChanged):
            self._emit_ownership(tracker, RingChange((me,), (), node.ring.checksum))
        else:
            self._ownership = OwnershipTracker(node.ring)

    def _emit_ownership(self, tracker: OwnershipTracker, change: RingChange) -> None:
        diff = tracker.apply(change, self.ownership_n)
        me = self._require()[0].address
        self.events.emit(
            OwnershipChanged(
                me,
                diff.n,
                tuple(diff.gained(me)),
                tuple(diff.lost(me)),
                tuple(diff.gained(me, primary=True)),
                tuple(diff.lost(me, primary=True)),
                diff.changes,
                change.checksum,
            )
        )

    async def bootstrap(self, hosts: HostsSpec, *, discover: HostsSpec | None = None) -> JoinResult:
        """Join the cluster named by ``hosts`` (list, hosts file, ``dns:`` spec or provider).

        Returns when joined (the node is then ready and gossiping); raises
        :class:`BootstrapError` if no quorum of joins succeeded within
        ``options.max_join_duration`` (unless ``options.join_forever``).

        ``discover`` is the cluster's discovery source when it is not ``hosts`` (e.g.
        a seed list to start from, DNS to heal from): the partition healer reads it,
        and a bootstrap list naming only this node does not make a one-node cluster
        while ``discover`` names others (an :class:`IslandAvoided` event, then joins).

        A call while a bootstrap is in progress waits for that one and returns its
        result; a call after one succeeded is a :class:`RingpopError` (a failed
        bootstrap may be retried).
        """
        await self.start()
        node, healer = self._require()
        if self._joining is not None:  # a second caller waits for the same join
            return await self._await_join(self._joining, node.address, owner=False)
        if self._bootstrapped:
            raise RingpopError(
                f"{node.address}: already bootstrapped (bootstrap() joins once; "
                "a failed bootstrap may be retried)"
            )
        provider = from_spec(hosts)
        discovery = provider if discover is None else from_spec(discover)
        healer.provider = discovery
        joining = self._joining = asyncio.ensure_future(
            bootstrap(
                node,
                provider,
                discover=discovery,
                on_stalled=lambda elapsed, joined: self.events.emit(
                    BootstrapStalled(elapsed, joined)
                ),
                on_island=lambda hosts: self.events.emit(IslandAvoided(tuple(hosts))),
            )
        )
        try:
            result = await self._await_join(joining, node.address, owner=True)
        finally:
            self._joining = None
        if self._closed:  # closed as the join finished
            raise RingpopError(f"{node.address}: closed while bootstrapping")
        self._joined()
        return result

    async def _await_join(
        self, joining: asyncio.Future[JoinResult], me: str, *, owner: bool
    ) -> JoinResult:
        """The join's result. The ``owner`` (the call that started it) cancelled
        cancels the join; another caller only stops waiting. A join ended by
        :meth:`close`, or by its owner's cancellation, is a :class:`RingpopError` for
        the callers that were not cancelled themselves."""
        try:
            return await (joining if owner else asyncio.shield(joining))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this caller was cancelled, not (only) the join
            why = "closed while bootstrapping" if self._closed else "the bootstrap was cancelled"
            raise RingpopError(f"{me}: {why}") from None

    def _joined(self) -> None:
        """Once joined (the node marked ready): start healing and damping, seed the
        ownership tracker, emit :class:`Ready`. Also the last step of the simulator's
        warm start (``ringpop.testing.SimCluster.warm_start``)."""
        node, healer = self._require()
        self._bootstrapped = True
        healer.start()
        if self._damper is not None:
            self._damper.start()
        self._ownership_start()
        self.events.emit(Ready(node.address, len(node.members)))

    def add_self_eviction_hooks(
        self,
        *,
        before: Callable[[], Awaitable[None] | None] | None = None,
        after: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """Run ``before`` ahead of self-eviction (e.g. stop taking new work) and ``after``
        once the other members were told (e.g. flush state). Plain or async functions;
        they run on :meth:`self_evict` and on :meth:`close`. Needs :meth:`start` first.
        """
        for name, hook in (("before", before), ("after", after)):
            if hook is not None:
                check_callable(f"self-eviction hook {name}", hook)
        node = self._require()[0]
        if before is not None:
            node.pre_evict_hooks.append(before)
        if after is not None:
            node.post_evict_hooks.append(after)

    async def self_evict(self) -> int:
        """Leave the cluster gracefully (§15) but keep serving until :meth:`close`.

        We declare ourselves faulty (out of every ring, ours included) and tell a
        few members; requests still in flight keep working, new ones for our keys
        go to their new owners. Returns how many members were told.
        """
        node = self._require()[0]
        self._evicted = True
        evicting = asyncio.ensure_future(node.self_evict())
        self._evicting = evicting
        return await asyncio.shield(evicting)  # a close() meanwhile waits for it

    async def close(self, *, self_evict: bool = True) -> None:
        """Leave the cluster gracefully (self-eviction, §15) and release everything.

        Closing again, or while a close runs, returns once that close is done."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
            return
        self._closed_event.set()
        self._closing = asyncio.ensure_future(self._close(self_evict))
        await asyncio.shield(self._closing)

    async def _close(self, self_evict: bool) -> None:
        if self._joining is not None:
            self._joining.cancel()  # a bootstrap in progress ends now, with an error
        node = self._node
        if node is not None:
            evicting = self._evicting
            if evicting is not None and not evicting.done():
                # a self_evict() running: stopping now would cut its messages off
                await asyncio.wait([evicting])
            elif self_evict and node.ready and not self._evicted:
                try:
                    await node.self_evict()
                except Exception as error:
                    log.warning("%s: self-eviction failed: %s", node.address, error)
            await node.stop()
        if self._tracing is not None:
            self._tracing.close()
        await self.channel.close()
        if self._stats_backend is not None:
            self._stats_backend.close()

    async def __aenter__(self) -> Ringpop:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- queries --------------------------------------------------------------------------

    def _require(self) -> tuple[SwimNode, Healer]:
        if self._node is None or self._healer is None:
            raise RuntimeError("Ringpop is not started: await start() or bootstrap() first")
        return self._node, self._healer

    @property
    def node(self) -> SwimNode:
        """Advanced: the SWIM membership node (member list, ring, gossip)."""
        return self._require()[0]

    @property
    def ring(self) -> HashRing:
        """Advanced: the hash ring over the reachable members (read it; do not change it)."""
        return self._require()[0].ring

    @property
    def damper(self) -> Damper | None:
        """Advanced: flap damping (``None`` when ``options.damp_scoring_enabled`` is off)."""
        return self._damper

    @property
    def healer(self) -> Healer:
        """Advanced: the partition healer."""
        return self._require()[1]

    @property
    def is_ready(self) -> bool:
        """Whether bootstrap finished and the node is not closed: whether lookups answer
        (``if rp.is_ready: rp.lookup(key)`` holds during shutdown too)."""
        return self._node is not None and self._node.ready and not self._closed

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until ready (``TimeoutError`` after ``timeout`` seconds; ``RingpopError``
        if the node is closed before it was ready: it never will be)."""
        if timeout is not None:
            check_seconds("wait_ready: timeout", timeout, zero_ok=True)
        node = self._require()[0]
        async with asyncio.timeout(timeout):
            if not node.ready and not self._closed:
                ready = asyncio.ensure_future(node.wait_ready())
                closed = asyncio.ensure_future(self._closed_event.wait())
                try:
                    await asyncio.wait((ready, closed), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    ready.cancel()
                    closed.cancel()
        if not node.ready:
            raise RingpopError(f"{self.app}: this Ringpop was closed before it was ready")

    def whoami(self) -> str:
        """This node's address."""
        return self._require()[0].address

    @property
    def is_leaving(self) -> bool:
        """Whether the node self-evicted or closed (it should take no new traffic)."""
        return self._evicted or self._closed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (nothing is served, sent or forwarded since)."""
        return self._closed

    @property
    def _closed(self) -> bool:
        return self._closed_event.is_set()

    def _require_ready(self, what: str) -> SwimNode:
        node = self._require()[0]
        if self._closed:  # as ringpop-go: no lookups once destroyed
            raise NotReadyError(
                f"{what} after close: this Ringpop left the ring and routes nothing"
            )
        if not node.ready:
            raise NotReadyError(
                f"{what} before bootstrap finished: the ring holds only this node, so every "
                "key would map here. Await bootstrap() or wait_ready() first "
                "(rp.node.ring has the local ring as it is)"
            )
        return node

    def lookup(self, key: str | bytes) -> str:
        """The address owning ``key``.

        Raises :class:`NotReadyError` before :meth:`bootstrap` finished (ringpop-node
        answers with itself then, which silently routes every key here) and after
        :meth:`close`.
        """
        node = self._require_ready("lookup()")
        if self.events.wants(LookupTiming):
            started = time.perf_counter()
            owner = node.ring.lookup(key)
            self.events.emit(LookupTiming(key, time.perf_counter() - started))
        else:
            owner = node.ring.lookup(key)
        return owner if owner is not None else node.address

    def lookup_n(self, key: str | bytes, n: int) -> list[str]:
        """Up to ``n`` distinct owners of ``key`` in ring order (:class:`NotReadyError`
        before bootstrap finished and after close)."""
        return self._require_ready("lookup_n()").ring.lookup_n(key, n)

    def owns(self, key: str | bytes, n: int = 1) -> bool:
        """Whether we are the owner of ``key`` (one of its ``n`` first owners);
        :class:`NotReadyError` as :meth:`lookup`."""
        if n.__class__ is int and n == 1:  # True too is 1: lookup_n refuses it
            return self.lookup(key) == self._require()[0].address
        node = self._require_ready("owns()")
        return node.address in node.ring.lookup_n(key, n)

    def owned_ranges(self, n: int | None = None, *, rank: int | None = None) -> list[Range]:
        """Hash ranges whose ``n``-preference list holds us (at ``rank`` if given).

        ``n`` defaults to ``ownership_n``; ``owned_ranges(1)`` are the ranges we own.
        Sorted, adjacent ranges merged; ``O(points * n)`` (the whole ring is walked).
        """
        node = self._require()[0]
        return owned_ranges(
            node.ring, node.address, self.ownership_n if n is None else n, rank=rank
        )

    def range_of(self, key: str | bytes) -> Range:
        """The hash range holding ``key``: the keys that share its owning ring point."""
        node = self._require()[0]
        found = range_of(node.ring, key)
        if found is None:  # an empty ring: everything is ours, as for lookup
            return Range(0, 1 << 32)
        return found

    # -- labels (§16) -------------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        """Our labels (internal ``__`` keys included, e.g. ``__identity``)."""
        return dict(self._require()[0].local.labels)

    def set_label(self, key: str, value: str) -> None:
        """Set one of our labels; gossiped with a new incarnation. Raises ``LabelError``.

        Limits (§16): key <= 32 bytes, value <= 128 bytes, at most 5 labels; keys
        starting with ``__`` are internal and cannot be set here.
        """
        node = self._require()[0]
        options = self.options
        updated = labelling.set_label(
            node.local.labels,
            key,
            value,
            max_key_bytes=options.label_max_key_size,
            max_value_bytes=options.label_max_value_size,
            max_labels=options.label_max_count,
        )
        if updated != node.local.labels:
            node.set_local_labels(updated)

    def remove_labels(self, *keys: str) -> None:
        """Remove some of our labels (missing ones are ignored); gossiped."""
        node = self._require()[0]
        updated = labelling.remove_labels(node.local.labels, keys)
        if updated != node.local.labels:
            node.set_local_labels(updated)

    def members(
        self, labels: Mapping[str, str] | None = None, *, reachable: bool = True
    ) -> list[str]:
        """Addresses of members (sorted), optionally only those carrying all ``labels``.

        ``rp.members({"role": "cache"})``: the reachable members with ``role=cache``.
        """
        if labels is not None and not isinstance(labels, Mapping):
            raise TypeError(f"labels must be a mapping of label to value, not {labels!r:.80}")
        wanted = dict(labels or {}).items()
        return sorted(
            m.address
            for m in self._require()[0].members
            if (m.is_reachable or not reachable) and wanted <= m.labels.items()
        )

    # -- forwarding ------------------------------------------------------------------------

    def set_http_handler(self, handler: HttpHandler | None) -> None:
        """Set the application handler for HTTP requests owned by this node."""
        _check_handler(handler)
        self._http_handler = handler
        if self._proxy is not None:
            self._proxy.handler = handler

    @property
    def proxy(self) -> RequestProxy:
        """Advanced: node-style forwarding (``/proxy/req``)."""
        if self._proxy is None:
            raise RuntimeError("Ringpop is not started: await start() or bootstrap() first")
        return self._proxy

    @property
    def forwarder(self) -> Forwarder:
        """Advanced: go-style forwarding of the application's own TChannel calls."""
        if self._forwarder is None:
            raise RuntimeError("Ringpop is not started: await start() or bootstrap() first")
        return self._forwarder

    async def handle_or_proxy(
        self,
        key: str | Sequence[str],
        request: HttpRequest,
        options: ForwardOptions | Mapping[str, Any] | None = None,
        **overrides: Unpack[ForwardOverrides],
    ) -> HttpResponse:
        """Serve ``request`` with the HTTP handler if we own ``key``, else proxy it (§5.8).

        Always returns a response: forwarding errors become 4xx/5xx responses
        (413 for bodies over ``options.body_limit``, 503 when retries run out).
        ``options`` (a :class:`~ringpop.forward.ForwardOptions`) or the same names as
        keyword arguments (``timeout``, ``max_retries``, ``retry_schedule``,
        ``reroute_retries``, ``failover``) override the ``proxy_*`` options. Once
        closed: 503 (``ringpop.request-proxy.closed``) at once. ``TypeError`` for a
        request whose body is not bytes or whose headers are not text, whoever owns
        the key.
        """
        proxy = self.proxy
        if self._closed:
            return ProxyError(
                "ringpop.request-proxy.closed",
                f"{self.app}: this Ringpop was closed: it serves and forwards nothing",
                503,
                retry_after=1,
            ).as_response()
        return await proxy.handle_or_proxy(key, request, ForwardOptions.of(options, overrides))

    async def forward(
        self,
        keys: str | Sequence[str],
        service: str,
        endpoint: str,
        arg2: bytes = b"",
        arg3: bytes = b"",
        *,
        scheme: str = "json",
        options: ForwardOptions | Mapping[str, Any] | None = None,
        **overrides: Unpack[ForwardOverrides],
    ) -> Response:
        """Call ``service``/``endpoint`` on the owner of ``keys`` (go style, §5.9).

        The call carries ``ringpop-forward-keys`` (``json`` and ``thrift`` schemes),
        so the owner handles it whatever its ring says. Returns the owner's response,
        application errors included (they are not retried); transport failures are
        retried on ``retry_schedule`` (re-looking the keys up with
        ``reroute_retries``) and raise :class:`~ringpop.forward.ForwardError` at the
        end. ``options`` (a :class:`~ringpop.forward.ForwardOptions`) or the same names
        as keyword arguments override the ``forward_*`` options. Our own keys are sent
        to ourselves over TChannel, like any other. Once closed: :class:`ForwardError` at once.
        """
        wanted = key_list(keys)
        forwarder = self.forwarder
        if self._closed:
            raise ForwardError(f"{self.app}: this Ringpop was closed: it forwards nothing")
        return await forwarder.forward(
            wanted, service, endpoint, arg2, arg3, scheme=scheme, options=options, **overrides
        )

    def register_forwarded(
        self,
        service: str,
        endpoint: str,
        handler: Handler,
        keys: Callable[[Request], str | Sequence[str]],
    ) -> None:
        """Serve an application endpoint with handle-or-forward on the key(s)
        ``keys(request)`` returns (one ``str`` or a list); both must be callable."""
        check_callable("register_forwarded: handler", handler)
        check_callable("register_forwarded: keys", keys)
        forwarder = self.forwarder

        async def serve(request: Request) -> Response:
            return await forwarder.handle_or_forward(keys(request), request, handler)

        self.channel.register(service, endpoint, serve)

    # -- actors, leadership, singletons (ringpop.actors; built on first use) ------------------

    @property
    def actors(self) -> ActorSystem:
        """This node's actors (``register``, ``send``, ``ask``): docs/actors.md.

        Built on first use over a replicated in-memory store (service
        ``ringpop-actors-state``): touch it on every node at start-up, after
        :meth:`start`, so every node serves its endpoints before traffic comes.
        """
        system = self._actor_system
        if system is None:
            from ringpop.actors import ActorSystem, ReplicatedState
            from ringpop.state.memory import MemoryStore
            from ringpop.state.replicated import ReplicatedStore

            kv = ReplicatedStore(self, MemoryStore(), service="ringpop-actors-state")
            state = ReplicatedState(self, kv)
            system = ActorSystem(self, state, clock=self._clock, own_state=True)
            self._actor_system = system
        return system

    def leadership(self, name: str) -> Leadership:
        """Leader election for ``name``: the owner of its key leads (``rp.actors``)."""
        return self.actors.leadership(name)

    def singleton(
        self,
        name: str,
        job: Callable[[JobContext], Awaitable[None]],
        *,
        every: float | None = None,
    ) -> Singleton:
        """Run ``job`` on one node (the leader of ``singleton:<name>``), moved with it."""
        return self.actors.singleton(name, job, every=every)


def _check_handler(handler: object) -> None:
    if handler is not None:
        check_callable("the HTTP handler (or None)", handler)
