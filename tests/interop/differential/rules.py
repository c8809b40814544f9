"""Which membership states spec §6 allows after a node received some entries.

:func:`violations` compares a target's membership before and after one case (only the
addresses the case is about, its own address and the anchor's) with the entries the
case delivered (``changes`` / ``membership``) and names every state §6.1 / §6.3 (and
the receiving rules of §1.1) do not allow:

* a status that is not one of the five;
* the local member's status changed, or its incarnation decreased, by a rumour (§6.3:
  refutation only ever bumps the incarnation);
* any incarnation number decreased;
* a member appeared, or changed, without an entry that may be applied and says exactly
  that (status, incarnation): entries with a missing or non-string address, an unknown
  status, an incarnation that is missing, ``null``, negative, beyond int64 or not an
  integer, or labels that are not an object of strings must be dropped (§1.1 rule 2);
  an unknown member is never created as a tombstone (§6.1 rule 1); a known member only
  changes to a state that overrides its own (§6.1);
* a member disappeared (only eviction of a tombstone may do that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["PRECEDENCE", "SELF", "State", "candidates", "violations"]

PRECEDENCE: Final = {"alive": 0, "suspect": 1, "faulty": 2, "leave": 3, "tombstone": 4}
SELF: Final = "<target>"
"""The key of the local member in normalised memberships."""
_INT64_MAX: Final = 2**63 - 1

State = tuple[str, Any]
"""(status, incarnation) of one member as ``/admin/stats`` shows it (an integer
incarnation unless the node kept something else)."""


def _incarnation(value: Any) -> int | None:
    """The incarnation an entry may be applied with (``None``: the entry is unusable)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a float literal with an integral value: either reading is fine
    if isinstance(value, int) and 0 <= value <= _INT64_MAX:
        return value
    return None


def _labels_ok(labels: Any) -> bool:
    if labels is None:
        return True
    return isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())


def candidates(entry: Any) -> list[tuple[str, State]]:
    """``(address, state)`` pairs the entry may be applied as; ``[]`` when unusable."""
    if not isinstance(entry, dict):
        return []
    address = entry.get("address")
    status = entry.get("status")
    inc = _incarnation(entry.get("incarnationNumber"))
    if not isinstance(address, str) or not isinstance(status, str) or inc is None:
        return []
    if status not in PRECEDENCE:
        return []
    if not _labels_ok(entry.get("labels")):
        return []
    states = [(address, (str(status), inc))]
    if status == "faulty" and entry.get("tombstone"):
        states.append((address, ("tombstone", inc)))
    return states


def _overrides(new: State, old: State) -> bool:
    new_inc, old_inc = _number(new[1]), _number(old[1])
    if new_inc != old_inc:
        return new_inc > old_inc
    return PRECEDENCE.get(new[0], -1) > PRECEDENCE.get(old[0], -1)


def _number(inc: Any) -> int:
    """An incarnation shown by a node; -1 for anything that is not one."""
    found = _incarnation(inc)
    return -1 if found is None else found


def violations(
    before: Mapping[str, State],
    after: Mapping[str, State],
    entries: Iterable[Any],
    *,
    addresses: Mapping[str, str],
) -> list[str]:
    """Every way ``after`` breaks §6, given ``before`` and the delivered ``entries``.

    ``before``/``after`` map addresses to states; ``addresses`` maps the addresses to
    check to their names in messages (``<target>`` for the local member).
    """
    allowed: dict[str, list[State]] = {}
    for entry in entries:
        for address, state in candidates(entry):
            allowed.setdefault(address, []).append(state)
    found: list[str] = []
    for address, name in addresses.items():
        old, new = before.get(address), after.get(address)
        if new is None:
            if old is not None and old[0] != "tombstone":
                found.append(f"{name}: {old[0]}@{old[1]} disappeared")
            continue
        status, inc = new
        if status not in PRECEDENCE:
            found.append(f"{name}: invalid status {status!r}")
            continue
        if _incarnation(inc) is None or isinstance(inc, float):
            found.append(f"{name}: invalid incarnation {inc!r}")
            continue
        if old is not None and inc < _number(old[1]):
            found.append(f"{name}: incarnation decreased {old[1]} -> {inc}")
        if name == SELF:
            if old is not None and status != old[0]:
                found.append(f"{name}: local status changed {old[0]} -> {status} by a rumour")
            continue
        if old == new:
            continue
        justified = [s for s in allowed.get(address, []) if s == new]
        if not justified:
            found.append(f"{name}: became {status}@{inc} without a usable entry saying so")
        elif old is None and status == "tombstone":
            found.append(f"{name}: unknown member created as a tombstone")
        elif old is not None and not _overrides(new, old):
            found.append(f"{name}: {old[0]}@{old[1]} -> {status}@{inc} does not override")
    return found
