"""What applications build on ownership: actors, leader election, singleton jobs.

* :class:`ActorSystem` (``rp.actors``): actors with mailboxes, living on their key's
  owner, activated on demand, passivated when idle, handed over when the ring moves;
* :class:`Leadership` (``rp.leadership(name)``): the owner of the name's key leads,
  with fencing tokens that only grow;
* :class:`Singleton` (``rp.singleton(name, job)``) and per-key jobs: background work
  run by one node, moved with ownership, restarted with backoff, checkpointed.

This package uses the facade's public methods (:class:`Facade`) and the state
package; nothing below it imports it. See docs/actors.md.
"""

from ringpop.actors.actor import Actor, ActorFactory, Context
from ringpop.actors.errors import (
    ActorError,
    ActorRaisedError,
    DeliveryTimeoutError,
    LeadershipLostError,
    MailboxFullError,
    MessageEncodeError,
    UnknownKindError,
)
from ringpop.actors.events import (
    ActorActivated,
    ActorHandedOver,
    ActorPassivated,
    LeadershipAcquired,
    LeadershipLost,
    SingletonFailed,
    SingletonStarted,
    SingletonStopped,
)
from ringpop.actors.facade import Facade
from ringpop.actors.fencing import Fence, token_str
from ringpop.actors.leadership import Leadership, Term
from ringpop.actors.runtime import ActorOptions, ActorSystem
from ringpop.actors.singleton import JobContext, Singleton
from ringpop.actors.state import LocalState, ReplicatedState, StateStore

__all__ = [
    "Actor",
    "ActorActivated",
    "ActorError",
    "ActorFactory",
    "ActorHandedOver",
    "ActorOptions",
    "ActorPassivated",
    "ActorRaisedError",
    "ActorSystem",
    "Context",
    "DeliveryTimeoutError",
    "Facade",
    "Fence",
    "JobContext",
    "Leadership",
    "LeadershipAcquired",
    "LeadershipLost",
    "LeadershipLostError",
    "LocalState",
    "MailboxFullError",
    "MessageEncodeError",
    "ReplicatedState",
    "Singleton",
    "SingletonFailed",
    "SingletonStarted",
    "SingletonStopped",
    "StateStore",
    "Term",
    "UnknownKindError",
    "token_str",
]
