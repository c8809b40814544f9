"""Driver: the join sender (§4.1): ``/protocol/join`` requests and their answers.

Bootstrap (:mod:`.join`), partition healing (:mod:`.heal`) and reverse full syncs
(:mod:`.fullsync`) all join through :class:`JoinSender`.
"""

from __future__ import annotations

from ringpop.membership.events import JoinSent
from ringpop.membership.network import CallError
from ringpop.membership.runtime import Runtime
from ringpop.messages import JoinRequest, JoinResponse, MessageError, encode
from ringpop.receiving import receive

__all__ = ["JoinSender"]


class JoinSender:
    """Sends joins for one node."""

    __slots__ = ("_rt",)

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def join_request(self) -> bytes:
        """Our ``/protocol/join`` body."""
        rt = self._rt
        local = rt.core.members.local
        return encode(
            JoinRequest(
                app=rt.app,
                source=rt.address,
                incarnation_number=local.incarnation,
                labels=dict(local.labels),
            )
        )

    async def send_join(self, address: str, *, timeout: float) -> JoinResponse:
        """Send a join to ``address``; its response. Raises :class:`CallError`."""
        rt = self._rt
        rt.notify(JoinSent, address)
        raw = await rt.network.call(address, "/protocol/join", self.join_request(), timeout=timeout)
        try:
            return rt.core.guard.accept(address, receive(raw, JoinResponse))
        except MessageError as error:
            raise CallError(f"bad join response from {address}: {error}") from None
