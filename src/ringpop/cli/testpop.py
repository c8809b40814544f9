"""``testpop``: the conformance program of ``spec/testpop.md``.

Exactly the harness's command line::

    testpop [--identity=<id>] --hosts=<file> --listen=127.0.0.1:<port>
            --suspect-period=5000 --faulty-period=5000 --tombstone-period=5000

App and TChannel service are ``ringpop``. SIGTERM (and SIGINT) self-evict, then exit
0; a second SIGINT exits at once. Diagnostics go to stderr.

Beyond the harness's flags: ``--statsd=HOST:PORT`` sends the node's stats to a statsd
collector (ringpop-node's key layout), ``--prometheus-port=PORT`` serves them at
``http://127.0.0.1:PORT/metrics`` (needs ``ringpop[prometheus]``); tick-cluster uses
them for its metrics.

Failure-detection tuning, shared with the examples: ``--ping-timeout``,
``--ping-req-timeout``, ``--lifeguard``, ``--lifeguard-suspicion-mult``. And a
testing aid, ``--stall-ms``/``--stall-every-ms``: block the node's event loop with
``time.sleep`` on a schedule once it has joined (a node alive but intermittently
slow; see docs/membership.md, Lifeguard).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ringpop.cli.stall import LoopStall
    from ringpop.options import Options
    from ringpop.ringpop import Ringpop
    from ringpop.stats import StatsBackend

__all__ = [
    "add_node_arguments",
    "join_or_stop",
    "main",
    "node_options",
    "parse_args",
    "parse_statsd",
    "run",
    "stats_backend",
]

log = logging.getLogger("ringpop.testpop")


def _milliseconds(text: str) -> float:
    from ringpop.options import InSeconds

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive whole number of milliseconds, not {text}"
        )
    return InSeconds(value / 1000.0)  # 1000 s and more too: the flag says milliseconds


def parse_statsd(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``HOST:PORT``; ``argparse.ArgumentTypeError`` otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT for statsd, got {text!r}")
    return host, int(port)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return int(text)


def stats_backend(
    statsd: tuple[str, int] | None, prometheus_port: int | None
) -> StatsBackend | None:
    """The stats back end for the metrics flags given (``None`` when neither)."""
    from ringpop.stats import MultiBackend, StatsdBackend

    backends: list[StatsBackend] = []
    if statsd is not None:
        backends.append(StatsdBackend(*statsd))
    if prometheus_port is not None:
        from ringpop.stats.prometheus import PrometheusBackend

        backends.append(PrometheusBackend(port=prometheus_port, address="127.0.0.1"))
    if not backends:
        return None
    return backends[0] if len(backends) == 1 else MultiBackend(backends)


def add_node_arguments(
    parser: argparse.ArgumentParser,
    *,
    periods_ms: tuple[int, int, int] = (5000, 5000, 5000),
    show_flavour: bool = False,
    startup_sync: bool = False,
    fast_heal: bool = False,
) -> None:
    """The flags of a node program: testpop's, shared by the examples.

    ``periods_ms`` are the defaults of ``--suspect-period``, ``--faulty-period`` and
    ``--tombstone-period`` (testpop: 5000 each, what the harness passes).
    ``startup_sync`` is the default of ``--startup-sync``: off for testpop, whose
    traffic the conformance program checks against the spec, on for applications;
    ``fast_heal`` likewise for ``--fast-heal`` (probes of faulty members are joins the
    spec's traffic does not have). ``--background-probes`` is 0 unless given (each
    period waits for its probe, as the spec says), for testpop and applications alike.
    """
    from ringpop.cli.argtypes import (
        listen_address,
        log_levels,
        positive_number,
        small_count,
        utf8_text,
    )
    from ringpop.cli.tlsargs import add_tls_arguments

    suspect, faulty, tombstone = (ms / 1000.0 for ms in periods_ms)
    parser.add_argument(
        "--listen",
        required=True,
        type=listen_address,
        help="ip:port to listen on (our address)",
    )
    parser.add_argument("--hosts", required=True, help="JSON file: array of ip:port, re-read")
    parser.add_argument("--suspect-period", type=_milliseconds, default=suspect, metavar="MS")
    parser.add_argument("--faulty-period", type=_milliseconds, default=faulty, metavar="MS")
    parser.add_argument("--tombstone-period", type=_milliseconds, default=tombstone, metavar="MS")
    parser.add_argument(
        "--identity", type=utf8_text, help="sets the __identity label (ring replica strings)"
    )
    add_tls_arguments(parser)
    parser.add_argument(
        "--checksum-flavour",
        choices=("go", "node"),
        default="go",
        help="membership checksum flavour (node: to share a cluster with ringpop-node)"
        if show_flavour
        else argparse.SUPPRESS,
    )
    parser.add_argument(
        "--startup-sync",
        action=argparse.BooleanOptionalAction,
        default=startup_sync,
        help="pull a differing member's view during the first 10 s (faster cold start; "
        "beyond the spec, wire-neutral)",
    )
    parser.add_argument(
        "--fast-heal",
        action=argparse.BooleanOptionalAction,
        default=fast_heal,
        help="heal as soon as a faulty member calls us or answers a probe, not every 30 s, "
        "and take faulty verdicts from members we hold unreachable as suspect "
        "(beyond the spec, wire-neutral)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=_milliseconds,
        metavar="MS",
        help="direct ping timeout (default 1500)",
    )
    parser.add_argument(
        "--ping-req-timeout",
        type=_milliseconds,
        metavar="MS",
        help="indirect ping (ping-req) timeout (default 5000)",
    )
    parser.add_argument(
        "--background-probes",
        type=small_count,
        default=0,
        metavar="N",
        help="probes (ping, then ping-req) in flight at once while the protocol period goes "
        "on; 0: each period waits for its probe, as the spec says (beyond the spec, "
        "wire-neutral)",
    )
    parser.add_argument(
        "--lifeguard",
        action="store_true",
        help="Lifeguard: local health multiplier and dynamic suspicion timeouts "
        "(beyond the spec, wire-neutral)",
    )
    parser.add_argument(
        "--lifeguard-suspicion-mult",
        type=positive_number,
        metavar="X",
        help="with --lifeguard: min suspicion timeout = X x max(1, log10 N) x 200 ms (default 25)",
    )
    parser.add_argument(
        "--log-level",
        type=log_levels,
        default="INFO",
        metavar="LEVEL[,LOGGER=LEVEL...]",
        help="logging level on stderr, then levels of single loggers "
        "(WARNING,ringpop.membership.verdicts=INFO: why members were declared faulty)",
    )


def node_options(args: argparse.Namespace) -> Options:
    """The ringpop options the node flags ask for."""
    from ringpop.cli.tlsargs import tls_config
    from ringpop.options import Options

    return Options(
        suspect_period=args.suspect_period,
        faulty_period=args.faulty_period,
        tombstone_period=args.tombstone_period,
        checksum_flavour=args.checksum_flavour,
        tls=tls_config(args),
        startup_sync_enabled=args.startup_sync,
        fast_heal_enabled=args.fast_heal,
        cautious_rumours=args.fast_heal,
        background_probes=args.background_probes,
        **_tuning(args),
    )


def _tuning(args: argparse.Namespace) -> dict[str, Any]:
    """The failure-detection options the flags set (the rest keep their defaults)."""
    given = {
        "ping_timeout": args.ping_timeout,
        "ping_req_timeout": args.ping_req_timeout,
        "lifeguard_suspicion_mult": args.lifeguard_suspicion_mult,
    }
    tuning: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if args.lifeguard:
        tuning["lifeguard_enabled"] = True
    return tuning


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse testpop's flags (``--name=value``)."""
    parser = argparse.ArgumentParser(prog="testpop", description=__doc__.split("\n\n")[0])
    add_node_arguments(parser)
    parser.add_argument("--statsd", type=parse_statsd, metavar="HOST:PORT", help="send stats")
    parser.add_argument("--prometheus-port", type=_port, metavar="PORT", help="serve /metrics")
    parser.add_argument(
        "--stall-ms",
        type=_milliseconds,
        metavar="MS",
        help="testing aid: once joined, block the event loop (time.sleep) for MS "
        "every --stall-every-ms",
    )
    parser.add_argument(
        "--stall-every-ms", type=_milliseconds, default=1.0, metavar="MS", help="(1000)"
    )
    args = parser.parse_args(argv)
    if args.stall_ms is not None and args.stall_ms >= args.stall_every_ms:
        parser.error("--stall-ms must be shorter than --stall-every-ms")
    return args


async def run(args: argparse.Namespace) -> int:
    """Run one node until SIGTERM/SIGINT; the exit status."""
    from ringpop.options import OptionsError
    from ringpop.ringpop import Ringpop

    try:
        backend = stats_backend(args.statsd, args.prometheus_port)
    except (ValueError, OSError) as error:  # a statsd host that does not resolve, a port taken
        print(f"ringpop testpop: {error}", file=sys.stderr)
        return 2
    try:
        options = node_options(args)
    except OptionsError as error:
        print(f"ringpop testpop: {error}", file=sys.stderr)
        return 2
    ringpop = Ringpop(
        "ringpop",
        args.listen,
        options=options,
        identity=args.identity,
        stats_backend=backend,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    interrupts = 0

    def on_signal(signum: int) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                log.warning("second SIGINT: exiting now")
                sys.exit(1)
        log.info("received %s: self-evicting", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    await ringpop.start()
    outcome = await join_or_stop(ringpop, args.hosts, stop)
    if outcome == "joined":
        stall = _start_stall(args)
        await stop.wait()
        if stall is not None:
            stall.stop()
    await ringpop.close()
    return 1 if outcome == "failed" else 0


def _start_stall(args: argparse.Namespace) -> LoopStall | None:
    """Start ``--stall-ms`` stalls, if asked for."""
    if args.stall_ms is None:
        return None
    from ringpop.cli.stall import LoopStall

    stall = LoopStall(args.stall_ms, args.stall_every_ms)
    stall.start()
    return stall


async def join_or_stop(
    ringpop: Ringpop, hosts_file: str, stop: asyncio.Event
) -> Literal["joined", "failed", "stopped"]:
    """Bootstrap from ``hosts_file`` unless ``stop`` is set first.

    ``"failed"`` (logged) when bootstrap gave up, ``"stopped"`` when ``stop`` came first.
    """
    from ringpop.discovery import HostsFile
    from ringpop.ringpop import BootstrapError

    joining = asyncio.ensure_future(ringpop.bootstrap(HostsFile(hosts_file)))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({joining, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not joining.done():
        joining.cancel()
        return "stopped"
    try:
        joining.result()
    except BootstrapError as error:
        log.error("%s", error)
        return "failed"
    return "joined"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    args = parse_args(argv)
    from ringpop.cli.argtypes import configure_logging
    from ringpop.tlsconfig import TLSError

    configure_logging(args.log_level)

    try:
        try:
            import uvloop
        except ImportError:  # optional extra: ringpop[uvloop]
            return asyncio.run(run(args))
        return uvloop.run(run(args))
    except TLSError as error:  # unreadable or mismatched certificate files
        print(f"testpop: TLS: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
