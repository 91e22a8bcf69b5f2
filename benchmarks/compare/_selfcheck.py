"""A/A calibration of compare: how often it cries wolf on a run compared with itself.

``echobench compare --self-check RUN.json`` splits every case's repeats at random
into two halves, compares the halves exactly as ``compare`` compares two runs (one
correction over the whole table), and does so ``splits`` times with seeded splits.
Nothing changed between the halves, so every change called is a false one: the
share of splits with any change called is the table's false-alarm rate, which the
correction keeps at or under ``alpha``. The uncorrected share of tests under
p < alpha is shown beside it, as what the table would say without correction, and
as a check on the repeats themselves: well above ``alpha``, the repeats of a case
are not exchangeable (drift, or repeats that are not independent).

What it cannot show is said, not hidden: the halves have half the repeats, and
with 3 repeats a case splits 1 against 2, whose smallest possible p is 0.67. Then
nothing can be flagged, with or without correction, and a 0% would be an artefact;
the report says so and how many repeats a run needs for the check to mean something.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from echobench.benchmarks.compare._comparison import Comparison, Criteria, judge, pair
from echobench.benchmarks.compare._correction import NAMES
from echobench.benchmarks.compare._mannwhitney import smallest_p
from echobench.benchmarks.compare._runview import CaseView, Run


@dataclass(frozen=True)
class SelfCheck:
    path: str
    settings: Criteria
    splits: int
    seed: int
    cases: int
    #: Repeats per case: the fewest and the most among the cases checked.
    repeats: tuple[int, int]
    tests: int
    #: Tests that can reach p < alpha at all (uncorrected) with their split sizes.
    testable: int
    #: The smallest p any test of a split can give, and the raw p a lone test must
    #: reach to survive the correction.
    floor: float
    level: float
    #: Share of splits with at least one change called (corrected; nominal: <= alpha).
    splits_flagged: float
    #: Share of all tests called (corrected) and under p < alpha (uncorrected).
    tests_called: float
    tests_uncorrected: float

    @property
    def can_flag(self) -> bool:
        return self.floor < self.level

    def needed_repeats(self, level: float | None = None) -> int:
        """Repeats per case at which a split's smallest p gets under ``level`` (default: the
        corrected level of a lone change)."""
        level = self.settings.level(self.tests) if level is None else level
        n = 2
        while smallest_p(n // 2, n - n // 2) >= level and n < 200:
            n += 1
        return n

    def _head(self) -> str:
        s = self.settings
        low, high = self.repeats
        counts = f"{low}" if low == high else f"{low} to {high}"
        return (
            f"{self.cases} case(s) with {counts} repeats, split at random into halves "
            f"{self.splits} times (seed {self.seed}); {self.tests} tests per split, "
            f"{NAMES[s.correction]} at {s.alpha:g}, noise band +-{s.threshold * 100:g}%"
        )

    def _caveat(self) -> str | None:
        if self.can_flag:
            return None
        high = self.repeats[1]
        return (
            f"Nothing can be flagged: the largest split ({high // 2} vs {high - high // 2} "
            f"repeats) cannot give p below {self.floor:.2g}, and a lone change must reach "
            f"p < {self.level:.2g} to survive the correction over {self.tests} tests. "
            f"The rates are 0 by construction and say nothing about false alarms; the check "
            f"needs at least {self.needed_repeats()} repeats per case (its uncorrected rate, "
            f"at least {self.needed_repeats(self.settings.alpha)})."
        )

    def _rates(self) -> list[str]:
        alpha = self.settings.alpha
        return [
            f"splits with any change called (corrected): {self.splits_flagged:.1%} "
            f"(nominal: at most {alpha:.0%})",
            f"tests called per split (corrected): {self.tests_called:.2%}",
            f"tests under p < {alpha:g} without correction: {self.tests_uncorrected:.2%} "
            f"({self.testable} of {self.tests} tests can get there at all)",
        ]

    def lines(self) -> list[str]:
        caveat = self._caveat()
        head = f"A/A self-check of {self.path}: {self._head()}."
        return [head, *([caveat] if caveat else []), *self._rates()]

    def markdown(self, shown_path: str) -> str:
        """The paragraph docs/charts.md publishes: the command, its finding, its blind spots."""
        caveat = self._caveat()
        lines = [
            f"`echobench compare --self-check {shown_path}`: {self._head()}.",
            "",
            *(f"- {line}" for line in self._rates()),
        ]
        if caveat:
            lines += ["", f"**What this cannot show.** {caveat}"]
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "splits": self.splits,
            "seed": self.seed,
            "correction": self.settings.correction,
            "alpha": self.settings.alpha,
            "threshold": self.settings.threshold,
            "cases": self.cases,
            "repeats": list(self.repeats),
            "tests": self.tests,
            "testable_uncorrected": self.testable,
            "smallest_p": self.floor,
            "corrected_level": self.level,
            "can_flag": self.can_flag,
            "needed_repeats": self.needed_repeats(),
            "splits_flagged": self.splits_flagged,
            "tests_called": self.tests_called,
            "tests_uncorrected": self.tests_uncorrected,
        }


def _half(case: CaseView, indices: list[int]) -> CaseView:
    # Without the stored summary every statistic comes from the repeats kept.
    return replace(case, repeats=tuple(case.repeats[i] for i in indices), summary={})


def split(case: CaseView, rng: random.Random) -> tuple[CaseView, CaseView]:
    """Two halves of ``case``'s repeats drawn at random (the first gets the smaller one)."""
    order = list(range(len(case.repeats)))
    rng.shuffle(order)
    half = len(order) // 2
    return _half(case, sorted(order[:half])), _half(case, sorted(order[half:]))


def self_check(run: Run, settings: Criteria, *, splits: int = 200, seed: int = 0) -> SelfCheck:
    cases = [c for c in run.cases if len(c.repeats) >= 2]
    if not cases:
        from echobench.servers._errors import UserError

        raise UserError(f"{run.path}: no case has two repeats to split")
    flagged = called = uncorrected = tests = testable = 0
    level, floor = settings.alpha, 1.0
    for index in range(splits):
        rng = random.Random(f"{seed}:{index}")
        comparison = Comparison("A half", "B half")
        for case in cases:
            comparison.pairs.append(pair(*split(case, rng), settings.confidence))
        table = judge([comparison], settings, detect=False)
        tests += table.tests
        level = settings.level(table.tests)
        flagged += table.changed > 0
        called += table.changed
        effects = [e for _, _, e in table.effects() if e.p is not None]
        uncorrected += sum(e.p is not None and e.p < settings.alpha for e in effects)
        testable = sum(e.floor < settings.alpha for e in effects)
        floor = min([floor, *(e.floor for e in effects)])
    sizes = [len(c.repeats) for c in cases]
    return SelfCheck(
        path=run.path,
        settings=settings,
        splits=splits,
        seed=seed,
        cases=len(cases),
        repeats=(min(sizes), max(sizes)),
        tests=tests // splits,
        testable=testable,
        floor=floor,
        level=level,
        splits_flagged=flagged / splits,
        tests_called=called / max(1, tests),
        tests_uncorrected=uncorrected / max(1, tests),
    )
