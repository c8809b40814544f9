"""The corpus: interesting cases kept as regression data, one JSON file per case.

A file in ``corpus/`` holds the case (``id``, ``kind``, ``message`` template or ``raw``
body, ``description``), the ``expected`` outcome of each target (``accepted``,
``working``, and for ours the normalised ``membership``), and ``notes`` (why it is
kept: where the two targets differ, or how ours once failed). The suite replays every
corpus case: the generated set (:func:`.cases.generate`) plus corpus-only cases (added
by hand: write a file with a new ``id``), and checks our outcome against ``expected``.

``python -m tests.interop.differential --update-corpus`` writes a file for every case
where the targets differ or ours failed, and refreshes the expectations of the cases
already in the corpus (files are never deleted; notes are kept).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

from tests.interop.differential.cases import Case, generate
from tests.interop.differential.runner import CaseResult

__all__ = [
    "CORPUS_DIR",
    "all_cases",
    "describe",
    "failure",
    "file_name",
    "load_corpus",
    "update_corpus",
]

CORPUS_DIR: Final = Path(__file__).resolve().parent / "corpus"


def file_name(case_id: str) -> str:
    """``ping-request/changes[0].status/null`` -> ``ping-request__changes_0_.status__null.json``."""
    return re.sub(r"[^A-Za-z0-9.^+-]", "_", case_id.replace("/", "__")) + ".json"


def load_corpus(directory: Path = CORPUS_DIR) -> dict[str, dict[str, Any]]:
    """Every corpus file by case id."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text())
        found[str(data["id"])] = data
    return found


def all_cases(directory: Path = CORPUS_DIR) -> list[Case]:
    """The generated cases followed by corpus-only ones."""
    cases = generate()
    known = {case.id for case in cases}
    extra = [Case.from_json(d) for i, d in load_corpus(directory).items() if i not in known]
    return cases + extra


def failure(result: CaseResult) -> str:
    """How ours failed on this case ('' when it did not)."""
    ours = result.python
    if not ours.working:
        return f"ours stopped working: {ours.working_detail}"
    if ours.violations:
        return "ours broke spec §6: " + "; ".join(ours.violations)
    if result.stricter and not result.over_limit:
        return f"ours refused ({ours.detail}) what node accepted ({result.node.detail})"
    return ""


def describe(result: CaseResult) -> str:
    """One case in a few lines, for reports and failure messages."""
    node, ours = result.node, result.python
    lines = [
        f"{result.case.id}",
        f"  node:   {'accepted' if node.accepted else 'refused '} {node.detail}"
        f"{'' if node.working else ' | NOT WORKING: ' + node.working_detail}"
        f" {json.dumps(node.membership)}",
        f"  python: {'accepted' if ours.accepted else 'refused '} {ours.detail}"
        f"{'' if ours.working else ' | NOT WORKING: ' + ours.working_detail}"
        f" {json.dumps(ours.membership)}",
    ]
    for violation in node.violations:
        lines.append(f"  node outside §6: {violation}")
    for violation in ours.violations:
        lines.append(f"  python outside §6: {violation}")
    return "\n".join(lines)


def _expected(result: CaseResult) -> dict[str, Any]:
    node, ours = result.node, result.python
    return {
        "node": {"accepted": node.accepted, "working": node.working, "detail": node.detail},
        "python": {
            "accepted": ours.accepted,
            "working": ours.working,
            "detail": ours.detail,
            "membership": ours.membership,
        },
    }


def update_corpus(results: list[CaseResult], label: str = "", directory: Path = CORPUS_DIR) -> int:
    """Write/refresh corpus files from ``results``; how many were written.

    ``label`` (e.g. the branch and commit) prefixes the note of a failure.
    """
    directory.mkdir(parents=True, exist_ok=True)
    existing = load_corpus(directory)
    written = 0
    for result in results:
        case_id = result.case.id
        failed = failure(result)
        if case_id not in existing and not (result.differs or failed):
            continue
        notes: list[str] = list(existing.get(case_id, {}).get("notes", []))
        if result.differs:
            note = "node and python differ"
            if note not in notes:
                notes.append(note)
        if failed:
            note = f"{label}: {failed}" if label else failed
            if note not in notes:
                notes.append(note)
        data = {**result.case.as_json(), "expected": _expected(result), "notes": notes}
        path = directory / file_name(case_id)
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        written += 1
    return written
