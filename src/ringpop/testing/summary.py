"""Scenario outcomes over several seeds: each figure's mean and range beside its theory.

A theory (:mod:`ringpop.testing.theory`) is an expected value; one seed is one draw
of the figure, and the slowest-node figures of one draw scatter by a few protocol
periods. :func:`summarize` groups outcomes by scenario and size and gives, per
figure, the mean over the seeds, the lowest and highest draw, the theory, and the
two ratios ``mean / theory`` and ``highest / theory``. ``ringpop simulate`` and
``bench/scale.py --seeds`` print it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FigureSummary", "summarize"]


@dataclass(frozen=True)
class FigureSummary:
    """One figure of one scenario at one size, over its seeds."""

    scenario: str
    size: int
    figure: str
    seeds: int
    """How many seeds measured it."""
    mean: float
    low: float
    high: float
    theory: float

    @property
    def ratio(self) -> float:
        """``mean / theory``."""
        return self.mean / self.theory

    @property
    def worst(self) -> float:
        """``highest draw / theory``."""
        return self.high / self.theory


def summarize(outcomes: Iterable[Mapping[str, Any]]) -> list[FigureSummary]:
    """Per scenario, size and figure with a theory: the summary over the seeds.

    ``outcomes`` are :class:`~ringpop.testing.scenarios.Outcome` as dicts
    (``dataclasses.asdict``, or read back from the bench's JSON), in any order;
    the result keeps the order in which scenarios, sizes and figures first appear.
    A seed that has no value for a figure is left out of that figure.
    """
    groups: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome["scenario"], outcome["size"]), []).append(outcome)
    rows: list[FigureSummary] = []
    for (scenario, size), members in groups.items():
        for figure, theory in members[0]["theory"].items():
            values = [
                float(m["figures"][figure]) for m in members if m["figures"].get(figure) is not None
            ]
            if not values or not theory:
                continue
            rows.append(
                FigureSummary(
                    scenario,
                    size,
                    figure,
                    len(values),
                    sum(values) / len(values),
                    min(values),
                    max(values),
                    float(theory),
                )
            )
    return rows
