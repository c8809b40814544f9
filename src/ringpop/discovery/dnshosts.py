"""Hosts from DNS: the A/AAAA records of a name, or the SRV records of a service.

Both providers resolve again at every :meth:`hosts` call (no cache), so pods that
come and go behind a Kubernetes headless service are seen at the next bootstrap
attempt or heal pass. They need dnspython: ``pip install 'ringpop[dns]'``.

ringpop addresses are IPv4 ``a.b.c.d:port`` (spec §1). AAAA records give
``[v6]:port`` addresses, which only Python peers accept: ringpop-node and
ringpop-go cannot join such a member.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ringpop.discovery._base import DiscoveryError, dedupe, format_address
from ringpop.discovery._dns import (
    DEFAULT_TIMEOUT,
    DnsSettings,
    Record,
    check_port,
    explain,
    parse_name,
)

__all__ = ["DnsHosts", "DnsSrvHosts"]

log = logging.getLogger("ringpop.discovery")


class DnsHosts:
    """``ip:port`` for every address record of ``name``, all with the same ``port``.

    ``DnsHosts("ringpop.default.svc.cluster.local", 3000)`` lists the pods behind a
    Kubernetes headless service. Options:

    * ``nameservers``: IP addresses to ask instead of the system's resolver
      (``/etc/resolv.conf``, whose search domains then apply to names without a
      trailing dot); ``nameserver_port`` is their port (53).
    * ``record``: ``"A"`` (default), ``"AAAA"`` or ``"A+AAAA"`` (both, A first; a
      type with no records is fine as long as the other has some).
    * ``timeout``: seconds the whole call may take.

    A name that does not exist, has no such records, or cannot be resolved in
    time raises :class:`DiscoveryError`.
    """

    __slots__ = ("_name", "_port", "_qname", "_settings")

    def __init__(
        self,
        name: str,
        port: int,
        *,
        nameservers: Sequence[str] | None = None,
        nameserver_port: int = 53,
        record: Record = "A",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        check_port(port, "DnsHosts: port")
        self._settings = DnsSettings(
            "DnsHosts",
            nameservers=nameservers,
            nameserver_port=nameserver_port,
            record=record,
            timeout=timeout,
        )
        self._qname = parse_name(name, "DnsHosts")
        self._name = name
        self._port = port

    async def hosts(self) -> list[str]:
        """Resolve the name now and return its addresses with the port."""
        settings = self._settings
        try:
            async with asyncio.timeout(settings.timeout):
                ips = await settings.addresses(self._qname)
        except Exception as exc:
            raise DiscoveryError(self._source, explain(exc, settings, settings.record)) from exc
        if not ips:
            raise DiscoveryError(self._source, f"the name exists but has no {_kinds(settings)}")
        return dedupe(format_address(ip, self._port) for ip in ips)

    @property
    def _source(self) -> str:
        return f"DNS {self._settings.record} lookup of {self._name!r}"

    def __repr__(self) -> str:
        s = self._settings
        return f"DnsHosts({self._name!r}, {self._port}, record={s.record!r}, via={s.describe()!r})"


class DnsSrvHosts:
    """``ip:port`` from the SRV records of ``name``: each target's addresses with
    the record's port.

    ``DnsSrvHosts("_tchannel._tcp.ringpop.default.svc.cluster.local")`` follows a
    Kubernetes service port named ``tchannel``. Records are taken by priority
    (lowest first), then weight (highest first); a target of ``.`` ("no service
    here") is ignored. The targets are resolved concurrently per ``record``.

    A target that does not exist or has no address records (a pod that went away
    between the two lookups) is skipped with a warning; any other failure of a
    target fails the call, and so does a list in which every target was skipped.
    Options are those of :class:`DnsHosts`.
    """

    __slots__ = ("_name", "_qname", "_settings")

    def __init__(
        self,
        name: str,
        *,
        nameservers: Sequence[str] | None = None,
        nameserver_port: int = 53,
        record: Record = "A",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._settings = DnsSettings(
            "DnsSrvHosts",
            nameservers=nameservers,
            nameserver_port=nameserver_port,
            record=record,
            timeout=timeout,
        )
        self._qname = parse_name(name, "DnsSrvHosts")
        self._name = name

    async def hosts(self) -> list[str]:
        """Resolve the SRV records, then their targets, now."""
        settings = self._settings
        try:
            async with asyncio.timeout(settings.timeout):
                return await self._resolve()
        except DiscoveryError:
            raise
        except Exception as exc:
            raise DiscoveryError(self._source, explain(exc, settings, "SRV")) from exc

    async def _resolve(self) -> list[str]:
        import dns.rdtypes.IN.SRV
        import dns.resolver

        answer = await self._settings.resolver().resolve(self._qname, "SRV", search=True)
        records = [r for r in answer if isinstance(r, dns.rdtypes.IN.SRV.SRV)]
        records.sort(key=lambda r: (r.priority, -r.weight))
        targets = list(dict.fromkeys(r.target for r in records if len(r.target) > 1))
        if not targets:
            raise DiscoveryError(self._source, "every SRV record says 'no service' (target '.')")
        results = await asyncio.gather(
            *(self._settings.addresses(t) for t in targets), return_exceptions=True
        )
        ips: dict[object, list[str]] = {}
        skipped: list[str] = []
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, dns.resolver.NXDOMAIN) or result == []:
                skipped.append(str(target))
            elif isinstance(result, BaseException):
                reason = explain(result, self._settings, self._settings.record)
                raise DiscoveryError(self._source, f"SRV target {str(target)!r}: {reason}")
            else:
                ips[target] = result
        if not ips:
            raise DiscoveryError(
                self._source,
                f"no SRV target has {_kinds(self._settings)}: {', '.join(skipped)}",
            )
        if skipped:
            log.warning(
                "%s: skipped SRV targets without %s: %s",
                self._source,
                _kinds(self._settings),
                ", ".join(skipped),
            )
        return dedupe(
            format_address(ip, r.port) for r in records if r.target in ips for ip in ips[r.target]
        )

    @property
    def _source(self) -> str:
        return f"DNS SRV lookup of {self._name!r}"

    def __repr__(self) -> str:
        s = self._settings
        return f"DnsSrvHosts({self._name!r}, record={s.record!r}, via={s.describe()!r})"


def _kinds(settings: DnsSettings) -> str:
    return "A or AAAA records" if settings.record == "A+AAAA" else f"{settings.record} records"
