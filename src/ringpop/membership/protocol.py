"""Handlers of ``/protocol/join``, ``/protocol/ping`` and ``/protocol/ping-req`` (§4).

Requests are received by the rules of spec §1.1 (:mod:`ringpop.receiving`): a join
with an unusable ``app`` or ``source``, a ping with an unusable ``app`` (when present),
and a ping or ping-req without ``source`` or ``changes`` (absent or ``null``, as
ringpop-node refuses them) are refused. Like ringpop-node, a ping or ping-req whose
``source`` is present but no usable address is still answered: its usable changes
are applied and the requester is unknown (no full sync, no reverse full sync, no
contact recorded); a ping-req whose ``target`` is no usable address answers
``pingStatus: false``. A ``changes`` that is not a list holds no usable entry (a
single object is taken as a one-entry list, as ringpop-node does). Unusable changes
are dropped alone and counted (``receive.dropped.<reason>``). Errors use
ringpop-node's ``type`` strings and messages (spec §4.1 recommendation).
"""

from __future__ import annotations

import logging
import re

import msgspec
from msgspec import UNSET

from ringpop.membership.checksum import OtherFlavour
from ringpop.membership.events import (
    ChecksumFlavourMismatch,
    FullSyncSent,
    JoinReceived,
    PingReceived,
    PingReqPingSent,
    PingReqReceived,
)
from ringpop.membership.limits import LimitError
from ringpop.membership.member import is_valid_address
from ringpop.membership.network import EndpointHandler, RemoteError
from ringpop.membership.node import SwimNode
from ringpop.messages import (
    Change,
    JoinRequest,
    JoinResponse,
    MessageError,
    PingReqRequest,
    PingReqResponse,
    PingRequest,
    PingResponse,
    encode,
)
from ringpop.receiving import FieldError, receive

__all__ = ["protocol_handlers"]

log = logging.getLogger(__name__)

_NOT_READY = ("ringpop.not-ready", "Ringpop is not ready")
_WARNED_PEERS = 16
"""Peers of the other checksum flavour named in a warning (each once); the rest counted."""
_JOIN_RECEIVED = JoinReceived()
_PING_RECEIVED = PingReceived()
_PING_REQ_RECEIVED = PingReqReceived()


def _is_json(body: bytes) -> bool:
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    return True


def _check_size(node: SwimNode, body: bytes) -> None:
    try:
        node.guard.check_body("", body)
    except LimitError as error:
        raise RemoteError(f"ringpop.limit.{error.reason}", str(error)) from None


def _apply(node: SwimNode, changes: list[Change], source: str) -> None:
    try:
        node.apply_changes(changes, peer=source, strict=True)
    except LimitError as error:
        raise RemoteError(f"ringpop.limit.{error.reason}", str(error)) from None


def _agrees(node: SwimNode, source: str | None, checksum: int | None) -> bool:
    """With ``agreement_shortcut``: a known requester holds what we hold (equal
    checksums), so the changes it sends are no news (docs/scale.md)."""
    return (
        node.disseminator.agreement_shortcut
        and source is not None
        and checksum is not None
        and checksum == node.members.checksum
    )


def _known(source: str) -> str | None:
    """The requester's address, or ``None`` when its ``source`` is no usable address."""
    return source if is_valid_address(source) else None


def protocol_handlers(node: SwimNode) -> dict[str, EndpointHandler]:
    """The protocol endpoints of ``node``, keyed by endpoint path."""
    blacklist = [re.compile(pattern) for pattern in node.options.member_blacklist]
    events = node.events
    other_flavour = OtherFlavour(node.members.checksum_flavour)
    warned: set[str] = set()

    def check_flavour(source: str, checksum: int) -> None:
        """Say so when a peer answered with a full sync checksums in the other flavour."""
        members = node.members
        if not other_flavour.matches(checksum, members.checksum, members):
            return
        events.emit(ChecksumFlavourMismatch(source, other_flavour.flavour))
        if source in warned or len(warned) >= _WARNED_PEERS:
            return
        warned.add(source)
        theirs, ours = other_flavour.flavour, members.checksum_flavour
        log.warning(
            "%s: %s checksums the membership in the %s flavour, we in the %s one "
            "(ringpop-node clusters use 'node', ringpop-go 'go'): every ping between us "
            "is answered with a full sync. Give every node the same flavour "
            "(Options(checksum_flavour=%r), --checksum-flavour=%s)",
            node.address,
            source,
            theirs,
            ours,
            theirs,
            theirs,
        )

    async def join(body: bytes) -> bytes:
        events.emit(_JOIN_RECEIVED)
        _check_size(node, body)
        try:
            request = receive(body, JoinRequest).message
        except MessageError as error:
            if not _is_json(body):
                raise RemoteError(
                    "Error", "need JSON req body with source and incarnationNumber"
                ) from None
            raise RemoteError(
                "Error", f"need req body with app, source and incarnationNumber ({error})"
            ) from None
        source = request.source
        if source == node.address:
            raise RemoteError(
                "ringpop.self-join",
                "A node tried joining a cluster by attempting to join itself. "
                f"The joiner ({source}) must join someone else.",
            )
        if not is_valid_address(source):
            raise RemoteError(
                "ringpop.invalid-join.source",
                f"A node tried joining a cluster with an invalid host-port ({source})",
            )
        if any(pattern.search(source) for pattern in blacklist):
            raise RemoteError(
                "ringpop.invalid-join.blacklist",
                f"{source} tried joining a cluster, but its host is part of the blacklist: "
                + ", ".join(node.options.member_blacklist),
            )
        if request.app != node.app:
            raise RemoteError(
                "ringpop.invalid-join.app",
                "A node tried joining a different app cluster. The expected app "
                f"({node.app}) did not match the actual app ({request.app}).",
            )
        if node.on_join_request is not None:
            node.on_join_request(source)
        node.note_contact(source)
        # The joiner is not added here: it announces itself through gossip (§4.1).
        return encode(
            JoinResponse(
                app=node.app,
                coordinator=node.address,
                membership=node.members.as_changes(),
                membership_checksum=node.members.checksum,
            )
        )

    async def ping(body: bytes) -> bytes:
        if events.wants(PingReceived):
            events.emit(_PING_RECEIVED)
        _check_size(node, body)
        if not node.ready:
            raise RemoteError(*_NOT_READY)
        try:
            received = receive(body, PingRequest)
        except MessageError as error:
            if isinstance(error, FieldError) and error.field == "app":
                # Present but not a string: a different app, as node answers.
                raise RemoteError(
                    "ringpop.invalid-ping.app", "Pinged ringpop has a different app name"
                ) from None
            raise RemoteError(
                "ringpop.bad-request", f"need req body with source, changes, and checksum ({error})"
            ) from None
        request = node.guard.accept(received.message.source, received)
        if request.app is UNSET:
            if node.options.requires_app_in_ping:
                raise RemoteError("ringpop.invalid-ping.app", "Pinged ringpop requires app name")
        elif request.app != node.app:
            raise RemoteError("ringpop.invalid-ping.app", "Pinged ringpop has a different app name")
        source = _known(request.source)
        if not _agrees(node, source, request.checksum):
            _apply(node, request.changes, source or "")
        if source is not None:
            node.note_contact(source)
        changes, full_sync = node.disseminator.issue_as_receiver(
            source, request.source_incarnation_number, request.checksum
        )
        if source is not None:  # an unknown requester: nothing to sync with
            if full_sync:
                events.emit(FullSyncSent(source))
                if request.checksum is not None:
                    check_flavour(source, request.checksum)
                node.start_reverse_full_sync(source)
            elif request.checksum is not None:
                node.maybe_startup_sync(source, request.checksum)
        return encode(
            PingResponse(
                changes=changes,
                checksum=node.members.checksum,
                source=node.address,
                source_incarnation_number=node.members.local.incarnation,
            )
        )

    async def ping_req(body: bytes) -> bytes:
        if events.wants(PingReqReceived):
            events.emit(_PING_REQ_RECEIVED)
        _check_size(node, body)
        if not node.ready:
            raise RemoteError(*_NOT_READY)
        try:
            received = receive(body, PingReqRequest)
        except MessageError as error:
            raise RemoteError(
                "ringpop.bad-request",
                f"need req body with source, target, changes, and checksum ({error})",
            ) from None
        request = node.guard.accept(received.message.source, received)
        source = _known(request.source)
        if not _agrees(node, source, request.checksum):
            _apply(node, request.changes, source or "")
        if source is not None:
            node.note_contact(source)
        if is_valid_address(request.target):
            events.emit(PingReqPingSent(request.target))
            reachable = await node.send_ping(request.target)
        else:  # nothing to ping (ringpop-node's ping to it fails): echoed, as received
            reachable = False
        changes, _full_sync = node.disseminator.issue_as_receiver(
            source, request.source_incarnation_number, request.checksum
        )
        return encode(
            PingReqResponse(changes=changes, ping_status=reachable, target=request.target)
        )

    return {"/protocol/join": join, "/protocol/ping": ping, "/protocol/ping-req": ping_req}
