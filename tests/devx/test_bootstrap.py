"""Finding 3: bootstrap that cannot succeed fails fast with its reason, and stops on
SIGTERM/SIGINT at any stage (in-process and real uvicorn/testpop processes)."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringpop import BootstrapError, Options, Ringpop
from tests.devx.uvinodes import start_uvicorn, write_hosts
from tests.forward.procs import REPO, free_ports

QUICK = Options(min_protocol_period=0.05, max_join_duration=1.5, join_retry_delay_max=0.3)


async def test_wrong_app_fails_fast_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    seed = Ringpop("counters", "127.0.0.1:0", options=QUICK)
    await seed.bootstrap([])
    joiner = Ringpop("counterz", "127.0.0.1:0", options=QUICK.replace(max_join_duration=60.0))
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(BootstrapError) as caught:
            await joiner.bootstrap([seed.whoami()])
    finally:
        await joiner.close()
        await seed.close()
    assert time.monotonic() - started < 5.0
    error = caught.value
    assert error.permanent
    assert error.reason is not None
    assert "ringpop.invalid-join.app" in error.reason
    assert "counterz" in str(error)
    assert seed.whoami() in error.failures
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("invalid-join.app" in r.getMessage() for r in warnings)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('["localhost:3100"]', "not an IPv4 dotted quad"),
        ('{"hosts": ["127.0.0.1:3000"]}', "found a JSON object"),
    ],
)
async def test_unusable_hosts_file_fails_fast(tmp_path: Path, content: str, why: str) -> None:
    hosts = tmp_path / "hosts.json"
    hosts.write_text(content)
    rp = Ringpop("counters", "127.0.0.1:0", options=QUICK.replace(max_join_duration=60.0))
    started = time.monotonic()
    try:
        with pytest.raises(BootstrapError, match=why) as caught:
            await rp.bootstrap(hosts)
    finally:
        await rp.close()
    assert caught.value.permanent
    assert caught.value.reason is not None
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("content", "why"), [(None, "file does not exist"), ('["127.0', "not valid JSON")]
)
async def test_missing_or_cut_hosts_file_warns_once_and_the_error_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | None, why: str
) -> None:
    # Retried (the file may be written yet, or be caught half-way through a rewrite),
    # but the reason is a WARNING once, not INFO at every retry, and ends in the error.
    hosts = tmp_path / "hosts.json"
    if content is not None:
        hosts.write_text(content)
    rp = Ringpop("counters", "127.0.0.1:0", options=QUICK)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(BootstrapError) as caught:
            await rp.bootstrap(hosts)
    finally:
        await rp.close()
    assert not caught.value.permanent
    assert why in str(caught.value)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if why in w]) == 1


async def test_unreachable_seeds_error_carries_the_last_failure() -> None:
    (port,) = free_ports(1)
    rp = Ringpop("counters", "127.0.0.1:0", options=QUICK)
    try:
        with pytest.raises(BootstrapError) as caught:
            await rp.bootstrap([f"127.0.0.1:{port}"])
    finally:
        await rp.close()
    assert f"127.0.0.1:{port}" in caught.value.failures
    assert caught.value.reason is not None
    assert str(port) in caught.value.reason


async def test_only_self_seed_warns(caplog: pytest.LogCaptureFixture) -> None:
    (port,) = free_ports(1)
    rp = Ringpop("counters", f"127.0.0.1:{port}", options=QUICK)
    try:
        with caplog.at_level(logging.WARNING):
            result = await rp.bootstrap([f"127.0.0.1:{port}"])
    finally:
        await rp.close()
    assert result.alone
    assert any("one-node cluster" in r.getMessage() for r in caplog.records)


async def test_bootstrap_is_cancellable() -> None:
    (port,) = free_ports(1)
    rp = Ringpop("counters", "127.0.0.1:0", options=QUICK.replace(max_join_duration=60.0))
    task = asyncio.ensure_future(rp.bootstrap([f"127.0.0.1:{port}"]))
    await asyncio.sleep(0.5)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    assert rp.node.on_join_request is None
    await rp.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_uvicorn_stops_during_a_hopeless_bootstrap(tmp_path: Path, sig: int) -> None:
    (dead,) = free_ports(1)  # nobody listens: bootstrap would retry for 120 s
    hosts = write_hosts(tmp_path / "hosts.json", [f"127.0.0.1:{dead}"])
    node = start_uvicorn(tmp_path, hosts)
    deadline = time.monotonic() + 20
    while "join" not in node.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # until bootstrap runs (uvicorn and FastAPI imported)
    time.sleep(0.5)
    assert node.stop(sig) < 2.0, node.log.read_text()[-2000:]
    assert "interrupted by" in node.log.read_text()


def test_uvicorn_wrong_app_exits_with_the_reason(tmp_path: Path) -> None:
    a_port, b_port = free_ports(2)
    first = start_uvicorn(
        tmp_path,
        write_hosts(tmp_path / "a.json", [f"127.0.0.1:{a_port}"]),
        address=f"127.0.0.1:{a_port}",
    )
    try:
        wrong = start_uvicorn(
            tmp_path,
            write_hosts(tmp_path / "b.json", [f"127.0.0.1:{a_port}"]),
            address=f"127.0.0.1:{b_port}",
            app_name="counterz",
        )
        assert wrong.popen.wait(timeout=20) != 0
        log = wrong.log.read_text()
        assert "ringpop.invalid-join.app" in log
        assert "BootstrapError" in log
    finally:
        first.stop()


@pytest.mark.parametrize(
    ("module", "sig"),
    [
        ("ringpop.cli.testpop", signal.SIGTERM),
        ("examples.kv", signal.SIGTERM),
        ("examples.kv", signal.SIGINT),
    ],
)
def test_node_programs_stop_during_a_hopeless_bootstrap(
    tmp_path: Path, module: str, sig: int
) -> None:
    port, dead = free_ports(2)
    hosts = write_hosts(tmp_path / "hosts.json", [f"127.0.0.1:{dead}"])
    command = [sys.executable, "-m", module, f"--listen=127.0.0.1:{port}", f"--hosts={hosts}"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # started and bootstrapping (it would retry for 120 s)
    started = time.monotonic()
    proc.send_signal(sig)
    proc.wait(timeout=10)
    assert time.monotonic() - started < 2.0
