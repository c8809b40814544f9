"""Where actors, leaders and singletons keep what must outlive a node: a small protocol.

:class:`ReplicatedState` keeps it in a :class:`~ringpop.state.replicated.ReplicatedStore`
(versioned, on the key's ``n`` replicas, quorum reads and writes); the quorum is
sized to the cluster (``n = min(3, members)``, ``r = w = n // 2 + 1``) so a node
alone or a pair still works. :class:`LocalState` is a dict, for tests and
single-node use. Values are bytes; ``get`` returns the value and its version.
"""

from __future__ import annotations

from typing import Protocol

from ringpop.actors.facade import Facade
from ringpop.state.hlc import Version
from ringpop.state.replicated import ReplicatedStore
from ringpop.state.replicator import ReplicaOptions

__all__ = ["LocalState", "ReplicatedState", "StateStore"]


class StateStore(Protocol):
    """Durable-enough bytes by key."""

    async def get(self, key: str) -> tuple[bytes, Version] | None:
        """The value and its version (``None``: never written, or deleted)."""
        ...

    async def put(self, key: str, value: bytes) -> Version:
        """Store ``value``; the version it was written with."""
        ...


class ReplicatedState:
    """A :class:`StateStore` over a ``ReplicatedStore`` (quorums sized to the cluster)."""

    def __init__(self, rp: Facade, kv: ReplicatedStore, *, n: int = 3) -> None:
        self.rp = rp
        self.kv = kv
        self.n = n

    def _options(self) -> ReplicaOptions:
        n = max(1, min(self.n, len(self.rp.members())))
        quorum = n // 2 + 1
        return ReplicaOptions(n=n, r=quorum, w=quorum, timeout=self.kv.options.timeout)

    async def get(self, key: str) -> tuple[bytes, Version] | None:
        record = await self.kv.get(key, self._options())
        if record is None or record.value is None:
            return None
        return record.value, record.version

    async def put(self, key: str, value: bytes) -> Version:
        return await self.kv.put(key, value, self._options())

    async def close(self) -> None:
        """Stop serving the store's endpoints and delivering its hints."""
        await self.kv.close()


class LocalState:
    """A :class:`StateStore` in this process's memory (tests, one node)."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[bytes, Version]] = {}
        self._counter = 0

    async def get(self, key: str) -> tuple[bytes, Version] | None:
        return self.values.get(key)

    async def put(self, key: str, value: bytes) -> Version:
        self._counter += 1
        version = Version(self._counter, 0, "local")
        self.values[key] = (value, version)
        return version
