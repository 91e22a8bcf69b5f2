"""How dependent a window's consecutive latencies are: what a percentile's interval may assume.

An interval for a percentile from order statistics assumes independent samples. On
a server with a queue they are not: a message that waited makes the next one wait,
so a window holds fewer independent observations than messages, and the binomial
interval over all of them is too narrow. Two figures, from a window's raw samples in
the order they were recorded (an open loop recorded whole, ``_recorder``):

* Lancet's check (USENIX ATC '19, and its released ``check_iid``): Spearman's rank
  correlation of each latency with the next. Independent when its z (r times the
  square root of n - 1, normal under independence) stays under ``Z_INDEPENDENT``;
  else the shortest of Lancet's lags at which the correlation has died away
  (``lag``; none within 1,000 samples: ``None``).
* The batch-means design effect of each percentile's indicator: the window cut into
  ``BATCHES`` runs of consecutive samples, each at least ``LAGS_PER_BATCH`` lags long;
  the share of each batch at or under the window's own percentile; the variance of
  those shares against the binomial one, ``p(1 - p) / batch``. It is how many
  messages count as one independent observation there (1 for independent samples),
  and it is what an interval across windows needs (``benchmarks.runner._quantiles``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Lancet's lags, in samples, after the first.
LAGS = (1, 2, 5, 10, 25, 50, 100, 200, 500, 1000)
#: |z| under which a lag's correlation counts as none: two-sided p of 0.27%.
Z_INDEPENDENT = 3.0
#: The percentiles the design effect is given for, by name.
QUANTILES = {"p50": 0.5, "p99": 0.99, "p999": 0.999}
#: Batches the design effect aims for, the fewest it accepts, and how many lags of
#: correlation a batch must span so that neighbouring batches are nearly independent.
BATCHES = 20
MIN_BATCHES = 5
LAGS_PER_BATCH = 10
#: Fewer samples than this say nothing about their dependence.
MIN_SAMPLES = 200


def _lag_z(ranks: np.ndarray, lag: int) -> float:
    """z of the correlation between ranks ``lag`` apart (0 when either side is constant)."""
    a, b = ranks[:-lag], ranks[lag:]
    a = a - a.mean()
    b = b - b.mean()
    scale = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if scale == 0.0:
        return 0.0
    return float(np.dot(a, b)) / scale * math.sqrt(a.size - 1)


def _design_effect(samples: np.ndarray, q: float, batch: int, count: int) -> float | None:
    level = np.quantile(samples, q, method="inverted_cdf")
    shares = (samples[: count * batch] <= level).reshape(count, batch).mean(axis=1)
    share = float(shares.mean())
    binomial = share * (1.0 - share)
    if binomial == 0.0:
        return None
    # Never below 1: a batch spread narrower than chance is chance, not evidence.
    return max(1.0, batch * float(shares.var(ddof=1)) / binomial)


def dependence(samples: np.ndarray) -> dict[str, Any]:
    """Lancet's check and the design effects of ``samples`` (ns, in recorded order)."""
    n = int(samples.size)
    found: dict[str, Any] = {
        "samples": n,
        "spearman_z": None,
        "independent": None,
        "lag": None,
        "batches": None,
        "batch_samples": None,
        "design_effect": dict.fromkeys(QUANTILES),
    }
    if n < MIN_SAMPLES:
        return found
    order = np.argsort(samples, kind="stable")
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, dtype=np.float64)
    z = _lag_z(ranks, 1)
    independent = abs(z) < Z_INDEPENDENT
    lag: int | None = 1
    if not independent:
        lag = next(
            (k for k in LAGS[1:] if 4 * k < n and abs(_lag_z(ranks, k)) < Z_INDEPENDENT), None
        )
    batch = max(n // BATCHES, LAGS_PER_BATCH * (lag or 10 * LAGS[-1]))
    count = n // batch
    found.update(spearman_z=round(z, 3), independent=independent, lag=lag)
    if count >= MIN_BATCHES:
        found.update(batches=count, batch_samples=batch)
        found["design_effect"] = {
            name: _round(_design_effect(samples, q, batch, count)) for name, q in QUANTILES.items()
        }
    return found


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The workers' figures as one: independent only if every worker's samples were, the
    longest lag, and each percentile's largest design effect (the least flattering)."""
    if not parts:
        return None
    known = [p for p in parts if p["independent"] is not None]
    effects: dict[str, float | None] = {}
    for name in QUANTILES:
        values = [p["design_effect"][name] for p in parts]
        effects[name] = None if any(v is None for v in values) else max(values)
    lags = [p["lag"] for p in known]
    return {
        "samples": sum(p["samples"] for p in parts),
        "spearman_z": max((abs(p["spearman_z"]) for p in known), default=None),
        "independent": all(p["independent"] for p in known) if len(known) == len(parts) else None,
        "lag": None if not lags or any(lag is None for lag in lags) else max(lags),
        "batches": sum(p["batches"] or 0 for p in parts) or None,
        "batch_samples": min(
            (p["batch_samples"] for p in parts if p["batch_samples"]), default=None
        ),
        "design_effect": effects,
    }
