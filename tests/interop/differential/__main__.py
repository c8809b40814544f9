"""``python -m tests.interop.differential [--kind K] [--match S] [--update-corpus] [--json F]``.

Runs the cases (all, or those of one kind / whose id contains a string) against
ringpop-node and testpop, prints the summary and every case where the two differ;
``--update-corpus`` rewrites the corpus files from this run; ``--json`` writes every
result to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.interop.differential.cases import KINDS
from tests.interop.differential.corpus import all_cases, describe, update_corpus
from tests.interop.differential.runner import dump_run, load_run, run_cases, summary


def _revision() -> str:
    """``<branch>@<short commit>`` of the checkout, or ''."""
    try:
        return (
            subprocess.run(
                ["git", "log", "-1", "--format=%D@%h"],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            )
            .stdout.strip()
            .split(",")[0]
            .removeprefix("HEAD -> ")
        )
    except (OSError, subprocess.SubprocessError):
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.interop.differential")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--match", default="")
    parser.add_argument("--update-corpus", action="store_true")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument(
        "--from-json", type=Path, help="do not run: take the results of an earlier --json"
    )
    parser.add_argument("--label", default=_revision(), help="names failures in corpus notes")
    args = parser.parse_args()
    cases = [
        c for c in all_cases() if (args.kind is None or c.kind == args.kind) and args.match in c.id
    ]
    if args.from_json is not None:
        run = load_run(args.from_json, cases)
    else:
        with tempfile.TemporaryDirectory(prefix="ringpop-differential-") as workdir:
            run = asyncio.run(run_cases(cases, Path(workdir)))
    for result in run.results:
        if result.differs or result.python.violations or not result.python.working:
            print(describe(result))
    print(summary(run))
    if args.json is not None:
        args.json.write_text(json.dumps(dump_run(run), indent=1, sort_keys=True))
    if args.update_corpus:
        written = update_corpus(run.results, args.label)
        print(f"corpus: {written} files written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
