"""Build a provider from what a user or a command line gives (``--hosts=...``).

Accepted values of :func:`from_spec`:

=================================================  ====================================
value                                              provider
=================================================  ====================================
a provider (anything with ``async hosts()``)       itself
a list or tuple of ``"ip:port"`` strings           :class:`StaticHosts`
a :class:`os.PathLike` (e.g. ``pathlib.Path``)     :class:`HostsFile`
``"10.0.0.1:3000,10.0.0.2:3000"``                  :class:`StaticHosts`
``"/etc/ringpop/hosts.json"`` (ends in ``.json``)  :class:`HostsFile`
``"file:/etc/ringpop/hosts"`` (any file name)      :class:`HostsFile`
``"dns:NAME:PORT[?OPTIONS]"``                      :class:`DnsHosts`
``"dns+srv:NAME[?OPTIONS]"``                       :class:`DnsSrvHosts`
=================================================  ====================================

``OPTIONS`` are ``key=value`` pairs joined by ``&``, with the keyword names of the
DNS providers: ``nameservers=IP[,IP...]``, ``nameserver_port=PORT``,
``record=A|AAAA|A+AAAA`` and ``timeout=SECONDS``. Example::

    dns:ringpop.default.svc.cluster.local:3000?record=A&timeout=2
    dns+srv:_tchannel._tcp.ringpop.default.svc.cluster.local?nameservers=127.0.0.1&nameserver_port=5353
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ringpop.checks import number_problem
from ringpop.discovery._base import DiscoverProvider
from ringpop.discovery.hostsfile import HostsFile
from ringpop.discovery.static import StaticHosts

__all__ = ["SPEC_SYNTAX", "from_spec"]

SPEC_SYNTAX = (
    "'ip:port[,ip:port...]', a path ending in .json, 'file:PATH', "
    "'dns:NAME:PORT[?OPTIONS]' or 'dns+srv:NAME[?OPTIONS]' "
    "(OPTIONS: nameservers=IP[,IP], nameserver_port=N, record=A|AAAA|A+AAAA, timeout=SECONDS)"
)
"""One line describing the string forms, for command-line help and error messages."""


def from_spec(value: DiscoverProvider | Sequence[str] | str | os.PathLike[str]) -> DiscoverProvider:
    """The provider ``value`` describes (see the module documentation).

    Raises ``ValueError`` naming the problem when ``value`` matches no form or a
    form has bad parts, and :class:`DnsUnavailableError` for a DNS form without
    dnspython installed.
    """
    if isinstance(value, str):
        return _from_string(value.strip())
    if isinstance(value, os.PathLike):
        return HostsFile(value)
    if isinstance(value, DiscoverProvider):
        return value
    if isinstance(value, list | tuple):
        return StaticHosts(value)
    raise TypeError(f"cannot make a discover provider from {value!r} (a {type(value).__name__})")


def _from_string(text: str) -> DiscoverProvider:
    if text.startswith("dns+srv:"):
        from ringpop.discovery.dnshosts import DnsSrvHosts

        name, options = _split_options(text, "dns+srv:")
        return DnsSrvHosts(name, **options)
    if text.startswith("dns:"):
        from ringpop.discovery.dnshosts import DnsHosts

        rest, options = _split_options(text, "dns:")
        name, sep, port = rest.rpartition(":")
        if not sep or not name or not port.isdigit():
            raise ValueError(f"discovery spec {text!r}: expected 'dns:NAME:PORT[?OPTIONS]'")
        return DnsHosts(name, int(port), **options)
    if text.startswith("file:"):
        path = text.removeprefix("file:")
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ValueError(f"discovery spec {text!r}: 'file:' needs a path")
        return HostsFile(path)
    if text.lower().endswith(".json"):
        return HostsFile(text)
    if text and all(part.strip() and ":" in part for part in text.split(",")):
        try:
            return StaticHosts(part.strip() for part in text.split(","))
        except ValueError as exc:
            raise ValueError(f"discovery spec {text!r}: {exc}") from None
    raise ValueError(f"discovery spec {text!r} is not one of: {SPEC_SYNTAX}")


def _split_options(text: str, scheme: str) -> tuple[str, dict[str, Any]]:
    body, _, query = text.removeprefix(scheme).partition("?")
    options: dict[str, Any] = {}
    for pair in filter(None, query.split("&")):
        key, sep, raw = pair.partition("=")
        if not sep or not raw:
            raise ValueError(f"discovery spec {text!r}: option {pair!r} is not key=value")
        if key in options:
            raise ValueError(f"discovery spec {text!r}: option {key!r} given twice")
        options[key] = _option_value(text, key, raw)
    return body, options


def _option_value(text: str, key: str, raw: str) -> object:
    if key == "nameservers":
        return [ns.strip() for ns in raw.split(",")]
    if key == "record":
        # '+' may arrive form-decoded as a space.
        return raw.upper().replace(" ", "+")
    if key == "nameserver_port":
        if not raw.isdigit():
            raise ValueError(f"discovery spec {text!r}: nameserver_port={raw!r} is not a port")
        return int(raw)
    if key == "timeout":
        try:
            seconds = float(raw)
        except ValueError:
            seconds = math.nan
        problem = number_problem(seconds)
        if problem is not None:
            raise ValueError(f"discovery spec {text!r}: timeout {problem}, not {raw!r}")
        return seconds
    raise ValueError(
        f"discovery spec {text!r}: unknown option {key!r} "
        "(known: nameservers, nameserver_port, record, timeout)"
    )
