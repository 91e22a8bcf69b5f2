"""A 95% confidence interval for each percentile of an open-loop point (p50, p99, p99.9).

A point is one or more windows (its repeats), each an HDR histogram of latencies, and
the load client's word on how dependent each window's consecutive latencies were
(``clients._dependence``). The percentile itself is read from the windows' histograms
merged (N samples). Its interval is a pair of ranks in that merged sample, read back as
latencies (the lowest value the lower rank's bucket stands for, the highest the upper
rank's: never narrower than the histogram can tell):

* ``order-statistics``, when every window passed Lancet's independence check: the exact
  binomial interval, ranks l and u with P(Binomial(N, q) < l) and P(Binomial(N, q) >= u)
  each at most 2.5% (Lancet's ``get_ci``, without its normal approximation, which fails
  for the p99.9 of a few thousand samples);
* ``batches``, when they were not: the same ranks from N q with the binomial variance
  multiplied by the windows' design effect (batch means of the percentile's indicator:
  how many consecutive messages count as one independent observation), and Student's t
  with one degree of freedom fewer than the batches, since that effect is estimated;
* ``windows``, across windows: with two or more, the share of each window at or under
  the percentile varies from window to window by chance and by whatever changed
  between them (the host included); its spread, with t on windows - 1 degrees of
  freedom, bounds the percentile as a whole. It is the interval given when neither of
  the others applies, and also when the windows disagree more than their own samples
  allow (a chi-square test of their shares, at 1%, against the binomial variance times
  the design effect): then the windows, not the samples, are the unit of evidence.

With neither (one window, dependent samples, too few for batches) there is no interval
(null): the point is undecided and the latency scenario measures it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from echobench.clients._histogram import buckets, merge_encoded, percentiles

CONFIDENCE = 0.95
Z = 1.959963984540054
#: Student's t at 97.5% by degrees of freedom; between entries the next lower one
#: is used (a wider interval).
_T = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021,
    60: 2.000, 120: 1.980,
}  # fmt: skip
QUANTILES = {"p50": 0.5, "p99": 0.99, "p999": 0.999}


def t_quantile(df: int) -> float:
    """Student's t at 97.5% for ``df`` degrees of freedom (tabled; conservative between)."""
    if df < 1:
        raise ValueError("t needs a degree of freedom")
    if df > 120:
        return Z
    return _T[max(k for k in _T if k <= df)]


def binomial_ranks(n: int, q: float, confidence: float = CONFIDENCE) -> tuple[int, int | None]:
    """1-based ranks (l, u) of the order statistics that bracket the q-quantile of ``n``
    independent samples with probability ``confidence`` or more; u is None when even
    the largest sample is not above it often enough (the interval is open upward)."""
    alpha = (1.0 - confidence) / 2
    if n <= 0:
        raise ValueError("no samples")
    sd = math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - 12 * sd - 20))
    hi = min(n, math.ceil(n * q + 12 * sd + 20))
    k = np.arange(lo, hi + 1, dtype=np.float64)
    # log pmf by ratios from the range's start, normalised over the range (the mass
    # outside 12 standard deviations is nothing a double can hold).
    steps = np.log(n - k[:-1]) - np.log(k[:-1] + 1) + math.log(q / (1 - q))
    log_pmf = np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(log_pmf - log_pmf.max())
    pmf /= pmf.sum()
    below = np.cumsum(pmf)  # P(B <= k), B the samples under the quantile
    # l: the largest with P(B < l) = P(B <= l - 1) <= alpha.
    under = k[below <= alpha]
    lower = int(under[-1]) + 1 if under.size else 1
    # u: the smallest with P(B >= u) = 1 - P(B <= u - 1) <= alpha.
    over = k[1.0 - below <= alpha]
    upper = int(over[0]) + 1 if over.size else None
    if upper is not None and upper > n:
        upper = None
    return max(1, lower), upper


def _spread_ranks(n: int, q: float, variance: float, t: float) -> tuple[int, int | None]:
    """Ranks around n q, t standard deviations of the count under the quantile apart."""
    half = t * math.sqrt(variance)
    lower = max(1, math.floor(n * q - half))
    upper = math.ceil(n * q + half) + 1
    return lower, (upper if upper <= n else None)


@dataclass(frozen=True)
class Window:
    """One window (a repeat) of a point: its histogram and what its client said."""

    histogram: str  # HdrHistogram.encode() of its latencies
    dependence: dict[str, Any] | None


@lru_cache(maxsize=4096)
def _decoded(encoded: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return buckets(merge_encoded(encoded))


def _count_at_most(window: str, value: int) -> tuple[int, int]:
    """(samples at or under ``value`` in the window, its samples)."""
    counts, _, high = _decoded((window,))
    return int(counts[high <= value].sum()), int(counts.sum())


def _at_rank(cumulative: np.ndarray, values: np.ndarray, rank: int) -> int:
    return int(values[int(np.searchsorted(cumulative, rank, side="left"))])


def chi2_quantile(df: int, p: float = 0.99) -> float:
    """The chi-square distribution's ``p`` quantile (Wilson and Hilferty's cube)."""
    z = {0.99: 2.326347874040841, 0.975: Z}[p]
    k = float(df)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


@dataclass(frozen=True)
class _Across:
    variance: float  # of the merged count at or under the percentile
    df: int
    disagree: bool  # more spread than the windows' own samples allow


def _across(
    windows: Sequence[Window], value: int, n: int, q: float, effect: float
) -> _Across | None:
    """How the windows' shares at or under ``value`` differ (a ratio estimator of the
    merged count's variance), and whether by more than chance; None for one window."""
    if len(windows) < 2:
        return None
    found = [_count_at_most(w.histogram, value) for w in windows]
    share = sum(c for c, _ in found) / n
    r = len(found)
    spread = sum((c - share * size) ** 2 for c, size in found)
    chance = max(q * (1 - q), share * (1 - share)) * effect
    statistic = sum((c - share * size) ** 2 / (chance * size) for c, size in found)
    return _Across(spread * r / (r - 1), r - 1, statistic > chi2_quantile(r - 1))


def interval(windows: Sequence[Window], name: str) -> dict[str, Any]:
    """The percentile ``name`` (``p50``, ``p99``, ``p999``) of the merged windows, its
    interval [µs] and how it was found: ``{value_us, ci_us, method, windows}``."""
    q = QUANTILES[name]
    merged = tuple(w.histogram for w in windows)
    counts, low, high = _decoded(merged)
    n = int(counts.sum())
    if n == 0:
        return {"value_us": None, "ci_us": None, "method": None, "windows": len(windows)}
    (estimate,) = percentiles(merge_encoded(merged), [q * 100])
    cumulative = np.cumsum(counts)
    deps = [w.dependence for w in windows]
    within: tuple[str, tuple[int, int | None]] | None = None
    effect = 1.0
    if deps and all(d is not None and d.get("independent") for d in deps):
        within = ("order-statistics", binomial_ranks(n, q))
    else:
        effects = [
            (float(d["samples"]), float(d["design_effect"][name]), int(d["batches"]))
            for d in deps
            if d is not None and d.get("batches") and (d.get("design_effect") or {}).get(name)
        ]
        if effects and len(effects) == len(deps):
            # The windows' effects weighed by their samples; t on the batches' freedom.
            effect = sum(s * e for s, e, _ in effects) / sum(s for s, _, _ in effects)
            df = max(1, sum(b for _, _, b in effects) - 1)
            ranks = _spread_ranks(n, q, effect * n * q * (1 - q), t_quantile(df))
            within = ("batches", ranks)
    across = _across(windows, estimate, n, q, effect)
    chosen = within
    if across is not None and (within is None or across.disagree):
        # Never narrower than independent samples would be: a handful of windows can
        # agree closely by chance.
        variance = max(across.variance, n * q * (1 - q))
        chosen = ("windows", _spread_ranks(n, q, variance, t_quantile(across.df)))
    if chosen is None:
        return {"value_us": estimate / 1e3, "ci_us": None, "method": None, "windows": len(windows)}
    method, (lower, upper) = chosen
    lo = _at_rank(cumulative, low, lower)
    hi = None if upper is None else _at_rank(cumulative, high, upper)
    return {
        "value_us": estimate / 1e3,
        "ci_us": [lo / 1e3, None if hi is None else hi / 1e3],
        "method": method,
        "windows": len(windows),
    }


def point_intervals(windows: Sequence[Window]) -> dict[str, Any]:
    """Every percentile with its interval: ``{p50_us, p50_ci_us, p99_us, ...,
    ci_method}`` (``ci_method`` per percentile; an interval is [low, high], high null
    when open; all null without samples)."""
    found: dict[str, Any] = {"windows": len(windows), "ci_method": {}}
    for name in QUANTILES:
        result = interval(windows, name) if windows else {"value_us": None, "ci_us": None}
        value = result["value_us"]
        found[f"{name}_us"] = None if value is None else round(value, 3)
        found[f"{name}_ci_us"] = _rounded(result["ci_us"])
        found["ci_method"][name] = result.get("method")
    return found


def _rounded(pair: list[float | None] | None) -> list[float | None] | None:
    if pair is None:
        return None
    return [None if v is None else round(v, 3) for v in pair]


def windows_of(repeats: Sequence[dict[str, Any]]) -> list[Window]:
    """The windows of a case's repeats that recorded latency."""
    found = []
    for repeat in repeats:
        load = repeat.get("load") or {}
        histogram = load.get("histogram") or {}
        if histogram.get("data"):
            found.append(Window(str(histogram["data"]), load.get("latency_dependence")))
    return found
