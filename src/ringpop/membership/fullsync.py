"""Driver: reverse full syncs (§7.5) and the start-up sync of a new node.

A ping whose requester's checksum differs from ours while we have nothing left to
tell it is answered with our full membership (the ping handler, :mod:`.protocol`),
and we pull the requester's in return: a *reverse full sync*, a join sent in the
background (at most ``max_reverse_full_syncs`` at a time).
"""

from __future__ import annotations

import logging

from ringpop.membership.events import (
    ReverseFullSyncSkipped,
    ReverseFullSyncStarted,
    StartupSyncStarted,
)
from ringpop.membership.joinsender import JoinSender
from ringpop.membership.network import CallError
from ringpop.membership.runtime import Runtime

__all__ = ["FullSync"]

log = logging.getLogger(__name__)


class FullSync:
    """Reverse full syncs of one node."""

    def __init__(self, runtime: Runtime, joins: JoinSender) -> None:
        self._rt = runtime
        self._joins = joins
        self.running = 0
        """Reverse full syncs in flight."""
        self.ready_at = 0.0
        """When the node became ready (the start of the start-up sync window)."""
        self._last_startup_sync = float("-inf")
        self._startup_synced = False

    def start_reverse(self, address: str) -> bool:
        """Ask ``address`` for its membership (§7.5); ``False`` when 5 already run."""
        rt = self._rt
        if self.running >= rt.options.max_reverse_full_syncs or rt.closed:
            rt.events.emit(ReverseFullSyncSkipped(address))
            return False
        self.running += 1
        rt.events.emit(ReverseFullSyncStarted(address))
        rt.spawn(self._reverse(address))
        return True

    def maybe_startup_sync(self, address: str, checksum: int) -> bool:
        """Pull ``address``'s membership if we are new and our views still differ.

        Called by the ping handler for every ping it did not answer with a full sync
        (§7.5 then starts no reverse full sync), with the requester's ``checksum``;
        the case that matters is a ping answered with changes although that checksum
        differs from ours. Members learned from bootstrap join responses are not
        disseminated (§7.6), so after a simultaneous start of many nodes each knows
        members that only a few others spread, and a node can stay a member short
        for seconds while everyone around it still has changes to send (so nobody
        full-syncs it). Until a ping first shows our checksum agreeing with the
        requester's, and for at most ``startup_sync_window`` seconds after becoming
        ready, such a ping starts a reverse full sync towards its sender (a plain
        join: wire-neutral), at most one per ``startup_sync_interval`` and within
        the limit of concurrent reverse full syncs. Returns whether one started.
        """
        rt = self._rt
        options = rt.options
        if not options.startup_sync_enabled or self._startup_synced:
            return False
        if checksum == rt.core.members.checksum:
            self._startup_synced = True  # we have agreed with someone: done
            return False
        now = rt.clock.monotonic()
        if now - self.ready_at > options.startup_sync_window:
            self._startup_synced = True
            return False
        if now - self._last_startup_sync < options.startup_sync_interval:
            return False
        self._last_startup_sync = now
        rt.events.emit(StartupSyncStarted(address))
        return self.start_reverse(address)

    async def _reverse(self, address: str) -> None:
        rt = self._rt
        try:
            response = await self._joins.send_join(
                address, timeout=rt.options.reverse_full_sync_timeout
            )
            rt.apply(response.membership, peer=address)
        except CallError as error:
            log.info("%s: reverse full sync with %s failed: %s", rt.address, address, error)
        finally:
            self.running -= 1
