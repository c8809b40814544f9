"""Differential tests: every mutated message to ringpop-node and to our testpop.

One run (module fixture) sends every case of :func:`.corpus.all_cases` to a real
ringpop-node 10.21.0 process and a real ``ringpop testpop`` process, and prints the
summary. Then, per case:

(a) ours does not refuse what ringpop-node accepted and kept working on (cases over a
    documented size limit excepted, see :data:`.runner.LIMIT_MUTATIONS`);
(b) ours ends in a membership spec §6 allows (:mod:`.rules`);
(c) ours keeps working (answers a normal ping and ``/admin/stats``, shows itself and
    its anchor alive);
and for cases in the corpus, ours does what the corpus expects (accepted, working,
normalised membership). Cases in :data:`.known.KNOWN_STRICTER` are expected to fail:
for them the test asserts that ours accepts, until the decoders are changed (strict
xfail: an unexpected pass fails, remove the entry then).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.interop.differential.cases import Case
from tests.interop.differential.corpus import all_cases, describe, failure, load_corpus
from tests.interop.differential.known import KNOWN_STRICTER
from tests.interop.differential.runner import CaseResult, run_cases, summary
from tests.nodeenv import node_modules_dir

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

CASES: list[Case] = all_cases()
CORPUS: dict[str, dict[str, Any]] = load_corpus()


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> dict[str, CaseResult]:
    """Every case run against both targets once; the summary is printed."""
    node_modules_dir()  # skips without node; installs (or fails loudly) otherwise
    workdir: Path = tmp_path_factory.mktemp("differential")
    run = asyncio.run(run_cases(CASES, workdir))
    text = summary(run)
    (workdir / "summary.txt").write_text(text + "\n")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)
    return {result.case.id: result for result in run.results}


def _param(case: Case) -> Any:
    reason = KNOWN_STRICTER.get(case.id)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case.id, marks=marks, id=case.id)


@pytest.mark.parametrize("case_id", [_param(case) for case in CASES])
def test_case(results: dict[str, CaseResult], case_id: str) -> None:
    result = results[case_id]
    if case_id in KNOWN_STRICTER:  # does not depend on node (which crashes now and then)
        assert result.python.accepted, f"ours still refuses\n{describe(result)}"
    problem = failure(result)
    assert not problem, f"{problem}\n{describe(result)}"
    expected = CORPUS.get(case_id, {}).get("expected", {}).get("python")
    if expected is None:
        return
    ours = result.python
    seen = {"accepted": ours.accepted, "working": ours.working, "membership": ours.membership}
    wanted = {key: expected[key] for key in seen}
    assert seen == wanted, f"corpus expectation changed\n{describe(result)}"
