"""``ringpop tick-cluster``'s entry point: ``main``, the two display modes and the banner.

A local cluster of real node processes on 127.0.0.1, watched live. On a terminal the
view is live and driven by keys (``h`` lists them; :mod:`ringpop.cli.tickview`); without
one (pipes, CI) :func:`run_plain` prints timestamped events and runs until
SIGINT/SIGTERM or ``--duration``. Every child process is stopped on the way out,
whatever happens: SIGTERM (the nodes self-evict), then SIGKILL after a grace period.
``--dashboard`` also serves the web dashboard in this process. The controller is
:class:`~ringpop.cli.tick_cluster.TickCluster`, the command line
:mod:`ringpop.cli.tickargs`.
"""

from __future__ import annotations

import asyncio
import atexit
import shlex
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ringpop.cli.clusterview import Event
from ringpop.cli.procs import StopReport
from ringpop.cli.tick_cluster import POLL_TIMEOUT, TickCluster
from ringpop.cli.tickargs import (
    HTTP_PORT_OFFSET,
    PROG,
    TESTPOP,
    Config,
    SetupError,
    build_parser,
    make_config,
)

__all__ = ["admin_command", "main", "run_live", "run_plain"]


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
    if config.metrics and any(tuple(p[: len(TESTPOP)]) != TESTPOP for p in config.programs):
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
