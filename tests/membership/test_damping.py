"""Flap damping scores (spec §10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringpop.membership.damping import DampingConfig, DampScores

A = "127.0.0.1:3001"


def test_penalty_accumulates_and_caps() -> None:
    scores = DampScores()
    assert scores.score(A, 0) == 0
    assert scores.penalize(A, 0) == 500
    assert scores.penalize(A, 0) == 1000
    for _ in range(30):
        scores.penalize(A, 0)
    assert scores.score(A, 0) == 10_000


def test_half_life_decay() -> None:
    scores = DampScores()
    for _ in range(8):
        scores.penalize(A, 0)
    assert scores.score(A, 0) == 4000
    assert scores.score(A, 300) == 2000
    assert scores.score(A, 600) == 1000
    # decay happens before the next penalty
    assert scores.penalize(A, 300) == 2500


def test_suppress_and_reuse_limits() -> None:
    scores = DampScores()
    for _ in range(9):
        scores.penalize(A, 0)
    assert A not in scores.flappers  # 4500 < 5000
    scores.penalize(A, 0)
    assert A in scores.flappers  # 5000: crossed the suppress limit
    assert scores.decay(300) == []  # 2500: not below the reuse limit yet
    assert A in scores.flappers
    assert scores.decay(310) == [A]  # below 2500
    assert A not in scores.flappers


def test_decayed_scores_are_forgotten() -> None:
    scores = DampScores()
    scores.penalize(A, 0)
    scores.decay(300 * 20)
    assert len(scores) == 0
    assert scores.scores(300 * 20) == {}


def test_forget() -> None:
    scores = DampScores()
    for _ in range(10):
        scores.penalize(A, 0)
    scores.forget(A)
    assert A not in scores.flappers
    assert scores.score(A, 0) == 0


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="limits"):
        DampingConfig(suppress_limit=100, reuse_limit=200)
    with pytest.raises(ValueError, match="half_life"):
        DampingConfig(half_life=0)


@given(st.lists(st.floats(min_value=0, max_value=5000), max_size=40))
def test_score_stays_within_bounds(times: list[float]) -> None:
    scores = DampScores()
    for now in sorted(times):
        value = scores.penalize(A, now)
        assert 0 <= value <= 10_000
        assert (A in scores.flappers) == (value >= 5000) or 2500 <= value < 5000
