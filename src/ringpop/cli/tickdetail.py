"""The tables tick-cluster's keys show under the node table (``j t d g p s``).

:class:`Detail` is what the live view draws; the functions here turn the nodes' answers
(and the stats the last polling round kept in the
:class:`~ringpop.cli.clusterview.ClusterModel`) into one. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringpop.admin.client import AdminError, NodeStats, status_text
from ringpop.cli.clusterview import ClusterModel

__all__ = [
    "Answers",
    "Detail",
    "cluster_stats_detail",
    "debug_detail",
    "gossip_detail",
    "join_detail",
    "protocol_detail",
    "tick_detail",
]

Answers = Mapping[str, tuple[Any, float]]
"""Per node address: its answer (or the :class:`AdminError`) and the seconds it took."""


@dataclass
class Detail:
    """The result of a key's action, shown under the node table."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


def join_detail(answers: Answers) -> Detail:
    """``j``: every node's answer to ``/admin/member/join``."""
    rows = [[a, _answer(answer), f"{took * 1000:.0f}"] for a, (answer, took) in answers.items()]
    return Detail("join (/admin/member/join)", ["node", "answer", "ms"], rows)


def tick_detail(answers: Answers) -> Detail:
    """``t``: every node's checksum after ``/admin/gossip/tick``."""
    rows = []
    for address, (answer, took) in answers.items():
        text = (
            str(answer["checksum"])
            if isinstance(answer, dict) and "checksum" in answer
            else _answer(answer)
        )
        rows.append([address, text, f"{took * 1000:.0f}"])
    return Detail("tick (/admin/gossip/tick)", ["node", "checksum after", "ms"], rows)


def debug_detail(state: str, endpoint: str, answers: Answers, workdir: Path) -> Detail:
    """``d``: every node's answer to ``/admin/debugSet`` or ``/admin/debugClear``."""
    rows = [[a, _answer(answer)] for a, (answer, _took) in answers.items()]
    note = f"node logs: {workdir}"
    return Detail(f"debug {state} ({endpoint})", ["node", "answer"], rows, note)


def gossip_detail(statuses: Answers, model: ClusterModel) -> Detail:
    """``g``: gossip loop status (``/admin/gossip/status``) beside the last polled stats."""
    rows = []
    for address, (answer, _took) in statuses.items():
        stats = model.nodes[address].stats
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
    return Detail(
        "gossip",
        ["node", "gossip", "protocol period ms", "timing samples", "members"],
        rows,
    )


def protocol_detail(addresses: Sequence[str], model: ClusterModel) -> Detail:
    """``p``: protocol period timings and rates of ``addresses``, from the last poll."""
    rows = []
    for address in addresses:
        protocol = _protocol(model.nodes[address].stats)
        timing = protocol.get("timing") if isinstance(protocol.get("timing"), dict) else {}
        assert isinstance(timing, dict)
        rows.append(
            [
                address,
                _number(timing.get("min")),
                _number(timing.get("median")),
                _number(timing.get("max")),
                _number(protocol.get("protocolRate")),
                _number(protocol.get("clientRate")),
                _number(protocol.get("serverRate")),
                _number(protocol.get("totalRate")),
            ]
        )
    return Detail(
        "protocol (period timing in ms, rates)",
        ["node", "min", "median", "max", "period", "client", "server", "total"],
        rows,
    )


def cluster_stats_detail(
    addresses: Sequence[str], model: ClusterModel, hosts_file: Path, workdir: Path
) -> Detail:
    """``s``: pid, memory, uptime, ring size and version of ``addresses``, from the last poll."""
    rows = []
    for address in addresses:
        stats = model.nodes[address].stats
        raw = stats.raw if stats is not None else {}
        process = raw.get("process") if isinstance(raw.get("process"), dict) else {}
        assert isinstance(process, dict)
        memory = process.get("memory") if isinstance(process.get("memory"), dict) else {}
        assert isinstance(memory, dict)
        rss = memory.get("rss")
        uptime = raw.get("uptime")
        rows.append(
            [
                address,
                str(process.get("pid", "")),
                f"{rss / 2**20:.1f}" if isinstance(rss, int | float) else "",
                f"{uptime / 1000:.0f}" if isinstance(uptime, int | float) else "",
                str(len(stats.ring_servers)) if stats is not None else "",
                str(raw.get("version", "")),
            ]
        )
    return Detail(
        "cluster stats",
        ["node", "pid", "rss MiB", "uptime s", "ring servers", "version"],
        rows,
        f"hosts file {hosts_file} · logs {workdir}",
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
