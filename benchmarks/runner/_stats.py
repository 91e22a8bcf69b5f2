"""Summaries of a case's repeats: median, spread and stability."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

#: A case whose msgs/s varies more than this (coefficient of variation) is unstable.
UNSTABLE_CV = 0.05


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """``median``, ``min``, ``max`` and ``cv`` (sample stdev / mean; 0 for one value)."""
    if not values:
        return {"median": None, "min": None, "max": None, "cv": None}
    mean = statistics.fmean(values)
    if len(values) < 2 or mean == 0:
        cv = 0.0
    else:
        cv = statistics.stdev(values) / mean
    return {
        "median": float(statistics.median(values)),
        "min": float(min(values)),
        "max": float(max(values)),
        "cv": cv,
    }


def is_unstable(cv: float | None) -> bool:
    return cv is not None and cv > UNSTABLE_CV
