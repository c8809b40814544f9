"""The ``/admin/*`` and ``/health`` endpoints of a node (spec §5.1-§5.7).

Responses are JSON objects (ringpop-go style, spec §18 #12): ``{"status": "ok"}``
rather than node's bare ``ok``.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import time
from typing import Any

import msgspec

from ringpop._version import __version__
from ringpop.admin.lifeguard import SuspicionCounts, lifeguard_response
from ringpop.membership.damper import Damper
from ringpop.membership.heal import Healer
from ringpop.membership.network import EndpointHandler, RemoteError
from ringpop.membership.node import SwimNode
from ringpop.membership.status import Status
from ringpop.messages import (
    AdminLookupRequest,
    AdminLookupResponse,
    AdminStatusResponse,
    GossipTickResponse,
    HealResponse,
    MessageError,
    ReapResponse,
    StatsMember,
    StatsMembership,
    StatsMemory,
    StatsProcess,
    StatsProtocol,
    StatsResponse,
    StatsRing,
    encode,
)
from ringpop.receiving import FieldError, receive
from ringpop.trace import Tracing

__all__ = ["admin_handlers", "stats_response"]

log = logging.getLogger(__name__)

_OK = encode(AdminStatusResponse(status="ok"))
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _memory() -> StatsMemory:
    """rss from /proc (current), heapTotal = peak rss, heapUsed = rss (no JS heap here)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
    try:
        with open("/proc/self/statm", "rb") as statm:
            rss = int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        rss = peak
    return StatsMemory(rss=rss, heap_total=peak, heap_used=rss)


def stats_response(
    node: SwimNode, started_at: float, damper: Damper | None = None
) -> StatsResponse:
    """The ``/admin/stats`` body (§5.1), schema-exact; ``dampScore`` when damping runs."""
    durations = node.tick_durations()
    timing = {
        "type": "histogram",
        "min": round(min(durations, default=0) * 1000, 3),
        "max": round(max(durations, default=0) * 1000, 3),
        "median": round(sorted(durations)[len(durations) // 2] * 1000, 3) if durations else 0,
        "count": len(durations),
    }
    ring = node.ring
    return StatsResponse(
        membership=StatsMembership(checksum=node.members.checksum, members=_members(node, damper)),
        process=StatsProcess(memory=_memory(), pid=os.getpid()),
        protocol=StatsProtocol(timing=timing, protocol_rate=round(node.protocol_rate * 1000, 3)),
        ring=StatsRing(
            checksum=ring.checksum,
            servers=ring.servers(),
            checksums={"replica": ring.replica_checksum},
        ),
        version=__version__,
        timestamp=time.time_ns() // 1_000_000,
        uptime=round((time.monotonic() - started_at) * 1000),
    )


def _lookup_key(body: bytes) -> str | None:
    """A ``key`` that is not a string, as ringpop-node looks it up: ``String(key)``.

    node's handler takes any truthy ``key`` and looks up ``key + ''``; a falsy one
    (absent, ``null``, ``false``, ``0``, ``""``) is ``None`` here: key required.
    """
    try:
        key = msgspec.json.decode(body, type=dict[str, Any]).get("key")
    except msgspec.DecodeError:
        return None
    if not js_truthy(key):
        return None
    try:
        return js_string(key)
    except RecursionError:  # nested deeper than we care to join
        return None


def js_truthy(value: Any) -> bool:
    """JavaScript's truthiness of a JSON value (objects and arrays are truthy)."""
    if isinstance(value, (dict, list)):
        return True
    return bool(value)


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` of a value ``JSON.parse`` made (spec §5.2, node).

    Numbers are doubles printed the way JavaScript prints them (``2**63`` is
    ``"9223372036854776000"``, ``1.0`` is ``"1"``); an object is
    ``"[object Object]"``; an array joins its items with ``,`` (``null`` as ``""``).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]"


def _js_number(value: int | float) -> str:
    """ECMAScript Number::toString of ``value`` as a double (shortest round trip)."""
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the doubles: JSON.parse makes it Infinity
        return "Infinity" if value > 0 else "-Infinity"
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    if number < 0:
        return "-" + _js_number(-number)
    mantissa, _, exponent = repr(number).partition("e")  # shortest round trip
    whole, _, fraction = mantissa.partition(".")
    every = whole + ("" if fraction == "0" else fraction)
    digits = every.lstrip("0")
    # ECMAScript's n: the value is 0.<digits> x 10^point.
    point = len(whole) + int(exponent or 0) - (len(every) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    e = point - 1
    sign = "+" if e >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(e)}"


def _members(node: SwimNode, damper: Damper | None) -> list[StatsMember]:
    members = node.members.stats_members()
    if damper is None:
        return members
    scores = damper.all_scores()
    for member in members:
        if member.address != node.address:
            member.damp_score = scores.get(member.address, 0)
    return members


def admin_handlers(
    node: SwimNode,
    healer: Healer,
    damper: Damper | None = None,
    tracing: Tracing | None = None,
) -> dict[str, EndpointHandler]:
    """The admin endpoints of ``node`` (and ``/trace/*`` with ``tracing``), by path."""
    started_at = time.monotonic()
    suspicion_counts = SuspicionCounts(node)

    async def stats(body: bytes) -> bytes:
        return encode(stats_response(node, started_at, damper))

    async def lifeguard(body: bytes) -> bytes:
        return msgspec.json.encode(lifeguard_response(node, suspicion_counts))

    async def lookup(body: bytes) -> bytes:
        key: str | None
        try:
            key = receive(body, AdminLookupRequest).message.key if body.strip() else ""
        except FieldError as error:
            key = _lookup_key(body)  # not a string: node looks up String(key)
            if key is None:
                raise RemoteError(
                    "ringpop.argument-required", f"key is required ({error})"
                ) from None
        except MessageError as error:
            raise RemoteError("ringpop.argument-required", f"key is required ({error})") from None
        else:
            if not key:
                raise RemoteError("ringpop.argument-required", "key is required")
        dest = node.ring.lookup(key)
        return encode(AdminLookupResponse(dest=dest if dest is not None else node.address))

    async def gossip_start(body: bytes) -> bytes:
        node.start_gossip()
        return _OK

    async def gossip_stop(body: bytes) -> bytes:
        await node.stop_gossip()
        return _OK

    async def gossip_tick(body: bytes) -> bytes:
        await node.tick()
        return encode(GossipTickResponse(checksum=node.members.checksum))

    async def gossip_status(body: bytes) -> bytes:
        return encode(AdminStatusResponse(status="started" if node.gossiping else "stopped"))

    async def member_leave(body: bytes) -> bytes:
        if node.local.status == Status.LEAVE:
            raise RemoteError(
                "ringpop.invalid-leave.redundant",
                "A node cannot leave its cluster when it has already left.",
            )
        node.set_local_status(Status.LEAVE)
        return _OK

    async def member_join(body: bytes) -> bytes:
        if node.local.status != Status.ALIVE:
            node.set_local_status(Status.ALIVE)
        return encode(AdminStatusResponse(status="rejoined"))

    async def reap(body: bytes) -> bytes:
        applied = node.members.reap()
        node.process(applied)
        return encode(ReapResponse(status="ok", reaped=len(applied)))

    async def heal(body: bytes) -> bytes:
        try:
            targets = await healer.heal()
        except Exception as error:  # reported to the caller, like ringpop-go
            return encode(HealResponse(targets=[], error=str(error)))
        return encode(HealResponse(targets=targets, error=""))

    async def health(body: bytes) -> bytes:
        return b"ok"

    async def debug_set(body: bytes) -> bytes:
        logging.getLogger("ringpop").setLevel(logging.DEBUG)
        return _OK

    async def debug_clear(body: bytes) -> bytes:
        logging.getLogger("ringpop").setLevel(logging.NOTSET)
        return _OK

    return {
        "/admin/stats": stats,
        "/admin/lifeguard": lifeguard,  # beyond the spec: local health, suspicions
        "/admin/lookup": lookup,
        "/admin/gossip/start": gossip_start,
        "/admin/gossip/stop": gossip_stop,
        "/admin/gossip/tick": gossip_tick,
        "/admin/gossip/status": gossip_status,
        "/admin/gossip": gossip_start,  # deprecated alias (node: start)
        "/admin/tick": gossip_tick,  # deprecated alias
        "/admin/member/leave": member_leave,
        "/admin/member/join": member_join,
        "/admin/leave": member_leave,  # deprecated alias
        "/admin/join": member_join,  # deprecated alias
        "/admin/reap": reap,
        "/admin/healpartition/disco": heal,
        "/admin/debugSet": debug_set,
        "/admin/debugClear": debug_clear,
        "/health": health,
        **(tracing.handlers() if tracing is not None else {}),  # /trace/add, /trace/remove
    }
