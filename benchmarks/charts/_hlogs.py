"""Latency over time, read back from the HdrHistogram interval logs a run keeps.

``echobench run`` has every repeat's load client write an interval log
(``echobench load --hlog``) into a folder beside the results file, and records its
path, relative to that file's folder, in the repeat (``runner._results_schema``). Here
a log is read with ``hdrh``'s own ``HistogramLogReader``, and each interval
summarised: its start and length (seconds from the log's base time, the measured
window's opening), p50, p99 and max (microseconds) and its sample count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from echobench.clients._histogram import new_histogram


@dataclass(frozen=True)
class Interval:
    start_s: float
    length_s: float
    count: int
    p50_us: float | None
    p99_us: float | None
    max_us: float | None


def _us(ns: float) -> float:
    return float(ns) / 1e3


def histograms(path: str | Path) -> Iterator[tuple[float, float, HdrHistogram]]:
    """Each interval's start and length (s, from the log's base time) and its histogram
    (ns); ``OSError``/``ValueError`` when the log is unreadable."""
    reader = HistogramLogReader(str(path), new_histogram())
    try:
        while (histogram := reader.get_next_interval_histogram()) is not None:
            start = histogram.get_start_time_stamp() / 1e3 - reader.base_time_sec
            length = (histogram.get_end_time_stamp() - histogram.get_start_time_stamp()) / 1e3
            yield round(start, 6), round(length, 6), histogram
    finally:
        reader.close()


def read_intervals(path: str | Path) -> list[Interval]:
    """The intervals of one log, summarised, in order."""
    intervals = []
    for start, length, histogram in histograms(path):
        count = int(histogram.get_total_count())
        intervals.append(
            Interval(
                start_s=start,
                length_s=length,
                count=count,
                p50_us=_us(histogram.get_value_at_percentile(50)) if count else None,
                p99_us=_us(histogram.get_value_at_percentile(99)) if count else None,
                max_us=_us(histogram.get_max_value()) if count else None,
            )
        )
    return intervals


def log_path(results: str | Path, relative: str) -> Path:
    """Where a repeat's ``hlog`` reference points, from the results file's path."""
    return Path(results).resolve().parent / relative
