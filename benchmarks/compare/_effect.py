"""How large a change is: the ratio B/A with an exact, distribution-free confidence interval.

The interval is the Hodges-Lehmann one, computed on the logarithms of the repeats:
the differences ``log b - log a`` over every pair of a B repeat with an A repeat,
sorted, and the interval runs from the k-th smallest to the k-th largest, k taken
from the exact null distribution of the Mann-Whitney U (``_mannwhitney``).
Exponentiated, it is an interval for the ratio B/A.

Why this and not a bootstrap: compare sees 3 to 10 repeats a side. A bootstrap of so
few values resamples a handful of distinct numbers; its percentile interval is too
narrow (at n = 3 the bootstrap median takes only three values) and its coverage is
unknown, and it needs a seed. The Hodges-Lehmann interval's coverage is exact for any
continuous distribution, assuming only that B is A scaled by a factor (a shift of the
logarithms, which is how throughput and latency change), and it is the interval
that inverts the very test compare reports: it excludes a ratio exactly when the
rank test rejects it at the same level, so the interval and the verdict never
disagree. Ties (histogram-bucketed latencies) make it slightly conservative.

The exactness has a price that is shown, not hidden: with n and m repeats no
interval has a confidence above ``1 - 2 / C(n+m, n)``. With 3 against 3 that is 90%,
so there is no 95% interval (``low``/``high`` are ``None``). That widest interval,
from the smallest to the largest pairwise ratio, is the familiar range
``min(B)/max(A) .. max(B)/min(A)``, which compare keeps showing beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from echobench.benchmarks.compare._mannwhitney import critical_u, lower_tail


@dataclass(frozen=True)
class Interval:
    """The ratio B/A: Hodges-Lehmann estimate and interval (``None`` where unattainable)."""

    estimate: float | None
    low: float | None
    high: float | None
    #: The interval's actual confidence (at least the one asked for; the rank
    #: distribution is discrete), or ``None`` when no interval reaches that confidence.
    confidence: float | None


def log_differences(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """``log b_j - log a_i`` for every pair, sorted."""
    log_a = [math.log(x) for x in a]
    return sorted(math.log(y) - x for y in b for x in log_a)


def best_confidence(n1: int, n2: int) -> float:
    """The highest confidence any exact interval from n1 and n2 repeats can have."""
    if n1 == 0 or n2 == 0:
        return 0.0
    return 1.0 - 2.0 / math.comb(n1 + n2, n1)


def ratio_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """The ratio B/A of the two samples (all values > 0) with its exact interval."""
    if not a or not b or min(a) <= 0 or min(b) <= 0:
        return Interval(None, None, None, None)
    differences = log_differences(a, b)
    estimate = math.exp(statistics.median(differences))
    # k - 1 = c: the interval [D_(c+1), D_(mn-c)] misses the true ratio exactly when U <= c
    # or U >= mn - c, whose probability is at most 1 - confidence.
    c = critical_u(len(a), len(b), 1.0 - confidence)
    if c < 0:
        return Interval(estimate, None, None, None)
    outside = 2 * lower_tail(len(a), len(b), c)
    return Interval(
        estimate,
        math.exp(differences[c]),
        math.exp(differences[len(differences) - 1 - c]),
        1.0 - outside,
    )
