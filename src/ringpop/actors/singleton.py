"""Reliable background work: one runner per name in a converged cluster (``rp.singleton``).

::

    async def compact(job: JobContext) -> None:
        position = job.checkpoint or 0              # where the last runner stopped
        for batch in batches_after(position):
            await work(batch, fencing_token=job.token)
            await job.save(batch.end)               # the next runner resumes here

    rp.singleton("compactor", compact)              # on every node
    rp.singleton("report", send_report, every=60)   # periodic: every 60 s

The job runs on the leader of ``singleton:<name>`` (:mod:`.leadership`): started when
this node starts leading, cancelled when it stops (the ring moved the key, or the
node leaves), restarted after a failure with exponential backoff (``backoff`` to
``max_backoff`` seconds). ``every``: run again that many seconds after each run
ends (both waits are on the actor system's injected clock).
``job.save`` stores a checkpoint (with the term's fencing token) through the
state store; the next runner, on any node, starts from it. A save after the term
ended raises :class:`~ringpop.actors.errors.LeadershipLostError`.

:func:`per_key` runs one such job per key, on each key's owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from ringpop.actors import wire
from ringpop.actors.errors import LeadershipLostError
from ringpop.actors.events import (
    LeadershipAcquired,
    LeadershipLost,
    SingletonFailed,
    SingletonStarted,
    SingletonStopped,
)
from ringpop.actors.leadership import Leadership, Term
from ringpop.checks import check_seconds
from ringpop.forward.ownership import key_list
from ringpop.state.hlc import Version

if TYPE_CHECKING:
    from ringpop.actors.runtime import ActorSystem

__all__ = ["Job", "JobContext", "Singleton", "per_key"]

log = logging.getLogger(__name__)


class _Checkpoint(msgspec.Struct, frozen=True, array_like=True):
    token: Version
    value: bytes


_CHECKPOINT = msgspec.msgpack.Decoder(_Checkpoint)


class JobContext:
    """What a running job gets: its term's ``token``, the last ``checkpoint``, ``save``."""

    def __init__(self, singleton: Singleton, term: Term, checkpoint: Any, attempt: int) -> None:
        self.name = singleton.name
        self.token = term.token
        self.checkpoint = checkpoint
        """The value of the last :meth:`save` (by any runner), or None."""
        self.attempt = attempt
        self.lost = term.lost
        """Set when this node stops leading (the job is then cancelled)."""
        self._singleton = singleton

    async def save(self, value: Any) -> None:
        """Store a checkpoint (a msgpack value) for the next run or runner."""
        if self.lost.is_set():
            raise LeadershipLostError(f"{self.name}: the term of {self.token} ended")
        body = msgspec.msgpack.encode(_Checkpoint(self.token, wire.encode_value(value)))
        await self._singleton.system.state.put(self._singleton.store_key, body)
        self.checkpoint = value


Job = Callable[[JobContext], Awaitable[None] | None]
"""``async def job(ctx: JobContext) -> None`` (a plain function works too: it blocks the loop)."""


class Singleton:
    """One job, run by the leader of its name (see the module docstring)."""

    def __init__(
        self,
        system: ActorSystem,
        name: str,
        job: Job,
        *,
        every: float | None = None,
        backoff: float = 0.1,
        max_backoff: float = 10.0,
        key: str | None = None,
    ) -> None:
        if not callable(job):
            raise TypeError(f"a singleton's job must be a function of its context, not {job!r}")
        if every is not None:
            check_seconds("every", every)
        check_seconds("backoff", backoff)  # a failing job must wait to restart
        check_seconds("max_backoff", max_backoff)
        if backoff > max_backoff:
            raise ValueError(
                f"max_backoff must be >= backoff (backoff={backoff!r}, max_backoff={max_backoff!r})"
            )
        self.system = system
        self.name = name
        self.job = job
        self.every = every
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.store_key = f"ringpop-singleton:{name}"
        self.runs = 0
        """Runs started here."""
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.leadership = Leadership(system, f"singleton:{name}", key=key)
        system.rp.events.on(LeadershipAcquired, self._on_acquired)
        system.rp.events.on(LeadershipLost, self._on_lost)
        if self.leadership.term is not None:
            self._start(self.leadership.term)

    @property
    def running(self) -> bool:
        """Whether the job runs here now."""
        return self._task is not None and not self._task.done()

    def _on_acquired(self, event: LeadershipAcquired) -> None:
        term = self.leadership.term
        if event.name == self.leadership.name and term is not None:
            self._start(term)

    def _on_lost(self, event: LeadershipLost) -> None:
        if event.name == self.leadership.name:
            self._stop("lost")

    def _start(self, term: Term) -> None:
        self._stop("renewed")
        self._task = asyncio.create_task(self._run(term), name=f"singleton {self.name}")

    def _stop(self, reason: str) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            self.system.rp.events.emit(SingletonStopped(self.name, self.system.address, reason))

    async def close(self) -> None:
        """Stop the job and leave the election (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self.system.rp.events.off(LeadershipAcquired, self._on_acquired)
        self.system.rp.events.off(LeadershipLost, self._on_lost)
        task = self._task
        self._stop("closed")
        await self.leadership.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _checkpoint(self) -> Any:
        got = await self.system.state.get(self.store_key)
        return None if got is None else wire.decode_value(_CHECKPOINT.decode(got[0]).value)

    async def _run(self, term: Term) -> None:
        address = self.system.address
        attempt = 0
        while not term.lost.is_set():
            attempt += 1
            self.runs += 1
            try:
                context = JobContext(self, term, await self._checkpoint(), attempt)
                self.system.rp.events.emit(SingletonStarted(self.name, address, attempt))
                outcome = self.job(context)
                if inspect.isawaitable(outcome):  # a plain function has run already
                    await outcome
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.failures += 1
                delay = min(self.max_backoff, self.backoff * 2 ** min(attempt - 1, 30))
                log.warning("singleton %r failed (attempt %d): %r", self.name, attempt, error)
                self.system.rp.events.emit(SingletonFailed(self.name, address, repr(error), delay))
                await self.system.clock.sleep(delay)
                continue
            attempt = 0
            if self.every is None:
                self.system.rp.events.emit(SingletonStopped(self.name, address, "finished"))
                return
            await self.system.clock.sleep(self.every)


def per_key(
    system: ActorSystem,
    name: str,
    keys: str | Iterable[str],
    job: Callable[[str, JobContext], Awaitable[None] | None],
    *,
    every: float | None = None,
) -> list[Singleton]:
    """One singleton per key, each on the key's owner: ``job(key, ctx)``. ``keys`` is
    a list of keys (a lone ``str`` is one key, not its characters)."""
    keys = key_list(keys)
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"per_key: keys must be str, not {key!r:.80}")

    def bind(key: str) -> Job:
        async def run(context: JobContext) -> None:
            outcome = job(key, context)
            if inspect.isawaitable(outcome):
                await outcome

        return run

    return [Singleton(system, f"{name}:{key}", bind(key), every=every, key=key) for key in keys]
