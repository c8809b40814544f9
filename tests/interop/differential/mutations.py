"""The mutation catalogue: what a field, a list entry or a whole body can be turned into.

Values are JSON templates (see :mod:`.template`): ``{"$huge": n}`` stands for a string
of ``n`` bytes and ``{"$repeat": n, "item": x}`` for a list of ``n`` copies of ``x``, so
a corpus file never holds megabytes. :data:`MISSING` removes the field.
"""

from __future__ import annotations

import copy
from typing import Any, Final

__all__ = [
    "ABOVE_ARG_LIMIT",
    "HUGE_BELOW_LIMIT",
    "MISSING",
    "OVERSIZED_LIST",
    "PathPart",
    "body_mutations",
    "entry_mutations",
    "field_mutations",
    "format_path",
    "list_mutations",
    "mutate",
]


class _Missing:
    """Marker: the field is removed."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

HUGE_BELOW_LIMIT: Final = 1024 * 1024
"""A 1 MiB string: fragmented over many frames, well below every arg limit (16 MiB)."""
ABOVE_ARG_LIMIT: Final = 17 * 1024 * 1024
"""17 MiB: above our transport's arg limit and the message limit (16 MiB each)."""
OVERSIZED_LIST: Final = 100_001
"""One more entry than ``messages.MAX_CHANGES`` (100 000)."""

PathPart = str | int


def format_path(path: tuple[PathPart, ...]) -> str:
    """``("changes", 0, "status")`` -> ``changes[0].status``; ``()`` -> ``$``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "$"


def _common() -> list[tuple[str, Any]]:
    return [
        ("missing", MISSING),
        ("null", None),
        ("float-1.0", 1.0),
        ("float-1.5e12", 1.5e12),
        ("negative", -1),
        ("2^63", 2**63),
        ("2^64", 2**64),
        ("empty-string", ""),
        ("huge-string", {"$huge": HUGE_BELOW_LIMIT}),
        ("object", {"x": 1}),
        ("list", []),
        ("bool", True),
    ]


def field_mutations(
    base: Any, extras: list[tuple[str, Any]] | None = None
) -> list[tuple[str, Any]]:
    """Every mutation of a field whose valid value is ``base``; names are unique."""
    found = _common()
    if isinstance(base, bool):
        found += [("string", "true"), ("number", 1)]
    elif isinstance(base, int):
        found += [("string-digits", str(base)), ("zero", 0), ("int64-max", 2**63 - 1)]
    elif isinstance(base, str):
        found += [("int", 123)]
    elif isinstance(base, list):
        found += [("string", "x"), ("number", 1)]
    elif isinstance(base, dict):
        found += [("string", "x")]
    found += extras or []
    names = [name for name, _ in found]
    assert len(names) == len(set(names)), names
    return found


def entry_mutations(valid: dict[str, Any]) -> list[tuple[str, Any]]:
    """Replacements of one list entry (a change / member) as a whole."""
    return [
        ("entry-null", None),
        ("entry-string", "x"),
        ("entry-number", 1),
        ("entry-list", []),
        ("entry-empty-object", {}),
        ("entry-extra-field", {**valid, "extraField": {"nested": [1, 2]}}),
    ]


def list_mutations(entry: dict[str, Any]) -> list[tuple[str, Any]]:
    """Replacements of a whole ``changes`` / ``membership`` list.

    The oversized list repeats a minimal entry (address, status, incarnation), so the
    message stays below the 16 MiB message limit: only the count is over a limit.
    """
    suspect = {**entry, "status": "suspect"}
    minimal = {k: entry[k] for k in ("address", "status", "incarnationNumber")}
    return [
        ("empty-list", []),
        ("duplicate-entries", [entry, entry]),
        ("duplicate-conflicting", [entry, suspect]),
        ("duplicates-1000", {"$repeat": 1000, "item": entry}),
        ("oversized-list", {"$repeat": OVERSIZED_LIST, "item": minimal}),
    ]


def body_mutations() -> list[tuple[str, str]]:
    """Whole bodies (arg3) that are not the expected JSON object."""
    return [
        ("empty-body", ""),
        ("not-json", "not json"),
        ("truncated-json", '{"a": '),
        ("json-null", "null"),
        ("json-array", "[]"),
        ("json-string", '"x"'),
        ("json-number", "1"),
        ("empty-object", "{}"),
    ]


def mutate(template: Any, path: tuple[PathPart, ...], value: Any) -> Any:
    """A deep copy of ``template`` with the value at ``path`` replaced (or removed)."""
    if not path:
        return copy.deepcopy(value)
    result = copy.deepcopy(template)
    parent = result
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if value is MISSING:
        del parent[last]
    else:
        parent[last] = copy.deepcopy(value)
    return result
