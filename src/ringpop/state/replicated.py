"""Versioned keys on their ``n`` replicas: quorum reads with read repair, quorum writes.

::

    store = ReplicatedStore(rp, SQLiteStore("node.db"), ReplicaOptions(n=3, r=2, w=2))
    version = await store.put("user:42", b"hello")
    record = await store.get("user:42")          # newest of r replicas; stale ones repaired

Every node runs a ``ReplicatedStore`` over its own :class:`~ringpop.state.store.Store`;
it serves the JSON endpoints of :mod:`ringpop.state.wire` on ``service`` (default
``ringpop-state``). Any node coordinates: writes are stamped by its hybrid logical
clock and sent to every replica (``w`` must apply or already hold them); what a
replica failed to take is handed to another node as a hint and delivered when the
replica is back (:mod:`ringpop.state.hints`). Reads ask replicas (``r`` must
answer), return the newest version and write it back to the replicas that answered
with an older one or none (read repair, awaited before returning). A parallel read
returns at its quorum; once the replicas still out then have answered, any replica
holding an older version than the newest of all the answers is repaired in the
background.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ringpop.clock import SystemClock
from ringpop.errors import RingpopError
from ringpop.state import wire
from ringpop.state.hints import HintedHandoff
from ringpop.state.hlc import ClockDriftError, HybridClock, Version, newer
from ringpop.state.host import Host
from ringpop.state.replicator import (
    Outcome,
    ReplicaOptions,
    ReplicaResponse,
    Replicator,
    replica_options,
)
from ringpop.state.store import Record, Store
from ringpop.state.wire import GET, HINT, PUT
from ringpop.tchannel import BadRequestError, Request, Response, too_large
from ringpop.tchannel.hostport import validate_host_port

__all__ = ["DEFAULT_SERVICE", "ReplicatedStore"]

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "ringpop-state"


_STORE_METHODS = ("get", "put", "scan", "delete_range", "digest", "close")
"""What :class:`~ringpop.state.store.Store` asks of a store."""


class ReplicatedStore:
    """One node's share of replicated, versioned keys (see the module docstring).

    ``ringpop`` must be started (it serves our endpoints on its channel); ``store`` is
    this node's storage (closed by its owner, not here); ``options`` the default
    N/R/W, fan-out, timeout and hint settings (each call may pass its own);
    ``clock`` the hybrid clock stamping our writes (default: wall clock, our
    address); ``hint_interval`` seconds between hint deliveries; ``rng`` the
    random source of the balanced fan-out.
    """

    def __init__(
        self,
        ringpop: Host,
        store: Store,
        options: ReplicaOptions | None = None,
        *,
        service: str = DEFAULT_SERVICE,
        clock: HybridClock | None = None,
        hint_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        missing = [m for m in _STORE_METHODS if not callable(getattr(store, m, None))]
        if missing:
            raise TypeError(f"store {store!r:.60} is not a Store: no {', '.join(missing)}")
        self.ringpop = ringpop
        self.store = store
        self.replicator = Replicator(ringpop.forwarder, service, options, rng=rng)
        self.clock = clock if clock is not None else HybridClock(ringpop.whoami(), _wall_ms)
        self.repairs = 0
        """Records written back to stale replicas by reads so far."""
        self.handoff = HintedHandoff(ringpop, self.replicator, interval=hint_interval)
        """Hints held here for failed replicas, and their delivery."""
        self.service = service
        self._closed = False
        self._late: set[asyncio.Future[Any]] = set()  # hints and repairs of late replicas
        ringpop.channel.register(service, GET, self._serve_get)
        ringpop.channel.register(service, PUT, self._serve_put)
        ringpop.channel.register(service, HINT, self._serve_hint)

    async def close(self) -> None:
        """Stop serving and delivering hints (the store stays open: close it yourself);
        reads and writes through this object raise ``RingpopError`` from then on."""
        self._closed = True
        for endpoint in (GET, PUT, HINT):
            self.ringpop.channel.unregister(self.service, endpoint)
        self.replicator.cancel_stragglers()
        for task in list(self._late):
            task.cancel()
        await self.handoff.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RingpopError(
                f"{self.ringpop.whoami()}: this ReplicatedStore was closed (make a new one)"
            )

    @property
    def options(self) -> ReplicaOptions:
        """The default N/R/W, fan-out and timeout."""
        return self.replicator.options

    # -- the replica side ------------------------------------------------------------

    async def _serve_get(self, request: Request) -> Response:
        wanted = wire.decode_body(request, wire.Keys)
        found = [await self.store.get(key) for key in wanted.keys]
        return Response(b"", msgspec.json.encode(wire.Found(found)))

    async def _serve_put(self, request: Request) -> Response:
        written = wire.decode_body(request, wire.Written)
        refused = self._observe_all(written.records)
        if refused is not None:
            return refused
        applied = [await self.store.put(record) for record in written.records]
        return Response(b"", msgspec.json.encode(wire.Applied(applied)))

    async def _serve_hint(self, request: Request) -> Response:
        hinted = wire.decode_body(request, wire.Hinted)
        reason = validate_host_port(hinted.target, allow_ephemeral=False)
        if reason is not None:
            raise BadRequestError(f"{request.endpoint}: target: {reason}")
        refused = self._observe_all(hinted.records)
        if refused is not None:
            return refused
        held = self.handoff.hold(hinted.target, hinted.records)
        return Response(b"", msgspec.json.encode(wire.Held(held)))

    def _observe_all(self, records: list[Record]) -> Response | None:
        for record in records:
            try:
                self.clock.observe(record.version)
            except ClockDriftError as error:
                return Response.application_error("ringpop.state.clock-drift", str(error))
        return None

    # -- the coordinator side --------------------------------------------------------

    async def put(
        self, key: str, value: bytes | None, options: ReplicaOptions | None = None
    ) -> Version:
        """Write ``value`` (``None`` deletes) on the key's replicas; its version."""
        return (await self.put_many({key: value}, options))[key]

    async def delete(self, key: str, options: ReplicaOptions | None = None) -> Version:
        """Delete ``key`` (a versioned tombstone) on its replicas."""
        return await self.put(key, None, options)

    async def put_many(
        self, values: Mapping[str, bytes | None], options: ReplicaOptions | None = None
    ) -> dict[str, Version]:
        """Write several keys, one call per destination; raises ``QuorumError``.

        Keys are ``str``; values ``bytes`` (or bytes-like, copied) or ``None`` to
        delete: anything else is a ``TypeError`` before anything is sent (a ``bytes``
        key went out as its base64 text, a ``str`` value was taken as base64).
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"put_many takes a mapping of key to value, not {values!r:.80}")
        self._check_open()
        by_key = {
            _checked_key(key): Record(key, _checked_value(key, value), self.clock.now())
            for key, value in values.items()
        }

        def body(keys: Sequence[str]) -> bytes:
            return msgspec.json.encode(wire.Written([by_key[key] for key in keys]))

        opts = replica_options(options, self.options)
        outcome = await self.replicator.fan_out("write", list(by_key), PUT, body, opts)
        failures = [f for f in outcome.failures if not too_large(f.reason)]  # never deliverable
        if failures and opts.hinted_handoff:
            outside = await self.handoff.place(failures, by_key, opts.n, opts.timeout)
            if opts.sloppy_quorum:
                for key, count in outside.items():
                    outcome.successes[key] += count
        if outcome.stragglers and opts.hinted_handoff:
            self._hint_late(outcome, by_key, opts)
        outcome.check()
        return {key: r.version for key, r in by_key.items()}

    def _hint_late(self, outcome: Outcome, by_key: dict[str, Record], opts: ReplicaOptions) -> None:
        """Once the calls still out when the write met its quorum have ended, hint the
        replicas among them that failed (a stalled or cut-off replica)."""
        known = len(outcome.failures)

        def hint() -> Awaitable[object] | None:
            late = [f for f in outcome.failures[known:] if not too_large(f.reason)]
            return self.handoff.place(late, by_key, opts.n, opts.timeout) if late else None

        self._after_stragglers(outcome, hint)

    def _after_stragglers(
        self, outcome: Outcome, then: Callable[[], Awaitable[object] | None]
    ) -> None:
        """Once every call still out at the quorum has ended, call ``then`` (unless
        closed); what it returns runs as a task, cancelled on close."""
        left = len(outcome.stragglers)

        def ended(_: asyncio.Future[None]) -> None:
            nonlocal left
            left -= 1
            if left or self._closed:
                return
            work = then()
            if work is not None:
                task = asyncio.ensure_future(work)
                self._late.add(task)
                task.add_done_callback(self._late.discard)

        for straggler in outcome.stragglers:
            straggler.add_done_callback(ended)

    async def get(self, key: str, options: ReplicaOptions | None = None) -> Record | None:
        """The newest live record of ``key`` among ``r`` replicas (``None``: absent/deleted)."""
        return (await self.get_many([key], options))[key]

    async def get_many(
        self, keys: Sequence[str], options: ReplicaOptions | None = None
    ) -> dict[str, Record | None]:
        """Read several keys (one call per destination), repairing stale replicas.

        ``keys`` is a sequence of ``str`` (a lone ``str`` is a ``TypeError``, not its
        characters)."""
        if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
            raise TypeError(f"get_many takes a list of keys, not {keys!r:.80}")
        self._check_open()
        keys = [_checked_key(key) for key in dict.fromkeys(keys)]
        outcome = await self.replicator.fan_out(
            "read",
            keys,
            GET,
            lambda carried: msgspec.json.encode(wire.Keys(list(carried))),
            options,
        )
        responses = outcome.check()
        seen: dict[str, dict[str, Record | None]] = {key: {} for key in keys}
        for answer in responses:
            for key, record in _found(answer):
                seen[key][answer.destination] = record
        newest, stale = self._newest_and_stale(seen)
        if outcome.stragglers:
            self._repair_late(outcome, len(responses), seen, newest, options)
        if stale:
            await self._repair(stale, options)
        return {k: (None if r is None or r.deleted else r) for k, r in newest.items()}

    def _newest_and_stale(
        self, seen: dict[str, dict[str, Record | None]]
    ) -> tuple[dict[str, Record | None], dict[str, list[Record]]]:
        """From each key's records by replica: its newest record, and by replica the
        newest records it lacks (it answered an older version or none)."""
        newest: dict[str, Record | None] = {}
        stale: dict[str, list[Record]] = {}
        for key, replies in seen.items():
            best: Record | None = None
            for record in replies.values():
                if record is not None and newer(
                    record.version, None if best is None else best.version
                ):
                    best = record
            newest[key] = best
            if best is None:
                continue
            self._observe(best.version)
            for destination, record in replies.items():
                if record is None or record.version < best.version:
                    stale.setdefault(destination, []).append(best)
        return newest, stale

    def _repair_late(
        self,
        outcome: Outcome,
        known: int,
        seen: dict[str, dict[str, Record | None]],
        newest: dict[str, Record | None],
        options: ReplicaOptions | None,
    ) -> None:
        """Once the replicas still out when the read met its quorum have answered,
        repair those among them that hold an older version than the newest seen; and,
        if one of them answered a newer version than the read returned, the replicas
        of the quorum too."""

        def repair() -> Awaitable[object] | None:
            # the quorum's replicas hold what the read returned (repaired if they lacked it)
            replies: dict[str, dict[str, Record | None]] = {
                key: dict.fromkeys(seen[key], newest[key]) for key in seen
            }
            for answer in outcome.responses[known:]:
                for key, record in _found(answer):
                    replies[key][answer.destination] = record
            stale = self._newest_and_stale(replies)[1]
            return self._repair(stale, options) if stale else None

        self._after_stragglers(outcome, repair)

    def _observe(self, version: Version) -> None:
        try:
            self.clock.observe(version)
        except ClockDriftError as error:
            log.warning("%s: %s", self.ringpop.whoami(), error)

    async def _repair(self, stale: dict[str, list[Record]], options: ReplicaOptions | None) -> None:
        timeout = replica_options(options, self.options).timeout

        async def repair(destination: str, records: list[Record]) -> None:
            body = msgspec.json.encode(wire.Written(records))
            try:
                await self.replicator.send(
                    destination, [r.key for r in records], PUT, body, timeout
                )
            except Exception as error:
                log.info("read repair of %s failed: %s", destination, error)
                return
            self.repairs += len(records)

        await asyncio.gather(*(repair(d, records) for d, records in stale.items()))


def _found(answer: ReplicaResponse) -> list[tuple[str, Record | None]]:
    """The records a replica answered a read with, by key; none (logged) if the
    answer does not decode or does not match the keys asked for."""
    try:
        records = msgspec.json.decode(answer.response.arg3, type=wire.Found).records
    except msgspec.DecodeError as error:
        log.warning("%s answered a read that does not decode: %s", answer.destination, error)
        return []
    if len(records) != len(answer.keys):
        log.warning(
            "%s answered %d records for %d keys",
            answer.destination,
            len(records),
            len(answer.keys),
        )
        return []
    return list(zip(answer.keys, records, strict=True))


def _wall_ms() -> int:
    return SystemClock().now_ms()


def _checked_key(key: object) -> str:
    """``key`` if it is a ``str``, else a ``TypeError`` (the ring's lookup, before
    anything is sent, refuses text UTF-8 cannot carry)."""
    if not isinstance(key, str):
        raise TypeError(f"replicated keys must be str, not {type(key).__name__}: {key!r:.80}")
    return key


def _checked_value(key: str, value: object) -> bytes | None:
    """``value`` as ``bytes`` (``None`` stays: a delete); a ``TypeError`` for other types."""
    if value is None or type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(
        f"the value of {key!r:.80} must be bytes or None, not {type(value).__name__}"
        " (encode text first)"
    )
