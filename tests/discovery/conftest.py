"""Fixtures of the discovery tests: a real DNS server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.discovery.dnsserver import DnsTestServer


@pytest.fixture
def dns_server() -> Iterator[DnsTestServer]:
    """A running :class:`DnsTestServer` on an ephemeral port, stopped afterwards."""
    server = DnsTestServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def via(dns_server: DnsTestServer) -> dict[str, Any]:
    """Keyword arguments pointing a DNS provider at ``dns_server``."""
    return {"nameservers": ["127.0.0.1"], "nameserver_port": dns_server.port, "timeout": 2.0}
