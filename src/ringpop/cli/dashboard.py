"""``ringpop dashboard SEED_ADDR... [--port 8080]``: serve the live dashboard."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ringpop.admin.client import parse_address
from ringpop.cli.tlsargs import add_tls_arguments, tls_config

__all__ = ["build_parser", "main"]

PROG = "ringpop dashboard"


def _address(text: str) -> str:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value > 3600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, 3600], not {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port 0..65535, not {text}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``ringpop dashboard``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a live web page of a ringpop cluster: the ring, members, "
        "partitions, a timeline, per-node charts and key lookups. It polls the nodes' "
        "TChannel admin endpoints (ours, ringpop-node and ringpop-go alike).",
    )
    parser.add_argument(
        "seeds",
        nargs="+",
        type=_address,
        metavar="SEED_ADDR",
        help="a node of the cluster (ip:port, or a bare port for 127.0.0.1); the others "
        "are found from its member list",
    )
    parser.add_argument("--port", type=_port, default=8080, help="HTTP port (8080; 0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (127.0.0.1)")
    parser.add_argument("--interval", type=_positive, default=1.0, help="seconds between polls (1)")
    parser.add_argument(
        "--timeout", type=_positive, default=2.0, help="admin call timeout, seconds (2)"
    )
    add_tls_arguments(parser, node=False)
    return parser


async def _serve(args: argparse.Namespace) -> int:
    from ringpop.dashboard.server import serve

    loop = asyncio.get_running_loop()
    started: asyncio.Future[str] = loop.create_future()
    task = asyncio.ensure_future(
        serve(
            args.seeds,
            host=args.host,
            port=args.port,
            interval=args.interval,
            timeout=args.timeout,
            tls=tls_config(args, node=False),
            started=started,
        )
    )
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, task.cancel)
    waiters: set[asyncio.Future[Any]] = {task, started}
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if started in done:
        print(f"{PROG}: {started.result()} (cluster of {', '.join(args.seeds)})", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ringpop dashboard``; the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print(f"{PROG}: needs aiohttp: pip install 'ringpop[dashboard]'", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_serve(args))
    except ValueError as error:  # TLSError: flags or files that cannot be used
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the port is taken, ...
        print(f"{PROG}: cannot serve: {error}", file=sys.stderr)
        return 1
