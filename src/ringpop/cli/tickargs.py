"""``ringpop tick-cluster``'s command line: the parser, :class:`Config` and ``make_config``.

Turns the flags into a :class:`Config` (programs, ports, metrics, TLS, work directory),
failing with :class:`SetupError` (one line on stderr, exit status 1) when the cluster
cannot be started as asked. Also the constants the other tick-cluster modules share and
the keys' help (:data:`KEYS_HELP`, shown by ``--help`` and the live view).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ringpop.cli.argtypes import positive_seconds
from ringpop.cli.procs import PortsError, allocate_ports
from ringpop.cli.tlscerts import ClusterCerts

__all__ = ["KEYS_HELP", "Config", "SetupError", "build_parser", "make_config"]

PROG = "ringpop tick-cluster"
HTTP_PORT_OFFSET = 1000  # the examples' rule: HTTP front on the TChannel port + 1000
TESTPOP = (sys.executable, "-m", "ringpop.cli.testpop")
DEFAULT_BASE_PORT = 3000
KV_LABEL = "examples/kv"

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
        return tuple(program[: len(TESTPOP)]) == TESTPOP or self.http_ports is not None

    def argv(self, index: int, hosts_file: Path) -> list[str]:
        program = self.programs[index % len(self.programs)]
        metrics: list[str] = []
        if self.metrics and tuple(program[: len(TESTPOP)]) == TESTPOP:
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


# ------------------------------------------------------------------------ arguments


MAX_SIZE = 100  # node processes of 30-50 MB each; -n 2000 spawned for minutes


def _size(text: str) -> int:
    if (value := _positive_int(text)) <= MAX_SIZE:
        return value
    hint = "ringpop simulate --nodes N runs thousands in one process"
    raise argparse.ArgumentTypeError(f"at most {MAX_SIZE} node processes, not {value} ({hint})")


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
    parser.add_argument(
        "-n", "--size", type=_size, default=5, help=f"nodes (default 5, at most {MAX_SIZE})"
    )
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
                words = [*TESTPOP, *words[1:]]
            programs.append(words)
        return programs, " + ".join(repr(text) for text in args.program)
    return [list(TESTPOP)], "ringpop testpop"


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
        tuple(program[: len(TESTPOP)]) == TESTPOP for program in programs
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
