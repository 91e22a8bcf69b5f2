"""Latency histograms: batched recording off the hot path, exact merging, summaries.

The hot path appends raw nanosecond samples to an ``array('q')``. Here a batch is
quantized with numpy to exactly the value HDR's own indexing would map it to (the
lowest equivalent value of its sub-bucket) and counted per sub-bucket
(``SampleCounts``); sparse snapshots of those counts (``Counts``) travel between
processes and add up exactly, and are written into an ``HdrHistogram``'s counters
directly. The histogram ends in the same state as recording every sample one by one
with ``record_value`` (~0.75 us each in pure Python).

``hdrh`` itself is pure Python and walks all 33,792 counters for a reset, a percentile,
the mean or the deviation: about 2.5 ms each here. The load client's parent used to do
this every interval on a CPU it shares with a worker, so those milliseconds became the
worker's send lag, charged to the server as latency. So the counters are read and
written here as one numpy view of ``hdrh``'s own array (``counters``), with the same
results as its methods (``tests/test_histogram.py``).
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.ctypeslib  # imported lazily by numpy: not in the first interval
from hdrh.histogram import HdrHistogram

from echobench.clients._load_schema import HIST_HIGHEST_NS, HIST_LOWEST_NS, HIST_SIGNIFICANT_FIGURES

# With lowest=1 (unit magnitude 0) and 3 significant figures a sub-bucket holds 2048
# values, so a value keeps its top 11 bits: HDR's bucket index for v is
# max(0, bit_length(v) - 11), and v maps to (v >> shift) << shift.
_SUB_BUCKET_BITS = 11
_HALF_BITS = _SUB_BUCKET_BITS - 1


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HIST_LOWEST_NS, HIST_HIGHEST_NS, HIST_SIGNIFICANT_FIGURES)


def _standard(histogram: HdrHistogram) -> bool:
    return bool(
        histogram.unit_magnitude == 0 and histogram.sub_bucket_count == 1 << _SUB_BUCKET_BITS
    )


def _check_geometry(histogram: HdrHistogram) -> None:
    # The quantization below is only exact for this geometry; fail loudly if it changes.
    if not _standard(histogram):
        raise AssertionError("histogram geometry differs from what quantize() assumes")


def counters(histogram: HdrHistogram) -> np.ndarray:
    """``histogram``'s own counters as a numpy view: a write here is a write there."""
    return np.ctypeslib.as_array(histogram.counts)


def clear(histogram: HdrHistogram) -> None:
    """``histogram.reset()``, without a Python loop over every counter.

    Only the counters between the smallest and largest value recorded can be nonzero
    (every way of recording keeps ``min_value`` and ``max_value``), so only they are
    zeroed: an interval's few thousand, not all 33,792.
    """
    view = counters(histogram)
    if histogram.total_count:
        low = histogram.get_counts_array_index(min(histogram.min_value, histogram.max_value))
        high = histogram.get_counts_array_index(histogram.max_value) + 1
        view[max(0, low) : min(view.size, high)] = 0
    histogram.total_count = 0
    histogram.min_value = sys.maxsize
    histogram.max_value = 0
    histogram.start_time_stamp_msec = sys.maxsize
    histogram.end_time_stamp_msec = 0


def _lowest(index: np.ndarray) -> np.ndarray:
    """The lowest value each counter index stands for (``get_value_from_index``)."""
    bucket = np.maximum((index >> _HALF_BITS) - 1, 0)
    first = index >> _SUB_BUCKET_BITS == 0  # bucket 0 spans indices 0..2047, unit steps
    sub = np.where(first, index, (index & ((1 << _HALF_BITS) - 1)) + (1 << _HALF_BITS))
    return sub << bucket


def _width(index: np.ndarray) -> np.ndarray:
    """How many values each counter index stands for."""
    return np.int64(1) << np.maximum((index >> _HALF_BITS) - 1, 0)


def buckets(histogram: HdrHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counters that hold samples: their counts, and the lowest and highest value
    each stands for (ns), in ascending order."""
    _check_geometry(histogram)
    view = counters(histogram)
    (present,) = np.nonzero(view)
    index = present.astype(np.int64)
    low = _lowest(index)
    return view[present].astype(np.int64), low, low + _width(index) - 1


def percentiles(histogram: HdrHistogram, wanted: Sequence[float]) -> list[int]:
    """``get_value_at_percentile`` for each of ``wanted``, in one pass over the counters."""
    _check_geometry(histogram)
    total = int(histogram.get_total_count())
    if total == 0:
        return [0 for _ in wanted]
    running = np.cumsum(counters(histogram), dtype=np.uint64)
    targets = [max(int(min(p, 100.0) * total / 100 + 0.5), 1) for p in wanted]
    found = np.searchsorted(running, np.array(targets, dtype=np.uint64), side="left")
    out = []
    for p, index in zip(wanted, found.tolist(), strict=True):
        if index >= running.size:
            out.append(0)
            continue
        at = np.array([index], dtype=np.int64)
        low = int(_lowest(at)[0])
        out.append(low + int(_width(at)[0]) - 1 if p else low)
    return out


def moments(histogram: HdrHistogram) -> tuple[float, float]:
    """``get_mean_value`` and ``get_stddev``: each counter taken at its range's middle."""
    _check_geometry(histogram)
    total = int(histogram.get_total_count())
    if total == 0:
        return 0.0, 0.0
    view = counters(histogram)
    (present,) = np.nonzero(view)
    index = present.astype(np.int64)
    middles = _lowest(index) + (_width(index) >> 1)
    counts = view[present]
    # The mean's sum exact, as hdrh's Python integers make it, though count x value can
    # pass 2**64: middles are below 2**43, so each half below is under 2**22, and the
    # sums of count x half fit in 64 bits while the total count is under 2**42.
    if total < 1 << 42:
        low = middles & ((1 << 21) - 1)
        high = middles >> 21
        wide = counts.astype(np.uint64)
        weighted = (int(np.dot(wide, high.astype(np.uint64))) << 21) + int(
            np.dot(wide, low.astype(np.uint64))
        )
    else:
        weighted = sum(
            int(c) * int(m) for c, m in zip(counts.tolist(), middles.tolist(), strict=True)
        )
    mean = float(weighted) / total
    deviations = middles.astype(np.float64) - mean
    spread = float(np.dot(deviations * deviations, counts.astype(np.float64)))
    return mean, math.sqrt(spread / total)


def _shifts(values: np.ndarray) -> np.ndarray:
    # A float64's biased exponent, read from its bits, is 1022 + the bit length for
    # integers from 1 to 2**53 (hours of nanoseconds); 10x cheaper than np.frexp.
    exponent = np.maximum(values, 1).astype(np.float64).view(np.int64) >> 52
    return np.maximum(exponent - (1022 + _SUB_BUCKET_BITS), 0)


def quantize(values: np.ndarray) -> np.ndarray:
    """Map each non-negative int64 to the lowest equivalent value of its HDR sub-bucket."""
    shift = _shifts(values)
    return (values >> shift) << shift


@dataclass(frozen=True)
class Counts:
    """A sparse snapshot of ``SampleCounts``: what a worker sends for one interval."""

    keys: np.ndarray  # uint16 sub-bucket keys, ascending
    counts: np.ndarray  # uint32 (int64 past 2**32 - 1), same length
    beyond: tuple[int, ...] = ()
    negative: int = 0

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + len(self.beyond) + self.negative

    def to_wire(self) -> tuple[bytes, bytes, str, list[int], int]:
        """Plain bytes and numbers, for a channel that carries no numpy arrays (a Dask
        ``Queue`` takes msgpack-encodable values only)."""
        return (
            self.keys.tobytes(),
            self.counts.tobytes(),
            self.counts.dtype.str,
            list(self.beyond),
            self.negative,
        )

    @classmethod
    def from_wire(cls, wire: Sequence[Any]) -> Counts:
        keys, counts, dtype, beyond, negative = wire
        return cls(
            np.frombuffer(keys, dtype=np.uint16),
            np.frombuffer(counts, dtype=np.dtype(dtype)),
            tuple(int(v) for v in beyond),
            int(negative),
        )


class SampleCounts:
    """HDR sub-bucket counts accumulated in a dense numpy array, turned into a histogram once.

    ``add`` is a few numpy operations over the batch (no Python loop), linear in its
    length, so a caller bounds how long it holds the event loop by bounding the batch.
    ``flush_into`` hands the counts to a histogram. Values above the array's range (beyond
    ``HIST_HIGHEST_NS``) are kept aside and offered to the histogram as they are, so it
    alone decides what is out of range.
    """

    _KEYS = (max(0, int(HIST_HIGHEST_NS).bit_length() - _SUB_BUCKET_BITS) + 1) << _SUB_BUCKET_BITS
    assert _KEYS <= 1 << 16

    def __init__(self) -> None:
        self.counts = np.zeros(self._KEYS, dtype=np.int64)
        self.low, self.high = self._KEYS, 0
        self.beyond: list[int] = []
        self.negative = 0

    def add(self, samples: array[int] | np.ndarray) -> None:
        if isinstance(samples, array):
            values = np.frombuffer(samples, dtype=np.int64) if len(samples) else None
        else:
            values = np.asarray(samples, dtype=np.int64)
        if values is None or values.size == 0:
            return
        negative = values < 0
        if negative.any():
            self.negative += int(np.count_nonzero(negative))
            values = values[~negative]
        big = values > HIST_HIGHEST_NS
        if big.any():
            self.beyond.extend(values[big].tolist())
            values = values[~big]
        if values.size == 0:
            return
        # A sub-bucket is (shift, top 11 bits): count them with bincount, linear time, over
        # the batch's own span of keys only, so a batch does not touch all 64 Ki counters.
        shift = _shifts(values)
        keys = (shift << _SUB_BUCKET_BITS) | (values >> shift)
        low = int(keys.min())
        found = np.bincount(keys - low)
        self.counts[low : low + found.size] += found
        self._touch(low, low + found.size)

    def _touch(self, low: int, high: int) -> None:
        # The span holding every nonzero counter: what take and flush_into scan.
        self.low = min(self.low, low)
        self.high = max(self.high, high)

    def _present(self) -> np.ndarray:
        (present,) = np.nonzero(self.counts[self.low : self.high])
        present += self.low
        return present

    def _emptied(self, present: np.ndarray) -> None:
        self.counts[present] = 0
        self.low, self.high = self._KEYS, 0

    def take(self) -> Counts:
        """The counts so far as a sparse snapshot; this is left empty."""
        present = self._present()
        counts = self.counts[present]
        # Small to send: 2 + 4 bytes a sub-bucket, not 16 (a worker must never wait on a
        # full pipe to its parent). Every key is below 2**16 (``_KEYS``).
        if counts.size and counts.max() < 2**32:
            counts = counts.astype(np.uint32)
        taken = Counts(present.astype(np.uint16), counts, tuple(self.beyond), self.negative)
        self._emptied(present)
        self.beyond.clear()
        self.negative = 0
        return taken

    def merge(self, counts: Counts) -> None:
        """Add a snapshot (``take``'s keys are distinct, so a fancy-indexed add is exact)."""
        self.counts[counts.keys] += counts.counts
        if counts.keys.size:
            self._touch(int(counts.keys[0]), int(counts.keys[-1]) + 1)
        self.beyond.extend(counts.beyond)
        self.negative += counts.negative

    def total(self) -> int:
        return int(self.counts.sum()) + len(self.beyond) + self.negative

    def flush_into(self, histogram: HdrHistogram) -> int:
        """Record everything into ``histogram``, empty this; return the out-of-range count.

        As ``record_value(value, count)`` for each sub-bucket would, in a few numpy steps.
        """
        _check_geometry(histogram)
        present = self._present()
        out_of_range = self.negative + _add_keys(histogram, present, self.counts[present], True)
        for value in self.beyond:
            if not histogram.record_value(value):
                out_of_range += 1
        self._emptied(present)
        self.beyond.clear()
        self.negative = 0
        return out_of_range


def _add_keys(histogram: HdrHistogram, keys: np.ndarray, counts: np.ndarray, unique: bool) -> int:
    """``record_value(value, count)`` for each sub-bucket key; return the count not recorded.

    ``unique``: no key repeats (else repeats add up, more slowly).
    """
    _check_geometry(histogram)
    if keys.size == 0:
        return 0
    keys = keys.astype(np.int64)
    # Key (shift, top 11 bits) is HDR's counter (shift << 10) + top: bucket 0 holds tops
    # 0..2047, every later bucket the upper half, 1024..2047.
    index = ((keys >> _SUB_BUCKET_BITS) << _HALF_BITS) + (keys & ((1 << _SUB_BUCKET_BITS) - 1))
    view = counters(histogram)
    missed = 0
    inside = index < view.size
    if not inside.all():
        missed = int(counts[~inside].sum())
        index, counts = index[inside], counts[inside]
    if index.size == 0:
        return missed
    if unique:
        view[index] += counts.astype(np.uint64)
    else:
        np.add.at(view, index, counts.astype(np.uint64))
    values = _lowest(np.array([index.min(), index.max()]))
    histogram.total_count += int(counts.sum())
    histogram.min_value = min(histogram.min_value, int(values[0]))
    histogram.max_value = max(histogram.max_value, int(values[1]))
    return missed


def add_counts(histogram: HdrHistogram, parts: Sequence[Counts]) -> int:
    """Record the snapshots into ``histogram``; return the count out of its range.

    Touches only the snapshots' own sub-buckets: what the load client's parent does with
    its workers' counts every interval, on a CPU it shares with one of them.
    """
    missed = sum(part.negative for part in parts)
    if len(parts) == 1:
        missed += _add_keys(histogram, parts[0].keys, parts[0].counts, True)
    elif parts:
        keys = np.concatenate([part.keys for part in parts])
        counts = np.concatenate([part.counts.astype(np.int64) for part in parts])
        missed += _add_keys(histogram, keys, counts, False)
    for part in parts:
        for value in part.beyond:
            if not histogram.record_value(value):
                missed += 1
    return missed


def record_batch(histogram: HdrHistogram, samples: array[int] | np.ndarray) -> int:
    """Record samples (ns); return how many were out of the histogram's range."""
    counts = SampleCounts()
    counts.add(samples)
    return counts.flush_into(histogram)


def merge_encoded(encoded: Iterable[str | bytes]) -> HdrHistogram:
    """One histogram holding the sum of the encoded ones (HDR's own merge)."""
    merged = new_histogram()
    for data in encoded:
        merged.decode_and_add(data)
    return merged


def encode(histogram: HdrHistogram) -> str:
    data = histogram.encode()
    return data.decode("ascii") if isinstance(data, bytes) else str(data)


def summarize(histogram: HdrHistogram) -> dict[str, Any] | None:
    """Percentiles and moments in microseconds, or ``None`` for an empty histogram."""
    count = histogram.get_total_count()
    if count == 0:
        return None

    def us(ns: float) -> float:
        return round(ns / 1000.0, 3)

    if _standard(histogram):
        p50, p90, p99, p999 = percentiles(histogram, (50, 90, 99, 99.9))
        mean, stdev = moments(histogram)
    else:
        p50, p90, p99, p999 = (histogram.get_value_at_percentile(p) for p in (50, 90, 99, 99.9))
        mean, stdev = histogram.get_mean_value(), histogram.get_stddev()
    return {
        "p50": us(p50),
        "p90": us(p90),
        "p99": us(p99),
        "p999": us(p999),
        "max": us(histogram.get_max_value()),
        "mean": us(mean),
        "min": us(histogram.get_min_value()),
        "stdev": us(stdev),
        "count": int(count),
    }


def histogram_field(histogram: HdrHistogram) -> dict[str, Any]:
    return {
        "unit": "ns",
        "lowest": HIST_LOWEST_NS,
        "highest": HIST_HIGHEST_NS,
        "significant_figures": HIST_SIGNIFICANT_FIGURES,
        "encoding": "hdrhistogram",
        "data": encode(histogram),
    }
