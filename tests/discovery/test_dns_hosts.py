"""DnsHosts against a real DNS server on 127.0.0.1 (tests/discovery/dnsserver.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from dnslib import AAAA, CNAME, SRV, A

from ringpop.discovery import DiscoverProvider, DiscoveryError, DnsHosts
from tests.discovery.dnsserver import DnsTestServer


async def test_a_records_give_ip_port(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("ringpop.svc.test", A("10.0.0.1"), A("10.0.0.2"), A("10.0.0.3"))
    p = DnsHosts("ringpop.svc.test", 3000, **via)
    assert isinstance(p, DiscoverProvider)
    assert await p.hosts() == ["10.0.0.1:3000", "10.0.0.2:3000", "10.0.0.3:3000"]


async def test_trailing_dot_and_case_do_not_matter(
    dns_server: DnsTestServer, via: dict[str, Any]
) -> None:
    dns_server.set("ringpop.svc.test", A("10.0.0.1"))
    assert await DnsHosts("RingPop.svc.test.", 1, **via).hosts() == ["10.0.0.1:1"]


async def test_every_call_resolves_again(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("ringpop.svc.test", A("10.0.0.1"), A("10.0.0.2"))
    p = DnsHosts("ringpop.svc.test", 3000, **via)
    assert await p.hosts() == ["10.0.0.1:3000", "10.0.0.2:3000"]
    dns_server.set("ringpop.svc.test", A("10.0.0.2"), A("10.0.0.9"))
    assert await p.hosts() == ["10.0.0.2:3000", "10.0.0.9:3000"]
    assert dns_server.count("udp") == 2
    dns_server.remove("ringpop.svc.test")
    with pytest.raises(DiscoveryError, match="NXDOMAIN"):
        await p.hosts()


async def test_aaaa_records_are_bracketed(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("v6.test", AAAA("fd00::1"), AAAA("fd00:0:0:0:0:0:0:2"))
    p = DnsHosts("v6.test", 3000, record="AAAA", **via)
    assert await p.hosts() == ["[fd00::1]:3000", "[fd00::2]:3000"]


async def test_a_and_aaaa_together_a_first(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("both.test", AAAA("fd00::1"), A("10.0.0.1"))
    dns_server.set("only4.test", A("10.0.0.4"))
    dns_server.set("only6.test", AAAA("fd00::6"))
    assert await DnsHosts("both.test", 7, record="A+AAAA", **via).hosts() == [
        "10.0.0.1:7",
        "[fd00::1]:7",
    ]
    assert await DnsHosts("only4.test", 7, record="A+AAAA", **via).hosts() == ["10.0.0.4:7"]
    assert await DnsHosts("only6.test", 7, record="A+AAAA", **via).hosts() == ["[fd00::6]:7"]


async def test_cnames_are_followed(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("alias.test", CNAME("real.test"))
    dns_server.set("real.test", A("10.0.0.7"))
    assert await DnsHosts("alias.test", 3000, **via).hosts() == ["10.0.0.7:3000"]


async def test_dangling_cname(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set("alias.test", CNAME("gone.test"))
    with pytest.raises(DiscoveryError, match="exists but has no A records"):
        await DnsHosts("alias.test", 3000, **via).hosts()


async def test_large_answers_fall_back_to_tcp(
    dns_server: DnsTestServer, via: dict[str, Any]
) -> None:
    addresses = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(300)]
    dns_server.set("big.test", *(A(a) for a in addresses))
    assert await DnsHosts("big.test", 3000, **via).hosts() == [f"{a}:3000" for a in addresses]
    assert dns_server.count("udp") == 1
    assert dns_server.count("tcp") == 1


async def test_nxdomain(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    with pytest.raises(DiscoveryError) as info:
        await DnsHosts("missing.test", 3000, **via).hosts()
    assert info.value.source == "DNS A lookup of 'missing.test'"
    assert info.value.reason == f"name does not exist (NXDOMAIN from 127.0.0.1:{dns_server.port})"


@pytest.mark.parametrize(("record", "kind"), [("A", "A records"), ("A+AAAA", "A or AAAA records")])
async def test_name_without_such_records(
    dns_server: DnsTestServer, via: dict[str, Any], record: Any, kind: str
) -> None:
    dns_server.set("srvonly.test", SRV(0, 0, 3000, "x.test"))
    with pytest.raises(DiscoveryError, match=f"exists but has no {kind}"):
        await DnsHosts("srvonly.test", 3000, record=record, **via).hosts()


async def test_servfail(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.servfail.add("broken.test.")
    with pytest.raises(DiscoveryError, match=r"every nameserver failed .*SERVFAIL"):
        await DnsHosts("broken.test", 3000, **via).hosts()


async def test_timeout_is_bounded_and_clear(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.drop.add("slow.test.")
    p = DnsHosts("slow.test", 3000, **(via | {"timeout": 0.3}))
    started = time.monotonic()
    with pytest.raises(DiscoveryError) as info:
        await asyncio.wait_for(p.hosts(), 3)
    assert time.monotonic() - started < 1.5
    assert info.value.reason == f"no answer from 127.0.0.1:{dns_server.port} within 0.3 s"
    assert dns_server.count() >= 1


async def test_nameserver_not_listening() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = DnsHosts("x.test", 3000, nameservers=["127.0.0.1"], nameserver_port=port, timeout=0.5)
    with pytest.raises(DiscoveryError, match=r"DNS A lookup of 'x.test': (every|no answer)"):
        await asyncio.wait_for(p.hosts(), 3)


def test_repr_says_where_queries_go() -> None:
    p = DnsHosts("a.test", 1, nameservers=["127.0.0.1"], nameserver_port=5353, record="AAAA")
    assert repr(p) == "DnsHosts('a.test', 1, record='AAAA', via='127.0.0.1:5353')"
    assert "the system resolver" in repr(DnsHosts("a.test", 1))


@pytest.mark.parametrize(
    ("args", "kwargs", "complaint"),
    [
        (("a.test", 70000), {}, "port must be an integer 0-65535"),
        (("a.test", True), {}, "port must be an integer"),
        (("a.test", 1), {"nameserver_port": -1}, "nameserver_port must be"),
        (("a.test", 1), {"record": "MX"}, "record must be 'A', 'AAAA' or 'A\\+AAAA'"),
        (("a.test", 1), {"timeout": 0}, "timeout must be a positive"),
        (("a.test", 1), {"timeout": float("inf")}, "timeout must be a positive"),
        (("a.test", 1), {"nameservers": []}, "nameservers is empty"),
        (("a.test", 1), {"nameservers": "127.0.0.1"}, "not a string"),
        (("a.test", 1), {"nameservers": ["dns.google"]}, "'dns.google' is not an IP address"),
        (("", 1), {}, "non-empty DNS name"),
        (("10.0.0.1", 1), {}, "is an IP address, not a DNS name"),
        (("a..test", 1), {}, "not a valid DNS name"),
        (("x" * 64 + ".test", 1), {}, "not a valid DNS name"),
    ],
)
def test_bad_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        DnsHosts(*args, **kwargs)


def test_nxdomain_from_the_system_resolver_says_hosts_file_is_not_read() -> None:
    import dns.resolver

    from ringpop.discovery._dns import DnsSettings, explain

    system = DnsSettings("t", nameservers=None, nameserver_port=53, record="A", timeout=1.0)
    custom = DnsSettings(
        "t", nameservers=["127.0.0.1"], nameserver_port=53, record="A", timeout=1.0
    )
    missing = dns.resolver.NXDOMAIN()  # type: ignore[no-untyped-call]
    assert "/etc/hosts is not read" in explain(missing, system, "A")
    assert "/etc/hosts" not in explain(missing, custom, "A")
