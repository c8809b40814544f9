"""The live terminal view of tick-cluster (rich), and its key reader.

The terminal is put in cbreak mode (keys arrive one by one, Ctrl-C still sends
SIGINT) and restored on the way out, whatever happens. The view is redrawn after every
polling round and every key; nothing draws in between, so rich needs no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ringpop.cli.procs import StopReport
    from ringpop.cli.tick_cluster import TickCluster

__all__ = ["render", "run"]

_GROUP_STYLES = ("green", "yellow", "magenta", "cyan", "blue", "red")
_PROCESS_STYLES = {
    "running": "green",
    "starting": "yellow",
    "suspended": "blue",
    "killed": "red",
    "exited": "red",
    "no answer": "red",
}
_EVENT_STYLES = {
    "converged": "bold green",
    "diverged": "yellow",
    "down": "red",
    "error": "bold red",
    "up": "green",
    "action": "bold",
    "checksum": "",
    "info": "dim",
}
_FOOTER = (
    "k kill  K revive  l suspend  j join  g gossip  p protocol  t tick  s stats  d debug  "
    "h help  q quit"
)
EVENT_LINES = 8


def _nodes_table(cluster: TickCluster) -> Table:
    model = cluster.model
    ranks = model.checksum_rank()
    ring_ranks: dict[int, int] = {}
    for state in model.nodes.values():
        if state.counted and state.stats is not None and state.stats.ring_checksum is not None:
            ring_ranks.setdefault(state.stats.ring_checksum, len(ring_ranks))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, expand=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("#", "right"),
        ("address", "left"),
        ("pid", "right"),
        ("process", "left"),
        ("status", "left"),
        ("incarnation", "right"),
        ("membership", "right"),
        ("ring", "right"),
        ("members", "left"),
        *((("keys", "right"),) if cluster.states else ()),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for state in model.nodes.values():
        node = cluster.by_address[state.address]
        process = "suspended" if node.suspended else state.process
        stats = state.stats if state.expected or node.suspended else None
        own = stats.own if stats is not None else None
        membership = Text("")
        ring = Text("")
        members = ""
        if stats is not None:
            rank = ranks.get(stats.membership_checksum)
            style = _GROUP_STYLES[min(rank, len(_GROUP_STYLES) - 1)] if rank is not None else "dim"
            membership = Text(str(stats.membership_checksum), style=style)
            if stats.ring_checksum is not None:
                ring_rank = ring_ranks.get(stats.ring_checksum)
                ring_style = (
                    _GROUP_STYLES[min(ring_rank, len(_GROUP_STYLES) - 1)]
                    if ring_rank is not None
                    else "dim"
                )
                ring = Text(str(stats.ring_checksum), style=ring_style)
            members = " ".join(f"{n} {s}" for s, n in stats.counts().items() if n)
        table.add_row(
            str(state.index + 1),
            state.address,
            str(node.pid or ""),
            Text(process, style=_PROCESS_STYLES.get(process, "")),
            own.status if own is not None else "",
            str(own.incarnation) if own is not None else "",
            membership,
            ring,
            members,
            *(
                (cluster.keys_text(state.address) if state.expected else "",)
                if cluster.states
                else ()
            ),
        )
    return table


def _events_panel(cluster: TickCluster) -> Panel:
    events = list(cluster.model.events)[-EVENT_LINES:]
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, event in enumerate(events):
        if i:
            text.append("\n")
        text.append(f"{event.seq:>4} {event.line()}", style=_EVENT_STYLES.get(event.kind, ""))
    return Panel(text, title="events", title_align="left", box=box.ROUNDED)


def _detail_panel(cluster: TickCluster) -> RenderableType | None:
    if cluster.show_help:
        from ringpop.cli.tickargs import KEYS_HELP

        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, text in KEYS_HELP:
            table.add_row(key, text)
        return Panel(table, title="keys", title_align="left", box=box.ROUNDED, expand=False)
    detail = cluster.detail
    if detail is None:
        return None
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in detail.columns:
        table.add_column(column, no_wrap=column == "node")
    for row in detail.rows:
        table.add_row(*row)
    body: RenderableType = table
    if detail.note:
        body = Group(table, Text(detail.note, style="dim"))
    return Panel(body, title=detail.title, title_align="left", box=box.ROUNDED, expand=False)


def render(cluster: TickCluster, banner: list[str]) -> RenderableType:
    """The whole screen."""
    model = cluster.model
    elapsed = int(cluster.clock() - cluster.started_at)
    header = Text(f"{banner[0]} · {elapsed // 60:02d}:{elapsed % 60:02d}", style="bold")
    if cluster.stopping:
        status = Text("stopping every node ...", style="bold yellow")
    elif model.converged:
        status = Text(model.status_line(), style="bold green")
    elif model.verdict.partitions > 1:
        status = Text(model.status_line(), style="bold red")
    else:
        status = Text(model.status_line(), style="bold yellow")
    parts: list[RenderableType] = [
        header,
        *(Text(line, style="dim", no_wrap=True, overflow="ellipsis") for line in banner[2:]),
        Text(""),
        _nodes_table(cluster),
        Text(""),
        status,
        _events_panel(cluster),
    ]
    detail = _detail_panel(cluster)
    if detail is not None:
        parts.append(detail)
    parts.append(Text(_FOOTER, style="dim", no_wrap=True, overflow="ellipsis"))
    return Group(*parts)


async def run(
    cluster: TickCluster,
    banner: list[str],
    install_signals: Callable[[TickCluster], list[int]],
    stop_line: Callable[[StopReport], str],
) -> int:
    """Show the live view until ``q``, a signal or ``--duration``; stop every node."""
    loop = asyncio.get_running_loop()
    console = Console()
    fd = sys.stdin.fileno()
    saved: Any = termios.tcgetattr(fd)
    installed: list[int] = []
    report: StopReport | None = None

    def on_input() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data:  # terminal gone
            loop.remove_reader(fd)
            cluster.stop_event.set()
            return
        for char in data.decode(errors="ignore"):
            cluster.key(char)

    live = Live(
        render(cluster, banner),
        console=console,
        screen=True,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    try:
        tty.setcbreak(fd)
        loop.add_reader(fd, on_input)
        with live:
            cluster.refresh = lambda: live.update(render(cluster, banner), refresh=True)
            installed = install_signals(cluster)
            try:
                await cluster.run(cluster.config.duration)
            finally:
                cluster.refresh()
                report = cluster.stop_all()
                cluster.refresh = lambda: None
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(fd)
        for signum in installed:
            loop.remove_signal_handler(signum)
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    # Back on the normal screen: what happened, for the scrollback.
    console.print(Text(banner[0], style="bold"))
    for event in list(cluster.model.events)[-15:]:
        console.print(Text(event.line(), style=_EVENT_STYLES.get(event.kind, "")))
    console.print(Text(f"final state: {cluster.model.status_line()}"))
    if report is not None:
        console.print(Text(stop_line(report)))
    return 0
