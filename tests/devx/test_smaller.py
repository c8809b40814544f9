"""Finding 6: the smaller surprises, each fixed or explained in the error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiohttp import web

from ringpop import NotReadyError, Options, Ringpop
from ringpop.options import OptionsError
from tests.forward.procs import REPO, free_ports


def test_schedules_take_lists_like_from_mapping() -> None:
    assert Options(proxy_retry_schedule=[0, 1, 3.5]).proxy_retry_schedule == (0, 1, 3.5)  # type: ignore[arg-type]
    assert Options(forward_retry_schedule=[1]).forward_retry_schedule == (1,)  # type: ignore[arg-type]
    assert Options.from_mapping({"proxy_retry_schedule": [0, 2]}).proxy_retry_schedule == (0, 2)


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [("suspect_period", 5000, "suspect_period=5"), ("ping_timeout", 1500, "ping_timeout=1.5")],
)
def test_milliseconds_by_mistake_are_refused(name: str, value: float, hint: str) -> None:
    with pytest.raises(OptionsError, match="looks like milliseconds") as caught:
        Options.from_mapping({name: value})
    assert hint in str(caught.value)


def test_long_but_plausible_durations_pass() -> None:
    assert Options(suspect_period=60).suspect_period == 60
    assert Options(faulty_period=2 * 86_400).faulty_period == 172_800


async def test_lookup_before_bootstrap_explains_itself() -> None:
    rp = Ringpop("smaller", "127.0.0.1:0")
    await rp.start()
    try:
        with pytest.raises(NotReadyError, match="before bootstrap finished"):
            rp.lookup("user:42")
        with pytest.raises(NotReadyError):
            rp.lookup_n("user:42", 2)
        with pytest.raises(NotReadyError):  # as owns(key): it took the one-node ring
            rp.owns("user:42", 2)
        await rp.bootstrap([])
        assert rp.lookup("user:42") == rp.whoami()
        assert rp.owns("user:42", 2)
    finally:
        await rp.close()


async def test_no_lookup_after_close() -> None:
    """A closed node answered every lookup with itself, as ringpop-go does not."""
    rp = Ringpop("smaller", "127.0.0.1:0")
    await rp.start()
    await rp.bootstrap([])
    assert rp.is_ready
    await rp.close()
    assert not rp.is_ready  # the usual guard of a lookup
    for ask in (
        lambda: rp.lookup("user:42"),
        lambda: rp.lookup_n("user:42", 2),
        lambda: rp.owns("user:42"),
        lambda: rp.owns("user:42", 2),
    ):
        with pytest.raises(NotReadyError, match="after close"):
            ask()
    assert rp.whoami()


async def test_wait_ready_checks_its_timeout() -> None:
    rp = Ringpop("smaller", "127.0.0.1:0")
    await rp.start()
    try:
        for bad in ("x", -1, float("nan")):
            with pytest.raises(ValueError, match="wait_ready: timeout"):
                await rp.wait_ready(bad)  # type: ignore[arg-type]
        with pytest.raises(TimeoutError):
            await rp.wait_ready(0)
    finally:
        await rp.close()


async def test_hooks_and_stats_backends_of_the_wrong_kind_are_refused_where_given() -> None:
    """A hook of 5 was taken, then failed self-eviction ("'int' object is not
    callable"); a stats backend of 5 failed at the first stat."""
    with pytest.raises(TypeError, match="is not a StatsBackend"):
        Ringpop("smaller", "127.0.0.1:0", stats_backend=5)  # type: ignore[arg-type]
    rp = Ringpop("smaller", "127.0.0.1:0")
    await rp.start()
    try:
        with pytest.raises(TypeError, match="hook before must be callable"):
            rp.add_self_eviction_hooks(before=5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="hook after must be callable"):
            rp.add_self_eviction_hooks(after="flush")  # type: ignore[arg-type]
        await rp.bootstrap([])
        assert await rp.self_evict() == 0
    finally:
        await rp.close()


def test_an_http_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="must be callable"):
        Ringpop("smaller", "127.0.0.1:0", http_handler=5)  # type: ignore[arg-type]
    rp = Ringpop("smaller", "127.0.0.1:0")
    with pytest.raises(TypeError, match="must be callable"):
        rp.set_http_handler("handler")  # type: ignore[arg-type]
    rp.set_http_handler(None)


@pytest.fixture
def http_port() -> Iterator[int]:
    """A plain HTTP server (aiohttp) in a child process we start and stop by PID."""
    (port,) = free_ports(1)
    code = (
        "from aiohttp import web\n"
        "app = web.Application()\n"
        f"web.run_app(app, host='127.0.0.1', port={port}, print=None)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        import socket
        import time

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_admin_against_an_http_port_says_so(http_port: int) -> None:
    assert web  # the server above is aiohttp
    result = subprocess.run(
        [sys.executable, "-m", "ringpop.cli.main", "admin", "status", f"127.0.0.1:{http_port}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "answers HTTP, not TChannel" in result.stderr
    assert "TLS" not in result.stderr


def test_durations_known_to_be_seconds_are_never_taken_for_milliseconds() -> None:
    """testpop's flags are milliseconds: --suspect-period=2000000 (2000 s) was refused
    as "looks like milliseconds" once converted to seconds."""
    from ringpop.options import InSeconds

    assert Options(suspect_period=InSeconds(2000.0)).suspect_period == 2000
    with pytest.raises(OptionsError, match="looks like milliseconds"):
        Options(suspect_period=2000.0)
    with pytest.raises(OptionsError, match="more than a year"):
        Options(suspect_period=InSeconds(1e20))
