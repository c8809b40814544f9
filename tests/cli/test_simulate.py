"""``ringpop simulate``: one scenario over seeds, figures beside their theory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringpop.cli.main import main


def test_kill_over_two_seeds_prints_figures_against_theory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs.json"
    code = main(
        ["simulate", "--nodes", "24", "--scenario", "kill", "--seeds", "3,4", "--json", str(out)]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "kill one, 24 nodes, seed 3" in printed
    assert "kill one, 24 nodes, seed 4" in printed
    for figure in ("first_detection", "suspect_spread", "dissemination", "one_checksum"):
        assert figure in printed
    results = json.loads(out.read_text())["results"]
    assert [r["seed"] for r in results] == [3, 4]
    assert all(r["size"] == 24 for r in results)
    # The printed mean is the mean of the two runs written to the JSON.
    mean = sum(r["figures"]["dissemination"] for r in results) / 2
    row = next(line for line in printed.splitlines() if "dissemination" in line)
    assert f"{mean:.3g}" in row


def test_same_seed_same_figures(tmp_path: Path) -> None:
    runs = []
    for name in ("a.json", "b.json"):
        path = tmp_path / name
        args = ["simulate", "--nodes", "16", "--scenario", "loss", "--json", str(path)]
        assert main(args) == 0
        runs.append(json.loads(path.read_text())["results"][0]["figures"])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "1"], "--nodes: must be a whole number in 2..20000"),
        (["--nodes", "lots"], "--nodes: must be a whole number"),
        (["--seeds", "1,1"], "--seeds: must be up to 100 distinct whole numbers"),
        (["--scenario", "meteor"], "invalid choice: 'meteor'"),
        (["--scenario", "cold", "--warm"], "the cold scenario starts cold"),
        (["--replica-points", "0"], "--replica-points: must be a whole number in 1..64"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_listed_in_the_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out


def test_the_scenario_choices_are_the_simulators() -> None:
    # The command names them without importing the simulator; they must not drift.
    from ringpop.cli.simulate import SCENARIO_NAMES
    from ringpop.testing.scenarios import SCENARIOS

    assert tuple(SCENARIOS) == SCENARIO_NAMES


@pytest.mark.parametrize("command", ["testpop", "tick-cluster", "admin", "dashboard", "simulate"])
def test_every_commands_help_reads_cleanly(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """simulate's description printed "1%% die at once" (argparse unescapes %% only in
    argument help, not in a description)."""
    code: str | int | None
    try:
        code = main([command, "--help"])
    except SystemExit as exited:  # argparse's own exit, for some commands
        code = exited.code
    assert code in (0, None)
    out = capsys.readouterr().out
    assert "usage:" in out
    assert "%%" not in out
    assert "%(" not in out
