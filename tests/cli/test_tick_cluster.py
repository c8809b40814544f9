"""``ringpop tick-cluster``: event lines without a TTY, keys through a pseudo-terminal,
and every child process gone afterwards, whatever way tick-cluster ends."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect  # type: ignore[import-untyped]
import pytest

from tests.cli.helpers import (
    REPO_ROOT,
    assert_all_gone,
    children_of,
    run_cli,
    snapshot,
    wait_for,
)

pytestmark = pytest.mark.cluster

TICK = [sys.executable, "-m", "ringpop.cli.main", "tick-cluster"]
STARTED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (127\.0\.0\.1:\d+) started \(pid (\d+)\)$", re.M)
CONVERGED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} converged in [\d.]+ s: (\d+) nodes", re.M)


def started_pids(output: str) -> dict[int, str]:
    return {int(pid): address for address, pid in STARTED.findall(output)}


@contextlib.contextmanager
def tick_cluster(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``ringpop tick-cluster ARGS`` without a TTY; killed by its PID if still running."""
    proc = subprocess.Popen(
        [*TICK, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_plain_mode_runs_for_duration_and_stops_every_child() -> None:
    proc = subprocess.run(
        [*TICK, "-n", "3", "--base-port", "0", "--duration", "8"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
        cwd=REPO_ROOT,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    pids = started_pids(out)
    assert len(pids) == 3, out
    addresses = sorted(pids.values())
    for address in addresses:
        assert re.search(rf"^\S+ {re.escape(address)} up \(pid \d+", out, re.M), out
    assert [int(n) for n in CONVERGED.findall(out)][-1:] == [3], out
    assert "# query it: " in out
    assert f"admin status {addresses[0]}" in out
    assert "# stopped 3 nodes: 3 exited after SIGTERM" in out
    assert "Traceback" not in proc.stderr
    # Every node process is gone (they were reaped by tick-cluster: no such PID now,
    # or the PID was reused by something that is not our node).
    for pid in pids:
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or b"ringpop.cli.testpop" not in cmdline.read_bytes()


def _wait_output(proc: subprocess.Popen[str], pattern: re.Pattern[str], timeout: float) -> str:
    """Read lines until ``pattern`` matches the output so far (bounded)."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            seen.append(line)
            if pattern.search("".join(seen)):
                return "".join(seen)
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.05)
    raise AssertionError(f"{pattern.pattern!r} not seen within {timeout} s:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_children_stop_when_tick_cluster_is_signalled(signum: signal.Signals) -> None:
    # SIGTERM: the orderly path. SIGKILL: no cleanup code runs at all; the kernel's
    # parent-death signal must still take the nodes down.
    with tick_cluster("-n", "3", "--base-port", "0") as proc:
        out = _wait_output(proc, re.compile(r"converged in"), 30)
        children = children_of(proc.pid)
        assert set(started_pids(out)) == children
        processes = snapshot(children)
        proc.send_signal(signum)
        proc.wait(timeout=20)
        if signum == signal.SIGTERM:
            assert proc.returncode == 0
            assert proc.stdout is not None
            rest = out + proc.stdout.read()
            assert "received SIGTERM: stopping" in rest
            assert "# stopped 3 nodes" in rest
        assert_all_gone(processes, timeout=10)


def test_keys_through_a_pseudo_terminal_kill_revive_tables_quit() -> None:
    child = pexpect.spawn(
        TICK[0],
        [*TICK[1:], "-n", "3", "--base-port", "0"],
        cwd=str(REPO_ROOT),
        dimensions=(60, 200),
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", "LINES": "60"},
    )
    seen: set[int] = set()
    try:
        event = r"\s(\d+) \d\d:\d\d:\d\d\.\d{3} "

        def wait_event(text: str, after: int = 0) -> int:
            """Wait for an event line matching ``text`` numbered above ``after``."""
            deadline = time.monotonic() + 30
            while True:
                child.expect(event + text, timeout=max(0.1, deadline - time.monotonic()))
                seq = int(child.match.group(1))
                if seq > after:
                    return seq

        def remember_children() -> None:
            seen.update(children_of(child.pid))

        wait_event(r"converged in [\d.]+ s: 3 nodes")
        remember_children()
        assert len(seen) == 3
        processes = snapshot(seen)

        child.send("k")
        killed = wait_event(r"127\.0\.0\.1:\d+ down: killed by tick-cluster")
        wait_event(r"converged in [\d.]+ s: 2 nodes", after=killed)
        wait_for(lambda: (len(children_of(child.pid)) == 2, "2 children"), 5, "kill")

        child.send("K")
        revived = wait_event(r"127\.0\.0\.1:\d+ restarted \(pid \d+\)")
        wait_event(r"converged in [\d.]+ s: 3 nodes", after=revived)
        remember_children()
        processes.update(snapshot(children_of(child.pid)))
        assert len(children_of(child.pid)) == 3

        child.send("h")
        child.expect("show or hide this help")
        # The keys that show a table under the node table: its title and a column.
        for key, title, column in (
            ("g", "gossip", "timing samples"),
            ("p", "protocol (period timing in ms, rates)", "median"),
            ("s", "cluster stats", "ring servers"),
            ("t", "tick (/admin/gossip/tick)", "checksum after"),
            ("j", "join (/admin/member/join)", "answer"),
            ("d", "debug on (/admin/debugSet)", "node logs: "),
        ):
            child.send(key)
            child.expect_exact(title)
            child.expect_exact(column)
        child.send("q")
        child.expect("stopped 3 nodes", timeout=20)
        child.expect(pexpect.EOF, timeout=20)
        child.close()
        assert child.exitstatus == 0
        assert_all_gone(processes)
    finally:
        if child.isalive():
            child.terminate(force=True)
        leftovers = {pid for pid in seen if not _gone(pid)}
        assert not leftovers, f"node processes left running: {leftovers}"


def _gone(pid: int, marker: bytes = b"testpop") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return marker not in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def test_make_run_smoke() -> None:
    # Exactly what `make run` runs (the Makefile's recipe), bounded by --duration;
    # -o keeps make from reinstalling the virtual environment in the middle of a test.
    import urllib.request

    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "run", "RUN_ARGS=--duration 12"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,  # its own process group: make, tick-cluster, the nodes
    )
    try:
        out = _wait_output(proc, re.compile(r"converged in [\d.]+ s: 5 nodes"), 40)
        assert ".venv/bin/ringpop tick-cluster -n 5 --example kv --duration 12" in out
        assert "# tick-cluster: 5 nodes of examples/kv on 127.0.0.1:" in out
        assert re.search(r"# query it: \.venv/bin/ringpop admin status 127\.0\.0\.1:\d+", out)
        put = re.search(r"# try it: curl -X PUT --data hello (http://\S+/kv/user:42)", out)
        get = re.search(r"#\s+curl -i (http://\S+/kv/user:42)", out)
        assert put, out
        assert get, out
        addresses = sorted(started_pids(out).values())
        # The printed commands work: store on the first node, read from the last one.
        request = urllib.request.Request(put.group(1), data=b"hello", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 201
        with urllib.request.urlopen(get.group(1), timeout=10) as answer:
            assert answer.read() == b"hello"
            assert answer.headers["x-ringpop-owner"] in addresses
        assert proc.wait(timeout=40) == 0
        assert proc.stdout is not None
        out += proc.stdout.read()
        assert "# stopped 5 nodes" in out
        for pid in started_pids(out):
            assert _gone(pid, b"examples/kv")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group we created, by its leader's PID
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_setup_errors_are_clear() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run_cli("tick-cluster", "-n", "2", "--base-port", str(port), "--duration", "1")
    assert taken.returncode == 1
    # The next port may happen to be busy too: then both are named ("ports A, B").
    named = re.search(r"ports? ([\d, ]+) on 127\.0\.0\.1 already in use", taken.stderr)
    assert named is not None, taken.stderr
    assert str(port) in named.group(1).split(", ")
    assert "Traceback" not in taken.stderr

    missing = run_cli("tick-cluster", "--program", "/nonexistent/node-program", "--base-port", "0")
    assert missing.returncode == 1
    assert "cannot start /nonexistent/node-program" in missing.stderr
    assert "Traceback" not in missing.stderr

    if not (REPO_ROOT / "examples" / "kv").exists():
        kv = run_cli("tick-cluster", "--example", "kv", "--duration", "1")
        assert kv.returncode == 1
        assert "key-value example is not in this checkout" in kv.stderr


def test_a_size_no_machine_runs_is_refused() -> None:
    """``-n 2000`` spawned node processes for minutes, printing nothing."""
    from ringpop.cli.tickargs import MAX_SIZE, build_parser

    parser = build_parser()
    assert parser.parse_args(["-n", str(MAX_SIZE)]).size == MAX_SIZE
    too_many = run_cli("tick-cluster", "-n", "2000")
    assert too_many.returncode == 2
    assert f"at most {MAX_SIZE} node processes, not 2000" in too_many.stderr


def test_metrics_flags_statsd_and_prometheus() -> None:
    import urllib.request

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(0.2)
        statsd = f"127.0.0.1:{collector.getsockname()[1]}"
        with tick_cluster(
            "-n", "2", "--base-port", "0", "--statsd", statsd, "--prometheus-port", "0"
        ) as proc:
            out = _wait_output(proc, re.compile(r"converged in"), 30)
            match = re.search(r"Prometheus at http://127\.0\.0\.1:PORT/metrics, PORT in (\S+)", out)
            assert match, out
            first = int(re.split(r"[-,]", match.group(1))[0])
            pinged = re.compile(r'^ringpop_pings_sent_total\{node="127\.0\.0\.1:\d+"\} [1-9]', re.M)

            def scrape() -> tuple[bool, str]:
                url = f"http://127.0.0.1:{first}/metrics"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    text = answer.read().decode()
                return bool(pinged.search(text)) and "ringpop_members{" in text, text[-2000:]

            # Converged can come before the first ping (joins carry the membership).
            wait_for(scrape, 15, "a scrape with ping.send and num-members")
            lines: list[str] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(".ping.send:" in x for x in lines):
                try:
                    lines.append(collector.recv(4096).decode())
                except TimeoutError:
                    continue
            assert any(re.fullmatch(r"ringpop\.127_0_0_1_\d+\.ping\.send:1\|c", x) for x in lines)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
            assert proc.returncode == 0


def test_lifeguard_flag_reaches_every_node_and_admin_status_shows_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from ringpop.cli import admin

    with tick_cluster("-n", "3", "--base-port", "0", "--lifeguard") as proc:
        out = _wait_output(proc, re.compile(r"converged in [\d.]+ s: 3 nodes"), 40)
        assert "# Lifeguard on (testpop and example nodes)" in out
        children = snapshot(children_of(proc.pid))
        nodes = [cmd for cmd in children.values() if "ringpop.cli.testpop" in (cmd or "")]
        assert len(nodes) == 3
        assert all("--lifeguard" in (cmd or "") for cmd in nodes), nodes
        address = sorted(started_pids(out).values())[0]
        assert admin.main(["status", address, "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["lifeguard"]["enabled"] is True
        assert 0 <= document["lifeguard"]["localHealth"] <= 8
        assert admin.main(["status", address]) == 0
        text = capsys.readouterr().out
        assert re.search(r"lifeguard on: local health \d/8, \d+ suspicions? pending", text)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == 0, out
        assert_all_gone(children)


@pytest.mark.interop
def test_mixed_cluster_with_ringpop_node() -> None:
    from tests.nodeenv import interop_script, node_binary, node_modules_dir

    node = node_binary()  # skips without node
    node_modules_dir()
    launcher = f"{node} {interop_script('ringpop-node.js')}"
    with tick_cluster(
        "-n",
        "3",
        "--base-port",
        "0",
        "--program",
        "testpop --checksum-flavour=node",
        "--program",
        launcher,
        "--lifeguard",  # for our nodes only: ringpop-node would refuse the flag
    ) as proc:
        out = _wait_output(proc, re.compile(r"converged in [\d.]+ s: 3 nodes"), 40)
        children = snapshot(children_of(proc.pid))
        assert sum("ringpop-node.js" in (cmd or "") for cmd in children.values()) == 1
        assert sum("ringpop.cli.testpop" in (cmd or "") for cmd in children.values()) == 2
        for cmd in children.values():
            assert ("--lifeguard" in (cmd or "")) == ("ringpop.cli.testpop" in (cmd or ""))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        assert proc.returncode == 0, out
        assert_all_gone(children)
