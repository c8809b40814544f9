"""What the example node programs share: flags, HTTP address rule, lifecycle.

Every example node takes testpop's flags (so ``ringpop tick-cluster --example kv``
can start it) plus ``--http``::

    --listen=IP:PORT  --hosts=FILE  [--suspect-period=MS --faulty-period=MS
    --tombstone-period=MS --identity=ID --http=IP:PORT --log-level=LEVEL]

The HTTP front listens on ``--http``; by default on the TChannel IP with the
TChannel port + 1000 (``127.0.0.1:3000`` -> ``127.0.0.1:4000``).

Lifecycle: start TChannel, bootstrap from the hosts file (re-read on every try),
then serve HTTP. SIGTERM or SIGINT: self-evict (the others stop routing to us),
finish the HTTP requests in flight, close, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

from aiohttp import web

from ringpop import Options, Ringpop
from ringpop.cli.argtypes import configure_logging
from ringpop.cli.testpop import add_node_arguments, join_or_stop, node_options

__all__ = ["HTTP_PORT_OFFSET", "add_arguments", "http_address", "run", "run_main"]

log = logging.getLogger("examples")

HTTP_PORT_OFFSET = 1000
"""Default HTTP port = TChannel port + this."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """testpop's flags (library defaults for the periods) and ``--http``."""
    add_node_arguments(
        parser,
        periods_ms=(5000, 86_400_000, 60_000),
        show_flavour=True,
        startup_sync=True,
        fast_heal=True,
    )
    parser.add_argument(
        "--http",
        help=f"HTTP front ip:port (default: the --listen ip, port + {HTTP_PORT_OFFSET})",
    )


def http_address(args: argparse.Namespace) -> tuple[str, int]:
    """``--http``, or the ``--listen`` host with the port + 1000."""
    if args.http:
        host, _, port = args.http.rpartition(":")
        return host, int(port)
    host, _, port = args.listen.rpartition(":")
    return host, int(port) + HTTP_PORT_OFFSET


def options_from(args: argparse.Namespace) -> Options:
    """Ringpop options from the flags (``.replace(...)`` to change more)."""
    return node_options(args)


async def run(
    args: argparse.Namespace,
    app_name: str,
    build: Callable[[Ringpop, argparse.Namespace], web.Application],
    *,
    options: Options | None = None,
) -> int:
    """Run one example node until SIGTERM/SIGINT; the exit status."""
    rp = Ringpop(
        app_name,
        args.listen,
        options=options if options is not None else options_from(args),
        identity=args.identity,
    )
    app = build(rp, args)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    await rp.start()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()  # the app must be running to serve forwarded requests
    outcome = await join_or_stop(rp, args.hosts, stop)
    if outcome == "joined":
        host, port = http_address(args)
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        log.info("%s: ready, HTTP on http://%s:%d", rp.whoami(), host, port)
        print(f"ready {rp.whoami()} http://{host}:{port}", flush=True)
        await stop.wait()
        log.info("%s: stopping: self-evicting", rp.whoami())
        await rp.self_evict()
    await runner.cleanup()
    await rp.close(self_evict=False)
    return 1 if outcome == "failed" else 0


def run_main(
    description: str,
    app_name: str,
    build: Callable[[Ringpop, argparse.Namespace], web.Application],
    argv: Sequence[str] | None = None,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> int:
    """Parse the flags, set up logging and uvloop (when installed), run the node.

    ``parents``: the example's own flags (``add_help=False`` parsers), listed by
    ``--help`` with the common ones."""
    parser = argparse.ArgumentParser(description=description, parents=list(parents))
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(run(args, app_name, build))
    return uvloop.run(run(args, app_name, build))
