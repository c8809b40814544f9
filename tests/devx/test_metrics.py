"""Finding 5: metrics the Prometheus way, and the backends the docs name."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from ringpop import Ringpop
from ringpop.stats import PrometheusBackend, Stats
from ringpop.stats.catalog import CATALOG
from tests.devx.uvinodes import start_uvicorn, wait_ready, write_hosts
from tests.forward.procs import free_ports

SNAKE = re.compile(r"^ringpop_[a-z0-9]+(_[a-z0-9]+)*$")


def test_ringpop_stats_exports_the_backend_the_docs_name() -> None:
    backend = PrometheusBackend()
    assert isinstance(backend.registry, prometheus_client.CollectorRegistry)
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    assert "from ringpop.stats import PrometheusBackend" in doc
    assert "stats_backend=" in doc


def test_catalogue_follows_prometheus_conventions() -> None:
    for key, (spec, values) in CATALOG.items():
        assert SNAKE.match(spec.name), spec.name
        assert len(values) == len(spec.labels), key
        assert not spec.help.startswith("ringpop stat"), key
        if spec.kind.name == "COUNTER":
            assert spec.name.endswith("_total"), spec.name
        if spec.kind.name == "TIMING":
            assert spec.name.endswith("_seconds"), spec.name


def scrape(backend: PrometheusBackend) -> str:
    return prometheus_client.generate_latest(backend.registry).decode()


def test_series_exist_from_the_start_with_labels() -> None:
    backend = PrometheusBackend()
    Stats("127.0.0.1:3000", backend)
    text = scrape(backend)
    node = 'node="127.0.0.1:3000"'
    assert f'ringpop_forwarded_requests_total{{{node},result="error"}} 0.0' in text
    assert f'ringpop_forward_retries_total{{{node},outcome="failed"}} 0.0' in text
    assert f"ringpop_forward_failovers_total{{{node}}} 0.0" in text
    assert f"ringpop_ping_rtt_seconds_count{{{node}}} 0.0" in text
    assert f"ringpop_forward_duration_seconds_count{{{node}}} 0.0" in text
    assert "# HELP ringpop_pings_sent_total Direct pings sent to members." in text
    assert "requestProxy" not in text
    for family in text_string_to_metric_families(text):
        assert SNAKE.match(family.name), family.name


async def test_forwarding_latency_and_ping_rtt_are_histograms() -> None:
    backend = PrometheusBackend()
    a = Ringpop("metrics", "127.0.0.1:0", stats_backend=backend)
    b = Ringpop("metrics", "127.0.0.1:0")
    from ringpop import HttpRequest, HttpResponse

    async def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, {}, b"ok")

    b.set_http_handler(ok)
    addresses = [await a.start(), await b.start()]
    try:
        import asyncio

        await asyncio.gather(a.bootstrap(addresses), b.bootstrap(addresses))
        key = next(f"k{i}" for i in range(10_000) if a.lookup(f"k{i}") == b.whoami())
        answer = await a.handle_or_proxy(key, HttpRequest("GET", "/"))
        assert answer.status == 200
        for _ in range(100):  # until a's gossip pinged b (bounded: 5 s)
            if "ringpop_ping_rtt_seconds_count" in scrape(backend) and re.search(
                r"ringpop_ping_rtt_seconds_count\{[^}]*\} [1-9]", scrape(backend)
            ):
                break
            await asyncio.sleep(0.05)
    finally:
        await a.close()
        await b.close()
    text = scrape(backend)
    node = f'node="{addresses[0]}"'
    assert f"ringpop_forward_duration_seconds_count{{{node}}} 1.0" in text
    assert f'ringpop_forwarded_requests_total{{{node},result="success"}} 1.0' in text
    assert re.search(r"ringpop_ping_rtt_seconds_count\{[^}]*\} [1-9]", text)


def test_uvicorn_node_serves_metrics(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    address = f"127.0.0.1:{port}"
    node = start_uvicorn(tmp_path, write_hosts(tmp_path / "h.json", [address]), address=address)
    try:
        wait_ready([node])
        text = httpx.get(f"{node.url}/metrics/", timeout=5, follow_redirects=True).text
    finally:
        node.stop()
    assert f'ringpop_forwarded_requests_total{{node="{address}",result="error"}} 0.0' in text
    assert f'ringpop_ring_servers{{node="{address}"}} 1.0' in text
