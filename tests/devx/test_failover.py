"""Finding 2: a dead owner's idempotent requests go to the key's next owner at once;
when nothing can serve, 503 with Retry-After; the default retry budget outlasts
failure detection (real uvicorn processes, SIGKILL)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ringpop import HttpRequest, Options
from ringpop.events import RetryRerouted
from ringpop.forward import ForwardOptions
from tests.devx.uvinodes import uvicorn_cluster
from tests.forward.conftest import Member, key_owned_by, start_members

SLOW_RING = Options(
    min_protocol_period=0.05,
    suspect_period=30.0,  # the ring keeps the dead owner for the whole test
    proxy_retry_schedule=(0.0, 0.05, 0.1),
)


@pytest.fixture
async def trio_then_kill() -> AsyncIterator[list[Member]]:
    members = await start_members(3, SLOW_RING)
    try:
        yield members
    finally:
        for m in members:
            await m.rp.close(self_evict=False)


async def test_idempotent_request_fails_over_to_the_next_owner(
    trio_then_kill: list[Member],
) -> None:
    a, b, c = trio_then_kill
    key = key_owned_by(trio_then_kill, b)
    await b.rp.close(self_evict=False)  # gone without a word: connections refused
    expected = next(x for x in a.rp.lookup_n(key, 3) if x != b.address)
    started = time.monotonic()
    response = await a.rp.handle_or_proxy(key, HttpRequest("GET", f"/x/{key}"))
    assert response.status == 200
    assert time.monotonic() - started < 1.0  # did not wait on the retry schedule
    served = a if expected == a.address else c
    assert served.seen[-1].url == f"/x/{key}"
    [rerouted] = a.of(RetryRerouted)
    assert (rerouted.attempt, rerouted.destination) == (0, expected)


async def test_non_idempotent_request_waits_then_gets_503(trio_then_kill: list[Member]) -> None:
    a, b, c = trio_then_kill
    key = key_owned_by(trio_then_kill, b)
    await b.rp.close(self_evict=False)
    response = await a.rp.handle_or_proxy(key, HttpRequest("POST", "/x", body=b"1"))
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-ringpop-error"] == "ringpop.request-proxy.max-retries-exceeded"
    assert not [r for r in c.seen + a.seen if r.method == "POST"]


async def test_failover_can_be_asked_per_request_and_turned_off(
    trio_then_kill: list[Member],
) -> None:
    a, b, _ = trio_then_kill
    key = key_owned_by(trio_then_kill, b)
    await b.rp.close(self_evict=False)
    post = HttpRequest("POST", "/x")
    forced = await a.rp.proxy.proxy([key], post, b.address, ForwardOptions(failover=True))
    assert forced.status == 200
    get = HttpRequest("GET", "/x")
    off = a.rp.proxy.options
    a.rp.proxy.options = off.replace(proxy_failover_methods=())
    try:
        refused = await a.rp.handle_or_proxy(key, get)
    finally:
        a.rp.proxy.options = off
    assert refused.status == 503


def _hammer(url: str, stop: threading.Event, results: list[tuple[float, int]]) -> None:
    with httpx.Client(timeout=15) as client:
        for _ in range(10_000):  # bounded; stop ends it sooner
            if stop.is_set():
                return
            started = time.monotonic()
            try:
                status = client.get(url).status_code
            except httpx.HTTPError:
                status = 599
            results.append((time.monotonic() - started, status))


def test_sigkilled_owner_zero_5xx_for_reads_and_writes_wait_it_out(tmp_path: Path) -> None:
    with uvicorn_cluster(tmp_path, 3) as nodes:
        owner = httpx.post(f"{nodes[0].url}/counters/alpha/incr", timeout=10).json()["node"]
        victim = next(n for n in nodes if n.address == owner)
        survivor = next(n for n in nodes if n is not victim)
        stop = threading.Event()
        results: list[tuple[float, int]] = []
        reader = threading.Thread(
            target=_hammer, args=(f"{survivor.url}/counters/alpha", stop, results)
        )
        reader.start()
        time.sleep(0.3)
        victim.stop(signal.SIGKILL)
        killed = time.monotonic()
        write = httpx.post(f"{survivor.url}/counters/alpha/incr", timeout=20)
        write_took = time.monotonic() - killed
        time.sleep(max(0.0, 2.0 - write_took))
        stop.set()
        reader.join(timeout=20)
        statuses = [s for _, s in results]
        assert statuses, "no reads"
        assert all(200 <= s < 300 for s in statuses), sorted(set(statuses))
        # POST is not retried elsewhere: it waited for the ring to drop the dead
        # owner (suspect period 5 s), within the default budget of 11 s.
        assert write.status_code == 200, write.text
        assert 3.0 < write_took < 11.5
