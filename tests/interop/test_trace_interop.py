"""Tracing in a mixed cluster: a Python node and a ringpop-node (10.21.0) both trace
``membership.checksum.update`` to one TChannel sink while a third node joins and leaves,
set up with ``ringpop admin trace``; the sink gets the same event, in the same shape,
from both."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from ringpop.cli import admin
from tests.cli import helpers
from tests.cli.helpers import free_ports, stop, wait_converged
from tests.nodeenv import INTEROP_NODE_DIR, interop_script, node_binary, node_modules_dir
from tests.trace.sink import Sink

pytestmark = [pytest.mark.cluster, pytest.mark.interop]

EVENT = "membership.checksum.update"
ENDPOINT = f"/trace/{EVENT}"
PYTHON = [*helpers.testpop_argv(), "--checksum-flavour=node"]
WAIT_S = 15.0


class ThreadSink:
    """A :class:`Sink` served by an event loop of its own, in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink = self._run(self._start())
        self.address = self.sink.channel.host_port

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=10)

    async def _start(self) -> Sink:
        sink = Sink("ringpop", ENDPOINT)
        await sink.start()
        return sink

    def bodies_from(self, address: str) -> list[dict[str, Any]]:
        return [b for b in list(self.sink.bodies(ENDPOINT)) if b.get("address") == address]

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > deadline:
                got = json.dumps([d.body for d in self.sink.deliveries], indent=1)
                raise AssertionError(f"{what} not seen within {WAIT_S:g} s; sink got {got}")
            time.sleep(0.05)

    def close(self) -> None:
        self._run(self.sink.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture
def sink() -> Iterator[ThreadSink]:
    sink = ThreadSink()
    try:
        yield sink
    finally:
        sink.close()


def spawn(
    argv: list[str], address: str, hosts: list[str], workdir: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """One node on ``address`` bootstrapping from ``hosts``; output in workdir."""
    hosts_file = workdir / f"hosts-{address.replace(':', '_')}.json"
    hosts_file.write_text(json.dumps(hosts))
    with (workdir / f"node-{address.replace(':', '_')}.log").open("wb") as out:
        return subprocess.Popen(
            [*argv, f"--listen={address}", f"--hosts={hosts_file}"],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_admin(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = admin.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def counts(body: dict[str, Any]) -> dict[str, int]:
    return dict(body["membershipStatusCounts"])


def test_python_and_node_trace_the_same_events(
    tmp_path: Path, sink: ThreadSink, capsys: pytest.CaptureFixture[str]
) -> None:
    node = node_binary()  # skips without node
    node_modules_dir()
    ports = free_ports(3)
    py, nd, joiner = (f"127.0.0.1:{port}" for port in ports)
    node_argv = [node, str(interop_script("ringpop-node.js"))]
    procs = [spawn(PYTHON, py, [py, nd], tmp_path)]
    try:
        procs.append(spawn(node_argv, nd, [py, nd], tmp_path, cwd=INTEROP_NODE_DIR))
        wait_converged([py, nd], tmp_path)
        code, out, err = run_admin(
            capsys, "trace", "add", py, nd, "--sink", sink.address, "--expires-in", "30"
        )
        assert code == 0, err
        assert f"{py}: tracing {EVENT} to tchannel {sink.address} service ringpop" in out
        assert f"{nd}: tracing {EVENT} to tchannel {sink.address}" in out

        # A third (Python) node joins: both tracers see the new checksum.
        procs.append(spawn(PYTHON, joiner, [py, nd, joiner], tmp_path))
        sink.wait_for(
            "3 alive from both",
            lambda: all(
                any(counts(b)["alive"] == 3 for b in sink.bodies_from(a)) for a in (py, nd)
            ),
        )
        ours, theirs = sink.bodies_from(py)[-1], sink.bodies_from(nd)[-1]
        assert list(ours) == list(theirs)  # same fields, same order
        assert list(ours) == ["id", "address", "timestamp", "checksum", "membershipStatusCounts"]
        assert list(counts(ours)) == list(counts(theirs))
        assert {type(v) for v in ours.values()} == {type(v) for v in theirs.values()}
        assert ours["id"] == py
        assert theirs["id"] == nd
        deliveries = {d.body["address"]: d for d in sink.sink.deliveries}
        for address in (py, nd):
            assert deliveries[address].service == "ringpop"
            assert deliveries[address].arg2 == b""
            assert deliveries[address].headers["as"] == "raw"
            assert deliveries[address].headers["cn"] == "ringpop"

        # It leaves (SIGTERM: self-evicts, declared faulty): both trace that too.
        stop(procs[2:])
        sink.wait_for(
            "the leave from both",
            lambda: all(
                any(counts(b)["faulty"] == 1 for b in sink.bodies_from(a)) for a in (py, nd)
            ),
        )
        final = {a: sink.bodies_from(a)[-1]["checksum"] for a in (py, nd)}
        assert final[py] == final[nd]  # one cluster, one checksum

        # ring.changed is ours: ringpop-node refuses it with its own error.
        code, out, err = run_admin(capsys, "trace", "add", nd, "--event", "ring.changed")
        assert code == 1
        assert "`event` option is invalid because it is unknown" in err
        code, out, err = run_admin(capsys, "trace", "add", py, "--event", "ring.changed")
        assert code == 0, err
        assert "the log (info, message '/trace/ring.changed')" in out

        # Removal: ours removes it; on node only a tracer that is not there (a removal
        # that finds one makes ringpop-node 10.21.0 exit), answered as on ours.
        code, out, err = run_admin(capsys, "trace", "remove", py, "--sink", sink.address)
        assert code == 0, err
        assert f"{py}: removed the tracer of {EVENT}" in out
        code, out, err = run_admin(
            capsys, "trace", "remove", py, nd, "--sink", sink.address, "--endpoint", "/x", "--json"
        )
        assert code == 0, err
        answers = json.loads(out)
        assert answers[py]["status"] == answers[nd]["status"] == "not-found"
    finally:
        stop(procs)
