"""Our outgoing calls, sans-IO: how their headers are encoded and which are outstanding.

Two pieces :class:`~ringpop.tchannel.core.ConnectionCore` is built from:

* :class:`HeaderBlocks` - the call request fields after the flags byte (ttl,
  tracing, service, transport headers) and the call response header block,
  cached for the few (service, scheme, caller) combinations a node uses;
* :class:`CallTable` - the outstanding calls by id: the driver's tag, the
  deadline, and the stale-connection rule (:mod:`ringpop.tchannel.stale`) fed by
  their timeouts. Time is always an argument.
"""

from __future__ import annotations

import math
from typing import Any

from ringpop.tchannel.events import CallExpired, ConnectionStale, Event
from ringpop.tchannel.frames import (
    TRACING_SIZE,
    ZERO_TRACING,
    call_request_prefix,
    encode_call_headers,
    encode_service_headers,
    pack_ttl_tracing,
)
from ringpop.tchannel.stale import DEFAULT_STALE_PERIOD, StaleWatch

__all__ = ["CallTable", "HeaderBlocks", "ttl_ms"]

_MAX_TTL_MS = 0xFFFFFFFF
_NO_ID = 0xFFFFFFFF  # frames.NO_ID: never a call's id
# Timers may fire a little early (uvloop rounds to milliseconds): deadlines this
# close to ``now`` count as passed rather than making the driver re-arm in a tight loop.
_SLACK = 0.001
_MAX_CACHED_PREFIXES = 256
_MAX_CACHED_SCHEMES = 64


def ttl_ms(timeout: float) -> int:
    """The ttl field (whole milliseconds, at least 1) sent for a call of ``timeout`` s."""
    return min(max(1, math.ceil(timeout * 1000)), _MAX_TTL_MS)


class HeaderBlocks:
    """Encodes (and caches) the header parts of call requests and responses."""

    __slots__ = ("_prefixes", "_responses", "_ttl")

    def __init__(self) -> None:
        self._ttl = (0.0, 1)
        self._prefixes: dict[tuple[str, str, str], bytes] = {}
        self._responses: dict[str, bytes] = {}

    def request_prefix(
        self,
        timeout: float,
        service: str,
        scheme: str,
        caller: str,
        headers: dict[str, str] | None,
        tracing: bytes | None,
    ) -> bytes:
        """A call request's payload after the flags byte, up to the checksum.

        ``as`` is ``scheme``, ``cn`` is ``caller``, then ``headers``; the ttl is
        ``timeout`` in whole milliseconds; ``tracing`` defaults to zeros.
        """
        last_timeout, ttl = self._ttl
        if timeout != last_timeout:
            ttl = ttl_ms(timeout)
            self._ttl = (timeout, ttl)
        trace = ZERO_TRACING if tracing is None else tracing
        if len(trace) != TRACING_SIZE:
            raise ValueError("tracing must be 25 bytes")
        if headers:
            return call_request_prefix(ttl, trace, service, {"as": scheme, "cn": caller, **headers})
        key = (service, scheme, caller)
        block = self._prefixes.get(key)
        if block is None:
            block = encode_service_headers(service, {"as": scheme, "cn": caller})
            if len(self._prefixes) < _MAX_CACHED_PREFIXES:
                self._prefixes[key] = block
        return pack_ttl_tracing(ttl, trace) + block

    def response_headers(self, headers: dict[str, str], request_headers: dict[str, str]) -> bytes:
        """A call response's header block: ``headers``, ``as`` defaulting to the request's."""
        if not headers:
            scheme = request_headers.get("as", "raw")
            block = self._responses.get(scheme)
            if block is None:
                block = encode_call_headers({"as": scheme})
                if len(self._responses) < _MAX_CACHED_SCHEMES:
                    self._responses[scheme] = block
            return block
        if "as" not in headers:
            headers = {"as": request_headers.get("as", "raw"), **headers}
        return encode_call_headers(headers)


class CallTable:
    """Outstanding calls by message id: the driver's tag (never ``None``) and a deadline.

    Deadlines are times on whatever clock the driver passes to :meth:`expire`.
    """

    __slots__ = ("_deadlines", "_last_id", "_tags", "stale")

    def __init__(self, stale_period: float = DEFAULT_STALE_PERIOD) -> None:
        self._tags: dict[int, Any] = {}
        self._deadlines: dict[int, float] = {}
        self._last_id = 0
        #: Timeouts with nothing read since (the core resets it on every read).
        self.stale = StaleWatch(stale_period)

    def __len__(self) -> int:
        return len(self._tags)

    def __contains__(self, fid: int) -> bool:
        return fid in self._tags

    def next_id(self) -> int:
        """The next message id of this side: 1, 2, ... skipping ``0xFFFFFFFF``, wrapping to 1."""
        last = self._last_id + 1
        if last >= _NO_ID:
            last = 1
        self._last_id = last
        return last

    def add(self, tag: Any, deadline: float) -> int:
        """A new call's id, remembered until answered, forgotten or ``deadline`` passes.

        Ids still outstanding (after 2**32 calls wrap the counter) are skipped.
        """
        tags = self._tags
        fid = self._last_id + 1
        while True:
            if fid >= _NO_ID:
                fid = 1
            if fid not in tags:
                break
            fid += 1
        self._last_id = fid
        tags[fid] = tag
        self._deadlines[fid] = deadline
        return fid

    def pop(self, fid: int) -> Any:
        """Forget call ``fid``; its tag, or ``None`` if it was not outstanding."""
        tag = self._tags.pop(fid, None)
        if tag is not None:
            del self._deadlines[fid]
        return tag

    def tags(self) -> list[Any]:
        """The tags of every outstanding call."""
        return list(self._tags.values())

    def take_all(self) -> list[Any]:
        """Forget every call; their tags."""
        tags = list(self._tags.values())
        self._tags.clear()
        self._deadlines.clear()
        return tags

    def next_deadline(self) -> float | None:
        """When :meth:`expire` has work next: the first deadline or the stale check."""
        due = self.stale.due()
        if self._deadlines:
            first = min(self._deadlines.values())
            return first if due is None or first < due else due
        return due

    def expire(self, now: float) -> list[Event]:
        """Forget the calls overdue at ``now`` (:class:`CallExpired` each), in order.

        Each timeout feeds the stale rule; once it says stale, a
        :class:`ConnectionStale` ends the list and later overdue calls stay (the
        driver fails them all when it aborts the connection).
        """
        events: list[Event] = []
        deadlines = self._deadlines
        stale = self.stale
        if deadlines:
            due = now + _SLACK
            tags = self._tags
            for fid in [fid for fid, at in deadlines.items() if at <= due]:
                del deadlines[fid]
                events.append(CallExpired(fid, tags.pop(fid)))
                since = stale.since
                if stale.timed_out(now):
                    events.append(ConnectionStale(now - since if since is not None else 0.0))
                    return events
        since = stale.since
        if since is not None and stale.check(now):
            events.append(ConnectionStale(now - since))
        return events
