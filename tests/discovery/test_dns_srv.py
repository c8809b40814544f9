"""DnsSrvHosts against a real DNS server on 127.0.0.1 (tests/discovery/dnsserver.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from dnslib import AAAA, SRV, A

from ringpop.discovery import DiscoverProvider, DiscoveryError, DnsSrvHosts
from tests.discovery.dnsserver import DnsTestServer

SERVICE = "_tchannel._tcp.ringpop.test"


def serve_pods(server: DnsTestServer) -> None:
    server.set("pod-a.ringpop.test", A("10.0.0.1"))
    server.set("pod-b.ringpop.test", A("10.0.0.2"), A("10.0.0.3"))
    server.set("pod-c.ringpop.test", A("10.0.0.4"), AAAA("fd00::4"))


async def test_targets_resolved_with_srv_ports(
    dns_server: DnsTestServer, via: dict[str, Any]
) -> None:
    serve_pods(dns_server)
    dns_server.set(
        SERVICE,
        SRV(10, 0, 3000, "pod-a.ringpop.test"),
        SRV(10, 0, 3001, "pod-b.ringpop.test"),
    )
    p = DnsSrvHosts(SERVICE, **via)
    assert isinstance(p, DiscoverProvider)
    assert await p.hosts() == ["10.0.0.1:3000", "10.0.0.2:3001", "10.0.0.3:3001"]


async def test_priority_then_weight_order(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    serve_pods(dns_server)
    dns_server.set(
        SERVICE,
        SRV(20, 5, 3000, "pod-a.ringpop.test"),
        SRV(10, 1, 3001, "pod-b.ringpop.test"),
        SRV(10, 9, 3002, "pod-c.ringpop.test"),
    )
    assert await DnsSrvHosts(SERVICE, **via).hosts() == [
        "10.0.0.4:3002",
        "10.0.0.2:3001",
        "10.0.0.3:3001",
        "10.0.0.1:3000",
    ]


async def test_one_target_on_two_ports(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    serve_pods(dns_server)
    dns_server.set(
        SERVICE,
        SRV(0, 0, 3000, "pod-a.ringpop.test"),
        SRV(0, 0, 3001, "pod-a.ringpop.test"),
        SRV(0, 0, 3000, "pod-a.ringpop.test"),
    )
    assert await DnsSrvHosts(SERVICE, **via).hosts() == ["10.0.0.1:3000", "10.0.0.1:3001"]
    assert dns_server.count() == 2  # the SRV query and one A query for the shared target


@pytest.mark.parametrize(
    ("record", "expected"),
    [("AAAA", ["[fd00::4]:3000"]), ("A+AAAA", ["10.0.0.4:3000", "[fd00::4]:3000"])],
)
async def test_record_choice_applies_to_targets(
    dns_server: DnsTestServer, via: dict[str, Any], record: Any, expected: list[str]
) -> None:
    serve_pods(dns_server)
    dns_server.set(SERVICE, SRV(0, 0, 3000, "pod-c.ringpop.test"))
    assert await DnsSrvHosts(SERVICE, record=record, **via).hosts() == expected


async def test_every_call_resolves_again(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    serve_pods(dns_server)
    dns_server.set(SERVICE, SRV(0, 0, 3000, "pod-a.ringpop.test"))
    p = DnsSrvHosts(SERVICE, **via)
    assert await p.hosts() == ["10.0.0.1:3000"]
    dns_server.set(
        SERVICE, SRV(0, 0, 3000, "pod-a.ringpop.test"), SRV(0, 0, 4000, "pod-b.ringpop.test")
    )
    assert await p.hosts() == ["10.0.0.1:3000", "10.0.0.2:4000", "10.0.0.3:4000"]
    dns_server.set("pod-a.ringpop.test", A("10.0.0.100"))
    assert (await p.hosts())[0] == "10.0.0.100:3000"


async def test_vanished_target_is_skipped_with_a_warning(
    dns_server: DnsTestServer, via: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    serve_pods(dns_server)
    dns_server.set(
        SERVICE,
        SRV(0, 0, 3000, "gone.ringpop.test"),
        SRV(0, 0, 3000, "pod-a.ringpop.test"),
        SRV(0, 0, 3000, "pod-c.ringpop.test"),
    )
    dns_server.set("pod-c.ringpop.test", AAAA("fd00::4"))  # exists, but no A record
    with caplog.at_level(logging.WARNING, logger="ringpop.discovery"):
        assert await DnsSrvHosts(SERVICE, **via).hosts() == ["10.0.0.1:3000"]
    assert "skipped SRV targets without A records: gone.ringpop.test., pod-c.ringpop.test." in (
        caplog.text
    )


async def test_no_target_resolves(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set(SERVICE, SRV(0, 0, 3000, "gone.ringpop.test"))
    with pytest.raises(DiscoveryError, match=r"no SRV target has A records: gone\.ringpop\.test\."):
        await DnsSrvHosts(SERVICE, **via).hosts()


async def test_root_target_means_no_service(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    dns_server.set(SERVICE, SRV(0, 0, 0, "."))
    with pytest.raises(DiscoveryError, match=r"no service' \(target '\.'\)"):
        await DnsSrvHosts(SERVICE, **via).hosts()


async def test_nxdomain_and_no_srv_records(dns_server: DnsTestServer, via: dict[str, Any]) -> None:
    with pytest.raises(DiscoveryError) as info:
        await DnsSrvHosts(SERVICE, **via).hosts()
    assert str(info.value) == (
        f"DNS SRV lookup of {SERVICE!r}: name does not exist "
        f"(NXDOMAIN from 127.0.0.1:{dns_server.port})"
    )
    dns_server.set(SERVICE, A("10.0.0.1"))
    with pytest.raises(DiscoveryError, match="exists but has no SRV records"):
        await DnsSrvHosts(SERVICE, **via).hosts()


async def test_failing_target_fails_the_call(
    dns_server: DnsTestServer, via: dict[str, Any]
) -> None:
    serve_pods(dns_server)
    dns_server.set(SERVICE, SRV(0, 0, 3000, "pod-a.ringpop.test"), SRV(0, 0, 1, "bad.ringpop.test"))
    dns_server.servfail.add("bad.ringpop.test.")
    complaint = r"SRV target 'bad\.ringpop\.test\.': every nameserver"
    with pytest.raises(DiscoveryError, match=complaint):
        await DnsSrvHosts(SERVICE, **via).hosts()


async def test_slow_target_bounded_by_the_timeout(
    dns_server: DnsTestServer, via: dict[str, Any]
) -> None:
    serve_pods(dns_server)
    dns_server.set(
        SERVICE, SRV(0, 0, 3000, "pod-a.ringpop.test"), SRV(0, 0, 1, "slow.ringpop.test")
    )
    dns_server.drop.add("slow.ringpop.test.")
    started = time.monotonic()
    with pytest.raises(DiscoveryError, match=r"within 0\.4 s"):
        await asyncio.wait_for(DnsSrvHosts(SERVICE, **(via | {"timeout": 0.4})).hosts(), 3)
    assert time.monotonic() - started < 1.5


def test_repr_and_bad_arguments() -> None:
    p = DnsSrvHosts(SERVICE, nameservers=["127.0.0.1"], nameserver_port=53)
    assert repr(p) == f"DnsSrvHosts({SERVICE!r}, record='A', via='127.0.0.1:53')"
    with pytest.raises(ValueError, match="DnsSrvHosts: record must be"):
        DnsSrvHosts(SERVICE, record="SRV")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"DnsSrvHosts: 'bad\.\.name' is not a valid DNS name"):
        DnsSrvHosts("bad..name")
