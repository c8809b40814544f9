"""from_spec: every accepted form and clear errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringpop.discovery import (
    DnsHosts,
    DnsSrvHosts,
    HostsFile,
    StaticHosts,
    from_spec,
)


async def test_lists_and_comma_strings_are_static() -> None:
    for spec in (
        ["127.0.0.1:1", "127.0.0.1:2"],
        ("127.0.0.1:1", "127.0.0.1:2"),
        "127.0.0.1:1,127.0.0.1:2",
        " 127.0.0.1:1 , 127.0.0.1:2 ",
    ):
        p = from_spec(spec)
        assert isinstance(p, StaticHosts)
        assert await p.hosts() == ["127.0.0.1:1", "127.0.0.1:2"]
    assert isinstance(from_spec("127.0.0.1:3000"), StaticHosts)


def test_files() -> None:
    for spec, path in [
        ("/tmp/ringpop-integration-test-hosts.json", "/tmp/ringpop-integration-test-hosts.json"),
        ("hosts.JSON", "hosts.JSON"),
        ("file:/etc/ringpop/hosts", "/etc/ringpop/hosts"),
        ("file:///etc/ringpop/hosts", "/etc/ringpop/hosts"),
        ("file:relative/hosts", "relative/hosts"),
    ]:
        p = from_spec(spec)
        assert isinstance(p, HostsFile)
        assert p.path == Path(path)
    p = from_spec(Path("/etc/hosts-list"))
    assert isinstance(p, HostsFile)
    assert p.path == Path("/etc/hosts-list")


def test_dns() -> None:
    p = from_spec("dns:ringpop.default.svc.cluster.local:3000")
    assert isinstance(p, DnsHosts)
    assert repr(p) == (
        "DnsHosts('ringpop.default.svc.cluster.local', 3000, record='A', via='the system resolver')"
    )
    p = from_spec(
        "dns:ringpop.test:3000?nameservers=127.0.0.1,127.0.0.2&nameserver_port=5353"
        "&record=a+aaaa&timeout=0.5"
    )
    assert repr(p) == (
        "DnsHosts('ringpop.test', 3000, record='A+AAAA', via='127.0.0.1:5353, 127.0.0.2:5353')"
    )
    assert "record='A+AAAA'" in repr(from_spec("dns:ringpop.test:1?record=A AAAA"))


def test_dns_srv() -> None:
    p = from_spec("dns+srv:_tchannel._tcp.ringpop.test?nameservers=127.0.0.1&record=AAAA")
    assert isinstance(p, DnsSrvHosts)
    assert repr(p) == (
        "DnsSrvHosts('_tchannel._tcp.ringpop.test', record='AAAA', via='127.0.0.1:53')"
    )


def test_providers_pass_through() -> None:
    p = StaticHosts([])
    assert from_spec(p) is p


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "is not one of"),
        ("ringpop.test", "is not one of"),
        ("hosts.yaml", "is not one of"),
        ("127.0.0.1:3000,", "is not one of"),
        ("127.0.0.1:3000,localhost:3001", "entry 1: 'localhost:3001' has host"),
        ("dns:ringpop.test", "expected 'dns:NAME:PORT"),
        ("dns:ringpop.test:http", "expected 'dns:NAME:PORT"),
        ("dns:ringpop.test:99999", "port must be an integer 0-65535"),
        ("dns::3000", "expected 'dns:NAME:PORT"),
        ("dns:ringpop.test:1?ttl=5", "unknown option 'ttl'"),
        ("dns:ringpop.test:1?timeout", "option 'timeout' is not key=value"),
        (
            "dns:ringpop.test:1?timeout=-1",
            "timeout must be a positive, finite number of seconds, not '-1'",
        ),
        (
            "dns:ringpop.test:1?timeout=soon",
            "timeout must be a positive, finite number of seconds, not 'soon'",
        ),
        ("dns:ringpop.test:1?record=A&record=A", "option 'record' given twice"),
        ("dns:ringpop.test:1?nameserver_port=x", "nameserver_port='x' is not a port"),
        ("dns:ringpop.test:1?nameservers=localhost", "'localhost' is not an IP address"),
        ("dns+srv:?record=A", "non-empty DNS name"),
        ("file:", "'file:' needs a path"),
    ],
)
def test_bad_specs(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        from_spec(spec)


def test_other_types() -> None:
    with pytest.raises(TypeError, match=r"from 3000 \(a int\)"):
        from_spec(3000)  # type: ignore[arg-type]
