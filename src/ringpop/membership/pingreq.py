"""Driver: the ping-req sender (§8.4), with ringpop-node's outcome rules.

When a direct ping failed, :class:`PingReqSender` asks up to ``ping_req_size``
helpers to ping the target for us, in parallel. The first helper that reached it
ends the probe; if any helper answered ``pingStatus: false`` the target is declared
suspect (by the core, :meth:`~ringpop.membership.core.MembershipCore.suspect`); if
every helper failed the probe is inconclusive and nothing is declared.
"""

from __future__ import annotations

import asyncio
import logging

from ringpop.membership.events import PingReqAnswered, PingReqSent
from ringpop.membership.member import Member
from ringpop.membership.network import CallError
from ringpop.membership.runtime import Runtime
from ringpop.messages import Change, MessageError, PingReqRequest, PingReqResponse, encode
from ringpop.receiving import receive

__all__ = ["PingReqSender"]

log = logging.getLogger(__name__)


class PingReqSender:
    """Indirect probes for one node."""

    __slots__ = ("_rt",)

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def probe(self, target: Member) -> bool:
        """Probe ``target`` through up to k helpers; whether a helper reached it."""
        rt = self._rt
        core = rt.core
        members = core.members
        helpers = members.random_pingable(rt.options.ping_req_size, [target.address])
        if not helpers:
            # Nobody can help (e.g. a two-node cluster): suspect right away.
            rt.run(core.suspect(target, rt.clock.monotonic()))
            return False
        issued = core.disseminator.issue_as_sender()
        body = encode(
            PingReqRequest(
                source=rt.address,
                source_incarnation_number=members.local.incarnation,
                target=target.address,
                checksum=members.checksum,
                changes=issued,
            )
        )
        attempts = [rt.spawn(self._send(helper.address, body, issued)) for helper in helpers]
        answered_false = False
        for next_done in asyncio.as_completed(attempts):
            status = await next_done
            if status is True:
                return True  # reachable through a helper; stragglers finish in the background
            if status is False:
                answered_false = True
        if answered_false:
            rt.run(core.suspect(target, rt.clock.monotonic()))
        else:
            log.info("%s: ping-req about %s inconclusive", rt.address, target.address)
        return False

    async def _send(self, helper: str, body: bytes, issued: list[Change]) -> bool | None:
        """One ping-req: the helper's ``pingStatus``, or ``None`` on error."""
        rt = self._rt
        core = rt.core
        rt.notify(PingReqSent, helper)
        started = rt.clock.monotonic()
        try:
            raw = await rt.network.call(
                helper,
                "/protocol/ping-req",
                body,
                timeout=core.scaled(rt.options.ping_req_timeout),
            )
            response = core.guard.accept(helper, receive(raw, PingReqResponse))
        except (CallError, MessageError) as error:
            log.debug("%s: ping-req via %s failed: %s", rt.address, helper, error)
            return None
        rt.notify(PingReqAnswered, helper, rt.clock.monotonic() - started)
        core.disseminator.commit(issued)
        rt.apply(response.changes, peer=helper)
        return response.ping_status
