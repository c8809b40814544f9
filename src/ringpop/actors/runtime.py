"""``ActorSystem`` (``rp.actors``): kinds, activations, delivery, handover.

::

    rp.actors.register("counter", Counter)            # on every node, at start-up
    await rp.actors.send("counter", "user:42", {"add": 1})
    total = await rp.actors.ask("counter", "user:42", {"add": 1})

An actor lives on the owner of its key (``rp.lookup(key)``), is activated there on
its first message, handles one message at a time, and is saved and dropped after
``idle_timeout`` seconds without messages. When the ring moves the key, the old
owner finishes the message in hand, stops admitting, saves the actor, sends its
state to the new owner (``/actors/handover``) and forwards its queue there; the new
owner, for keys of a range it just gained from a live node, waits up to
``handover_wait`` for that state before reading the store. Delivery semantics (at
least once; no duplicates without a crash) are in docs/actors.md.

(Over the usual ~400 lines: delivery, activation, passivation and handover all work
on one table of activations and its save-in-progress futures; split apart, each part
would reach into the others' state.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ringpop.actors import wire
from ringpop.actors.activation import Activation
from ringpop.actors.actor import ActorFactory
from ringpop.actors.errors import (
    BY_TYPE,
    ActorError,
    ActorRaisedError,
    DeliveryTimeoutError,
    MessageEncodeError,
    NotOwnerError,
    UnknownKindError,
)
from ringpop.actors.events import ActorActivated, ActorHandedOver, ActorPassivated
from ringpop.actors.facade import Facade
from ringpop.actors.handover import GainedRanges
from ringpop.actors.leadership import Leadership
from ringpop.actors.mailbox import Entry
from ringpop.actors.outbox import Outbox
from ringpop.actors.singleton import Job, JobContext, Singleton, per_key
from ringpop.actors.state import StateStore
from ringpop.actors.wire import Batch, Handover, Result, Results, Saved
from ringpop.checks import as_options, check_seconds, check_text, check_whole
from ringpop.clock import Clock, SystemClock
from ringpop.events import OwnershipChanged, RingChanged
from ringpop.forward import ForwardError
from ringpop.state.hlc import HybridClock
from ringpop.tchannel import Request, Response, TChannelError
from ringpop.tchannel.api import application_error

__all__ = ["ActorOptions", "ActorSystem"]

log = logging.getLogger(__name__)


class ActorOptions(msgspec.Struct, frozen=True):
    """Tunables of :class:`ActorSystem` (seconds unless said otherwise)."""

    mailbox_size: int = 1000
    """Messages queued per actor (and waiting per sending node); more: ``MailboxFullError``."""
    max_batch: int = 64
    """Messages of one sender to one actor sent in one call."""
    idle_timeout: float = 60.0
    """An actor without messages this long is saved and dropped (passivation)."""
    delivery_timeout: float = 30.0
    """A message not handled by then fails with ``DeliveryTimeoutError``."""
    attempt_timeout: float = 10.0
    """One delivery call's timeout (then it is resent, to the owner of the moment)."""
    handover_wait: float = 0.5
    """A new owner waits this long for the previous owner's handover."""
    handover_window: float = 5.0
    """... for keys of ranges gained from a live node less than this long ago."""
    checkpoint_every: int = 0
    """Save an actor after every this many messages (0: on passivation and handover)."""

    def __post_init__(self) -> None:
        check_whole(
            ("mailbox_size", self.mailbox_size),
            ("max_batch", self.max_batch),
            ("checkpoint_every", self.checkpoint_every),
        )
        if self.mailbox_size < 1 or self.max_batch < 1 or self.checkpoint_every < 0:
            raise ValueError("mailbox_size and max_batch must be >= 1, checkpoint_every >= 0")
        for name in ("idle_timeout", "delivery_timeout", "attempt_timeout"):
            check_seconds(name, getattr(self, name))
        for name in ("handover_wait", "handover_window"):
            check_seconds(name, getattr(self, name), zero_ok=True)


class ActorSystem:
    """Actors of one node (see the module docstring); built by ``rp.actors``.

    ``state`` keeps actors' saved states, leaders' tokens and singletons' checkpoints
    (a :class:`~ringpop.actors.state.ReplicatedState` in production). ``clock`` is
    the node's injected clock. Create it on every node at start-up, before traffic.
    ``own_state``: :meth:`close` also closes ``state`` (when it has a ``close``).
    """

    def __init__(
        self,
        rp: Facade,
        state: StateStore,
        *,
        options: ActorOptions | None = None,
        clock: Clock | None = None,
        own_state: bool = False,
    ) -> None:
        self.rp = rp
        self.state = state
        self._own_state = own_state
        self.options = options if options is not None else ActorOptions()
        self.clock = clock if clock is not None else SystemClock()
        self.address = rp.whoami()
        self.max_message = max(1024, rp.options.max_arg_size - _FRAMING)
        """The most bytes one message, or the replies of one batch, may take: what one
        call carries (``max_arg_size``) less room for the batch around them."""
        self.hlc = HybridClock(self.address, self.clock.now_ms)
        """Stamps fencing tokens (:mod:`ringpop.actors.fencing`)."""
        self._kinds: dict[str, ActorFactory] = {}
        self._activations: dict[tuple[str, str], Activation] = {}
        self._saving: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._gained = GainedRanges(self.options.handover_window)
        self._closed = False
        self._sweeper: asyncio.Task[None] | None = None
        self.outbox = Outbox(
            self.address,
            self._deliver,
            capacity=self.options.mailbox_size,
            max_batch=self.options.max_batch,
        )
        self.counters = {"activations": 0, "passivations": 0, "handovers": 0, "conflicts": 0}
        self.counters["retries"] = 0
        self.last_retry = ""
        """Why the last delivery attempt was retried."""
        self._decoded: tuple[bytes, Batch] | None = None  # the batch _batch_key just read
        rp.register_forwarded(wire.SERVICE, wire.DELIVER, self._serve_deliver, self._batch_key)
        rp.register_forwarded(wire.SERVICE, wire.HANDOVER, self._serve_handover, _handover_key)
        rp.events.on(RingChanged, self._on_ring_changed)
        rp.events.on(OwnershipChanged, self._on_ownership)
        rp.add_self_eviction_hooks(before=self._save_before_leaving, after=self.drain)
        self._leaderships: dict[str, Leadership] = {}
        self._singletons: dict[str, Singleton] = {}

    # -- registry and the callers' API ----------------------------------------------------

    def configure(self, options: ActorOptions | Mapping[str, Any]) -> None:
        """Change the tunables (before traffic: activations keep the ones they started
        with): an :class:`ActorOptions`, or a mapping of its fields."""
        options = as_options(ActorOptions, options, "configure")
        self.options = options
        self.outbox.capacity = options.mailbox_size
        self.outbox.max_batch = options.max_batch
        self._gained.window = options.handover_window

    def register(self, kind: str, factory: ActorFactory) -> None:
        """Serve actors of ``kind`` built by ``factory(key)``; every node must register it."""
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"actor kind must be a non-empty string, not {kind!r}")
        if not callable(factory):
            raise TypeError(f"the factory of actor kind {kind!r} must be callable: {factory!r}")
        self._kinds[kind] = factory

    @property
    def kinds(self) -> list[str]:
        """The kinds registered here."""
        return sorted(self._kinds)

    async def send(self, kind: str, key: str, message: Any) -> None:
        """Deliver ``message`` to the actor ``(kind, key)``; returns once it was handled.

        Raises :class:`UnknownKindError`, :class:`MessageEncodeError`,
        :class:`MailboxFullError`, :class:`ActorRaisedError` (the actor raised),
        :class:`DeliveryTimeoutError`.
        """
        await self.ask(kind, key, message)

    async def ask(self, kind: str, key: str, message: Any) -> Any:
        """Like :meth:`send`, and return the actor's reply."""
        if kind not in self._kinds:
            raise UnknownKindError(f"unknown actor kind {kind!r} (registered: {self.kinds})")
        check_text("actor key", key, empty_ok=True)
        payload = wire.encode_value(message)
        if len(payload) > self.max_message:  # refused wherever the actor lives now
            raise MessageEncodeError(
                f"message to {kind}/{key} of {len(payload)} bytes exceeds {self.max_message} "
                "(what one call carries, max_arg_size, less room for the batch)"
            )
        result = await self.outbox.send(kind, key, payload)
        if result.status == wire.OK:
            return wire.decode_value(result.data)
        if result.status == wire.DUPLICATE:
            return None
        if result.status == wire.UNENCODABLE:
            raise MessageEncodeError(f"reply of {kind}/{key}: {result.data.decode()}")
        raise ActorRaisedError(f"{kind}/{key} raised {result.data.decode(errors='replace')}")

    def active(self) -> list[tuple[str, str]]:
        """``(kind, key)`` of the actors active here."""
        return sorted(self._activations)

    def stats(self) -> dict[str, int]:
        """Counters: actors active, queued messages, activations, handovers, ..."""
        return {
            "active": len(self._activations),
            "queued": sum(a.mailbox.queued for a in self._activations.values()),
            "streams": len(self.outbox),
            "batches": self.outbox.batches,
            **self.counters,
        }

    # -- delivery ------------------------------------------------------------------------

    async def _deliver(
        self, kind: str, key: str, stream: str, first: int, payloads: list[bytes]
    ) -> list[Result]:
        """Deliver a batch to the key's owner of the moment, resending until handled."""
        options = self.options
        deadline = self.clock.monotonic() + options.delivery_timeout
        body = wire.encode(Batch(kind, key, stream, first, payloads))
        delay = 0.02
        last = "no attempt"
        while True:
            try:
                owner = self.rp.lookup(key)
                if owner == self.address:
                    return await self._local(kind, key, stream, first, payloads)
                remaining = max(0.05, deadline - self.clock.monotonic())
                try:
                    response = await self.rp.forward(
                        key,
                        wire.SERVICE,
                        wire.DELIVER,
                        b"",
                        body,
                        timeout=min(remaining, options.attempt_timeout),
                        max_retries=0,
                    )
                except ValueError as too_large:  # more than a call carries (max_arg_size)
                    raise MessageEncodeError(f"{kind}/{key}: {too_large}") from None
                if response.ok:
                    try:
                        results = wire.RESULTS.decode(response.arg3).results
                    except msgspec.DecodeError as bad:
                        message = f"{owner} answered results that do not decode: {bad}"
                        raise ActorError(message) from None
                    if len(results) != len(payloads):
                        raise ActorError(f"{owner} answered {len(results)} of {len(payloads)}")
                    return results
                error = application_error(response)
                cls = BY_TYPE.get(error.type, ActorError)
                if cls is not NotOwnerError:
                    raise cls(error.message)
                last = f"{owner}: {error.message}"
            except NotOwnerError as error:
                last = str(error)
            except (ForwardError, TChannelError, RuntimeError) as error:
                if isinstance(error, ActorError):
                    raise
                last = f"{type(error).__name__}: {error}"
            self.counters["retries"] += 1
            self.last_retry = last
            if self._closed or self.rp.closed:  # no later attempt can go out
                raise DeliveryTimeoutError(f"{kind}/{key}: not delivered: closing ({last})")
            if self.clock.monotonic() + delay > deadline:
                raise DeliveryTimeoutError(
                    f"{kind}/{key}: not delivered in {options.delivery_timeout} s ({last})"
                )
            await self.clock.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _local(
        self, kind: str, key: str, stream: str, first: int, payloads: list[bytes]
    ) -> list[Result]:
        factory = self._kinds.get(kind)
        if factory is None:
            raise UnknownKindError(f"unknown actor kind {kind!r} on {self.address}")
        if self._closed or self.rp.is_leaving or not self.rp.owns(key):
            raise NotOwnerError(f"{self.address} does not own {key!r}")
        activation = self._activations.get((kind, key))
        if activation is None or activation.failed is not None:  # failed: try afresh
            activation = self._activate(kind, key, factory)
        return await activation.submit(stream, first, payloads)

    def _batch_key(self, request: Request) -> Sequence[str]:
        """The batch's key (for handle-or-forward); the decoded batch kept for the handler,
        which runs right after, in the same step."""
        try:
            batch = wire.BATCH.decode(request.arg3)
        except msgspec.DecodeError:
            return ["?"]
        self._decoded = (request.arg3, batch)
        return [batch.key]

    async def _serve_deliver(self, request: Request) -> Response:
        decoded, self._decoded = self._decoded, None
        if decoded is not None and decoded[0] is request.arg3:
            batch = decoded[1]
        else:
            try:
                batch = wire.BATCH.decode(request.arg3)
            except msgspec.DecodeError as error:
                return Response.application_error("ringpop.actors.bad-request", str(error))
        try:
            results = await self._local(
                batch.kind, batch.key, batch.stream, batch.first, batch.payloads
            )
        except ActorError as error:
            return Response.application_error(error.type, str(error))
        return Response(b"", wire.encode(Results(results)))

    # -- activation, passivation ------------------------------------------------------------

    def _activate(self, kind: str, key: str, factory: ActorFactory) -> Activation:
        activation = Activation(
            kind,
            key,
            factory,
            capacity=self.options.mailbox_size,
            idle_timeout=self.options.idle_timeout,
            max_reply=self.max_message,
            now=self.clock.monotonic,
            loader=self._load,
            on_idle=self._on_idle,
            on_handled=self._checkpoint if self.options.checkpoint_every else None,
        )
        self._activations[(kind, key)] = activation
        self.counters["activations"] += 1
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())
        return activation

    async def _sweep(self) -> None:
        """Passivate idle actors (every quarter of ``idle_timeout``, at most every second)."""
        period = min(1.0, self.options.idle_timeout / 4)
        for _ in range(2**62):
            if self._closed or not self._activations:
                return
            await self.clock.sleep(period)
            for activation in list(self._activations.values()):
                activation.check_idle()

    async def _load(self, activation: Activation) -> Saved | None:
        started = self.clock.monotonic()
        kind, key = activation.kind, activation.key
        if self._gained.expects(key, self.clock.monotonic(), self.rp.members()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.handover_wait):
                    await asyncio.shield(activation.handover)
        if activation.handover.done():
            activation.source = "handover"
            saved: Saved | None = activation.handover.result()
        else:
            activation.handover.cancel()
            previous = self._saving.get((kind, key))
            if previous is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.options.attempt_timeout):
                        await asyncio.shield(previous)
            got = await self.state.get(_state_key(kind, key))
            saved = None if got is None else wire.SAVED.decode(got[0])
            activation.source = "new" if saved is None else "store"
        self.rp.events.emit(
            ActorActivated(kind, key, activation.source, self.clock.monotonic() - started)
        )
        return saved

    def _on_idle(self, activation: Activation) -> bool:
        """Passivate: detach and save (no await between the check and the close)."""
        if self._activations.get((activation.kind, activation.key)) is not activation:
            return False
        activation.close()
        self._detach(activation, self._passivate(activation))
        return True

    async def _passivate(self, activation: Activation) -> None:
        if activation.actor is not None:
            await activation.actor.on_passivate()
        await self._save(activation)
        self.counters["passivations"] += 1
        self.rp.events.emit(ActorPassivated(activation.kind, activation.key))

    async def _checkpoint(self, activation: Activation, handled: int) -> None:
        every = self.options.checkpoint_every
        if activation.handled // every != (activation.handled - handled) // every:
            await self._save(activation)

    async def _save(self, activation: Activation) -> Saved | None:
        saved = activation.saved()
        if saved is not None:
            try:
                await self.state.put(
                    _state_key(activation.kind, activation.key), wire.encode(saved)
                )
            except Exception as error:
                log.warning("saving %s/%s failed: %s", activation.kind, activation.key, error)
        return saved

    async def _save_before_leaving(self) -> None:
        """Save every actor between messages while this node still owns its keys: run
        before the node leaves the ring, after which the last node of a cluster has no
        replica left to save to (the handover's save then fails)."""
        ready = [a for a in self._activations.values() if a.between_messages]
        if ready:
            await asyncio.gather(*(self._save(activation) for activation in ready))

    def _detach(self, activation: Activation, work: Any) -> None:
        """Forget ``activation``; run ``work``; later activations of it wait for it."""
        ident = (activation.kind, activation.key)
        if self._activations.get(ident) is activation:
            del self._activations[ident]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._saving[ident] = done

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("%s/%s: saving or handing over failed", *ident)
            finally:
                if not done.done():
                    done.set_result(None)
                if self._saving.get(ident) is done:
                    del self._saving[ident]

        self._spawn(run())

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ownership moves ------------------------------------------------------------------

    def _on_ownership(self, event: OwnershipChanged) -> None:
        self._gained.add(event.primary_gained, self.address, self.clock.monotonic())

    def _on_ring_changed(self, event: RingChanged) -> None:
        if not self.rp.is_ready:
            return
        for activation in list(self._activations.values()):
            if self.rp.is_leaving or not self.rp.owns(activation.key):
                self._detach(activation, self._hand_over(activation))

    async def _hand_over(self, activation: Activation) -> None:
        kind, key = activation.kind, activation.key
        queued = activation.close()
        await activation.finished.wait()  # the batch in hand is finished first
        if activation.actor is not None:
            await activation.actor.on_passivate()
        saved = activation.saved()
        to = self._owner_or_none(key)
        if saved is not None and to is not None and to != self.address:
            # the new owner waits for this: send it and save it at once
            body = wire.encode(Handover(kind, key, self.address, saved))
            await asyncio.gather(self._save(activation), self._send_handover(key, body))
        else:
            await self._save(activation)
        self.counters["handovers"] += 1
        self.rp.events.emit(ActorHandedOver(kind, key, to or "", len(queued)))
        for entry in queued:
            future = activation.future_of(entry)
            if future is not None:
                self._spawn(self._forward_entry(kind, key, entry, future))

    async def _forward_entry(
        self,
        kind: str,
        key: str,
        entry: Entry[Result],
        future: asyncio.Future[list[Result]],
    ) -> None:
        try:
            results = await self._deliver(kind, key, entry.stream, entry.first, entry.payloads)
        except ActorError as error:
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(results)

    async def _send_handover(self, key: str, body: bytes) -> None:
        deadline = self.clock.monotonic() + self.options.attempt_timeout
        delay = 0.02
        while self.clock.monotonic() < deadline:
            try:
                response = await self.rp.forward(
                    key, wire.SERVICE, wire.HANDOVER, b"", body, timeout=2.0, max_retries=0
                )
                if response.ok:
                    return
            except (ForwardError, TChannelError, RuntimeError) as error:
                log.debug("handover of %r: %s", key, error)
            await self.clock.sleep(delay)
            delay = min(delay * 2, 0.5)
        log.warning("handover of %r not accepted; the new owner reads the store", key)

    async def _serve_handover(self, request: Request) -> Response:
        try:
            handover = wire.HANDOVER_BODY.decode(request.arg3)
        except msgspec.DecodeError as error:
            return Response.application_error("ringpop.actors.bad-request", str(error))
        factory = self._kinds.get(handover.kind)
        if factory is None:
            return Response.application_error(UnknownKindError.type, handover.kind)
        if self._closed or self.rp.is_leaving or not self.rp.owns(handover.key):
            return Response.application_error(NotOwnerError.type, f"{self.address}: not the owner")
        ident = (handover.kind, handover.key)
        activation = self._activations.get(ident)
        if activation is None:
            activation = self._activate(handover.kind, handover.key, factory)
        if not activation.handover.done():
            activation.handover.set_result(handover.saved)
        else:
            self.counters["conflicts"] += 1  # already running: its own state wins
        return Response(b"", b"")

    def _owner_or_none(self, key: str) -> str | None:
        try:
            return self.rp.lookup(key)
        except RuntimeError:
            return None

    # -- leadership and singletons ----------------------------------------------------------

    def leadership(self, name: str) -> Leadership:
        """The :class:`~ringpop.actors.leadership.Leadership` of ``name`` (one per name)."""
        found = self._leaderships.get(name)
        if found is None:
            check_text("leadership name", name)
            self._check_open(f"leadership {name!r}")
            found = self._leaderships[name] = Leadership(self, name)
        return found

    def _check_open(self, what: str) -> None:
        if self._closed:
            raise ActorError(f"{what}: the actor system of {self.address} is closed")

    def singleton(self, name: str, job: Job, *, every: float | None = None) -> Singleton:
        """Run ``job`` on the leader of ``singleton:<name>`` (see :mod:`.singleton`)."""
        check_text("singleton name", name)
        if name in self._singletons:
            raise ValueError(f"singleton {name!r} exists already")
        self._check_open(f"singleton {name!r}")
        found = self._singletons[name] = Singleton(self, name, job, every=every)
        return found

    def per_key(
        self,
        name: str,
        keys: str | Iterable[str],
        job: Callable[[str, JobContext], Awaitable[None] | None],
        *,
        every: float | None = None,
    ) -> list[Singleton]:
        """One job per key, each run on the key's owner: ``job(key, ctx)``."""
        check_text("per-key jobs name", name)
        self._check_open(f"per-key jobs {name!r}")
        made = per_key(self, name, keys, job, every=every)
        for singleton in made:
            self._singletons[singleton.name] = singleton
        return made

    async def drain(self) -> None:
        """Wait (up to ``attempt_timeout``) for handovers and saves in progress."""
        deadline = self.clock.monotonic() + self.options.attempt_timeout
        for _ in range(100):  # handovers spawn the forwarding of their queues
            remaining = deadline - self.clock.monotonic()
            if not self._tasks or remaining <= 0:
                return
            await asyncio.wait(list(self._tasks), timeout=remaining)

    async def close(self) -> None:
        """Stop taking messages, save and hand over every actor, stop leaderships."""
        self._closed = True
        for singleton in list(self._singletons.values()):
            await singleton.close()
        for leadership in list(self._leaderships.values()):
            await leadership.close()
        for activation in list(self._activations.values()):
            self._detach(activation, self._hand_over(activation))
        await self.drain()
        if self._sweeper is not None:
            self._sweeper.cancel()
        close = getattr(self.state, "close", None)
        if self._own_state and close is not None:
            await close()


_FRAMING = 64 << 10
"""Bytes of a call kept for what surrounds messages: arg1, arg2 (the forward marker),
the batch's kind, key, stream and msgpack headers."""


def _state_key(kind: str, key: str) -> str:
    """Where the actor ``(kind, key)`` is saved. A ``:`` (and ``%``) in the kind is
    escaped, so kind ``a:b`` key ``c`` and kind ``a`` key ``b:c`` do not share one."""
    return f"ringpop-actor:{kind.replace('%', '%25').replace(':', '%3A')}:{key}"


def _handover_key(request: Request) -> Sequence[str]:
    try:
        return [wire.HANDOVER_BODY.decode(request.arg3).key]
    except msgspec.DecodeError:
        return ["?"]
