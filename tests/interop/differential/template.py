"""Message templates: JSON values with placeholders, made concrete per target and case.

* a string ``"<name>"`` is replaced by ``bindings[name]`` (addresses, incarnations,
  checksums: ``<target>``, ``<target-inc>``, ``<fake0>`` ... see :class:`.cases.Case`);
* ``{"$huge": n}`` becomes a string of ``n`` ``x`` characters;
* ``{"$repeat": n, "item": x}`` becomes a list of ``n`` copies of ``x``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["materialise", "placeholders", "to_bytes"]


def _placeholder(value: str) -> str | None:
    if len(value) > 2 and value[0] == "<" and value[-1] == ">":
        return value[1:-1]
    return None


def materialise(template: Any, bindings: Mapping[str, Any]) -> Any:
    """``template`` with every placeholder and directive expanded."""
    if isinstance(template, str):
        name = _placeholder(template)
        return bindings[name] if name is not None and name in bindings else template
    if isinstance(template, list):
        return [materialise(item, bindings) for item in template]
    if isinstance(template, dict):
        if set(template) == {"$huge"}:
            return "x" * int(template["$huge"])
        if set(template) == {"$repeat", "item"}:
            item = materialise(template["item"], bindings)
            return [item] * int(template["$repeat"])
        return {key: materialise(value, bindings) for key, value in template.items()}
    return template


def placeholders(template: Any) -> set[str]:
    """Names of the placeholders used anywhere in ``template``."""
    if isinstance(template, str):
        name = _placeholder(template)
        return {name} if name is not None else set()
    if isinstance(template, list):
        return set().union(*(placeholders(item) for item in template))
    if isinstance(template, dict):
        return set().union(*(placeholders(value) for value in template.values()))
    return set()


def to_bytes(value: Any) -> bytes:
    """Compact JSON bytes (integers beyond int64 stay integers, floats stay floats)."""
    return json.dumps(value, separators=(",", ":")).encode()
