"""Discover providers: where bootstrap (spec §14) and the partition healer (§11)
get the hosts of the cluster.

Every provider has ``async hosts() -> list[str]`` returning ``"ip:port"`` strings
(deduplicated, order kept) and raising :class:`DiscoveryError` when its source
fails. It is asked again at each use: files are re-read, names re-resolved.

* :class:`StaticHosts` - a fixed list;
* :class:`HostsFile` - a JSON array in a file;
* :class:`DnsHosts` / :class:`DnsSrvHosts` - A/AAAA or SRV records (``ringpop[dns]``);
* :class:`RetryingProvider` - retries another provider with backoff;
* :func:`from_spec` - any of them from a command-line string.

The DNS providers import dnspython only when built. See ``docs/discovery.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ringpop.discovery._base import DiscoverProvider, DiscoveryError, check_address
from ringpop.discovery.hostsfile import HostsFile
from ringpop.discovery.retry import RetryingProvider
from ringpop.discovery.spec import SPEC_SYNTAX, from_spec
from ringpop.discovery.static import StaticHosts

if TYPE_CHECKING:
    from ringpop.discovery._dns import DnsUnavailableError, Record
    from ringpop.discovery.dnshosts import DnsHosts, DnsSrvHosts

__all__ = [
    "SPEC_SYNTAX",
    "DiscoverProvider",
    "DiscoveryError",
    "DnsHosts",
    "DnsSrvHosts",
    "DnsUnavailableError",
    "HostsFile",
    "Record",
    "RetryingProvider",
    "StaticHosts",
    "check_address",
    "from_spec",
]

_LAZY = {
    "DnsHosts": "ringpop.discovery.dnshosts",
    "DnsSrvHosts": "ringpop.discovery.dnshosts",
    "DnsUnavailableError": "ringpop.discovery._dns",
    "Record": "ringpop.discovery._dns",
}


def __getattr__(name: str) -> Any:
    # The DNS modules are cheap (dnspython itself is imported only when a DNS
    # provider is built), but loading them on demand keeps this import minimal.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ringpop.discovery' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
