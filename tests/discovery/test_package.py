"""The package surface: light import, the dnspython extra, DiscoveryError."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ringpop.discovery
from ringpop.discovery import DiscoveryError, DnsHosts, DnsSrvHosts, DnsUnavailableError


def test_importing_the_package_does_not_import_dnspython() -> None:
    code = (
        "import sys, ringpop.discovery as d\n"
        "assert not [m for m in sys.modules if m == 'dns' or m.startswith('dns.')]\n"
        "d.StaticHosts(['127.0.0.1:1'])\n"
        "d.DnsHosts('a.test', 1)\n"
        "assert 'dns.asyncresolver' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_missing_dnspython_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dns.asyncresolver", None)
    for make in (lambda: DnsHosts("a.test", 1), lambda: DnsSrvHosts("_x._tcp.a.test")):
        with pytest.raises(DnsUnavailableError) as info:
            make()
        assert isinstance(info.value, ImportError)
        assert isinstance(info.value, DiscoveryError)
        assert "pip install 'ringpop[dns]'" in str(info.value)


def test_discovery_error_parts() -> None:
    e = DiscoveryError("hosts file '/x.json'", "file does not exist")
    assert (e.source, e.reason, str(e)) == (
        "hosts file '/x.json'",
        "file does not exist",
        "hosts file '/x.json': file does not exist",
    )


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ringpop.discovery.Nope  # noqa: B018
    assert sorted(ringpop.discovery.__all__) == sorted(set(ringpop.discovery.__all__))
    for name in ringpop.discovery.__all__:
        getattr(ringpop.discovery, name)


def test_missing_system_configuration_is_explained() -> None:
    import dns.resolver

    from ringpop.discovery._dns import DnsSettings, explain

    settings = DnsSettings(
        "DnsHosts", nameservers=None, nameserver_port=53, record="A", timeout=1.0
    )
    error = dns.resolver.NoResolverConfiguration("no nameservers")  # type: ignore[no-untyped-call]
    reason = explain(error, settings, "A")
    assert "no usable system DNS configuration" in reason
    assert "pass nameservers=[...]" in reason
