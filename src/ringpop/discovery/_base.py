"""What every discover provider shares: the protocol, the error and address checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from ringpop.errors import RingpopError

__all__ = [
    "DiscoverProvider",
    "DiscoveryError",
    "check_address",
    "dedupe",
    "format_address",
]


class DiscoveryError(RingpopError):
    """A discover provider could not produce a host list.

    ``source`` names what was asked (``"hosts file /etc/ringpop/hosts.json"``,
    ``"DNS A lookup of 'ringpop.default.svc.cluster.local.'"``) and ``reason`` says
    why it failed; ``str(error)`` is ``"<source>: <reason>"``.

    ``permanent`` says that asking again cannot help until someone fixes the source
    (a hosts file that is not a JSON array of addresses): bootstrap then gives up at
    once instead of retrying for ``max_join_duration``.
    """

    def __init__(self, source: str, reason: str, *, permanent: bool = False) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.permanent = permanent


@runtime_checkable
class DiscoverProvider(Protocol):
    """Where the hosts of a cluster come from (spec §11 and §14).

    ``hosts()`` is called at every bootstrap attempt and at every heal pass, so a
    provider must look again each time (re-read its file, re-resolve its name).
    """

    async def hosts(self) -> list[str]:
        """Return the current hosts as ``"ip:port"`` strings, without duplicates,
        in the provider's order.

        Raises :class:`DiscoveryError` when the source cannot be read; never returns
        a partial or unchecked list.
        """
        ...


def check_address(value: object, *, allow_ipv6: bool = False) -> str:
    """Return ``value`` when it is a ringpop address, else raise ``ValueError``.

    A ringpop address (spec §1) is ``"a.b.c.d:port"``: an IPv4 dotted quad (no
    leading zeros, no spaces) and a decimal port 0-65535, also without leading
    zeros: the address is the member's key, so ``03000`` and ``3000`` must not both
    exist. With ``allow_ipv6``, ``"[v6]:port"`` is accepted too (ringpop-node and
    ringpop-go peers do not accept such addresses).
    """
    if not isinstance(value, str):
        raise ValueError(f'{value!r} is not a string "a.b.c.d:port"')
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f'{value!r} is not "a.b.c.d:port" (no ":port")')
    if (
        not (port.isascii() and port.isdigit())
        or int(port) > 65535
        or (len(port) > 1 and port[0] == "0")
    ):
        raise ValueError(f"{value!r} has port {port!r}, not a number 0-65535")
    if allow_ipv6 and host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{value!r} has {host!r}, not an IPv6 address") from None
        return value
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{value!r} has host {host!r}, not an IPv4 dotted quad") from None
    return value


def format_address(ip: str, port: int) -> str:
    """``"ip:port"`` for IPv4, ``"[ip]:port"`` for IPv6."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def dedupe(addresses: Iterable[str]) -> list[str]:
    """The addresses without repeats, first occurrence kept, order preserved."""
    return list(dict.fromkeys(addresses))
