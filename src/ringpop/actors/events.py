"""Events of actors, leadership and singletons, emitted on the node's ``rp.events``."""

from __future__ import annotations

from ringpop.events import Event
from ringpop.state.hlc import Version

__all__ = [
    "ActorActivated",
    "ActorHandedOver",
    "ActorPassivated",
    "LeadershipAcquired",
    "LeadershipLost",
    "SingletonFailed",
    "SingletonStarted",
    "SingletonStopped",
]


class ActorActivated(Event, frozen=True):
    """An actor was activated here (``source``: ``"store"``, ``"handover"`` or ``"new"``)."""

    kind: str
    key: str
    source: str
    seconds: float


class ActorPassivated(Event, frozen=True):
    """An idle actor was saved and stopped here."""

    kind: str
    key: str


class ActorHandedOver(Event, frozen=True):
    """This node lost the actor's key: its state and ``queued`` batches went to ``to``."""

    kind: str
    key: str
    to: str
    queued: int


class LeadershipAcquired(Event, frozen=True):
    """This node leads ``name`` with fencing ``token`` (greater than every earlier one)."""

    name: str
    address: str
    token: Version


class LeadershipLost(Event, frozen=True):
    """This node stopped leading ``name`` (its term with ``token`` ended)."""

    name: str
    address: str
    token: Version


class SingletonStarted(Event, frozen=True):
    """The singleton job ``name`` started here (``attempt`` 1, then restarts)."""

    name: str
    address: str
    attempt: int


class SingletonStopped(Event, frozen=True):
    """The singleton job ``name`` stopped here (``reason``: lost, finished, closed)."""

    name: str
    address: str
    reason: str


class SingletonFailed(Event, frozen=True):
    """The singleton job ``name`` raised ``error``; restarted after ``backoff`` seconds."""

    name: str
    address: str
    error: str
    backoff: float
