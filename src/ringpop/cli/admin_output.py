"""Where ``ringpop admin``'s results go: JSON documents or rich tables on stdout.

:class:`Output` prints what a command found (``--json`` for scripts, human tables
otherwise); the helpers here turn :class:`~ringpop.admin.client.AdminError` and member
lists into the lines and JSON every command shares. Problems go to stderr as one line
starting with :data:`PROG`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from ringpop.admin.client import AdminError, NodeStats

__all__ = ["PROG", "Output", "error_json", "error_line", "member_json"]

PROG = "ringpop admin"


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


def error_line(error: AdminError) -> str:
    """One line for an error: ``ADDRESS: message``."""
    return f"{error.address}: {error.message}"


def error_json(error: AdminError) -> dict[str, str]:
    """An error as JSON: kind, endpoint, message."""
    return {"kind": error.kind, "endpoint": error.endpoint, "message": error.message}


def member_json(stats: NodeStats) -> list[dict[str, Any]]:
    """A node's member list as JSON (labels and damp scores where present)."""
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
