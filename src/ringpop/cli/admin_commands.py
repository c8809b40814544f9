"""The ``ringpop admin`` commands: each one calls a node's ``/admin/*`` (or ``/trace/*``)
endpoints and prints what it found through :class:`~ringpop.cli.admin_output.Output`.

Every handler takes the parsed arguments, an open
:class:`~ringpop.admin.client.AdminClient` and the output, and returns the exit status
(0 on success, 1 when a node could not be reached or answered an error). The parser that
picks a handler is in :mod:`ringpop.cli.admin`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ringpop.admin.client import AdminClient, AdminError, NodeStats, status_text, trace_body
from ringpop.admin.views import flavour_of, group_by_view, view_of
from ringpop.cli.admin_output import PROG, Output, error_json, error_line, member_json

__all__ = [
    "GOSSIP_ENDPOINTS",
    "Handler",
    "cmd_checksums",
    "cmd_control",
    "cmd_count",
    "cmd_dump",
    "cmd_gossip",
    "cmd_lookup",
    "cmd_partitions",
    "cmd_status",
    "cmd_trace",
]

_CONTROL_ENDPOINTS = {
    "join": "/admin/member/join",
    "leave": "/admin/member/leave",
    "reap": "/admin/reap",
    "heal": "/admin/healpartition/disco",
}
GOSSIP_ENDPOINTS = {
    "start": "/admin/gossip/start",
    "stop": "/admin/gossip/stop",
    "tick": "/admin/gossip/tick",
    "status": "/admin/gossip/status",
}


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
    """A node's member table, with Lifeguard counts where the node keeps them."""
    stats = await client.stats(args.address)
    lifeguard = await _lifeguard(client, args.address)
    counts = stats.counts()
    if out.as_json:
        document = {
            "node": stats.address,
            "checksum": stats.membership_checksum,
            "ringChecksum": stats.ring_checksum,
            "counts": counts,
            "members": member_json(stats),
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
    """Which node owns each key, according to the node asked."""
    owners = {key: await client.lookup(args.address, key) for key in args.keys}
    if out.as_json:
        out.json(owners)
    elif len(owners) == 1:
        out.line(next(iter(owners.values())))
    else:
        out.table(None, ["key", "owner"], list(owners.items()))
    return 0


async def cmd_dump(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    """The full ``/admin/stats`` document of a node, as JSON."""
    document = await client.call(args.address, "/admin/stats")
    if not isinstance(document, dict):
        raise AdminError(args.address, "/admin/stats", "bad-response", "not a JSON object")
    out.json(document)
    return 0


async def cmd_count(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    """Members of a node's list, per status, and the total."""
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
    """Nodes grouped by the members they hold (one group: one partition, whatever
    checksum flavour each node hashes them in); unreachable ones listed apart."""
    results = await _cluster_stats(args, client)
    answered = {a: r for a, r in results.items() if isinstance(r, NodeStats)}
    errors = {a: r for a, r in results.items() if isinstance(r, AdminError)}
    ordered = [[answered[a] for a in group] for group in group_by_view(answered)]
    checksums = [sorted({s.membership_checksum for s in nodes}) for nodes in ordered]
    if out.as_json:
        out.json(
            {
                "partitions": [
                    {
                        "checksum": nodes[0].membership_checksum,
                        "checksums": sums,
                        "nodes": [s.address for s in nodes],
                        "alive": sorted(nodes[0].alive_addresses()),
                        "memberCount": len(nodes[0].members),
                    }
                    for nodes, sums in zip(ordered, checksums, strict=True)
                ],
                "unreachable": {a: error_json(e) for a, e in errors.items()},
            }
        )
    else:
        rows = [
            [
                " / ".join(map(str, sums)),
                len(nodes),
                len(nodes[0].alive_addresses()),
                " ".join(s.address for s in nodes),
            ]
            for nodes, sums in zip(ordered, checksums, strict=True)
        ]
        out.table(None, ["checksum", "nodes", "alive in view", "addresses"], rows)
        count = len(ordered)
        out.line(f"{count} partition{'s' if count != 1 else ''}" if count else "no node answered")
        if any(len(sums) > 1 for sums in checksums):
            out.line(_MIXED_FLAVOURS)
        for error in errors.values():
            out.line(f"unreachable: {error_line(error)}")
    return 0 if ordered else 1


async def cmd_checksums(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    """Membership and ring checksums of every node that answers (with the checksum
    flavour of each when they differ)."""
    results = await _cluster_stats(args, client)
    answered = {a: r for a, r in results.items() if isinstance(r, NodeStats)}
    errors = {a: r for a, r in results.items() if isinstance(r, AdminError)}
    distinct = len({s.membership_checksum for s in answered.values()})
    views = len({view_of(s) for s in answered.values()})
    flavours = {a: flavour_of(s) for a, s in answered.items()} if distinct > 1 else {}
    if out.as_json:
        out.json(
            {
                "nodes": {
                    a: {"membership": s.membership_checksum, "ring": s.ring_checksum}
                    | ({"flavour": flavours[a]} if flavours else {})
                    for a, s in answered.items()
                },
                "unreachable": {a: error_json(e) for a, e in errors.items()},
            }
        )
    else:
        columns = ["node", "membership checksum", "ring checksum"]
        rows = [[a, s.membership_checksum, s.ring_checksum] for a, s in answered.items()]
        if flavours:
            columns.append("flavour")
            for row, address in zip(rows, answered, strict=True):
                row.append(flavours[address] or "?")
        out.table(None, columns, rows)
        line = f"{distinct} distinct membership checksum{'s' if distinct != 1 else ''}"
        if views < distinct:
            line += f" of {views} distinct member list{'s' if views != 1 else ''}"
        out.line(line)
        if views < distinct:
            out.line(_MIXED_FLAVOURS)
        for error in errors.values():
            out.line(f"unreachable: {error_line(error)}")
    return 0 if answered else 1


_MIXED_FLAVOURS = (
    "same members, different checksums: checksum flavours differ (go: ringpop-go, ours by "
    "default; node: ringpop-node; docs/operations.md#mixed-clusters)"
)


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
                address: {"error": error_json(answer)}
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
        print(f"{PROG} {verb}: {error_line(error)}", file=sys.stderr)
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
    """``join``, ``leave``, ``reap`` or ``heal`` on the given nodes (``--cluster``: all)."""
    endpoint = _CONTROL_ENDPOINTS[args.command]
    return await _control(await _targets(args, client), endpoint, client, out, args.command)


async def cmd_gossip(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    """``gossip start|stop|tick|status`` on the given nodes (``--cluster``: all)."""
    endpoint = GOSSIP_ENDPOINTS[args.action]
    verb = f"gossip {args.action}"
    return await _control(await _targets(args, client), endpoint, client, out, verb)


def _trace_sink(spec: dict[str, Any]) -> str:
    if spec["type"] == "log":
        return f"the log ({spec['level']}, message {spec['message']!r})"
    return f"tchannel {spec['hostPort']} service {spec['serviceName']} endpoint {spec['endpoint']}"


async def cmd_trace(args: argparse.Namespace, client: AdminClient, out: Output) -> int:
    """``trace add|remove``: forward a node event to a TChannel sink or the log."""
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
                address: {"error": error_json(answer)}
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
        print(f"{PROG} trace {args.action}: {error_line(error)}{hint}", file=sys.stderr)
    return 1 if failed else 0


def _trace_status(adding: bool, answer: Any) -> str:
    """``added``; for a removal ``removed`` or ``not-found`` (an empty answer)."""
    if adding:
        return "added"
    return "not-found" if answer is None or answer == b"" else "removed"
