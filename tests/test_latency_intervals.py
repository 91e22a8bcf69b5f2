"""The percentiles' confidence intervals, over many synthetic windows with known quantiles.

Independent samples must get intervals that cover the true p99 at their nominal 95%;
autocorrelated ones must not get the falsely narrow interval the binomial one would be
(the load client's dependence check sends them to batch means); windows that disagree
widen the interval; one dependent window too short for batches gets none.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal, stats

from echobench.benchmarks.runner._quantiles import (
    Window,
    binomial_ranks,
    interval,
    point_intervals,
    t_quantile,
)
from echobench.clients._dependence import dependence
from echobench.clients._histogram import encode, new_histogram, record_batch

THETA = 50_000.0  # ns


def window(samples: np.ndarray) -> Window:
    histogram = new_histogram()
    record_batch(histogram, samples)
    return Window(encode(histogram), dependence(samples))


def covers(ci: list[float | None] | None, true_ns: float) -> bool:
    if ci is None:
        return False
    low, high = ci
    assert low is not None
    return low * 1e3 <= true_ns and (high is None or true_ns <= high * 1e3)


@pytest.mark.parametrize(("n", "q"), [(20, 0.5), (1500, 0.99), (1500, 0.999), (100_000, 0.99)])
def test_binomial_ranks_are_the_exact_binomial_ones(n: int, q: float) -> None:
    lower, upper = binomial_ranks(n, q)
    # Each tail at most 2.5%, and one rank further in would break it.
    assert stats.binom.cdf(lower - 1, n, q) <= 0.025 < stats.binom.cdf(lower, n, q)
    if upper is None:
        assert stats.binom.sf(n - 1, n, q) > 0.025  # even the largest sample is not enough
    else:
        assert stats.binom.sf(upper - 1, n, q) <= 0.025 < stats.binom.sf(upper - 2, n, q)
    assert t_quantile(1) == pytest.approx(stats.t.ppf(0.975, 1), abs=1e-3)
    assert t_quantile(13) >= stats.t.ppf(0.975, 13)  # between table entries: wider


def test_independent_samples_are_covered_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(20)
    true = THETA * math.log(100)  # the exponential's p99
    trials = 1000
    hits = 0
    methods = set()
    for _ in range(trials):
        found = interval([window(rng.exponential(THETA, 2000).astype(np.int64) + 1)], "p99")
        hits += covers(found["ci_us"], true)
        methods.add(found["method"])
    # 95% nominal; three binomial standard deviations of 1,000 trials either side.
    assert 0.929 <= hits / trials <= 0.971, hits / trials
    assert "order-statistics" in methods


def ar1(rng: np.random.Generator, rho: float, n: int) -> np.ndarray:
    noise = rng.normal(size=n + 500)
    walk = signal.lfilter([1.0], [1.0, -rho], noise)[500:]
    return (THETA * np.exp(0.5 * walk)).astype(np.int64)


def test_autocorrelated_samples_get_no_falsely_narrow_interval() -> None:
    rng = np.random.default_rng(21)
    rho, n = 0.9, 10_000
    true = THETA * math.exp(0.5 * stats.norm.ppf(0.99) / math.sqrt(1 - rho**2))
    trials = 300
    ours = naive = 0
    for _ in range(trials):
        samples = ar1(rng, rho, n)
        found = window(samples)
        assert found.dependence is not None and found.dependence["independent"] is False
        ours += covers(interval([found], "p99")["ci_us"], true)
        lower, upper = binomial_ranks(n, 0.99)
        ordered = np.sort(samples)
        naive += ordered[lower - 1] <= true <= ordered[(upper or n) - 1]
    # The binomial interval pretends the 10,000 samples are independent: it misses half
    # the time. Batch means over the window keep close to the nominal 95%.
    assert naive / trials < 0.7
    assert ours / trials >= 0.88, (ours / trials, naive / trials)


def test_windows_that_disagree_widen_the_interval() -> None:
    rng = np.random.default_rng(22)
    calm = [rng.exponential(THETA, 20_000).astype(np.int64) + 1 for _ in range(4)]
    noisy = [rng.exponential(2 * THETA, 20_000).astype(np.int64) + 1 for _ in range(4)]
    agreeing = interval([window(s) for s in calm], "p99")
    mixed = interval([window(s) for s in (*calm, *noisy)], "p99")
    # Windows that agree as their samples allow: the binomial interval over all of them.
    assert agreeing["method"] == "order-statistics"
    assert mixed["method"] == "windows" and mixed["windows"] == 8
    low, high = mixed["ci_us"]
    assert low is not None and high is not None
    # It covers the mixture's true p99 (half the time one server, half the other) ...
    grid = np.linspace(THETA, 20 * THETA, 200_000)
    tail = 0.5 * np.exp(-grid / THETA) + 0.5 * np.exp(-grid / (2 * THETA))
    true = float(grid[np.argmax(tail <= 0.01)])
    assert low * 1e3 <= true <= high * 1e3
    # ... and is wider, for its value, than the samples alone would make it.
    calm_low, calm_high = agreeing["ci_us"]
    assert (high - low) / mixed["value_us"] > 3 * (calm_high - calm_low) / agreeing["value_us"]


def test_one_window_too_dependent_for_batches_gets_no_interval() -> None:
    rng = np.random.default_rng(23)
    samples = ar1(rng, 0.9995, 5_000)  # correlated beyond Lancet's longest lag
    found = window(samples)
    assert found.dependence is not None and found.dependence["lag"] is None
    intervals = point_intervals([found])
    assert intervals["p99_ci_us"] is None and intervals["ci_method"]["p99"] is None
    # A second window gives one, across the two.
    again = point_intervals([found, window(ar1(rng, 0.9995, 5_000))])
    assert again["ci_method"]["p99"] == "windows" and again["p99_ci_us"] is not None
