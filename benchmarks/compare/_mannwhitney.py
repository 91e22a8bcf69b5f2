"""The Mann-Whitney U test, two-sided, for comparing repeats of two cases.

Benchmark repeats are few (3 to 10) and skewed, which is where the rank test's
*exact* null distribution matters and normal approximations mislead, so it is
computed exactly, ties included, by counting every way of choosing the first
sample's ranks (a small dynamic programme, well under a millisecond here).
Only beyond ``EXACT_LIMIT`` observations does it fall back to the normal
approximation with the tie and continuity corrections. Without ties the null
distribution of U depends only on the two sample sizes; it is counted once per
pair of sizes and kept (:func:`null_counts`), which is also what the exact
Hodges-Lehmann interval and the detectable-change estimate read their critical
values from. Written here rather than taken from SciPy: that would add a large
dependency for one function.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

EXACT_LIMIT = 30


@dataclass(frozen=True)
class Result:
    u: float  # U of the first sample: how often one of its values beats one of the second's
    p: float  # two-sided
    exact: bool


def _doubled_midranks(values: Sequence[float]) -> list[int]:
    """Ranks of ``values`` (1-based, ties share the mean rank), doubled to stay integers."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        doubled = (start + 1) + (end + 1)  # twice the mean of ranks start+1 .. end+1
        for k in range(start, end + 1):
            ranks[order[k]] = doubled
        start = end + 1
    return ranks


def _exact_p(ranks: list[int], n1: int, observed: int) -> float:
    """P(|S - E[S]| >= |observed - E[S]|) where S is the sum of n1 ranks drawn at random."""
    # ways[k][s]: number of k-subsets of the ranks seen so far whose sum is s.
    ways: list[dict[int, int]] = [{} for _ in range(n1 + 1)]
    ways[0][0] = 1
    for rank in ranks:
        for k in range(n1, 0, -1):
            target = ways[k]
            for total, count in ways[k - 1].items():
                target[total + rank] = target.get(total + rank, 0) + count
    distribution = ways[n1]
    mean2 = sum(ranks) * n1  # E[S] * len(ranks), kept integral
    n = len(ranks)
    distance = abs(observed * n - mean2)
    extreme = sum(c for s, c in distribution.items() if abs(s * n - mean2) >= distance)
    return min(1.0, extreme / math.comb(n, n1))


def _untied_p(n1: int, n2: int, u: int) -> float:
    counts = null_counts(n1, n2)
    tail = min(u, n1 * n2 - u)
    return min(1.0, 2 * sum(counts[: tail + 1]) / math.comb(n1 + n2, n1))


def _normal_p(ranks: list[int], n1: int, n2: int, u: float) -> float:
    n = n1 + n2
    counts: dict[int, int] = {}
    for r in ranks:
        counts[r] = counts.get(r, 0) + 1
    ties = sum(t**3 - t for t in counts.values())
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    z = (abs(u - n1 * n2 / 2.0) - 0.5) / math.sqrt(variance)
    return min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))


@functools.cache
def null_counts(n1: int, n2: int) -> tuple[int, ...]:
    """``counts[u]``: of the C(n1+n2, n1) equally likely orderings without ties, how many give
    U = u (U: pairs where the first sample's value is the larger), for u = 0 .. n1*n2."""
    if n1 == 0 or n2 == 0:
        return (1,)
    # The largest value is either the first sample's (beating all n2 others) or the second's.
    counts = [0] * (n1 * n2 + 1)
    for u, count in enumerate(null_counts(n1 - 1, n2)):
        counts[u + n2] += count
    for u, count in enumerate(null_counts(n1, n2 - 1)):
        counts[u] += count
    return tuple(counts)


def lower_tail(n1: int, n2: int, c: int) -> float:
    """P(U <= c) without ties: exact up to ``EXACT_LIMIT`` observations, beyond that the
    normal approximation with continuity correction (the exact counts would grow to
    millions of very large integers)."""
    if c < 0:
        return 0.0
    if n1 + n2 > EXACT_LIMIT:
        sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
        return statistics.NormalDist(n1 * n2 / 2.0, sd).cdf(c + 0.5)
    return sum(null_counts(n1, n2)[: c + 1]) / math.comb(n1 + n2, n1)


def critical_u(n1: int, n2: int, level: float) -> int:
    """The largest c with P(U <= c) <= level / 2 without ties (-1 when even U = 0 is too
    likely): the two-sided test gives p <= level exactly when min(U, n1*n2 - U) <= c."""
    if n1 == 0 or n2 == 0:
        return -1
    c = -1
    # The tail grows with c: walk up until it passes level / 2 (a tiny slack for rounding).
    while c + 1 <= n1 * n2 and 2 * lower_tail(n1, n2, c + 1) <= level * (1 + 1e-12):
        c += 1
    return c


def mann_whitney(first: Sequence[float], second: Sequence[float]) -> Result:
    n1, n2 = len(first), len(second)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks = _doubled_midranks([*first, *second])
    rank_sum2 = sum(ranks[:n1])
    u = rank_sum2 / 2.0 - n1 * (n1 + 1) / 2.0
    if n1 + n2 <= EXACT_LIMIT:
        if len(set(ranks)) == len(ranks):
            return Result(u=u, p=_untied_p(n1, n2, round(u)), exact=True)
        return Result(u=u, p=_exact_p(ranks, n1, rank_sum2), exact=True)
    return Result(u=u, p=_normal_p(ranks, n1, n2, u), exact=False)


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value any data with these sample sizes can give."""
    if n1 == 0 or n2 == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))
