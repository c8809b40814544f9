"""What callers of actors, leadership and singletons can be told went wrong.

Every error a caller sees derives from :class:`ActorError` (itself a
:class:`~ringpop.RingpopError`). The ``type`` of each is
also its application-error type on the wire (``ringpop.actors.<name>``), so a node
turns a remote failure back into the same exception class.
"""

from __future__ import annotations

from ringpop.errors import RingpopError

__all__ = [
    "ActorError",
    "ActorRaisedError",
    "DeliveryTimeoutError",
    "LeadershipLostError",
    "MailboxFullError",
    "MessageEncodeError",
    "NotOwnerError",
    "UnknownKindError",
]


class ActorError(RingpopError):
    """Base of the actor errors (a ``RingpopError``); ``type`` names it on the wire."""

    type = "ringpop.actors.error"


class UnknownKindError(ActorError, LookupError):
    """No actor kind of that name is registered (on this node or on the key's owner)."""

    type = "ringpop.actors.unknown-kind"


class MessageEncodeError(ActorError, TypeError):
    """A message (or a reply) is not serializable (msgpack: None, bool, int, float, str,
    bytes, lists, dicts with str keys, msgspec Structs)."""

    type = "ringpop.actors.encode"


class MailboxFullError(ActorError):
    """The actor's mailbox (or this node's outbox to it) holds ``mailbox_size`` messages."""

    type = "ringpop.actors.mailbox-full"


class ActorRaisedError(ActorError):
    """The actor raised while handling the message; ``error`` is ``"Type: message"``.

    The actor keeps serving its other messages.
    """

    type = "ringpop.actors.failed"


class DeliveryTimeoutError(ActorError, TimeoutError):
    """No owner handled the message before the deadline (it may still be handled)."""

    type = "ringpop.actors.timeout"


class NotOwnerError(ActorError):
    """Internal: the node asked does not own the key (or is handing the actor over);
    the sender looks the key up again and retries."""

    type = "ringpop.actors.not-owner"


class LeadershipLostError(ActorError):
    """This node no longer leads (a singleton's checkpoint after its term ended), or will
    not: ``wait_leader`` on a closed leadership or node."""

    type = "ringpop.actors.leadership-lost"


BY_TYPE: dict[str, type[ActorError]] = {
    cls.type: cls
    for cls in (
        ActorError,
        UnknownKindError,
        MessageEncodeError,
        MailboxFullError,
        ActorRaisedError,
        DeliveryTimeoutError,
        NotOwnerError,
        LeadershipLostError,
    )
}
"""Error classes by wire type."""
