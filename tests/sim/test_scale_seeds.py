"""bench/scale.py over several seeds: each figure's mean and range held to its theory."""

from __future__ import annotations

from tests.benchload import load_bench


def _result(seed: int, spread: float, detection: float | None) -> dict[str, object]:
    return {
        "scenario": "kill one",
        "size": 1000,
        "seed": seed,
        "figures": {"suspect_spread": spread, "first_detection": detection},
        "theory": {"suspect_spread": 1.5, "first_detection": 3.0},
    }


def test_seeds_table_gives_mean_range_and_ratios() -> None:
    bench = load_bench("scale")
    rows = [_result(1, 1.2, 3.0), _result(2, 1.5, None), _result(3, 1.8, 3.3)]
    lines = bench.seeds_table(rows).splitlines()
    spread = next(line for line in lines if "suspect_spread" in line)
    cells = [c.strip() for c in spread.strip("|").split("|")]
    # seeds, mean, low - high, theory, mean/theory, highest/theory
    assert cells[3:] == ["3", "1.5", "1.2 - 1.8", "1.5", "1", "1.2"]
    detection = next(line for line in lines if "first_detection" in line)
    cells = [c.strip() for c in detection.strip("|").split("|")]
    assert cells[3:] == ["2", "3.15", "3 - 3.3", "3", "1.05", "1.1"]  # the missing one skipped
