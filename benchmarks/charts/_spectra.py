"""Latency spectra from the stored HDR histograms.

Repeats are merged with the histogram's own ``decode_and_add`` (percentiles are
never averaged), then read back at percentiles spaced evenly in "nines".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from echobench.servers._errors import UserError

# x = 1 / (1 - p): 2 is the median, 10_000 is 99.99%.
LOWEST_NINES = 2.0
HIGHEST_NINES = 10_000.0
NINES_TICKS = {2.0: "50%", 10.0: "90%", 100.0: "99%", 1_000.0: "99.9%", 10_000.0: "99.99%"}
_UNIT_TO_US = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}


def merge(histograms: Iterable[dict[str, Any]]) -> tuple[HdrHistogram, float] | None:
    """Merge stored histograms; return it and the factor that turns its values into µs."""
    stored = [h for h in histograms if h and h.get("data")]
    if not stored:
        return None
    units = {str(h.get("unit", "ns")) for h in stored}
    if len(units) != 1 or next(iter(units)) not in _UNIT_TO_US:
        raise UserError(f"histograms use units {sorted(units)}; cannot merge them")
    merged = HdrHistogram(
        int(min(h.get("lowest", 1) for h in stored)),
        int(max(h.get("highest", 3_600_000_000_000) for h in stored)),
        int(max(h.get("significant_figures", 3) for h in stored)),
    )
    for h in stored:
        data = h["data"]
        try:
            merged.decode_and_add(data.encode("ascii") if isinstance(data, str) else data)
        except Exception as exc:  # hdrh raises several types for a damaged payload
            raise UserError(f"a stored latency histogram cannot be decoded: {exc}") from None
    return merged, _UNIT_TO_US[next(iter(units))]


def spectrum(
    histograms: Iterable[dict[str, Any]], points: int = 80
) -> tuple[np.ndarray, np.ndarray] | None:
    """(nines, latency in µs) from 50% to 99.99%, or None when nothing was recorded.

    The curve stops at the highest percentile the merged count can resolve, so
    a short run does not pretend to know its 99.99th percentile.
    """
    merged = merge(histograms)
    if merged is None:
        return None
    histogram, to_us = merged
    total = histogram.get_total_count()
    if total == 0:
        return None
    top = min(HIGHEST_NINES, max(LOWEST_NINES * 1.01, float(total)))
    nines = np.geomspace(LOWEST_NINES, top, points)
    percentiles = 100.0 * (1.0 - 1.0 / nines)
    # One pass over the buckets for every percentile: the same values as asking for each
    # in turn, which walks the whole histogram 80 times (seconds for an 18-backend run).
    wanted = [float(p) for p in percentiles]
    found = histogram.get_percentile_to_value_dict(wanted)
    values = np.array([found[p] for p in wanted], dtype=float)
    return nines, values * to_us


def percentiles(
    histograms: Iterable[dict[str, Any]], wanted: Sequence[float]
) -> list[float] | None:
    """The ``wanted`` percentiles [µs] of the merged histograms, or None without any."""
    merged = merge(histograms)
    if merged is None or merged[0].get_total_count() == 0:
        return None
    histogram, to_us = merged
    return [histogram.get_value_at_percentile(p) * to_us for p in wanted]
