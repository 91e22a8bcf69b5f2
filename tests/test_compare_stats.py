"""compare's statistics on seeded synthetic repeats: the correction keeps false alarms at the
nominal rate, a real change is found at the advertised power, and the interval, the
correction and the rank test's null distribution match SciPy's reference computations."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest
import scipy.stats

from echobench.benchmarks.compare._comparison import (
    CHANGED,
    NOT_ENOUGH,
    WITHIN_NOISE,
    Comparison,
    Criteria,
    judge,
    pair,
)
from echobench.benchmarks.compare._correction import adjust
from echobench.benchmarks.compare._detectable import Rule
from echobench.benchmarks.compare._effect import best_confidence, ratio_interval
from echobench.benchmarks.compare._mannwhitney import critical_u, mann_whitney, null_counts
from echobench.benchmarks.compare._runview import CaseView, Repeat


def synthetic_case(
    name: str, rates: Sequence[float], p99s: Sequence[float] | None = None
) -> CaseView:
    latencies = list(p99s) if p99s is not None else [None] * len(rates)
    repeats = tuple(
        Repeat(
            messages_per_second=rate,
            p99_us=p99,
            messages=None,
            server_cpu_seconds=None,
            server_cores_used=None,
            per_second=(),
            histogram=None,
            verdict="server",
        )
        for rate, p99 in zip(rates, latencies, strict=True)
    )
    return CaseView(
        id=f"{name}/tcp/64B/1c/closed",
        backend=name,
        family="asyncio",
        transport="tcp",
        size=64,
        connections=1,
        rate=None,
        mode="closed",
        status="ok",
        error=None,
        stderr_tail=None,
        repeats=repeats,
        summary={},
    )


def draw(rng: random.Random, n: int, sigma: float, scale: float = 1.0) -> list[float]:
    return [scale * 50_000 * rng.lognormvariate(0.0, sigma) for _ in range(n)]


def table_of(
    rng: random.Random, cases: int, n: int, sigma: float, shift: float = 1.0
) -> Comparison:
    comparison = Comparison("a", "b")
    for index in range(cases):
        a = synthetic_case(f"c{index}", draw(rng, n, sigma), draw(rng, n, sigma * 3))
        b = synthetic_case(f"c{index}", draw(rng, n, sigma, shift), draw(rng, n, sigma * 3))
        comparison.pairs.append(pair(a, b))
    return comparison


# --- the false-alarm rate over whole tables --------------------------------------------


@pytest.mark.parametrize("correction", ["bh", "holm"])
def test_corrected_false_alarm_rate_stays_at_the_nominal_rate(correction: str) -> None:
    # 300 A/A tables of 10 cases x 2 metrics (20 tests), 8 repeats a side: a table "cries
    # wolf" when it calls anything. Threshold 0 leaves the correction alone to do the work.
    rng = random.Random(1401)
    settings = Criteria(correction=correction, threshold=0.0)
    raw = Criteria(correction="none", threshold=0.0)
    trials, corrected, uncorrected = 300, 0, 0
    for _ in range(trials):
        comparison = table_of(rng, 10, 8, 0.03)
        corrected += judge([comparison], settings, detect=False).changed > 0
        uncorrected += judge([comparison], raw, detect=False).changed > 0
    tolerance = 3 * math.sqrt(0.05 * 0.95 / trials)
    assert corrected / trials <= 0.05 + tolerance
    # Without correction the same tables cry wolf most of the time (1 - 0.95^20 = 64%):
    # the check above is not one that cannot fail.
    assert uncorrected / trials > 0.4


def test_a_known_five_percent_shift_is_called_at_the_advertised_power() -> None:
    n, sigma = 10, 0.02
    settings = Criteria()
    rule = Rule(settings.alpha, settings.confidence, settings.threshold)
    advertised = rule.power(0.05, n, n, sigma)
    assert 0.7 < advertised < 0.95
    rng = random.Random(1402)
    trials = 400
    called = 0
    for _ in range(trials):
        a = synthetic_case("x", draw(rng, n, sigma))
        b = synthetic_case("x", draw(rng, n, sigma, 1.05))
        table = judge([Comparison("a", "b", [pair(a, b)])], settings, detect=False)
        assert table.tests == 1
        called += table.comparisons[0].pairs[0].throughput.verdict == CHANGED
    assert abs(called / trials - advertised) <= 3 * math.sqrt(0.25 / trials)
    # The detectable change is where the power reaches 80%, a little beyond 5% here.
    detectable = rule.detectable(n, n, sigma)
    assert detectable is not None and 0.04 < detectable < 0.055
    assert rule.power(detectable, n, n, sigma) == pytest.approx(0.8, abs=0.01)


def test_detectable_change_grows_with_noise_and_shrinks_with_repeats() -> None:
    def at(n: int, sigma: float) -> float:
        value = Rule(0.05, 0.95, 0.02).detectable(n, n, sigma)
        assert value is not None
        return value

    assert at(6, 0.01) < at(6, 0.03) < at(6, 0.06)
    assert at(10, 0.03) < at(6, 0.03) < at(4, 0.03)
    # Never below the noise band: a change inside it is never called.
    assert at(30, 0.001) > 0.02


def test_three_against_three_cannot_reach_five_percent_and_says_so() -> None:
    # Smallest p of an exact two-sided test with 3 vs 3 repeats: 2 / C(6, 3) = 0.1.
    assert Rule(0.05, 0.95, 0.02).detectable(3, 3, 0.01) is None
    a = synthetic_case("x", [100.0, 101.0, 102.0])
    b = synthetic_case("x", [200.0, 201.0, 202.0])
    effect = judge([Comparison("a", "b", [pair(a, b)])]).comparisons[0].pairs[0].throughput
    assert effect.verdict == NOT_ENOUGH and effect.interval.low is None
    assert "p >= 0.1" in effect.short() and "no change can be called" in effect.could_see()
    # The range, the widest interval there is, has confidence 1 - 0.1 = 90%.
    assert best_confidence(3, 3) == pytest.approx(0.9)


def test_a_significant_change_inside_the_noise_band_is_not_called() -> None:
    rng = random.Random(1403)
    a = synthetic_case("x", draw(rng, 12, 0.001))
    b = synthetic_case("x", draw(rng, 12, 0.001, 1.005))
    pairs = [pair(a, b)]
    table = judge([Comparison("a", "b", pairs)])
    effect = table.comparisons[0].pairs[0].throughput
    assert effect.p is not None and effect.p < 0.001
    assert effect.verdict == WITHIN_NOISE and not effect.significant
    assert judge([Comparison("a", "b", pairs)], Criteria(threshold=0.0)).changed == 1


def test_the_correction_counts_every_test_of_every_comparison() -> None:
    rng = random.Random(1404)
    comparisons = [table_of(rng, 5, 6, 0.02), table_of(rng, 4, 6, 0.02, 1.2)]
    table = judge(comparisons)
    assert table.tests == 18
    assert all(e.level == pytest.approx(0.05 / 18) for _, _, e in table.effects())
    shifted = [e for c, _, e in table.effects() if c is table.comparisons[1]]
    # 20% faster with 2% noise and 6 repeats: called even after correcting over 18 tests.
    assert sum(e.verdict == CHANGED for e in shifted if e.metric == "messages_per_second") == 4
    doc = table.as_json()
    assert doc["tests"] == 18 and doc["correction"] == "bh"
    entry = doc["comparisons"][0]
    assert set(entry) >= {"case", "metric", "ratio", "ci", "p", "p_adjusted", "significant"}


# --- reference computations -------------------------------------------------------------


def test_adjusted_p_values_match_the_references() -> None:
    rng = np.random.default_rng(1405)
    p = [*(float(x) for x in rng.uniform(0, 0.2, 30)), 0.0001, 0.001, 0.02, 1.0]
    assert adjust(p, "bh") == pytest.approx(list(scipy.stats.false_discovery_control(p)))
    # Holm by its definition: the largest (m - rank + 1) p over all p at or below this one.
    m = len(p)
    ranked = sorted(p)
    holm = [min(1.0, max((m - k) * ranked[k] for k in range(m) if ranked[k] <= x)) for x in p]
    assert adjust(p, "holm") == pytest.approx(holm)
    assert adjust(p, "none") == p


def test_null_distribution_and_exact_p_match_scipy() -> None:
    rng = random.Random(1406)
    for n1, n2 in [(3, 3), (4, 6), (8, 8), (10, 7)]:
        assert sum(null_counts(n1, n2)) == math.comb(n1 + n2, n1)
        a = [rng.gauss(0, 1) for _ in range(n1)]
        b = [rng.gauss(0.8, 1) for _ in range(n2)]
        reference = scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="exact")
        assert mann_whitney(a, b).p == pytest.approx(reference.pvalue)


def test_hodges_lehmann_interval_matches_scipy_test_inversion() -> None:
    # The interval must be exactly the set of ratios r for which the exact rank test of
    # A against B / r does not reject: inside it p > alpha, just outside it p <= alpha.
    a = [48_210.0, 50_034.0, 49_120.0, 51_377.0, 49_842.0, 50_511.0, 48_960.0]
    b = [52_004.0, 53_410.0, 51_222.0, 54_870.0, 52_640.0, 53_002.0]
    interval = ratio_interval(a, b, 0.95)
    assert interval.low is not None and interval.high is not None
    assert interval.estimate == pytest.approx(
        math.exp(float(np.median(np.log(np.array(b))[:, None] - np.log(np.array(a))[None, :])))
    )

    def p_at(r: float) -> float:
        result = scipy.stats.mannwhitneyu(
            a, [y / r for y in b], alternative="two-sided", method="exact"
        )
        return float(result.pvalue)

    alpha = 1 - 0.95
    for end in (interval.low, interval.high):
        assert p_at(end * 1.000001) > alpha or p_at(end / 1.000001) > alpha
    assert p_at(interval.low / 1.0001) <= alpha
    assert p_at(interval.high * 1.0001) <= alpha
    assert p_at(interval.low * 1.0001) > alpha and p_at(interval.high / 1.0001) > alpha
    # Its stated confidence is the exact one: 1 - P(U <= c) - P(U >= mn - c).
    c = critical_u(len(a), len(b), 0.05)
    tail = sum(null_counts(len(a), len(b))[: c + 1]) / math.comb(13, 7)
    assert interval.confidence == pytest.approx(1 - 2 * tail)
    assert interval.confidence is not None and interval.confidence >= 0.95


def test_large_samples_use_the_normal_tail_and_agree_with_the_exact_one() -> None:
    # Beyond 30 observations the critical values come from the normal approximation, not
    # from exact counts that would grow to millions of huge integers.
    for n1, n2 in [(20, 20), (18, 22)]:
        counts = null_counts(n1, n2)
        total = math.comb(n1 + n2, n1)
        exact = max(u for u in range(len(counts)) if 2 * sum(counts[: u + 1]) <= 0.05 * total)
        assert abs(critical_u(n1, n2, 0.05) - exact) <= 1
    rng = random.Random(1409)
    a = draw(rng, 40, 0.03)
    b = draw(rng, 40, 0.03, 1.1)
    interval = ratio_interval(a, b)
    assert interval.low is not None and interval.high is not None
    assert interval.low < 1.1 < interval.high and interval.confidence == pytest.approx(
        0.95, abs=0.01
    )
