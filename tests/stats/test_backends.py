"""Stats back ends, received for real: UDP packets and an HTTP scrape."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from ringpop.stats import Kind, MemoryBackend, MultiBackend, Stats, StatsdBackend, statsd_prefix
from ringpop.stats.prometheus import PrometheusBackend, metric_name


@pytest.fixture
def udp_collector() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield sock
    sock.close()


def test_statsd_prefix_matches_ringpop_node() -> None:
    assert statsd_prefix("127.0.0.1:3000") == "ringpop.127_0_0_1_3000"


def test_statsd_packets_arrive(udp_collector: socket.socket) -> None:
    host, port = udp_collector.getsockname()
    backend = StatsdBackend(host, port)
    stats = Stats("127.0.0.1:3000", backend)
    stats.increment("ping.send")
    stats.gauge("num-members", 5)
    stats.timing("ping", 1.25)
    lines = [udp_collector.recv(2048).decode() for _ in range(3)]
    assert lines == [
        "ringpop.127_0_0_1_3000.ping.send:1|c",
        "ringpop.127_0_0_1_3000.num-members:5|g",
        "ringpop.127_0_0_1_3000.ping:1.25|ms",
    ]
    assert backend.sent == 3
    backend.close()
    stats.increment("after-close")
    assert backend.dropped == 1


def test_statsd_never_raises_without_a_collector() -> None:
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    backend = StatsdBackend("127.0.0.1", port)
    stats = Stats("127.0.0.1:3000", backend)
    for _ in range(50):
        stats.increment("ping.send")
    assert backend.sent + backend.dropped == 50
    backend.close()


def test_statsd_resolves_its_host_once_and_refuses_what_cannot_work() -> None:
    backend = StatsdBackend("localhost", 8125)
    assert backend.address in (("127.0.0.1", 8125), ("::1", 8125))  # resolved here, once
    backend.close()
    with pytest.raises(ValueError, match="does not resolve"):
        StatsdBackend("nonexistent.invalid", 8125)
    for port in (0, 65536, True):
        with pytest.raises(ValueError, match=r"statsd port must be 1\.\.65535"):
            StatsdBackend("127.0.0.1", port)


def test_prometheus_names() -> None:
    assert metric_name("ping-req.send") == "ringpop_ping_requests_sent_total"
    assert metric_name("membership-update.alive") == "ringpop_membership_updates_total"
    assert metric_name("ping", Kind.TIMING) == "ringpop_ping_rtt_seconds"
    assert metric_name("someNew.thing-x") == "ringpop_some_new_thing_x_total"  # derived


def test_prometheus_endpoint_is_scraped_over_http() -> None:
    backend = PrometheusBackend(port=0)
    try:
        a = Stats("127.0.0.1:3000", backend)
        b = Stats("127.0.0.1:3001", backend)
        a.increment("ping.send")
        a.increment("ping.send", 2)
        b.increment("ping.send")
        a.gauge("num-members", 4)
        a.timing("ping", 12.0)
        assert backend.port
        with urllib.request.urlopen(f"http://127.0.0.1:{backend.port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        backend.close()
    assert 'ringpop_pings_sent_total{node="127.0.0.1:3000"} 3.0' in text
    assert 'ringpop_pings_sent_total{node="127.0.0.1:3001"} 1.0' in text
    assert 'ringpop_members{node="127.0.0.1:3000"} 4.0' in text
    assert 'ringpop_ping_rtt_seconds_count{node="127.0.0.1:3000"} 1.0' in text
    assert 'ringpop_ping_rtt_seconds_bucket{le="0.025",node="127.0.0.1:3000"} 1.0' in text


def test_memory_and_multi_backends(udp_collector: socket.socket) -> None:
    memory = MemoryBackend()
    statsd = StatsdBackend(*udp_collector.getsockname())
    stats = Stats("127.0.0.1:3000", MultiBackend([memory, statsd]))
    stats.increment("join.recv")
    stats.increment("join.recv")
    stats.gauge("checksum", 42)
    stats.timing("ping", 3)
    assert memory.counters["join.recv"] == 2
    assert memory.gauges["checksum"] == 42
    assert memory.timings["ping"] == [3]
    assert udp_collector.recv(2048) == b"ringpop.127_0_0_1_3000.join.recv:1|c"
    stats.backend.close()
