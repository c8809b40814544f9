"""Calls to the admin endpoints of ringpop nodes (ours, ringpop-node, ringpop-go).

One :class:`AdminClient` owns an ephemeral TChannel client. Every failure becomes an
:class:`AdminError` with a one-line, human message (unreachable node, timeout,
application error, unknown endpoint), so the command line never shows a traceback.
The differences between implementations (``ok`` versus ``{"status": "ok"}``, node's
``{"candidateHosts": [...]}`` join answer, go's missing ``/admin/gossip/status``) are
smoothed here by :func:`status_text`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ringpop.tchannel import (
    ApplicationError,
    BadRequestError,
    CallTimeoutError,
    Channel,
    NetworkError,
    TChannelError,
)
from ringpop.tchannel.hostport import validate_host_port

if TYPE_CHECKING:
    from ringpop.tlsconfig import TLSConfig

__all__ = [
    "AdminClient",
    "AdminError",
    "MemberRow",
    "NodeStats",
    "parse_address",
    "status_text",
    "trace_body",
]

SERVICE = "ringpop"
CALLER = "ringpop-admin"
DEFAULT_TIMEOUT = 3.0


def parse_address(text: str) -> str:
    """``ip:port`` from ``ip:port``, ``localhost:port`` or a bare port (127.0.0.1).

    Raises ``ValueError`` with a readable reason otherwise.
    """
    value = text.strip()
    if value.isdigit():
        value = f"127.0.0.1:{value}"
    host, sep, port = value.rpartition(":")
    if sep and host == "localhost":
        value = f"127.0.0.1:{port}"
    reason = validate_host_port(value, allow_ephemeral=False)
    if reason is not None:
        raise ValueError(f"{text!r} is not a node address (expected ip:port, e.g. 127.0.0.1:3000)")
    return value


class AdminError(Exception):
    """A failed admin call, with a message fit for a terminal.

    ``kind`` is one of ``unreachable``, ``timeout``, ``app-error``, ``unsupported``,
    ``bad-response`` and ``error``.
    """

    def __init__(self, address: str, endpoint: str, kind: str, message: str) -> None:
        super().__init__(f"{address} {endpoint}: {message}")
        self.address = address
        self.endpoint = endpoint
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class MemberRow:
    """One entry of a node's member list (``/admin/stats`` ``membership.members``)."""

    address: str
    status: str
    incarnation: int
    labels: dict[str, str] = field(default_factory=dict)
    damp_score: int | float | None = None


@dataclass(frozen=True)
class NodeStats:
    """The parts of ``/admin/stats`` the command line shows, plus the raw document."""

    address: str
    membership_checksum: int
    ring_checksum: int | None
    members: tuple[MemberRow, ...]
    ring_servers: tuple[str, ...]
    raw: dict[str, Any]

    @property
    def own(self) -> MemberRow | None:
        """The node's own entry in its member list."""
        for member in self.members:
            if member.address == self.address:
                return member
        return None

    def count(self, status: str) -> int:
        """How many members have ``status``."""
        return sum(1 for member in self.members if member.status == status)

    def counts(self) -> dict[str, int]:
        """Members per status, in the usual order, zero counts included."""
        order = ("alive", "suspect", "faulty", "leave", "tombstone")
        result = {status: 0 for status in order}
        for member in self.members:
            result[member.status] = result.get(member.status, 0) + 1
        return result

    def alive_addresses(self) -> frozenset[str]:
        """Addresses this node considers alive."""
        return frozenset(m.address for m in self.members if m.status == "alive")

    def known_addresses(self) -> list[str]:
        """Every member address except tombstones, sorted."""
        return sorted(m.address for m in self.members if m.status != "tombstone")


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return default


def parse_stats(address: str, document: Any) -> NodeStats:
    """:class:`NodeStats` from a decoded ``/admin/stats`` body; ``ValueError`` if malformed."""
    if not isinstance(document, dict):
        raise ValueError("the stats answer is not a JSON object")
    membership = document.get("membership")
    if not isinstance(membership, dict) or not isinstance(membership.get("members"), list):
        raise ValueError("the stats answer has no membership.members list")
    members: list[MemberRow] = []
    for entry in membership["members"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            continue
        labels = entry.get("labels")
        damp = entry.get("dampScore")
        members.append(
            MemberRow(
                address=entry["address"],
                status=str(entry.get("status", "?")),
                incarnation=_int(entry.get("incarnationNumber")),
                labels={str(k): str(v) for k, v in labels.items()}
                if isinstance(labels, dict)
                else {},
                damp_score=damp
                if isinstance(damp, int | float) and not isinstance(damp, bool)
                else None,
            )
        )
    members.sort(key=lambda m: m.address)
    ring = document.get("ring")
    ring_checksum: int | None = None
    servers: tuple[str, ...] = ()
    if isinstance(ring, dict):
        if isinstance(ring.get("checksum"), int):
            ring_checksum = ring["checksum"]
        if isinstance(ring.get("servers"), list):
            servers = tuple(sorted(str(s) for s in ring["servers"]))
    return NodeStats(
        address=address,
        membership_checksum=_int(membership.get("checksum")),
        ring_checksum=ring_checksum,
        members=tuple(members),
        ring_servers=servers,
        raw=document,
    )


def status_text(answer: Any) -> str:
    """A one-word summary of a control endpoint's answer.

    ``ok`` (node), ``{"status": "ok"}`` (go and us) -> ``ok``; node's join answer
    ``{"candidateHosts": [...]}`` -> ``joined``; anything else as compact JSON text.
    """
    if isinstance(answer, bytes):
        return answer.decode(errors="replace").strip() or "ok"
    if answer is None:
        return "ok"
    if isinstance(answer, dict):
        status = answer.get("status")
        if isinstance(status, str):
            return status
        if "candidateHosts" in answer:
            return "joined"
        if answer == {}:
            return "ok"
    if isinstance(answer, str):
        return answer
    import json

    return json.dumps(answer, separators=(",", ":"))


def trace_body(
    event: str,
    *,
    sink: str | None = None,
    service: str = "ringpop",
    endpoint: str | None = None,
    level: str = "info",
    message: str | None = None,
    expires_in: float | None = None,
) -> dict[str, Any]:
    """A ``/trace/add`` or ``/trace/remove`` body in ringpop-node's format.

    ``sink`` (``ip:port``) names a TChannel sink; without it the node's log is the sink.
    The endpoint (or log message) is always sent, ``/trace/<event>`` by default:
    ringpop-node matches tracers on what the body says, not on its defaults.
    ``expires_in`` is in seconds (sent as ``expiresIn`` ms); omitted for a removal.
    """
    name = f"/trace/{event}"
    spec: dict[str, Any]
    if sink is None:
        spec = {"type": "log", "level": level, "message": message or name}
    else:
        spec = {"type": "tchannel", "hostPort": sink, "serviceName": service}
        spec["endpoint"] = endpoint or name
    body: dict[str, Any] = {"event": event, "sink": spec}
    if expires_in is not None:
        body["expiresIn"] = round(expires_in * 1000)
    return body


class AdminClient:
    """Admin calls to any number of nodes through one ephemeral TChannel client.

    Use as ``async with AdminClient(timeout=2.0) as client: ...``. ``tls``: talk to a
    cluster that runs TLS (its CA, and a client certificate if the nodes require one);
    its files are read here (``TLSError`` if they cannot be used).
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, *, tls: TLSConfig | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self._channel = Channel(caller_name=CALLER, connect_timeout=timeout, tls=tls)

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection (bounded)."""
        await self._channel.close(drain_timeout=0.5)

    async def call(
        self,
        address: str,
        endpoint: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Call ``endpoint`` on ``address``; the decoded JSON answer, or bytes if not JSON.

        Raises :class:`AdminError` for every failure.
        """
        limit = self.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit + 0.5):  # belt and braces over the call's own ttl
                return await self._channel.call_json(
                    address,
                    SERVICE,
                    endpoint,
                    None if body is None else dict(body),
                    timeout=limit,
                    scheme="raw",
                )
        except ApplicationError as error:
            raise AdminError(
                address, endpoint, "app-error", f"node answered an error: {error}"
            ) from None
        except BadRequestError as error:
            raise AdminError(
                address, endpoint, "unsupported", f"endpoint not supported by this node ({error})"
            ) from None
        except (CallTimeoutError, TimeoutError) as error:
            if "handshake" not in str(error):
                raise AdminError(
                    address, endpoint, "timeout", f"no answer within {limit:g} s"
                ) from None
            text = (  # something accepted the connection but never spoke TChannel
                f"{address} accepted the connection but did not answer the TChannel "
                "handshake: is it a ringpop (TChannel) port? Give the node's --listen address"
            )
            if await speaks_http(address, limit):
                text = _HTTP_NOT_TCHANNEL.format(address=address)
            raise AdminError(address, endpoint, "unreachable", f"unreachable ({text})") from None
        except NetworkError as error:
            text = str(error)
            if "before the handshake" in text and await speaks_http(address, limit):
                text = _HTTP_NOT_TCHANNEL.format(address=address)
            raise AdminError(address, endpoint, "unreachable", f"unreachable ({text})") from None
        except TChannelError as error:
            raise AdminError(address, endpoint, "error", f"call failed: {error}") from None
        except OSError as error:
            raise AdminError(address, endpoint, "unreachable", f"unreachable ({error})") from None

    async def stats(self, address: str, *, timeout: float | None = None) -> NodeStats:
        """``/admin/stats`` of ``address``, parsed."""
        document = await self.call(address, "/admin/stats", timeout=timeout)
        try:
            return parse_stats(address, document)
        except ValueError as error:
            raise AdminError(address, "/admin/stats", "bad-response", str(error)) from None

    async def lookup(self, address: str, key: str) -> str:
        """The owner of ``key`` according to ``address``."""
        answer = await self.call(address, "/admin/lookup", {"key": key})
        if not isinstance(answer, dict) or not isinstance(answer.get("dest"), str):
            raise AdminError(
                address, "/admin/lookup", "bad-response", f"unexpected answer {answer!r}"
            )
        return str(answer["dest"])

    async def stats_many(
        self, addresses: Iterable[str], *, timeout: float | None = None
    ) -> dict[str, NodeStats | AdminError]:
        """``/admin/stats`` of several nodes concurrently; errors in place of stats
        (one address given alone as a ``str`` is one node)."""
        targets = _targets(addresses)

        async def one(address: str) -> NodeStats | AdminError:
            try:
                return await self.stats(address, timeout=timeout)
            except AdminError as error:
                return error

        results = await asyncio.gather(*(one(a) for a in targets))
        return dict(zip(targets, results, strict=True))

    async def call_many(
        self, addresses: Sequence[str], endpoint: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """``endpoint`` on several nodes concurrently; :class:`AdminError` in place of answers."""
        targets = _targets(addresses)

        async def one(address: str) -> Any:
            try:
                return await self.call(address, endpoint, body)
            except AdminError as error:
                return error

        results = await asyncio.gather(*(one(a) for a in targets))
        return dict(zip(targets, results, strict=True))


def _targets(addresses: Iterable[str]) -> list[str]:
    """Distinct addresses in order; a lone ``str`` is one address, not its characters."""
    return [addresses] if isinstance(addresses, str) else list(dict.fromkeys(addresses))


_HTTP_NOT_TCHANNEL = (
    "{address} answers HTTP, not TChannel: is this the application's HTTP port? Give the "
    "node's ringpop (TChannel) address, e.g. its --listen"
)


async def speaks_http(address: str, timeout: float) -> bool:
    """Whether ``address`` answers a plain HTTP request (a common mistake: the admin
    client pointed at a service's HTTP front instead of its TChannel port)."""
    host, _, port = address.rpartition(":")
    try:
        async with asyncio.timeout(min(timeout, 2.0)):
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            try:
                writer.write(b"HEAD / HTTP/1.0\r\n\r\n")
                await writer.drain()
                first = await reader.read(5)
            finally:
                writer.close()
    except (OSError, TimeoutError, ValueError):
        return False
    return first == b"HTTP/"
