"""Driver: what the asyncio drivers of one node share around the pure core.

:class:`Runtime` holds the :class:`~ringpop.membership.core.MembershipCore`, the one
injected clock, the network, the event emitter, the deadline timer and the node's
background tasks. Drivers call the core through it: :meth:`Runtime.apply` and
:meth:`Runtime.run` read ``now`` from the clock, pass it to the core and arm the
deadline the core returns; when that deadline fires, :meth:`Runtime.expire` runs the
core's transitions.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from ringpop.clock import Clock
from ringpop.eventbus import Event, EventEmitter
from ringpop.membership.core import MembershipCore, Step
from ringpop.membership.deadlines import DeadlineTimer
from ringpop.membership.memberlist import Applied
from ringpop.membership.network import Network
from ringpop.messages import Change
from ringpop.options import Options

__all__ = ["Runtime"]

E = TypeVar("E", bound=Event)


class Runtime:
    """The core plus its clock, network, emitter, deadline timer and tasks."""

    def __init__(
        self,
        core: MembershipCore,
        *,
        network: Network,
        clock: Clock,
        rng: random.Random,
        events: EventEmitter,
        app: str,
    ) -> None:
        self.core = core
        self.address = core.address
        self.options: Options = core.options
        self.network = network
        self.clock = clock
        self.rng = rng
        self.events = events
        self.app = app
        self.deadlines = DeadlineTimer(clock, self.expire)
        self.closed = False
        self._background: set[asyncio.Task[Any]] = set()

    # -- calling the core --------------------------------------------------------------

    def run(self, step: Step) -> Step:
        """Arm the deadline of a step the core returned; the step."""
        self.deadlines.arm(step.deadline)
        return step

    def apply(
        self,
        changes: Sequence[Change],
        *,
        disseminate: bool = True,
        peer: str = "",
        strict: bool = False,
        join_list: bool = False,
    ) -> list[Applied]:
        """Apply changes from ``peer`` now (:meth:`MembershipCore.apply_changes`)."""
        if not changes:  # most pings: nothing to apply, no deadline moves
            return []
        step = self.core.apply_changes(
            changes,
            self.clock.monotonic(),
            disseminate=disseminate,
            peer=peer,
            strict=strict,
            join_list=join_list,
        )
        self.deadlines.arm(step.deadline)
        return step.applied

    def expire(self) -> None:
        """The deadline fired: run the core's due transitions, arm the next one."""
        self.run(self.core.expire(self.clock.monotonic()))

    def notify(self, event_type: type[E], *args: Any) -> None:
        """Emit ``event_type(*args)`` if anyone listens (hot paths: skip building it)."""
        if self.events.wants(event_type):
            self.events.emit(event_type(*args))

    # -- background tasks ----------------------------------------------------------------

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a background task owned (and cancelled) by the node."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def close(self) -> None:
        """Cancel the deadline and every background task."""
        self.closed = True
        self.deadlines.close()
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
