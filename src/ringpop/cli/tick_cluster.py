"""``ringpop tick-cluster``: a local cluster of real node processes, watched live.

Starts N nodes on 127.0.0.1 (``ringpop testpop`` by default, any program taking
testpop's flags with ``--program``, e.g. ringpop-node's launcher), writes their hosts
file, polls every node's ``/admin/stats`` and shows one row per node plus whether the
cluster has converged. On a terminal it is a live view driven by keys (``h`` lists
them); without one (pipes, CI) it prints timestamped events and runs until
SIGINT/SIGTERM or ``--duration``. Every child process is stopped on the way out,
whatever happens: SIGTERM (the nodes self-evict), then SIGKILL after a grace period.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import random
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringpop.admin.client import AdminClient, AdminError, NodeStats, status_text
from ringpop.cli.argtypes import positive_seconds
from ringpop.cli.clusterview import ClusterModel, Event
from ringpop.cli.procs import NodeProcess, PortsError, ProcessGroup, StopReport, allocate_ports
from ringpop.cli.tlscerts import ClusterCerts

__all__ = ["Detail", "TickCluster", "build_parser", "main"]

PROG = "ringpop tick-cluster"
HTTP_PORT_OFFSET = 1000  # the examples' rule: HTTP front on the TChannel port + 1000
_TESTPOP = (sys.executable, "-m", "ringpop.cli.testpop")
DEFAULT_BASE_PORT = 3000
POLL_TIMEOUT = 1.0
KV_LABEL = "examples/kv"
STATE_ENDPOINT = "/admin/state"  # served by nodes keeping state (examples/kv): keys held
ACTION_TIMEOUT = 3.0

KEYS_HELP: tuple[tuple[str, str], ...] = (
    ("k", "kill a random node (SIGKILL)"),
    ("K", "revive every killed or exited node, resume suspended ones"),
    ("l", "suspend a random node (SIGSTOP), resume it (SIGCONT) a few seconds later"),
    ("j", "join / rejoin: /admin/member/join on every running node"),
    ("g", "gossip stats: loop status, protocol period, timing samples, members"),
    ("p", "protocol stats: protocol period timings and rates"),
    ("t", "tick: one gossip protocol period on every node (/admin/gossip/tick)"),
    ("s", "cluster stats: pid, memory, uptime, ring size, version"),
    ("d", "debug flags: toggle debug logging on every node (/admin/debugSet, debugClear)"),
    ("h ?", "show or hide this help"),
    ("q", "quit (stops every node)"),
)


class SetupError(Exception):
    """The cluster cannot be started (exit status 1, one line on stderr)."""


@dataclass
class Detail:
    """The result of a key's action, shown under the node table."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass
class Config:
    """A tick-cluster run, from the command line."""

    size: int
    ports: list[int]
    programs: list[list[str]]
    program_label: str
    suspect_ms: int
    faulty_ms: int
    tombstone_ms: int
    interval: float
    duration: float | None
    suspend_seconds: float
    grace: float
    workdir: Path
    temporary_workdir: bool
    seed: int | None
    statsd: str | None = None
    prometheus_ports: list[int] | None = None
    http_ports: list[int] | None = None  # the examples' HTTP fronts
    tls: ClusterCerts | None = None  # --tls: mutual TLS with a throwaway CA
    lifeguard: bool = False  # --lifeguard, for our nodes (testpop, the examples)
    dashboard_port: int | None = None  # --dashboard: serve the web dashboard there

    @property
    def metrics(self) -> bool:
        return self.statsd is not None or self.prometheus_ports is not None

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.ports]

    def _ours(self, program: list[str]) -> bool:
        """testpop or an example (they take testpop's flags); not ringpop-node/go."""
        return tuple(program[: len(_TESTPOP)]) == _TESTPOP or self.http_ports is not None

    def argv(self, index: int, hosts_file: Path) -> list[str]:
        program = self.programs[index % len(self.programs)]
        metrics: list[str] = []
        if self.metrics and tuple(program[: len(_TESTPOP)]) == _TESTPOP:
            # Our nodes report metrics: testpop with its stats flags.
            if self.statsd is not None:
                metrics.append(f"--statsd={self.statsd}")
            if self.prometheus_ports is not None:
                metrics.append(f"--prometheus-port={self.prometheus_ports[index]}")
        return [
            *program,
            f"--listen={self.addresses[index]}",
            f"--hosts={hosts_file}",
            f"--suspect-period={self.suspect_ms}",
            f"--faulty-period={self.faulty_ms}",
            f"--tombstone-period={self.tombstone_ms}",
            *metrics,
            *(self.tls.node_flags(self.addresses[index]) if self.tls else []),
            *(["--lifeguard"] if self.lifeguard and self._ours(program) else []),
            *([f"--http=127.0.0.1:{self.http_ports[index]}"] if self.http_ports else []),
            *([f"--data-dir={self.workdir / 'kv-data'}"] if self.program_label == KV_LABEL else []),
        ]


# ----------------------------------------------------------------------- controller


class TickCluster:
    """Runs the processes, polls them and carries out the keys' actions."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.hosts_file = config.workdir / "hosts.json"
        self.nodes = [
            NodeProcess(
                index=i,
                address=address,
                argv=config.argv(i, self.hosts_file),
                log_path=config.workdir / f"node-{address.replace(':', '_')}.log",
            )
            for i, address in enumerate(config.addresses)
        ]
        self.by_address = {n.address: n for n in self.nodes}
        self.group = ProcessGroup(self.nodes, grace=config.grace)
        self.model = ClusterModel(config.addresses, clock=clock)
        self.rng = random.Random(config.seed)
        self.detail: Detail | None = None
        self.show_help = False
        self.debug_on = False
        self.stopping = False
        self.started_at = clock()
        self.stop_event = asyncio.Event()
        self.refresh: Callable[[], None] = lambda: None
        self.converged_once = False
        self.crashed: list[str] = []
        self.states: dict[str, dict[str, Any]] = {}
        """``/admin/state`` answers (nodes keeping state: keys held, handoff counters)."""
        self._stateless: set[str] = set()  # answered stats but not /admin/state: not asked again
        self._client: AdminClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dashboard_url: str | None = None  # --dashboard, once it listens

    @property
    def client(self) -> AdminClient:
        assert self._client is not None, "not running"
        return self._client

    # -- lifecycle -----------------------------------------------------------------

    def start_all(self) -> None:
        import json

        self.hosts_file.write_text(json.dumps(self.config.addresses) + "\n")
        for node in self.nodes:
            try:
                pid = self.group.start(node)
            except OSError as error:
                raise SetupError(
                    f"cannot start {shlex.join(node.argv[:3])}...: {error.strerror or error}"
                ) from None
            self.model.started(node.address, pid)
            self._stateless.discard(node.address)

    def stop_all(self) -> StopReport:
        return self.group.stop_all()

    async def run(self, duration: float | None) -> None:
        """Poll until :attr:`stop_event` is set or ``duration`` seconds have passed."""
        tls = self.config.tls.admin_tls() if self.config.tls else None
        async with AdminClient(timeout=ACTION_TIMEOUT, tls=tls) as client:
            self._client = client
            poller = asyncio.ensure_future(self._poll_forever())
            stopper = asyncio.ensure_future(self.stop_event.wait())
            waiters: set[asyncio.Future[Any]] = {poller, stopper}
            try:
                await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
                if poller.done() and not poller.cancelled() and poller.exception() is not None:
                    raise poller.exception()  # type: ignore[misc]
            finally:
                self.stopping = True
                for task in [poller, stopper, *self._tasks]:
                    task.cancel()
                await asyncio.gather(poller, stopper, *self._tasks, return_exceptions=True)
                self._client = None

    def spawn(self, coro: Any) -> None:
        """Run an action in the background (tracked, cancelled on exit)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.model.emit("error", f"action failed: {task.exception()!r}")
            self.refresh()

    # -- polling -------------------------------------------------------------------

    async def _poll_forever(self) -> None:
        while True:
            began = self.clock()
            await self.poll_round()
            self.refresh()
            await asyncio.sleep(max(0.05, self.config.interval - (self.clock() - began)))

    async def poll_round(self) -> None:
        for node in self.nodes:
            state = self.model.nodes[node.address]
            if state.expected and not node.running:
                description = node.describe_exit()
                self.crashed.append(node.address)
                self.model.exited(node.address, description, str(node.log_path))
        targets = [a for a, s in self.model.nodes.items() if s.expected]
        results, _ = await asyncio.gather(
            self.client.stats_many(targets, timeout=POLL_TIMEOUT), self.poll_states(targets)
        )
        for address, result in results.items():
            # A node killed or suspended while we waited has nothing to say this round.
            if self.model.nodes[address].expected:
                self.model.observe(address, result)
        self.model.end_round()
        if self.model.converged:
            self.converged_once = True

    async def poll_states(self, targets: list[str]) -> None:
        """``/admin/state`` of the nodes that serve it (testpop and ringpop-node do not)."""

        async def one(address: str) -> None:
            try:
                answer = await self.client.call(address, STATE_ENDPOINT, timeout=POLL_TIMEOUT)
            except AdminError as error:
                self.states.pop(address, None)
                if error.kind not in ("unreachable", "timeout"):
                    self._stateless.add(address)  # it answered: it has no such endpoint
                return
            if isinstance(answer, dict):
                self.states[address] = answer

        await asyncio.gather(*(one(a) for a in targets if a not in self._stateless))

    def keys_text(self, address: str) -> str:
        """The ``keys`` column: records held by the node, if it reports them."""
        state = self.states.get(address)
        keys = state.get("keys") if state is not None else None
        return str(keys) if isinstance(keys, int) else ""

    # -- actions (keys) ------------------------------------------------------------

    def running_nodes(self) -> list[NodeProcess]:
        """Nodes whose process runs and is not suspended."""
        return [n for n in self.nodes if n.running and not n.suspended]

    def key(self, char: str) -> None:
        """Carry out the action of a key press."""
        actions: dict[str, Callable[[], None]] = {
            "k": self.kill_random,
            "K": self.revive_all,
            "l": self.suspend_random,
            "j": lambda: self.spawn(self.join_all()),
            "g": lambda: self.spawn(self.gossip_stats()),
            "p": lambda: self.spawn(self.protocol_stats()),
            "t": lambda: self.spawn(self.tick_all()),
            "s": lambda: self.spawn(self.cluster_stats()),
            "d": lambda: self.spawn(self.toggle_debug()),
            "h": self.toggle_help,
            "?": self.toggle_help,
            "q": self.quit,
        }
        action = actions.get(char)
        if action is not None:
            action()
            self.refresh()

    def quit(self) -> None:
        self.model.emit("action", "quit: stopping every node")
        self.stop_event.set()

    def toggle_help(self) -> None:
        self.show_help = not self.show_help

    def kill_random(self) -> None:
        candidates = self.running_nodes()
        if not candidates:
            self.model.emit("info", "k: no running node to kill")
            return
        node = self.rng.choice(candidates)
        pid = node.pid
        if self.group.kill(node):
            self.model.disturb()
            self.model.killed(node.address, f"killed by tick-cluster (pid {pid}, SIGKILL)")

    def revive_all(self) -> None:
        revived = False
        for node in self.nodes:
            if node.suspended:
                self.group.resume(node)
                self.model.resumed(node.address)
                revived = True
            elif not node.running:
                try:
                    pid = self.group.start(node)
                except OSError as error:
                    self.model.emit("error", f"{node.address}: cannot start: {error}")
                    continue
                self.model.started(node.address, pid, again=True)
                self._stateless.discard(node.address)
                revived = True
        if revived:
            self.model.disturb()
        else:
            self.model.emit("info", "K: every node is already running")

    def suspend_random(self) -> None:
        candidates = self.running_nodes()
        if not candidates:
            self.model.emit("info", "l: no running node to suspend")
            return
        node = self.rng.choice(candidates)
        if self.group.suspend(node):
            self.model.disturb()
            self.model.suspended(node.address, self.config.suspend_seconds)
            self.spawn(self._resume_later(node, node.pid))

    async def _resume_later(self, node: NodeProcess, pid: int | None) -> None:
        await asyncio.sleep(self.config.suspend_seconds)
        if node.pid == pid and node.suspended and self.group.resume(node):
            self.model.disturb()
            self.model.resumed(node.address)
            self.refresh()

    async def _each(
        self, endpoint: str, body: dict[str, Any] | None = None
    ) -> dict[str, tuple[Any, float]]:
        """Call ``endpoint`` on every running node: answers (or AdminError) and seconds."""
        targets = [n.address for n in self.running_nodes()]

        async def one(address: str) -> tuple[Any, float]:
            began = self.clock()
            try:
                answer = await self.client.call(address, endpoint, body)
            except AdminError as error:
                answer = error
            return answer, self.clock() - began

        answers = await asyncio.gather(*(one(a) for a in targets))
        return dict(zip(targets, answers, strict=True))

    def _show(self, detail: Detail) -> None:
        self.detail = detail
        self.show_help = False
        self.refresh()

    async def join_all(self) -> None:
        self.model.emit("action", "j: /admin/member/join on every running node")
        answers = await self._each("/admin/member/join")
        rows = [[a, _answer(answer), f"{took * 1000:.0f}"] for a, (answer, took) in answers.items()]
        self._show(Detail("join (/admin/member/join)", ["node", "answer", "ms"], rows))

    async def tick_all(self) -> None:
        self.model.emit("action", "t: /admin/gossip/tick on every running node")
        answers = await self._each("/admin/gossip/tick")
        rows = []
        for address, (answer, took) in answers.items():
            text = (
                str(answer["checksum"])
                if isinstance(answer, dict) and "checksum" in answer
                else _answer(answer)
            )
            rows.append([address, text, f"{took * 1000:.0f}"])
        self._show(Detail("tick (/admin/gossip/tick)", ["node", "checksum after", "ms"], rows))

    async def toggle_debug(self) -> None:
        endpoint = "/admin/debugClear" if self.debug_on else "/admin/debugSet"
        self.debug_on = not self.debug_on
        state = "on" if self.debug_on else "off"
        self.model.emit("action", f"d: debug logging {state} ({endpoint})")
        answers = await self._each(endpoint)
        rows = [[a, _answer(answer)] for a, (answer, _took) in answers.items()]
        note = f"node logs: {self.config.workdir}"
        self._show(Detail(f"debug {state} ({endpoint})", ["node", "answer"], rows, note))

    async def gossip_stats(self) -> None:
        statuses = await self._each("/admin/gossip/status")
        rows = []
        for address, (answer, _took) in statuses.items():
            stats = self.model.nodes[address].stats
            protocol = _protocol(stats)
            timing = protocol.get("timing") if isinstance(protocol.get("timing"), dict) else {}
            assert isinstance(timing, dict)
            counts = stats.counts() if stats is not None else {}
            rows.append(
                [
                    address,
                    "n/a" if isinstance(answer, AdminError) else status_text(answer),
                    _number(protocol.get("protocolRate")),
                    _number(timing.get("count")),
                    " ".join(f"{n} {s}" for s, n in counts.items() if n),
                ]
            )
        self._show(
            Detail(
                "gossip",
                ["node", "gossip", "protocol period ms", "timing samples", "members"],
                rows,
            )
        )

    async def protocol_stats(self) -> None:
        rows = []
        for node in self.running_nodes():
            protocol = _protocol(self.model.nodes[node.address].stats)
            timing = protocol.get("timing") if isinstance(protocol.get("timing"), dict) else {}
            assert isinstance(timing, dict)
            rows.append(
                [
                    node.address,
                    _number(timing.get("min")),
                    _number(timing.get("median")),
                    _number(timing.get("max")),
                    _number(protocol.get("protocolRate")),
                    _number(protocol.get("clientRate")),
                    _number(protocol.get("serverRate")),
                    _number(protocol.get("totalRate")),
                ]
            )
        self._show(
            Detail(
                "protocol (period timing in ms, rates)",
                ["node", "min", "median", "max", "period", "client", "server", "total"],
                rows,
            )
        )

    async def cluster_stats(self) -> None:
        rows = []
        for node in self.running_nodes():
            stats = self.model.nodes[node.address].stats
            raw = stats.raw if stats is not None else {}
            process = raw.get("process") if isinstance(raw.get("process"), dict) else {}
            assert isinstance(process, dict)
            memory = process.get("memory") if isinstance(process.get("memory"), dict) else {}
            assert isinstance(memory, dict)
            rss = memory.get("rss")
            uptime = raw.get("uptime")
            rows.append(
                [
                    node.address,
                    str(process.get("pid", "")),
                    f"{rss / 2**20:.1f}" if isinstance(rss, int | float) else "",
                    f"{uptime / 1000:.0f}" if isinstance(uptime, int | float) else "",
                    str(len(stats.ring_servers)) if stats is not None else "",
                    str(raw.get("version", "")),
                ]
            )
        self._show(
            Detail(
                "cluster stats",
                ["node", "pid", "rss MiB", "uptime s", "ring servers", "version"],
                rows,
                f"hosts file {self.hosts_file} · logs {self.config.workdir}",
            )
        )


def _answer(answer: Any) -> str:
    if isinstance(answer, AdminError):
        return f"error: {answer.message}"
    return status_text(answer)


def _protocol(stats: NodeStats | None) -> dict[str, Any]:
    if stats is None:
        return {}
    protocol = stats.raw.get("protocol")
    return protocol if isinstance(protocol, dict) else {}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- modes


def admin_command() -> str:
    """How to call ``ringpop`` from the user's shell (``.venv/bin/ringpop`` in the repo)."""
    candidate = Path(sys.executable).parent / "ringpop"
    if not candidate.exists():
        return "ringpop"
    found = shutil.which("ringpop")
    if found is not None and Path(found).resolve() == candidate.resolve():
        return "ringpop"
    try:
        return str(candidate.relative_to(Path.cwd()))
    except ValueError:
        return str(candidate)


def _banner(cluster: TickCluster) -> list[str]:
    config = cluster.config
    first = config.addresses[0]
    ringpop = admin_command()
    return [
        f"tick-cluster: {config.size} node{'s' if config.size != 1 else ''} of "
        f"{config.program_label} on {_address_range(config.addresses)}",
        f"hosts file {cluster.hosts_file}, node logs in {config.workdir}",
        f"query it: {ringpop} admin status {first}{_admin_tls(config)}   "
        f"(more: {ringpop} admin --help)",
        *_tls_lines(config),
        *(["Lifeguard on (testpop and example nodes)"] if config.lifeguard else []),
        *_http_lines(config),
        *_metrics_lines(config),
        *([f"dashboard: {cluster.dashboard_url}"] if cluster.dashboard_url else []),
    ]


def _admin_tls(config: Config) -> str:
    return "" if config.tls is None else " " + shlex.join(config.tls.admin_flags())


def _tls_lines(config: Config) -> list[str]:
    if config.tls is None:
        return []
    return [
        f"TLS: mutual, hostnames checked; throwaway CA and certificates in {config.tls.directory}"
    ]


def _http_lines(config: Config) -> list[str]:
    if not config.http_ports:
        return []
    first = f"http://127.0.0.1:{config.http_ports[0]}"
    last = f"http://127.0.0.1:{config.http_ports[-1]}"
    return [
        f"HTTP fronts: {_address_range([f'127.0.0.1:{p}' for p in config.http_ports])} "
        f"(node i: TChannel port + {HTTP_PORT_OFFSET})"
        if config.http_ports == [p + HTTP_PORT_OFFSET for p in config.ports]
        else f"HTTP fronts: {_address_range([f'127.0.0.1:{p}' for p in config.http_ports])}",
        f"try it: curl -X PUT --data hello {first}/kv/user:42",
        f"        curl -i {last}/kv/user:42   (any node answers; x-ringpop-owner says who owns it)",
    ]


def _metrics_lines(config: Config) -> list[str]:
    lines: list[str] = []
    if config.statsd is not None:
        lines.append(f"metrics: statsd lines to udp {config.statsd} (ringpop.<node>.<stat>)")
    if config.prometheus_ports is not None:
        ports = config.prometheus_ports
        shown = (
            f"{ports[0]}-{ports[-1]}"
            if ports == list(range(ports[0], ports[-1] + 1))
            else (", ".join(map(str, ports)))
        )
        lines.append(f"metrics: Prometheus at http://127.0.0.1:PORT/metrics, PORT in {shown}")
    if config.metrics and any(tuple(p[: len(_TESTPOP)]) != _TESTPOP for p in config.programs):
        lines.append("metrics: only the testpop nodes report them")
    return lines


def _address_range(addresses: Sequence[str]) -> str:
    ports = [int(a.rsplit(":", 1)[1]) for a in addresses]
    if ports == list(range(ports[0], ports[0] + len(ports))) and len(ports) > 1:
        return f"127.0.0.1:{ports[0]}-{ports[-1]}"
    return ", ".join(addresses)


def _stop_line(report: StopReport) -> str:
    if report.count == 0:
        return "stopped: no node was running"
    text = f"stopped {report.count} node{'s' if report.count != 1 else ''}"
    text += f": {len(report.terminated)} exited after SIGTERM"
    if report.killed:
        text += f", {len(report.killed)} needed SIGKILL ({', '.join(report.killed)})"
    return text


def _install_signals(cluster: TickCluster) -> list[int]:
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(signum: int) -> None:
        if cluster.stop_event.is_set():
            return
        cluster.model.emit("info", f"received {signal.Signals(signum).name}: stopping")
        cluster.refresh()
        cluster.stop_event.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, on_signal, signum)
        installed.append(signum)
    return installed


async def run_plain(cluster: TickCluster) -> int:
    """No terminal: timestamped event lines until a signal or ``--duration``."""

    def emit_line(text: str) -> None:
        print(text, flush=True)

    def print_event(event: Event) -> None:
        emit_line(event.line())

    for line in _banner(cluster):
        emit_line(f"# {line}")
    if cluster.config.duration is not None:
        emit_line(f"# running for {cluster.config.duration:g} s (SIGINT or SIGTERM stops sooner)")
    else:
        emit_line("# running until SIGINT (Ctrl-C) or SIGTERM")
    cluster.model.subscribe(print_event)
    for event in list(cluster.model.events):
        print_event(event)
    installed = _install_signals(cluster)
    try:
        await cluster.run(cluster.config.duration)
    finally:
        loop = asyncio.get_running_loop()
        for signum in installed:
            loop.remove_signal_handler(signum)
        emit_line(f"# final state: {cluster.model.status_line()}")
        if cluster.states:
            held = " ".join(f"{a}={cluster.keys_text(a)}" for a in sorted(cluster.states))
            emit_line(f"# keys held per node: {held}")
        emit_line(f"# stopping {len([n for n in cluster.nodes if n.running])} node processes")
        report = cluster.stop_all()
        emit_line(f"# {_stop_line(report)}")
    if not cluster.converged_once:
        print(f"{PROG}: the cluster never converged", file=sys.stderr)
        return 1
    return 0


async def run_live(cluster: TickCluster) -> int:
    """On a terminal: the live rich view, driven by keys."""
    from ringpop.cli import tickview

    return await tickview.run(cluster, _banner(cluster), _install_signals, _stop_line)


# ------------------------------------------------------------------------ arguments


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``ringpop tick-cluster`` argument parser."""
    keys = "\n".join(f"  {k:<4} {text}" for k, text in KEYS_HELP)
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Start a local cluster of real node processes on 127.0.0.1 and watch it converge.\n"
            "On a terminal the view is live; without one, timestamped events are printed."
        ),
        epilog=f"keys (terminal only):\n{keys}",
    )
    parser.add_argument("-n", "--size", type=_positive_int, default=5, help="nodes (default 5)")
    parser.add_argument(
        "--base-port",
        type=_port,
        default=None,
        metavar="PORT",
        help=f"first port; nodes use PORT..PORT+n-1 (default {DEFAULT_BASE_PORT}, or the next "
        "free run of ports if busy; 0: any free ports)",
    )
    parser.add_argument(
        "--program",
        action="append",
        default=None,
        metavar="COMMAND",
        help="node program (shell words), given --listen, --hosts and the period flags; "
        "'testpop [ARGS]' is this Python's ringpop testpop (the default); repeat to mix "
        "programs round-robin",
    )
    parser.add_argument(
        "--example",
        choices=("kv",),
        help="run the key-value example (examples/kv) on every node",
    )
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="SECONDS", help="stop after this many seconds"
    )
    for name in ("suspect", "faulty", "tombstone"):
        parser.add_argument(
            f"--{name}-period",
            type=_positive_int,
            default=5000,
            metavar="MS",
            help="passed to every node (default 5000)",
        )
    parser.add_argument(
        "--interval",
        type=positive_seconds,
        default=0.5,
        metavar="SECONDS",
        help="poll interval (0.5)",
    )
    parser.add_argument(
        "--suspend-seconds",
        type=positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long l keeps a node stopped (5)",
    )
    parser.add_argument(
        "--grace",
        type=positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="on exit, SIGKILL nodes still running this long after SIGTERM (5)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="hosts file and node logs here, kept (default: a temporary directory, removed "
        "on exit unless a node crashed)",
    )
    parser.add_argument(
        "--statsd",
        metavar="HOST:PORT",
        help="testpop nodes send their stats to this statsd collector (UDP)",
    )
    parser.add_argument(
        "--prometheus-port",
        type=_port,
        metavar="PORT",
        help="testpop nodes serve Prometheus metrics on PORT..PORT+n-1 (0: any free ports)",
    )
    parser.add_argument("--seed", type=int, help="random seed for k and l")
    parser.add_argument(
        "--no-tty", action="store_true", help="print events even on a terminal (no live view)"
    )
    parser.add_argument(
        "--lifeguard",
        action="store_true",
        help="nodes run Lifeguard (local health, dynamic suspicion timeouts; testpop and "
        "the examples, not other --program nodes)",
    )
    parser.add_argument(
        "--dashboard",
        nargs="?",
        const=8080,
        type=_port,
        metavar="PORT",
        help="also serve the live web dashboard (ringpop dashboard) on 127.0.0.1:PORT "
        "(8080; 0: any free port); needs aiohttp: pip install 'ringpop[dashboard]'",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="mutual TLS between the nodes: a throwaway CA and certificates in the work "
        "directory (testpop and the examples only; needs cryptography: "
        "pip install 'ringpop[tls]')",
    )
    return parser


def _repo_examples() -> Path:
    return Path(__file__).resolve().parents[3] / "examples"


def _programs(args: argparse.Namespace) -> tuple[list[list[str]], str]:
    if args.example is not None and args.program:
        raise SetupError("--example and --program are exclusive")
    if args.example == "kv":
        example = _repo_examples() / "kv"
        if not example.exists():
            raise SetupError(
                f"the key-value example is not in this checkout ({example} does not exist; "
                "it ships in the repository's examples/, not in the package). "
                "Run without --example for testpop nodes."
            )
        if not (example / "__main__.py").is_file():
            raise SetupError(f"{example} has no __main__.py to run with testpop's flags")
        return [[sys.executable, str(example)]], KV_LABEL
    if args.program:
        programs = []
        for text in args.program:
            words = shlex.split(text)
            if not words:
                raise SetupError("--program must not be empty")
            if words[0] == "testpop":
                words = [*_TESTPOP, *words[1:]]
            programs.append(words)
        return programs, " + ".join(repr(text) for text in args.program)
    return [list(_TESTPOP)], "ringpop testpop"


def _ports(args: argparse.Namespace) -> tuple[list[int], list[int] | None]:
    """TChannel ports, and HTTP ports for the examples (TChannel port + 1000 by default)."""
    if args.example is None:
        return allocate_ports(args.size, args.base_port, default_base=DEFAULT_BASE_PORT), None
    if args.base_port == 0:
        ports = allocate_ports(args.size, 0)
        return ports, allocate_ports(args.size, 0, avoid=frozenset(ports))
    candidate = DEFAULT_BASE_PORT if args.base_port is None else args.base_port
    while True:
        ports = allocate_ports(args.size, args.base_port, default_base=candidate)
        try:
            return ports, allocate_ports(args.size, ports[0] + HTTP_PORT_OFFSET)
        except PortsError as error:
            if args.base_port is not None:  # explicit: no moving around
                raise PortsError(f"HTTP {error}") from None
            candidate = ports[-1] + 1


def make_config(args: argparse.Namespace) -> Config:
    programs, label = _programs(args)
    _check_tls(args, programs)
    try:
        ports, http_ports = _ports(args)
    except PortsError as error:
        raise SetupError(str(error)) from None
    statsd: str | None = None
    if args.statsd is not None:
        from ringpop.cli.testpop import parse_statsd

        try:
            host, port = parse_statsd(args.statsd)
        except argparse.ArgumentTypeError as error:
            raise SetupError(str(error)) from None
        statsd = f"{host}:{port}"
    prometheus_ports: list[int] | None = None
    if args.prometheus_port is not None:
        try:
            import prometheus_client  # noqa: F401
        except ImportError:
            raise SetupError(
                "--prometheus-port needs prometheus-client: pip install 'ringpop[prometheus]'"
            ) from None
        try:
            prometheus_ports = allocate_ports(
                args.size, args.prometheus_port, avoid=frozenset(ports)
            )
        except PortsError as error:
            raise SetupError(f"--prometheus-port: {error}") from None
    if args.workdir is not None:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        temporary = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="ringpop-tick-cluster-"))
        temporary = True
    if args.dashboard is not None:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            raise SetupError(
                "--dashboard needs aiohttp: pip install 'ringpop[dashboard]'"
            ) from None
    tls = _tls(args, workdir, [f"127.0.0.1:{port}" for port in ports])
    return Config(
        size=args.size,
        ports=ports,
        programs=programs,
        program_label=label,
        http_ports=http_ports,
        suspect_ms=args.suspect_period,
        faulty_ms=args.faulty_period,
        tombstone_ms=args.tombstone_period,
        interval=args.interval,
        duration=args.duration,
        suspend_seconds=args.suspend_seconds,
        grace=args.grace,
        workdir=workdir,
        temporary_workdir=temporary,
        seed=args.seed,
        statsd=statsd,
        prometheus_ports=prometheus_ports,
        tls=tls,
        lifeguard=args.lifeguard,
        dashboard_port=args.dashboard,
    )


def _check_tls(args: argparse.Namespace, programs: list[list[str]]) -> None:
    """``--tls`` needs programs that speak it, and cryptography to make certificates."""
    if not args.tls:
        return
    ours = args.example is not None or all(
        tuple(program[: len(_TESTPOP)]) == _TESTPOP for program in programs
    )
    if not ours:
        raise SetupError("--tls: only testpop and the examples speak TLS (ringpop-node/go do not)")
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise SetupError(
            "--tls makes certificates with the cryptography package: pip install 'ringpop[tls]'"
        ) from None


def _tls(args: argparse.Namespace, workdir: Path, addresses: list[str]) -> ClusterCerts | None:
    """``--tls``: a CA and certificates for every node in ``workdir/tls``."""
    if not args.tls:
        return None
    from ringpop.cli.tlscerts import make_cluster_certs

    return make_cluster_certs(workdir / "tls", addresses)


async def _main(config: Config, live: bool) -> int:
    cluster = TickCluster(config)
    # Last line of defence (an exception escaping everything, sys.exit in a handler):
    # atexit stops whatever is still running, by PID. stop_all is idempotent.
    atexit.register(cluster.group.stop_all, 2.0)
    dashboard: asyncio.Task[None] | None = None
    try:
        cluster.start_all()
        if config.dashboard_port is not None:
            dashboard = await _start_dashboard(cluster, config.dashboard_port)
        return await (run_live(cluster) if live else run_plain(cluster))
    finally:
        if dashboard is not None:
            dashboard.cancel()
            await asyncio.gather(dashboard, return_exceptions=True)
        cluster.stop_all()  # no-op when the mode already stopped everything
        atexit.unregister(cluster.group.stop_all)
        if config.temporary_workdir:
            if cluster.crashed:
                print(
                    f"{PROG}: node logs kept in {config.workdir} ({len(cluster.crashed)} "
                    "node exit(s) not caused by tick-cluster)",
                    file=sys.stderr,
                )
            else:
                shutil.rmtree(config.workdir, ignore_errors=True)


async def _start_dashboard(cluster: TickCluster, port: int) -> asyncio.Task[None]:
    """``--dashboard``: the web dashboard of the cluster, in this process, beside the view."""
    from ringpop.dashboard.server import serve

    config = cluster.config
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve(
            config.addresses,
            port=port,
            interval=config.interval,
            timeout=POLL_TIMEOUT,
            tls=config.tls.admin_tls() if config.tls else None,
            started=started,
        )
    )
    waiters: set[asyncio.Future[Any]] = {task, started}
    await asyncio.wait(waiters, timeout=10.0, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        task.cancel()
        error = await asyncio.gather(task, return_exceptions=True)
        raise SetupError(f"--dashboard: cannot serve on port {port}: {error[0]}")
    cluster.dashboard_url = started.result()
    return task


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ringpop tick-cluster``; the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    live = not args.no_tty and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        config = make_config(args)
    except SetupError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_main(config, live))
    except SetupError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130


if __name__ == "__main__":
    sys.exit(main())
