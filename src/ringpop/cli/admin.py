"""``ringpop admin``: inspect and steer any ringpop node over TChannel.

Works equally with our nodes, ringpop-node and ringpop-go: every command is a call to
the node's ``/admin/*`` endpoints (service ``ringpop``, raw scheme). Human tables by
default, ``--json`` for scripts. Exit status: 0 on success, 1 when a node could not
be reached or answered an error (one line on stderr, no traceback), 2 for bad usage.

This module is the parser and the dispatch; the commands are in
:mod:`ringpop.cli.admin_commands`, their output in :mod:`ringpop.cli.admin_output`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ringpop.admin.client import DEFAULT_TIMEOUT, AdminClient, AdminError, parse_address
from ringpop.cli.admin_commands import (
    GOSSIP_ENDPOINTS,
    Handler,
    cmd_checksums,
    cmd_control,
    cmd_count,
    cmd_dump,
    cmd_gossip,
    cmd_lookup,
    cmd_partitions,
    cmd_status,
    cmd_trace,
)
from ringpop.cli.admin_output import PROG, Output, error_line
from ringpop.cli.argtypes import positive_seconds, utf8_text
from ringpop.cli.tlsargs import add_tls_arguments, tls_config

__all__ = ["build_parser", "main"]


class UsageError(Exception):
    """Bad command-line input found after parsing (exit status 2)."""


# ------------------------------------------------------------------------ parsing


def _address(text: str) -> str:
    try:
        return parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The ``ringpop admin`` argument parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    common.add_argument(
        "--timeout",
        type=positive_seconds,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help=f"per-call timeout (default {DEFAULT_TIMEOUT:g})",
    )
    add_tls_arguments(common, node=False, suppress=True)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect and steer ringpop nodes (ours, ringpop-node, ringpop-go) over "
        "TChannel. ADDRESS is ip:port, localhost:port or a bare port on 127.0.0.1.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    p = add("status", "the member table of a node")
    p.add_argument("address", type=_address, metavar="ADDRESS")
    p.set_defaults(handler=cmd_status)

    p = add("lookup", "which node owns KEY, according to ADDRESS")
    p.add_argument("address", type=_address, metavar="ADDRESS")
    p.add_argument("keys", type=utf8_text, nargs="+", metavar="KEY")
    p.set_defaults(handler=cmd_lookup)

    p = add("dump", "the full /admin/stats document of a node (JSON)")
    p.add_argument("address", type=_address, metavar="ADDRESS")
    p.set_defaults(handler=cmd_dump)

    p = add("count", "members of a node's list, per status")
    p.add_argument("address", type=_address, metavar="ADDRESS")
    p.set_defaults(handler=cmd_count)

    for name, help_text, handler in (
        ("partitions", "group nodes by membership checksum", cmd_partitions),
        ("checksums", "membership and ring checksums of every node", cmd_checksums),
    ):
        p = add(
            name,
            f"{help_text}; with one ADDRESS, every member that node knows is asked",
        )
        p.add_argument("addresses", type=_address, nargs="+", metavar="ADDRESS")
        p.add_argument(
            "--only", action="store_true", help="ask only the given nodes, not their members"
        )
        p.set_defaults(handler=handler)

    cluster_help = "also every alive or suspect member the first ADDRESS knows"
    for name, help_text in (
        ("join", "rejoin the cluster (after leave) or run a fresh join"),
        ("leave", "mark the node as left (it stays up; join brings it back)"),
        ("reap", "declare every faulty member tombstone"),
        ("heal", "run one partition-heal pass (/admin/healpartition/disco)"),
    ):
        p = add(name, help_text)
        p.add_argument("addresses", type=_address, nargs="+", metavar="ADDRESS")
        p.add_argument("--cluster", action="store_true", help=cluster_help)
        p.set_defaults(handler=cmd_control)

    p = add("gossip", "start, stop or tick the gossip loop, or show whether it runs")
    p.add_argument("action", choices=sorted(GOSSIP_ENDPOINTS), metavar="start|stop|tick|status")
    p.add_argument("addresses", type=_address, nargs="+", metavar="ADDRESS")
    p.add_argument("--cluster", action="store_true", help=cluster_help)
    p.set_defaults(handler=cmd_gossip)

    p = add("trace", "forward a node event to a TChannel sink or the node's log (/trace/*)")
    p.add_argument("action", choices=("add", "remove"), metavar="add|remove")
    p.add_argument("addresses", type=_address, nargs="+", metavar="ADDRESS")
    p.add_argument(
        "--event",
        default="membership.checksum.update",
        choices=("membership.checksum.update", "ring.changed"),
        help="the event (default membership.checksum.update; ring.changed: our nodes only)",
    )
    p.add_argument(
        "--sink",
        type=_address,
        metavar="ADDRESS",
        help="TChannel sink ip:port (default: the node's own log)",
    )
    p.add_argument(
        "--service", type=utf8_text, default="ringpop", help="sink service (default ringpop)"
    )
    p.add_argument("--endpoint", type=utf8_text, help="sink endpoint (default /trace/EVENT)")
    p.add_argument(
        "--level",
        default="info",
        choices=("error", "warn", "info", "debug", "trace"),
        help="log sink: level (default info)",
    )
    p.add_argument(
        "--message", type=utf8_text, help="log sink: message before the JSON (default /trace/EVENT)"
    )
    p.add_argument(
        "--expires-in",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="add: the tracer is removed after this long (default 60; renewed by a new add)",
    )
    p.add_argument("--cluster", action="store_true", help=cluster_help)
    p.set_defaults(handler=cmd_trace)
    return parser


async def _run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    out = Output(args.json)
    try:
        client = AdminClient(timeout=args.timeout, tls=tls_config(args, node=False))
    except ValueError as error:  # TLSError: flags or files that cannot be used
        raise UsageError(str(error)) from None
    async with client:
        return await handler(args, client, out)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ringpop admin``; the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on bad usage, 0 on --help
        return int(exit_.code or 0) if isinstance(exit_.code, int) else 2
    args.json = getattr(args, "json", False)
    args.timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
    try:
        return asyncio.run(_run(args))
    except AdminError as error:
        print(f"{PROG} {args.command}: {error_line(error)}", file=sys.stderr)
        return 1
    except UsageError as error:
        print(f"{PROG} {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
