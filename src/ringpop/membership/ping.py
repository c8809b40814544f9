"""Driver: the ping sender (§8.3).

:class:`PingSender` builds a ``/protocol/ping`` from the core's state (checksum,
the disseminator's changes), sends it over the network, and feeds the answer back
into the core. Used by the gossip loop, ping-req handling, self-eviction and
partition healing.
"""

from __future__ import annotations

import logging

from ringpop.membership.events import PingAnswered, PingSent
from ringpop.membership.network import CallError
from ringpop.membership.runtime import Runtime
from ringpop.messages import Change, MessageError, PingRequest, PingResponse, encode
from ringpop.receiving import receive

__all__ = ["PingSender"]

log = logging.getLogger(__name__)


class PingSender:
    """Sends pings for one node."""

    __slots__ = ("_rt",)

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def send_ping(
        self,
        address: str,
        *,
        timeout: float | None = None,
        changes: list[Change] | None = None,
        apply_response: bool = True,
    ) -> bool:
        """Ping ``address`` (§8.3); apply the changes it answers with. Success?

        ``changes`` replaces the disseminator's changes (partition healing sends its
        own); piggyback counts are only bumped for disseminator changes.
        ``apply_response=False`` ignores the changes of the response, as ringpop-node
        and ringpop-go do for the pings of partition healing.
        """
        rt = self._rt
        core = rt.core
        members = core.members
        issued = core.disseminator.issue_as_sender() if changes is None else changes
        body = encode(
            PingRequest(
                checksum=members.checksum,
                changes=issued,
                source=rt.address,
                source_incarnation_number=members.local.incarnation,
                app=rt.app,
            )
        )
        rt.notify(PingSent, address)
        clock = rt.clock
        started = clock.monotonic()
        try:
            raw = await rt.network.call(
                address,
                "/protocol/ping",
                body,
                timeout=core.scaled(rt.options.ping_timeout) if timeout is None else timeout,
            )
            response = core.guard.accept(address, receive(raw, PingResponse))
        except (CallError, MessageError) as error:
            log.debug("%s: ping %s failed: %s", rt.address, address, error)
            return False
        answered = clock.monotonic()
        rt.notify(PingAnswered, address, answered - started)
        core.heard_from(address, answered)
        if changes is None:
            core.disseminator.commit(issued)
        if apply_response:
            rt.apply(response.changes, peer=address)
        return True
