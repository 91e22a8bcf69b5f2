"""The numpy paths over ``hdrh``'s counters give exactly what ``hdrh``'s own methods give.

The load client's parent merges, logs and summarizes an interval every second on a CPU it
shares with a worker, so these paths replace ``hdrh``'s Python loops over all 33,792
counters (milliseconds each); here they are held to the same answers, on random data and
on the edges of the histogram's range.
"""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from echobench.clients._histogram import (
    Counts,
    SampleCounts,
    add_counts,
    clear,
    counters,
    moments,
    new_histogram,
    percentiles,
    summarize,
)
from echobench.clients._intervals import Intervals
from echobench.clients._load_schema import HIST_HIGHEST_NS

EDGES = [0, 1, 2047, 2048, 2049, 4095, 4096, HIST_HIGHEST_NS, HIST_HIGHEST_NS + 1, 2**42 + 5]
PERCENTILES = [0, 1, 25, 50, 90, 99, 99.9, 99.99, 100]


def _samples(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(rng.uniform(2, 22), rng.uniform(0.1, 3), int(rng.integers(1, 5000)))
    return np.concatenate([values.astype(np.int64), EDGES if seed % 2 else []]).astype(np.int64)


def _one_by_one(values: np.ndarray) -> tuple[HdrHistogram, int]:
    histogram = new_histogram()
    missed = sum(0 if histogram.record_value(v) else 1 for v in values.tolist())
    return histogram, missed


def _same(a: HdrHistogram, b: HdrHistogram) -> None:
    assert np.array_equal(counters(a), counters(b))
    assert (a.total_count, a.get_min_value(), a.get_max_value()) == (
        b.total_count,
        b.get_min_value(),
        b.get_max_value(),
    )


@pytest.mark.parametrize("seed", range(8))
def test_counts_flushed_equal_recording_one_by_one(seed: int) -> None:
    values = _samples(seed)
    expected, missed = _one_by_one(values)
    counts = SampleCounts()
    counts.add(values[: values.size // 2])
    counts.add(values[values.size // 2 :])
    histogram = new_histogram()
    assert counts.flush_into(histogram) == missed
    _same(histogram, expected)
    assert counts.total() == 0 and counts.take().keys.size == 0


@pytest.mark.parametrize("seed", range(8))
def test_percentiles_and_moments_equal_hdrh(seed: int) -> None:
    histogram, _ = _one_by_one(_samples(seed))
    assert percentiles(histogram, PERCENTILES) == [
        histogram.get_value_at_percentile(p) for p in PERCENTILES
    ]
    mean, stdev = moments(histogram)
    assert mean == histogram.get_mean_value()
    assert stdev == pytest.approx(histogram.get_stddev(), rel=1e-12)
    assert percentiles(new_histogram(), [50, 99]) == [0, 0]
    assert moments(new_histogram()) == (0.0, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_snapshots_added_equal_their_samples(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    parts: list[Counts] = []
    every: list[np.ndarray] = [np.array([-3], dtype=np.int64)]
    for _ in range(int(rng.integers(1, 4))):
        values = _samples(int(rng.integers(0, 1000)))
        one = SampleCounts()
        one.add(values)
        parts.append(one.take())
        every.append(values)
    parts.append(Counts(np.zeros(0, np.uint16), np.zeros(0, np.uint32), negative=1))
    expected, missed = _one_by_one(np.concatenate(every))
    histogram = new_histogram()
    histogram.record_value(123_456)
    clear(histogram)  # reused, as the parent reuses one histogram for every interval
    assert add_counts(histogram, parts) == missed
    _same(histogram, expected)


def test_clear_empties_as_reset_does() -> None:
    histogram, _ = _one_by_one(_samples(1))
    clear(histogram)
    fresh = new_histogram()
    fresh.reset()
    assert not counters(histogram).any()
    assert vars(histogram).keys() == vars(fresh).keys()
    for name in ("total_count", "min_value", "max_value", "start_time_stamp_msec"):
        assert getattr(histogram, name) == getattr(fresh, name)


def test_the_parent_never_walks_every_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    """An interval merged, logged and summarized calls none of hdrh's whole-array loops."""

    def walked(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Python loop over every counter")

    for name in ("reset", "get_value_at_percentile", "get_mean_value", "get_stddev", "add"):
        monkeypatch.setattr(HdrHistogram, name, walked)
    seen: list[dict[str, float] | None] = []
    intervals = Intervals(2, 0, sink=lambda i, s, h: seen.append(summarize(h)))
    for index in range(3):
        for worker in range(2):
            counts = SampleCounts()
            counts.add(_samples(10 * index + worker))
            intervals.add(index, counts.take(), index * 10**9, (index + 1) * 10**9)
    assert [s is not None and s["count"] > 0 for s in seen] == [True] * 3
    assert intervals.summary(1.0)["max_cpu_us"] > 0
