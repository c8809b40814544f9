"""One activation: an actor instance, its mailbox and the task handling its messages.

The worker loads the actor's saved state (from a handover by the previous owner,
else from the store), then takes batches off the mailbox one at a time, handling
each message in order. It stops when the mailbox is closed (handover: the batch in
hand is finished first) or after ``idle_timeout`` seconds without a message
(passivation: the system's sweep notices it, the worker saves). A message that
finds the actor idle is handled in the caller's own task (one task switch less);
``_busy`` keeps it one at a time. :class:`~ringpop.actors.runtime.ActorSystem`
owns activations.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ringpop.actors import wire
from ringpop.actors.actor import Actor, ActorFactory, Context
from ringpop.actors.errors import ActorRaisedError, MailboxFullError, NotOwnerError
from ringpop.actors.mailbox import Admission, Entry, Mailbox
from ringpop.actors.wire import Result, Saved

__all__ = ["Activation"]

log = logging.getLogger(__name__)

Loader = Callable[["Activation"], Awaitable[Saved | None]]


class Activation:
    """The live actor of ``(kind, key)`` on this node."""

    def __init__(
        self,
        kind: str,
        key: str,
        factory: ActorFactory,
        *,
        capacity: int,
        idle_timeout: float,
        now: Callable[[], float],
        max_reply: int = 1 << 62,
        loader: Loader,
        on_idle: Callable[[Activation], bool],
        on_handled: Callable[[Activation, int], Awaitable[None]] | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self._factory = factory
        self.mailbox: Mailbox[Result] = Mailbox(capacity)
        self.idle_timeout = idle_timeout
        self.max_reply = max_reply
        """The most bytes the replies of one batch may take together (what a call carries)."""
        self._now = now
        self.last_active = now()
        self._idle_due = False
        self._loader = loader
        self._on_idle = on_idle
        self._on_handled = on_handled
        self.actor: Actor | None = None
        self.loaded: Saved | None = None
        self.handover: asyncio.Future[Saved] = asyncio.get_running_loop().create_future()
        """Resolved with the previous owner's state when it hands the actor over."""
        self.handled = 0
        """Messages handled by this activation."""
        self.source = "new"
        self.failed: BaseException | None = None
        self._futures: dict[Entry[Result], asyncio.Future[list[Result]]] = {}
        self._wakeup = asyncio.Event()
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.finished = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"actor {kind}/{key}")

    # -- the callers' side --------------------------------------------------------------

    async def submit(self, stream: str, first: int, payloads: list[bytes]) -> list[Result]:
        """Queue a batch and wait for its results (see :class:`Mailbox` for admission)."""
        admission, entry = self.mailbox.offer(stream, first, payloads)
        self.last_active = self._now()
        if admission is Admission.ACCEPTED:
            future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
            self._futures[entry] = future
            actor = self.actor
            if actor is not None and not self._busy and self.mailbox.peek() is entry:
                # idle actor: handle it in the caller's task (one task switch less)
                taken = self.mailbox.take()
                assert taken is entry
                return await self._run_entry(actor, entry, inline=True)
            self._wakeup.set()
            return await asyncio.shield(future)
        if admission is Admission.PENDING:
            return await asyncio.shield(self._futures[entry])
        if admission is Admission.DONE:
            if entry.results is not None:
                return entry.results
            return [Result(wire.DUPLICATE, b"")] * len(payloads)
        if admission is Admission.FULL:
            raise MailboxFullError(
                f"mailbox of {self.kind}/{self.key} is full "
                f"({self.mailbox.queued} of {self.mailbox.capacity} messages queued)"
            )
        raise NotOwnerError(f"{self.kind}/{self.key} is moving")

    def future_of(self, entry: Entry[Result]) -> asyncio.Future[list[Result]] | None:
        """The future a queued batch's callers wait on (to answer it after a handover)."""
        return self._futures.pop(entry, None)

    @property
    def between_messages(self) -> bool:
        """Whether the actor is loaded and handling no message (its snapshot is whole)."""
        return self.actor is not None and not self._busy

    def check_idle(self) -> None:
        """Passivate (from the worker) if no message came for ``idle_timeout`` seconds."""
        idle = self._now() - self.last_active >= self.idle_timeout
        if idle and not self._busy and len(self.mailbox) == 0:
            self._idle_due = True
            self._wakeup.set()

    def close(self) -> list[Entry[Result]]:
        """Stop admitting (handover); the queued batches. The batch in hand finishes."""
        queued = self.mailbox.close()
        self._wakeup.set()
        return queued

    def saved(self) -> Saved | None:
        """The state to save or hand over (``None``: never loaded, nothing new)."""
        if self.actor is None:
            return self.loaded
        return Saved(wire.encode_value(self.actor.snapshot()), dict(self.mailbox.handled))

    # -- the worker ---------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            started = time.perf_counter()
            try:
                self.loaded = await self._loader(self)
            except Exception as error:  # e.g. no read quorum yet: the senders retry
                self._failed(error, NotOwnerError(f"{self.kind}/{self.key} unavailable: {error}"))
                return
            try:
                actor = self._factory(self.key)
                state = None if self.loaded is None else wire.decode_value(self.loaded.state)
                if self.loaded is not None:
                    self.mailbox.handled.update(self.loaded.handled)
                await actor.on_activate(state)
            except Exception as error:  # the actor's own code: retrying would fail again
                text = f"{type(error).__name__}: {error}"
                self._failed(error, ActorRaisedError(f"{self.kind}/{self.key} raised {text}"))
                return
            self.actor = actor
            self.activated_in = time.perf_counter() - started
            await self._loop(actor)
        finally:
            self.finished.set()

    async def _loop(self, actor: Actor) -> None:
        while True:
            if self._busy:  # a caller is handling its message in its own task
                await self._idle.wait()
                continue
            entry = self.mailbox.take()
            if entry is None:
                if self.mailbox.closed:
                    return
                if self._idle_due:
                    self._idle_due = False
                    if self._on_idle(self):
                        return
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()  # a message, a close or the idle sweep
                continue
            await self._run_entry(actor, entry, inline=False)

    async def _run_entry(self, actor: Actor, entry: Entry[Result], *, inline: bool) -> list[Result]:
        """Handle one batch (one at a time: ``_busy``); answer its waiters."""
        self._busy = True
        self._idle.clear()
        try:
            results = await self._handle(actor, entry)
        except asyncio.CancelledError:
            if inline:  # the caller was cancelled: the worker handles the batch again
                self.mailbox.requeue(entry)
            raise
        finally:
            self._busy = False
            self._idle.set()
            if inline and len(self.mailbox):
                self._wakeup.set()
        self.mailbox.done(entry, results)
        future = self._futures.pop(entry, None)
        if future is not None and not future.done():
            future.set_result(results)
        if self._on_handled is not None:
            await self._on_handled(self, entry.size)
        return results

    async def _handle(self, actor: Actor, entry: Entry[Result]) -> list[Result]:
        results = [Result(wire.DUPLICATE, b"")] * entry.skip
        for offset in range(entry.skip, len(entry.payloads)):
            context = Context(self.kind, self.key, entry.stream, entry.first + offset)
            try:
                message: Any = wire.decode_value(entry.payloads[offset])
                reply = await actor.receive(message, context)
            except Exception as error:
                results.append(Result(wire.FAILED, f"{type(error).__name__}: {error}".encode()))
                continue
            finally:
                self.handled += 1
            try:
                results.append(Result(wire.OK, wire.encode_value(reply)))
            except Exception as error:
                results.append(Result(wire.UNENCODABLE, str(error).encode()))
        return _fitted(results, self.max_reply)

    def _failed(self, error: Exception, answer: Exception) -> None:
        """The activation failed: every queued batch gets ``answer``; the system makes
        a new activation for the next message (:attr:`failed` is set)."""
        log.warning("activation of %s/%s failed: %r", self.kind, self.key, error)
        self.failed = error
        for entry in self.close():
            self._fail(entry, answer)

    def _fail(self, entry: Entry[Result], error: BaseException) -> None:
        future = self._futures.pop(entry, None)
        if future is not None and not future.done():
            future.set_exception(error)


def _fitted(results: list[Result], room: int) -> list[Result]:
    """``results`` whose replies take at most ``room`` bytes together: the largest
    replies become ``UNENCODABLE`` (the messages were handled; a reply no call can
    carry would make the sender resend the batch until its deadline)."""
    total = sum(len(r.data) for r in results)
    if total <= room:
        return results
    fitted = list(results)
    for i in sorted(range(len(fitted)), key=lambda i: -len(fitted[i].data)):
        size = len(fitted[i].data)
        why = f"{size} bytes: more than one call carries ({room} for a batch's replies)"
        if len(why) >= size:  # only small replies are left: they stay
            break
        fitted[i] = Result(wire.UNENCODABLE, why.encode())
        total += len(fitted[i].data) - size
        if total <= room:
            break
    return fitted
