"""Shared machinery of the DNS providers: settings, resolver, lookups, error text.

dnspython (the ``ringpop[dns]`` extra) is imported here only, and only when a DNS
provider is built, so ``import ringpop.discovery`` stays light without it.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, get_args

from ringpop.checks import check_seconds
from ringpop.discovery._base import DiscoveryError

if TYPE_CHECKING:
    import dns.asyncresolver
    import dns.name

__all__ = [
    "DEFAULT_TIMEOUT",
    "DnsSettings",
    "DnsUnavailableError",
    "Record",
    "check_port",
    "explain",
    "parse_name",
    "require_dnspython",
]

Record = Literal["A", "AAAA", "A+AAAA"]
"""Which address records to ask for: IPv4, IPv6, or both (A first)."""

DEFAULT_TIMEOUT = 5.0
"""Seconds one :meth:`hosts` call may take, all its queries included."""

_PER_TRY = 2.0  # seconds to wait for one server before asking again (UDP loss)


class DnsUnavailableError(DiscoveryError, ImportError):
    """dnspython is not installed; ``pip install 'ringpop[dns]'`` provides it."""


def require_dnspython() -> None:
    """Import dnspython now, or raise :class:`DnsUnavailableError` saying how to get it."""
    try:
        for module in ("dns.asyncresolver", "dns.nameserver", "dns.rdtypes.IN.SRV"):
            importlib.import_module(module)
    except ImportError as exc:
        raise DnsUnavailableError(
            "DNS discovery",
            "needs dnspython, which is not installed: pip install 'ringpop[dns]'",
        ) from exc


def parse_name(name: object, what: str) -> dns.name.Name:
    """A DNS name from user input; relative unless it ends with a dot."""
    import dns.exception
    import dns.name

    if not isinstance(name, str) or not name.strip(". "):
        raise ValueError(f"{what}: name must be a non-empty DNS name, not {name!r}")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise ValueError(f"{what}: {name!r} is an IP address, not a DNS name (use StaticHosts)")
    try:
        return dns.name.from_text(name, origin=None)
    except dns.exception.DNSException as exc:
        raise ValueError(f"{what}: {name!r} is not a valid DNS name: {exc}") from None


class DnsSettings:
    """Nameservers, record types and time budget of one DNS provider."""

    __slots__ = ("_resolver", "nameserver_port", "nameservers", "record", "timeout")

    def __init__(
        self,
        what: str,
        *,
        nameservers: Sequence[str] | None,
        nameserver_port: int,
        record: str,
        timeout: float,
    ) -> None:
        if record not in get_args(Record):
            raise ValueError(f"{what}: record must be 'A', 'AAAA' or 'A+AAAA', not {record!r}")
        check_seconds(f"{what}: timeout", timeout)
        check_port(nameserver_port, f"{what}: nameserver_port")
        if isinstance(nameservers, str):
            raise ValueError(f"{what}: nameservers must be a list of IP addresses, not a string")
        if nameservers is not None:
            if not nameservers:
                raise ValueError(f"{what}: nameservers is empty (use None for the system's)")
            for ns in nameservers:
                try:
                    ipaddress.ip_address(ns)
                except ValueError:
                    raise ValueError(f"{what}: nameserver {ns!r} is not an IP address") from None
        require_dnspython()
        self.nameservers = tuple(nameservers) if nameservers is not None else None
        self.nameserver_port = nameserver_port
        self.record: Record = record  # type: ignore[assignment]  # checked above
        self.timeout = float(timeout)
        self._resolver: dns.asyncresolver.Resolver | None = None
        if self.nameservers is not None:
            self._resolver = self._custom_resolver(self.nameservers)

    def describe(self) -> str:
        """Where queries go, for messages: ``"127.0.0.1:5353"`` or the system's."""
        if self.nameservers is None:
            return "the system resolver"
        return ", ".join(f"{ns}:{self.nameserver_port}" for ns in self.nameservers)

    def resolver(self) -> dns.asyncresolver.Resolver:
        """The resolver; the system one is configured on first use, then kept."""
        if self._resolver is None:
            import dns.asyncresolver

            resolver = dns.asyncresolver.Resolver(configure=True)
            resolver.lifetime = self.timeout
            resolver.timeout = min(resolver.timeout, _PER_TRY, self.timeout)
            resolver.cache = None
            self._resolver = resolver
        return self._resolver

    def _custom_resolver(self, nameservers: Sequence[str]) -> dns.asyncresolver.Resolver:
        import dns.asyncresolver
        import dns.nameserver

        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(ns, self.nameserver_port) for ns in nameservers
        ]
        resolver.lifetime = self.timeout
        resolver.timeout = min(_PER_TRY, self.timeout)
        resolver.cache = None
        return resolver

    async def addresses(self, name: dns.name.Name | str) -> list[str]:
        """The IP addresses of ``name`` per :attr:`record`, A before AAAA.

        A type with no records contributes nothing (so the list may be empty); a
        name that does not exist raises ``dns.resolver.NXDOMAIN``, and other
        failures propagate too.
        """
        rdtypes = ("A", "AAAA") if self.record == "A+AAAA" else (self.record,)
        results = await asyncio.gather(
            *(self._lookup(name, rdtype) for rdtype in rdtypes), return_exceptions=True
        )
        found: list[str] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            found.extend(result)
        return found

    async def _lookup(self, name: dns.name.Name | str, rdtype: str) -> list[str]:
        import dns.resolver

        try:
            answer = await self.resolver().resolve(name, rdtype, search=True)
        except dns.resolver.NoAnswer:
            return []
        return [rdata.to_text() for rdata in answer]


def explain(exc: BaseException, settings: DnsSettings, asked: str) -> str:
    """One readable sentence for what went wrong while resolving."""
    import dns.exception
    import dns.resolver

    via = settings.describe()
    if isinstance(exc, dns.resolver.NXDOMAIN):
        if settings.nameservers is None:
            # dnspython asks the servers in resolv.conf only: names that exist only
            # in /etc/hosts (localhost, docker-compose aliases) are not found.
            return f"name does not exist (NXDOMAIN from {via}; /etc/hosts is not read)"
        return f"name does not exist (NXDOMAIN from {via})"
    if isinstance(exc, dns.resolver.NoAnswer):
        return f"the name exists but has no {asked} records"
    if isinstance(exc, TimeoutError | dns.exception.Timeout):
        return f"no answer from {via} within {settings.timeout:g} s"
    if isinstance(exc, dns.resolver.NoNameservers):
        return f"every nameserver failed ({via}): {exc}"
    if isinstance(exc, dns.resolver.NoResolverConfiguration):
        return (
            "no usable system DNS configuration (no nameservers in /etc/resolv.conf); "
            "pass nameservers=[...]"
        )
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return "name is too long once the search domain is appended"
    if isinstance(exc, OSError):
        return f"network error talking to {via}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def check_port(port: object, what: str) -> None:
    """Raise ``ValueError`` unless ``port`` is an integer 0-65535."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"{what} must be an integer 0-65535, not {port!r}")
