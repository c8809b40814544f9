"""N/R/W fan-out of application calls over the key's preference list (ringpop-go parity).

:class:`Replicator` sends one call per destination of ``lookup_n(key, n)`` (keys
grouped per destination, so a destination holding several of the keys gets one call)
over go-style forwarding (spec §5.9: the app's service and endpoint, arg2 marked with
``ringpop-forward-keys``), so the destinations may be ringpop-go nodes serving the
same endpoint. A call counts for every key it carried when it returns an OK
response; transport failures, timeouts and application errors count as failures.
Each key needs ``r`` (reads) or ``w`` (writes) successes, else :class:`QuorumError`
says which nodes failed and why.

Fan-out modes (:class:`Fanout`):

* ``parallel`` - every destination at once; waits for all (each bounded by ``timeout``);
* ``serial`` - one destination after another in preference-list order;
* ``balanced`` - one after another in a random order (spreads reads over replicas).

Differences from ringpop-go, on purpose: serial and balanced **reads stop once every
key has its quorum** (ringpop-go asks every destination), writes always go to every
destination; quorums are counted per key rather than per response; failures are
reported with their reasons instead of "rw value not satisfied".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import msgspec

from ringpop.checks import as_options, check_seconds, check_whole
from ringpop.errors import RingpopError
from ringpop.forward import Forwarder, ForwardError
from ringpop.forward.ownership import key_list
from ringpop.tchannel import Response, TChannelError, too_large
from ringpop.tchannel.api import application_error

__all__ = [
    "Body",
    "Fanout",
    "Outcome",
    "QuorumError",
    "ReplicaFailure",
    "ReplicaOptions",
    "ReplicaResponse",
    "Replicator",
]

Body = bytes | Callable[[Sequence[str]], bytes]
"""arg3 of a replicated call: fixed, or built from the keys one destination is sent."""


class Fanout(StrEnum):
    """How a replicated call visits the destinations."""

    PARALLEL = "parallel"
    SERIAL = "serial"
    BALANCED = "balanced"


class ReplicaOptions(msgspec.Struct, frozen=True):
    """``n`` replicas per key, ``r``/``w`` successes needed; ringpop-go's defaults."""

    n: int = 3
    r: int = 1
    w: int = 3
    fanout: Fanout = Fanout.PARALLEL
    timeout: float = 3.0
    hinted_handoff: bool = True
    """Writes a replica failed are kept as hints on another node and delivered later."""
    sloppy_quorum: bool = False
    """Hints held outside the preference list count toward ``w`` (Dynamo's sloppy quorum)."""

    def __post_init__(self) -> None:
        check_whole(("n", self.n), ("r", self.r), ("w", self.w))
        if self.n < 1 or not 1 <= self.r <= self.n or not 1 <= self.w <= self.n:
            raise ValueError(f"need 1 <= r, w <= n (n={self.n}, r={self.r}, w={self.w})")
        try:  # "serial" as well as Fanout.SERIAL (a plain str was taken as serial)
            msgspec.structs.force_setattr(self, "fanout", Fanout(self.fanout))
        except ValueError:
            choices = ", ".join(repr(f.value) for f in Fanout)
            raise ValueError(f"fanout must be one of {choices}, not {self.fanout!r}") from None
        for name in ("hinted_handoff", "sloppy_quorum"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, not {getattr(self, name)!r}")
        check_seconds("timeout", self.timeout)


class ReplicaResponse(msgspec.Struct, frozen=True):
    """One destination's OK response to the call carrying ``keys``."""

    destination: str
    keys: tuple[str, ...]
    response: Response


class ReplicaFailure(msgspec.Struct, frozen=True):
    """One destination that failed the call carrying ``keys``, and why."""

    destination: str
    keys: tuple[str, ...]
    reason: str


class QuorumError(RingpopError):
    """Some keys did not get ``needed`` successful replicas.

    ``missing`` maps each such key to how many replicas succeeded for it;
    ``failures`` says which destinations failed and why; ``responses`` holds the
    successes (what a caller may still use).
    """

    def __init__(
        self,
        operation: str,
        needed: int,
        missing: dict[str, int],
        responses: list[ReplicaResponse],
        failures: list[ReplicaFailure],
        available: dict[str, int],
    ) -> None:
        self.operation = operation
        self.needed = needed
        self.missing = missing
        self.responses = responses
        self.failures = failures
        self.available = available
        keys = ", ".join(f"{k!r} ({n} of {needed})" for k, n in sorted(missing.items())[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        short = [k for k in missing if available.get(k, 0) < needed]
        why = "; ".join(f"{f.destination}: {f.reason}" for f in failures) or "no failures"
        if short:
            why += (
                f"; the ring has only {min(available[k] for k in short)} "
                f"replica(s) for {len(short)} key(s)"
            )
        super().__init__(f"{operation} quorum not met for {keys}{more}: {why}")


def replica_options(
    options: ReplicaOptions | Mapping[str, Any] | None, default: ReplicaOptions
) -> ReplicaOptions:
    """``options`` as :class:`ReplicaOptions` (a mapping of its fields works too);
    ``default`` when ``None``; ``TypeError`` for anything else."""
    if options is None:
        return default
    return as_options(ReplicaOptions, options, "replica options")


class Replicator:
    """Replicated calls to ``service``'s endpoints over a node's :class:`Forwarder`."""

    def __init__(
        self,
        forwarder: Forwarder,
        service: str,
        options: ReplicaOptions | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.forwarder = forwarder
        self.service = service
        self.options = replica_options(options, ReplicaOptions())
        self._rng = rng if rng is not None else random.Random()
        self._stragglers: set[asyncio.Future[None]] = set()

    def cancel_stragglers(self) -> None:
        """Stop the calls still out after their fan-outs returned (at close)."""
        for task in list(self._stragglers):
            task.cancel()

    def destinations(self, keys: Sequence[str], n: int) -> dict[str, list[str]]:
        """Preference lists: key -> its ``n`` first distinct owners (owner first)."""
        lookup_n = self.forwarder.node.lookup_n
        return {key: lookup_n(key, n) for key in keys}

    async def send(
        self, destination: str, keys: Sequence[str], endpoint: str, body: bytes, timeout: float
    ) -> Response:
        """One marked call to one destination (no retries); raises on failures."""
        response = await self.forwarder.forward(
            list(keys),
            self.service,
            endpoint,
            b"",
            body,
            scheme="json",
            timeout=timeout,
            max_retries=0,
            destination=destination,
        )
        if not response.ok:
            raise application_error(response)
        return response

    async def read(
        self,
        keys: str | Sequence[str],
        endpoint: str,
        body: Body,
        options: ReplicaOptions | None = None,
    ) -> list[ReplicaResponse]:
        """Call ``endpoint`` on the replicas of ``keys`` until each has ``r`` successes.

        ``body`` is arg3, the same for every destination, or a function of the keys a
        destination is sent (in the order given) returning its arg3.
        """
        return (await self.fan_out("read", keys, endpoint, body, options)).check()

    async def write(
        self,
        keys: str | Sequence[str],
        endpoint: str,
        body: Body,
        options: ReplicaOptions | None = None,
    ) -> list[ReplicaResponse]:
        """Call ``endpoint`` on every replica of ``keys``; each key needs ``w`` successes."""
        return (await self.fan_out("write", keys, endpoint, body, options)).check()

    async def fan_out(
        self,
        operation: Literal["read", "write"],
        keys: str | Sequence[str],
        endpoint: str,
        body: Body,
        options: ReplicaOptions | None = None,
    ) -> Outcome:
        """:meth:`read` or :meth:`write` without the quorum check: what happened."""
        opts = replica_options(options, self.options)
        needed = opts.r if operation == "read" else opts.w
        keys = key_list(keys)  # a lone str is one key, not its characters
        if not keys:
            raise ValueError("at least one key is required")
        lists = self.destinations(keys, opts.n)
        by_destination: dict[str, list[str]] = {}
        for key in keys:
            for destination in lists[key]:
                by_destination.setdefault(destination, []).append(key)
        order = list(by_destination)  # one key: preference-list order
        if opts.fanout is Fanout.BALANCED:
            self._rng.shuffle(order)
        outcome = Outcome(
            operation, needed, dict.fromkeys(keys, 0), {k: len(d) for k, d in lists.items()}
        )

        async def call(destination: str, carried: tuple[str, ...]) -> None:
            arg3 = body if isinstance(body, bytes) else body(carried)
            try:
                response = await self.send(destination, carried, endpoint, arg3, opts.timeout)
            except (ForwardError, TChannelError, ValueError) as error:
                if len(carried) > 1 and not isinstance(body, bytes) and too_large(error):
                    # the call, or its answer, is more than one call carries: halves
                    half = len(carried) // 2
                    await call(destination, carried[:half])
                    await call(destination, carried[half:])
                    return
                reason = _reason(destination, error)
                outcome.failures.append(ReplicaFailure(destination, carried, reason))
                return
            outcome.responses.append(ReplicaResponse(destination, carried, response))
            for key in carried:
                outcome.successes[key] += 1

        if len(order) == 1:  # one destination (n = 1, or a ring of one): nothing to wait for
            await call(order[0], tuple(by_destination[order[0]]))
        elif opts.fanout is Fanout.PARALLEL:
            # Return once every key met its quorum: a stalled replica (stopped, cut off)
            # no longer costs every call its timeout. Its call goes on in the background
            # and lands in `outcome` (`stragglers`: what is still out).
            tasks: list[asyncio.Future[None]] = [
                asyncio.ensure_future(call(d, tuple(by_destination[d]))) for d in order
            ]
            enough = asyncio.get_running_loop().create_future()
            left = len(tasks)

            def ended(_: asyncio.Future[None]) -> None:
                nonlocal left
                left -= 1
                if not enough.done() and (not left or not outcome.missing()):
                    enough.set_result(None)

            for task in tasks:
                task.add_done_callback(ended)
            try:
                await enough
            except asyncio.CancelledError:
                for task in tasks:
                    task.cancel()
                raise
            for task in tasks:  # a bug in a call surfaces, as gather made it
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            pending = {task for task in tasks if not task.done()}
            outcome.stragglers = pending
            for task in pending:
                self._stragglers.add(task)
                task.add_done_callback(self._stragglers.discard)
        else:
            for destination in order:
                if operation == "read" and not outcome.missing():
                    break
                await call(destination, tuple(by_destination[destination]))
        return outcome


@dataclass
class Outcome:
    """What a fan-out did: successes per key, responses, failures."""

    operation: str
    needed: int
    successes: dict[str, int]
    available: dict[str, int]
    """How many replicas each key's preference list had (fewer than ``n``: small ring)."""
    responses: list[ReplicaResponse] = field(default_factory=list)
    failures: list[ReplicaFailure] = field(default_factory=list)
    stragglers: set[asyncio.Future[None]] = field(default_factory=set)
    """Calls still out when every key had met its quorum (parallel fan-out); they add
    their response or failure here when they end."""

    def missing(self) -> dict[str, int]:
        """Keys below the quorum, with their success counts."""
        return {key: n for key, n in self.successes.items() if n < self.needed}

    def check(self) -> list[ReplicaResponse]:
        """The responses, or :class:`QuorumError` if a key missed its quorum."""
        missing = self.missing()
        if missing:
            raise QuorumError(
                self.operation, self.needed, missing, self.responses, self.failures, self.available
            )
        return list(self.responses)  # stragglers may still add theirs


def _reason(destination: str, error: Exception) -> str:
    text = str(error) or type(error).__name__
    text = text.removeprefix("forwarding failed after 0 retries: ")
    return text.removeprefix(f"{destination}: ")
