"""``Ringpop``: the public facade that wires transport, membership and ring together.

::

    async with Ringpop("myapp", "127.0.0.1:3000") as rp:
        await rp.bootstrap(["127.0.0.1:3000", "127.0.0.1:3001"])
        owner = rp.lookup("user:42")
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from ringpop.clock import Clock, SystemClock
from ringpop.discovery import DiscoverProvider, from_spec
from ringpop.membership.heal import Healer
from ringpop.membership.join import BootstrapError, JoinResult, bootstrap
from ringpop.membership.labels import IDENTITY_LABEL, check_identity
from ringpop.membership.network import TChannelNetwork
from ringpop.membership.node import SwimNode
from ringpop.membership.protocol import protocol_handlers
from ringpop.options import Options
from ringpop.stats import Stats, StatsBackend
from ringpop.tchannel import Channel

__all__ = ["BootstrapError", "Ringpop"]

log = logging.getLogger(__name__)

HostsSpec = DiscoverProvider | Sequence[str] | str | Path


class Ringpop:
    """One member of a ringpop cluster.

    ``app`` must be equal across the cluster. ``listen`` is this node's address
    (``"ip:port"``; port 0 picks a free one at :meth:`start`). ``identity`` sets the
    ``__identity`` label used for the ring's replica points (§16).
    """

    def __init__(
        self,
        app: str,
        listen: str,
        *,
        options: Options | None = None,
        labels: Mapping[str, str] | None = None,
        identity: str | None = None,
        stats_backend: StatsBackend | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not app:
            raise ValueError("app name must be a non-empty string")
        self.app = app
        self.options = options if options is not None else Options()
        self._listen = listen
        self._labels = dict(labels or {})
        if identity is not None:
            check_identity(identity)
            self._labels[IDENTITY_LABEL] = identity
        self._stats_backend = stats_backend
        self._clock = clock if clock is not None else SystemClock()
        self._rng = rng
        self.channel = Channel(listen, init_timeout=self.options.init_timeout)
        self._node: SwimNode | None = None
        self._healer: Healer | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> str:
        """Listen and serve the ringpop endpoints (not yet joined); our address."""
        if self._node is not None:
            return self._node.address
        address = await self.channel.listen()
        node = SwimNode(
            address,
            TChannelNetwork(self.channel),
            app=self.app,
            options=self.options,
            clock=self._clock,
            rng=self._rng,
            labels=self._labels,
            stats=Stats(address, self._stats_backend),
        )
        self._node = node
        self._healer = Healer(node, None)
        network = node.network
        network.serve(protocol_handlers(node))
        from ringpop.admin import admin_handlers  # admin sits above membership

        network.serve(admin_handlers(node, self._healer))
        return address

    async def bootstrap(self, hosts: HostsSpec) -> JoinResult:
        """Join the cluster named by ``hosts`` (list, hosts file, ``dns:`` spec or provider).

        Returns when joined (the node is then ready and gossiping); raises
        :class:`BootstrapError` if no quorum of joins succeeded within
        ``options.max_join_duration``.
        """
        await self.start()
        provider = from_spec(hosts)
        node, healer = self._require()
        healer.provider = provider
        result = await bootstrap(node, provider)
        healer.start()
        return result

    async def close(self, *, self_evict: bool = True) -> None:
        """Leave the cluster gracefully (self-eviction, §15) and release everything."""
        if self._closed:
            return
        self._closed = True
        node = self._node
        if node is not None:
            if self_evict and node.ready:
                try:
                    await node.self_evict()
                except Exception as error:
                    log.warning("%s: self-eviction failed: %s", node.address, error)
            await node.stop()
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
        """The membership node (for advanced use and admin tooling)."""
        return self._require()[0]

    @property
    def healer(self) -> Healer:
        """The partition healer."""
        return self._require()[1]

    @property
    def is_ready(self) -> bool:
        """Whether bootstrap finished."""
        return self._node is not None and self._node.ready

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until ready (``TimeoutError`` after ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            await self._require()[0].wait_ready()

    def whoami(self) -> str:
        """This node's address."""
        return self._require()[0].address

    def lookup(self, key: str | bytes) -> str:
        """The address owning ``key`` (our own address on an empty ring, like node)."""
        node = self._require()[0]
        owner = node.ring.lookup(key)
        return owner if owner is not None else node.address

    def lookup_n(self, key: str | bytes, n: int) -> list[str]:
        """Up to ``n`` distinct owners of ``key`` in ring order."""
        return self._require()[0].ring.lookup_n(key, n)
