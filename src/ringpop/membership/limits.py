"""Bounded input from peers: refuse over-limit messages before they touch state.

ringpop-node and ringpop-go trust their peers: one bad or malicious member can grow
every member list without bound (Temporal's fork had to add caps, ringpop-go fork
#22). :class:`InputGuard` enforces, per received message:

* body size (``max_message_bytes``) and number of changes
  (``max_changes_per_message``): the whole message is refused;
* label size and count on each change (the §16 limits; internal ``__`` keys are not
  counted): that change is dropped;
* at most ``max_members`` tracked members: changes that would add more are dropped;
* a change about a new member whose address is not ``host:port`` is dropped (the
  member list would drop it too) and counted as ``receive.dropped.address``.

Every refusal is emitted as an :class:`~ringpop.membership.events.InputRefused` event
(counted in stats as ``limits.refused.<reason>``) and logged at most once per peer
per minute. Entries the receiving rules dropped from a peer's message
(spec §1.1, :mod:`ringpop.receiving`) are counted the same way
(:class:`~ringpop.membership.events.InputDropped`, ``receive.dropped.<reason>``,
:attr:`InputGuard.dropped`) by :meth:`InputGuard.accept`.
Nothing here changes the wire format.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TypeVar

import msgspec

from ringpop.clock import Clock
from ringpop.errors import RingpopError
from ringpop.eventbus import EventEmitter
from ringpop.membership.events import InputDropped, InputRefused
from ringpop.membership.labels import LabelError, check_labels
from ringpop.membership.member import is_valid_address
from ringpop.membership.memberlist import MemberList
from ringpop.messages import Change
from ringpop.receiving import Received

__all__ = ["InputGuard", "InputLimits", "LimitError"]

log = logging.getLogger(__name__)

_LOG_EVERY = 60.0
_PEER_CHARS = 200
"""A peer is named by what it claims (a request's ``source``): keep log keys short."""
_SAMPLE_CHARS = 120
"""Most characters of a dropped address quoted in a log line."""

T = TypeVar("T")


class LimitError(RingpopError, ValueError):
    """A whole message is over a limit."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InputLimits(msgspec.Struct, frozen=True):
    """The limits; the defaults match :class:`~ringpop.options.Options`."""

    max_members: int = 100_000
    max_changes_per_message: int = 100_000
    max_message_bytes: int = 16 * 1024 * 1024
    label_max_key_size: int = 32
    label_max_value_size: int = 128
    label_max_count: int = 5


class InputGuard:
    """Applies :class:`InputLimits` to what peers send."""

    def __init__(self, limits: InputLimits, events: EventEmitter, clock: Clock) -> None:
        self.limits = limits
        self.events = events
        self.clock = clock
        self.refused: dict[str, int] = {}
        """Refusals by reason, since start."""
        self.dropped: dict[str, int] = {}
        """Entries dropped by the receiving rules, by reason (the unusable field), since start."""
        self._logged: dict[tuple[str, str], float] = {}

    def _should_log(self, peer: str, what: str) -> bool:
        """At most once per peer and ``what`` per minute."""
        peer = peer[:_PEER_CHARS]
        now = self.clock.monotonic()
        last = self._logged.get((peer, what))
        if last is not None and now - last < _LOG_EVERY:
            return False
        if len(self._logged) >= 10_000:  # bounded, like everything else here
            self._logged.clear()
        self._logged[(peer, what)] = now
        return True

    def _refuse(self, peer: str, reason: str, detail: str, count: int = 1) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + count
        self.events.emit(InputRefused(peer, reason, count))
        if self._should_log(peer, reason):
            log.warning("refused input from %s (%s): %s", _name(peer), reason, detail)

    def accept(self, peer: str, received: Received[T]) -> T:
        """The message of ``received``; counts and logs the entries dropped from it."""
        if received.dropped:
            self._count_dropped(peer, received.dropped, received.sample)
        return received.message

    def _count_dropped(self, peer: str, dropped: Mapping[str, int], sample: str) -> None:
        """Count entries dropped by reason (``receive.dropped.<reason>``); log rarely."""
        for reason, count in dropped.items():
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            self.events.emit(InputDropped(peer, reason, count))
        if self._should_log(peer, "receive.dropped"):
            log.warning(
                "dropped unusable entries from %s (%s), e.g. %s",
                _name(peer),
                ", ".join(f"{count} x {reason}" for reason, count in dropped.items()),
                sample,
            )

    def check_body(self, peer: str, body: bytes) -> None:
        """Raise :class:`LimitError` if ``body`` is larger than allowed."""
        if len(body) > self.limits.max_message_bytes:
            detail = (
                f"message of {len(body)} bytes exceeds the limit of "
                f"{self.limits.max_message_bytes} bytes"
            )
            self._refuse(peer, "message-bytes", detail)
            raise LimitError("message-bytes", detail)

    def filter_changes(
        self, peer: str, changes: Sequence[Change], members: MemberList
    ) -> list[Change]:
        """The changes that may be applied; raises :class:`LimitError` for too many."""
        limits = self.limits
        if len(changes) > limits.max_changes_per_message:
            detail = (
                f"{len(changes)} changes in one message exceed the limit of "
                f"{limits.max_changes_per_message}"
            )
            self._refuse(peer, "changes", detail)
            raise LimitError("changes", detail)
        kept: list[Change] = []
        room = limits.max_members - len(members)
        new_addresses: set[str] = set()
        bad_labels = over_capacity = bad_addresses = 0
        bad_address = ""
        for change in changes:
            if change.labels:
                try:
                    check_labels(
                        change.labels,
                        max_key_bytes=limits.label_max_key_size,
                        max_value_bytes=limits.label_max_value_size,
                        max_labels=limits.label_max_count,
                    )
                except LabelError:
                    bad_labels += 1
                    continue
            address = change.address
            if address not in members and address not in new_addresses:
                if not is_valid_address(address):  # a new member only: never on the fast path
                    if not bad_addresses:
                        bad_address = address
                    bad_addresses += 1
                    continue
                if len(new_addresses) >= room:
                    over_capacity += 1
                    continue
                new_addresses.add(address)
            kept.append(change)
        if bad_addresses:
            self._count_dropped(peer, {"address": bad_addresses}, repr(bad_address[:_SAMPLE_CHARS]))
        if bad_labels:
            self._refuse(
                peer, "labels", f"{bad_labels} changes with labels over the limits", bad_labels
            )
        if over_capacity:
            self._refuse(
                peer,
                "members",
                f"{over_capacity} new members beyond the limit of {limits.max_members}",
                over_capacity,
            )
        return kept


def _name(peer: str) -> str:
    if not peer:
        return "unknown peer"
    return peer if len(peer) <= _PEER_CHARS else peer[:_PEER_CHARS] + "..."
