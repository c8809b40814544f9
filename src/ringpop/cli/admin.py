"""``ringpop admin``: inspect and steer any ringpop node over TChannel.

Works equally with our nodes, ringpop-node and ringpop-go: every command is a call to
the node's ``/admin/*`` endpoints (service ``ringpop``, raw scheme). Human tables by
default, ``--json`` for scripts. Exit status: 0 on success, 1 when a node could not
be reached or answered an error (one line on stderr, no traceback), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ringpop.admin.client import (
    DEFAULT_TIMEOUT,
    AdminClient,
    AdminError,
    NodeStats,
    parse_address,
    status_text,
    trace_body,
)
from ringpop.cli.argtypes import positive_seconds
from ringpop.cli.tlsargs import add_tls_arguments, tls_config

__all__ = ["build_parser", "main"]

PROG = "ringpop admin"

_CONTROL_ENDPOINTS = {
    "join": "/admin/member/join",
    "leave": "/admin/member/leave",
    "reap": "/admin/reap",
    "heal": "/admin/healpartition/disco",
}
_GOSSIP_ENDPOINTS = {
    "start": "/admin/gossip/start",
    "stop": "/admin/gossip/stop",
    "tick": "/admin/gossip/tick",
    "status": "/admin/gossip/status",
}


class UsageError(Exception):
    """Bad command-line input found after parsing (exit status 2)."""


# ------------------------------------------------------------------------- output


class Output:
    """Where results go: JSON documents or rich tables on stdout, problems on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Any = None

    @property
    def console(self) -> Any:
        """A rich console on stdout (imported only for human output)."""
        if self._console is None:
            from rich.console import Console

            terminal = sys.stdout.isatty()
            self._console = Console(highlight=False, width=None if terminal else 160)
        return self._console

    def json(self, document: Any) -> None:
        print(json.dumps(document, indent=2))

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)

    def markup(self, text: str) -> None:
        self.console.print(text)

    def table(
        self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        from rich import box
        from rich.console import JustifyMethod
        from rich.table import Table

        table = Table(
            title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
        )
        for column in columns:
            justify: JustifyMethod = "right" if column in _NUMERIC_COLUMNS else "left"
            table.add_column(column, justify=justify, no_wrap=column != "addresses")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        self.console.print(table)


_NUMERIC_COLUMNS = frozenset(
    {
        "incarnation",
        "checksum",
        "membership checksum",
        "ring checksum",
        "count",
        "nodes",
        "alive in view",
        "damp score",
        "suspect/faulty",
    }
)


def _error_line(error: AdminError) -> str:
    return f"{error.address}: {error.message}"


def _error_json(error: AdminError) -> dict[str, str]:
    return {"kind": error.kind, "endpoint": error.endpoint, "message": error.message}


def _member_json(stats: NodeStats) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = []
    for m in stats.members:
        entry: dict[str, Any] = {
            "address": m.address,
            "status": m.status,
            "incarnationNumber": m.incarnation,
        }
        if m.labels:
            entry["labels"] = m.labels
        if m.damp_score is not None:
            entry["dampScore"] = m.damp_score
        members.append(entry)
    return members


# ------------------------------------------------------------------------ commands

Handler = Callable[[argparse.Namespace, AdminClient, Output], Coroutine[Any, Any, int]]


async def _lifeguard(client: AdminClient, address: str) -> dict[str, Any] | None:
    """Our nodes' ``/admin/lifeguard``; ``None`` where there is none (ringpop-node/go)."""
    try:
        document = await client.call(address, "/admin/lifeguard")
    except AdminError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("counts"), dict):
        return None
    return document


def _lifeguard_line(document: dict[str, Any], counted: bool) -> str:
    pending = len(document.get("suspicions") or [])
    state = "on" if document.get("enabled") else "off"
    line = (
        f"lifeguard {state}: local health {document.get('localHealth')}/"
        f"{document.get('maxLocalHealth')}, {pending} suspicion{'s' if pending != 1 else ''} "
        "pending"
    )
    if counted:
        line += "; suspect/faulty: times this node accepted a member as such since it started"
    return line


def _seen(document: dict[str, Any] | None, address: str) -> str:
    counts = (document or {}).get("counts", {}).get(address)
    return "" if not counts else f"{counts.get('suspect', 0)}/{counts.get('faulty', 0)}"


async def cmd_status(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    stats = await client.stats(args.address)
    lifeguard = await _lifeguard(client, args.address)
    counts = stats.counts()
    if out.as_json:
        document = {
            "node": stats.address,
            "checksum": stats.membership_checksum,
            "ringChecksum": stats.ring_checksum,
            "counts": counts,
            "members": _member_json(stats),
        }
        if lifeguard is not None:
            document["lifeguard"] = lifeguard
        out.json(document)
        return 0
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    out.line(
        f"{stats.address}: {len(stats.members)} members ({summary}), "
        f"membership checksum {stats.membership_checksum}, ring checksum {stats.ring_checksum}"
    )
    has_labels = any(m.labels for m in stats.members)
    has_damp = any(m.damp_score is not None for m in stats.members)
    has_seen = any(_seen(lifeguard, m.address) for m in stats.members)
    if lifeguard is not None:
        out.line(_lifeguard_line(lifeguard, has_seen))
    columns = ["address", "status", "incarnation"]
    if has_labels:
        columns.append("labels")
    if has_damp:
        columns.append("damp score")
    if has_seen:
        columns.append("suspect/faulty")
    rows: list[list[Any]] = []
    for m in stats.members:
        address = f"{m.address} (this node)" if m.address == stats.address else m.address
        row: list[Any] = [address, m.status, m.incarnation]
        if has_labels:
            row.append(",".join(f"{k}={v}" for k, v in sorted(m.labels.items())))
        if has_damp:
            row.append("" if m.damp_score is None else f"{m.damp_score:g}")
        if has_seen:
            row.append(_seen(lifeguard, m.address))
        rows.append(row)
    out.table(None, columns, rows)
    return 0


async def cmd_lookup(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    owners = {key: await client.lookup(args.address, key) for key in args.keys}
    if out.as_json:
        out.json(owners)
    elif len(owners) == 1:
        out.line(next(iter(owners.values())))
    else:
        out.table(None, ["key", "owner"], list(owners.items()))
    return 0


async def cmd_dump(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    document = await client.call(args.address, "/admin/stats")
    if not isinstance(document, dict):
        raise AdminError(args.address, "/admin/stats", "bad-response", "not a JSON object")
    out.json(document)
    return 0


async def cmd_count(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    stats = await client.stats(args.address)
    counts = stats.counts()
    if out.as_json:
        out.json({**counts, "total": len(stats.members)})
        return 0
    rows = [[status, n] for status, n in counts.items()]
    rows.append(["total", len(stats.members)])
    out.table(None, ["status", "count"], rows)
    return 0


async def _cluster_stats(
    args: argparse.Namespace, client: AdminClient
) -> dict[str, NodeStats | AdminError]:
    """Stats of the given nodes; with one address, of every member that node knows."""
    addresses: list[str] = list(args.addresses)
    if len(addresses) == 1 and not args.only:
        seed = await client.stats(addresses[0])
        results: dict[str, NodeStats | AdminError] = {seed.address: seed}
        others = [a for a in seed.known_addresses() if a != seed.address]
        results.update(await client.stats_many(others))
        return dict(sorted(results.items()))
    return dict(sorted((await client.stats_many(addresses)).items()))


async def cmd_partitions(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    results = await _cluster_stats(args, client)
    groups: dict[int, list[NodeStats]] = {}
    errors: dict[str, AdminError] = {}
    for address, result in results.items():
        if isinstance(result, AdminError):
            errors[address] = result
        else:
            groups.setdefault(result.membership_checksum, []).append(result)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    if out.as_json:
        out.json(
            {
                "partitions": [
                    {
                        "checksum": checksum,
                        "nodes": [s.address for s in members],
                        "alive": sorted(members[0].alive_addresses()),
                        "memberCount": len(members[0].members),
                    }
                    for checksum, members in ordered
                ],
                "unreachable": {a: _error_json(e) for a, e in errors.items()},
            }
        )
    else:
        rows = [
            [
                checksum,
                len(members),
                len(members[0].alive_addresses()),
                " ".join(s.address for s in members),
            ]
            for checksum, members in ordered
        ]
        out.table(None, ["checksum", "nodes", "alive in view", "addresses"], rows)
        count = len(ordered)
        out.line(f"{count} partition{'s' if count != 1 else ''}" if count else "no node answered")
        for error in errors.values():
            out.line(f"unreachable: {_error_line(error)}")
    return 0 if groups else 1


async def cmd_checksums(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    results = await _cluster_stats(args, client)
    answered = {a: r for a, r in results.items() if isinstance(r, NodeStats)}
    errors = {a: r for a, r in results.items() if isinstance(r, AdminError)}
    if out.as_json:
        out.json(
            {
                "nodes": {
                    a: {"membership": s.membership_checksum, "ring": s.ring_checksum}
                    for a, s in answered.items()
                },
                "unreachable": {a: _error_json(e) for a, e in errors.items()},
            }
        )
    else:
        rows = [[a, s.membership_checksum, s.ring_checksum] for a, s in answered.items()]
        out.table(None, ["node", "membership checksum", "ring checksum"], rows)
        distinct = len({s.membership_checksum for s in answered.values()})
        out.line(f"{distinct} distinct membership checksum{'s' if distinct != 1 else ''}")
        for error in errors.values():
            out.line(f"unreachable: {_error_line(error)}")
    return 0 if answered else 1


def _answer_json(answer: Any) -> Any:
    if isinstance(answer, bytes):
        return {"status": status_text(answer)}
    return answer


async def _control(
    addresses: Sequence[str], endpoint: str, client: AdminClient, out: Output, verb: str
) -> int:
    answers = await client.call_many(addresses, endpoint)
    failed = [a for a in answers.values() if isinstance(a, AdminError)]
    if out.as_json:
        out.json(
            {
                address: {"error": _error_json(answer)}
                if isinstance(answer, AdminError)
                else _answer_json(answer)
                for address, answer in answers.items()
            }
        )
    else:
        for address, answer in answers.items():
            if isinstance(answer, AdminError):
                continue
            out.line(f"{address}: {verb}: {_describe(endpoint, answer)}")
    for error in failed:
        print(f"{PROG} {verb}: {_error_line(error)}", file=sys.stderr)
    return 1 if failed else 0


def _describe(endpoint: str, answer: Any) -> str:
    if endpoint == "/admin/reap" and isinstance(answer, dict) and "reaped" in answer:
        return f"ok, reaped {answer['reaped']}"
    if endpoint == "/admin/healpartition/disco" and isinstance(answer, dict):
        targets = answer.get("targets") or []
        error = answer.get("error") or ""
        text = f"healed with {', '.join(targets)}" if targets else "nothing to heal"
        return f"{text} (error: {error})" if error else text
    if endpoint == "/admin/gossip/tick" and isinstance(answer, dict) and "checksum" in answer:
        return f"done, checksum {answer['checksum']}"
    if endpoint == "/admin/member/join" and isinstance(answer, dict):
        hosts = answer.get("candidateHosts")
        if isinstance(hosts, list):
            return f"joined (candidates {', '.join(map(str, hosts))})"
    return status_text(answer)


async def _targets(args: argparse.Namespace, client: AdminClient) -> list[str]:
    addresses: list[str] = list(args.addresses)
    if args.cluster:
        seed = await client.stats(addresses[0])
        addresses = sorted(
            {m.address for m in seed.members if m.status in ("alive", "suspect")} | set(addresses)
        )
    return addresses


async def cmd_control(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    endpoint = _CONTROL_ENDPOINTS[args.command]
    return await _control(await _targets(args, client), endpoint, client, out, args.command)


async def cmd_gossip(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    endpoint = _GOSSIP_ENDPOINTS[args.action]
    verb = f"gossip {args.action}"
    return await _control(await _targets(args, client), endpoint, client, out, verb)


def _trace_sink(spec: dict[str, Any]) -> str:
    if spec["type"] == "log":
        return f"the log ({spec['level']}, message {spec['message']!r})"
    return f"tchannel {spec['hostPort']} service {spec['serviceName']} endpoint {spec['endpoint']}"


async def cmd_trace(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    adding = args.action == "add"
    body = trace_body(
        args.event,
        sink=args.sink,
        service=args.service,
        endpoint=args.endpoint,
        level=args.level,
        message=args.message,
        expires_in=args.expires_in if adding else None,
    )
    endpoint = f"/trace/{args.action}"
    answers = await client.call_many(await _targets(args, client), endpoint, body)
    failed = {a: e for a, e in answers.items() if isinstance(e, AdminError)}
    if out.as_json:
        out.json(
            {
                address: {"error": _error_json(answer)}
                if isinstance(answer, AdminError)
                else {"status": _trace_status(adding, answer), "request": body}
                for address, answer in answers.items()
            }
        )
    sink = _trace_sink(body["sink"])
    for address, answer in answers.items():
        if out.as_json or isinstance(answer, AdminError):
            continue
        if adding:
            out.line(f"{address}: tracing {args.event} to {sink} for {args.expires_in:g} s")
        elif _trace_status(adding, answer) == "removed":
            out.line(f"{address}: removed the tracer of {args.event} to {sink}")
        else:
            out.line(f"{address}: no tracer of {args.event} to {sink}")
    for error in failed.values():
        hint = ""
        if not adding and error.kind in ("unreachable", "error"):
            hint = " (ringpop-node 10.21.0 exits when /trace/remove finds its tracer)"
        print(f"{PROG} trace {args.action}: {_error_line(error)}{hint}", file=sys.stderr)
    return 1 if failed else 0


def _trace_status(adding: bool, answer: Any) -> str:
    """``added``; for a removal ``removed`` or ``not-found`` (an empty answer)."""
    if adding:
        return "added"
    return "not-found" if answer is None or answer == b"" else "removed"


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
    p.add_argument("keys", nargs="+", metavar="KEY")
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
    p.add_argument("action", choices=sorted(_GOSSIP_ENDPOINTS), metavar="start|stop|tick|status")
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
    p.add_argument("--service", default="ringpop", help="sink service (default ringpop)")
    p.add_argument("--endpoint", help="sink endpoint (default /trace/EVENT)")
    p.add_argument(
        "--level",
        default="info",
        choices=("error", "warn", "info", "debug", "trace"),
        help="log sink: level (default info)",
    )
    p.add_argument("--message", help="log sink: message before the JSON (default /trace/EVENT)")
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
        print(f"{PROG} {args.command}: {_error_line(error)}", file=sys.stderr)
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
