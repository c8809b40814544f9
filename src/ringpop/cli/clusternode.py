"""A tick-cluster node with metrics: testpop's command line plus two stats flags.

::

    python -m ringpop.cli.clusternode --listen=127.0.0.1:3000 --hosts=hosts.json \\
        [--statsd=127.0.0.1:8125] [--prometheus-port=9100] [testpop's other flags]

``--statsd HOST:PORT`` sends every stat to a statsd collector over UDP (ringpop-node's
key layout, ``ringpop.127_0_0_1_3000.ping.send``); ``--prometheus-port PORT`` serves
them at ``http://127.0.0.1:PORT/metrics`` (needs ``ringpop[prometheus]``). Both may be
given. Everything else is exactly ``ringpop testpop``: tick-cluster runs this program
instead of testpop only when metrics are asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from ringpop.cli import testpop
from ringpop.stats import MultiBackend, StatsBackend, StatsdBackend

__all__ = ["main", "parse_statsd", "stats_backend"]

log = logging.getLogger("ringpop.clusternode")


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


def _split(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="clusternode", add_help=False)
    parser.add_argument("--statsd", type=parse_statsd, metavar="HOST:PORT")
    parser.add_argument("--prometheus-port", type=_port, metavar="PORT")
    return parser.parse_known_args(list(argv))


def stats_backend(
    statsd: tuple[str, int] | None, prometheus_port: int | None
) -> StatsBackend | None:
    """The back end for the flags given (None when neither)."""
    backends: list[StatsBackend] = []
    if statsd is not None:
        backends.append(StatsdBackend(*statsd))
    if prometheus_port is not None:
        from ringpop.stats.prometheus import PrometheusBackend

        backends.append(PrometheusBackend(port=prometheus_port, address="127.0.0.1"))
    if not backends:
        return None
    return backends[0] if len(backends) == 1 else MultiBackend(backends)


async def run(args: argparse.Namespace, backend: StatsBackend | None) -> int:
    """testpop's node loop, with ``backend`` receiving the node's stats."""
    from ringpop.discovery import HostsFile
    from ringpop.options import Options
    from ringpop.ringpop import BootstrapError, Ringpop

    options = Options(
        suspect_period=args.suspect_period,
        faulty_period=args.faulty_period,
        tombstone_period=args.tombstone_period,
        checksum_flavour=args.checksum_flavour,
    )
    node = Ringpop(
        "ringpop", args.listen, options=options, identity=args.identity, stats_backend=backend
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await node.start()
    joining = asyncio.ensure_future(node.bootstrap(HostsFile(args.hosts)))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({joining, stopping}, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    if joining.done():
        try:
            joining.result()
        except BootstrapError as error:
            log.error("%s", error)
            status = 1
        else:
            await stopping
    else:
        joining.cancel()
    stopping.cancel()
    log.info("stopping: self-evicting")
    await node.close()  # closes the back end too
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``python -m ringpop.cli.clusternode``)."""
    extra, rest = _split(sys.argv[1:] if argv is None else argv)
    args = testpop.parse_args(rest)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    backend = stats_backend(extra.statsd, extra.prometheus_port)
    return asyncio.run(run(args, backend))


if __name__ == "__main__":
    sys.exit(main())
