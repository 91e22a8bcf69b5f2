"""What a comparison could have seen: the smallest change its repeats would call.

"Not significant" means little unless one knows what could have been significant.
For a pair of cases this module answers: given how many repeats each side has and
how much they scatter, how large must a real change be for compare to *call* it
(significant after correction and its interval clear of the noise band) in 80% of
runs like this one?

The answer is exact for compare's own decision rule, not a textbook formula for
another test: it simulates the rule. The model is the one the interval already
assumes: each repeat is the case's true value times log-normal noise, the same
spread on both sides, estimated as the pooled standard deviation of the log
repeats. For each of ``SIMULATIONS`` simulated pairs of samples (drawn once per pair
of sizes from a fixed seed, so the answer is reproducible and monotone), the
smallest log-ratio at which that sample's change would be called has a closed form:
the rank test rejects at level ``q`` once the (c+1)-th smallest pairwise log
difference is above zero, and the interval's lower end clears the band once its
own order statistic is above ``log(1 + threshold)``. The detectable change is the
``power`` quantile of those thresholds; the power at a given change is the share
below it.

Two limits are reported as such rather than as numbers: with too few repeats the
exact test cannot reach the level at all (3 against 3 can never give p < 0.05, its
smallest p is 0.1), and with one repeat a side there is no spread to speak of.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echobench.benchmarks.compare._mannwhitney import critical_u

SIMULATIONS = 2000
SEED = 14
POWER = 0.8


def log_spread(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pooled standard deviation of the log values, or ``None`` without two on one side."""
    if (len(a) < 2 and len(b) < 2) or min([*a, *b], default=0) <= 0:
        return None
    squares = 0.0
    for sample in (a, b):
        if len(sample) > 1:
            logs = [math.log(x) for x in sample]
            mean = statistics.fmean(logs)
            squares += sum((x - mean) ** 2 for x in logs)
    return math.sqrt(squares / (len(a) + len(b) - 2))


@functools.lru_cache(maxsize=16)
def _standard_differences(n1: int, n2: int) -> np.ndarray:
    """Sorted pairwise differences of unit-spread normal samples, one row per simulation."""
    rng = np.random.default_rng([SEED, n1, n2])
    a = rng.standard_normal((SIMULATIONS, n1))
    b = rng.standard_normal((SIMULATIONS, n2))
    differences = (b[:, :, None] - a[:, None, :]).reshape(SIMULATIONS, n1 * n2)
    differences.sort(axis=1)
    differences.flags.writeable = False
    return differences


@dataclass(frozen=True)
class Rule:
    """Compare's decision rule for one test: called when the exact rank test gives p below
    ``level`` and the ``confidence`` interval lies outside the ``threshold`` band."""

    level: float
    confidence: float
    threshold: float

    def thresholds(self, n1: int, n2: int, sigma: float) -> np.ndarray | None:
        """Per simulated pair of samples, the smallest log-ratio at which its change is
        called; ``None`` when no change can be (the test cannot reach ``level``, or no
        interval has ``confidence``)."""
        c_test = critical_u(n1, n2, self.level)
        c_interval = critical_u(n1, n2, 1.0 - self.confidence)
        if c_test < 0 or c_interval < 0:
            return None
        differences = _standard_differences(n1, n2) * sigma
        result: np.ndarray = np.maximum(
            -differences[:, c_test], math.log1p(self.threshold) - differences[:, c_interval]
        )
        return result

    def detectable(self, n1: int, n2: int, sigma: float, power: float = POWER) -> float | None:
        """The relative change (0.08: 8%) called with probability ``power``; ``None``: none
        is."""
        thresholds = self.thresholds(n1, n2, sigma)
        if thresholds is None:
            return None
        return math.expm1(float(np.quantile(thresholds, power)))

    def power(self, change: float, n1: int, n2: int, sigma: float) -> float:
        """The chance that a real relative change of ``change`` (0.05: 5%, -0.05: a drop of
        5%) is called; the noise model is symmetric in the logarithm, so only its size
        matters."""
        thresholds = self.thresholds(n1, n2, sigma)
        if thresholds is None:
            return 0.0
        return float(np.mean(thresholds < abs(math.log1p(change))))
