"""Latency over time, in the parent: the workers' interval counts merged exactly, and logged.

Each worker sends the sparse sub-bucket counts of every latency interval
(``echobench.clients._recorder``). Once every worker has sent interval ``k``, their
counts are summed (exact: the same sub-buckets a single histogram would fill) into one
``HdrHistogram``, touching only the sub-buckets sent: this process shares a CPU with a
worker, whose schedule slips by whatever runs here. With ``--hlog`` the interval is
appended to an HdrHistogram interval log in the standard format, written by ``hdrh``'s
own ``HistogramLogWriter`` and readable by its ``HistogramLogReader`` and by
HdrHistogram's Java tools (``HistogramLogProcessor``).
The log is written as the intervals arrive (as the run goes, or, for an open loop
recorded whole, once its window has closed), so a long run's log is useful while it
lasts and what was written survives an interrupted run. Timestamps are seconds from the measured
window's opening (the ``BaseTime``); values are nanoseconds, and the ``Interval_Max``
column is in milliseconds (the format's usual ratio). The intervals of one log add up
to the run's ``histogram``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from time import monotonic_ns, thread_time_ns
from typing import Any, TextIO

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

from echobench.clients._histogram import Counts, add_counts, clear, new_histogram
from echobench.servers._errors import UserError

#: Called with an interval's index, its length in seconds and its merged histogram (which
#: is reused for the next interval: read it, do not keep it).
IntervalSink = Callable[[int, float, HdrHistogram], None]


class Intervals:
    def __init__(
        self,
        workers: int,
        mono_to_wall: int,
        path: str | None = None,
        header: str = "",
        sink: IntervalSink | None = None,
    ) -> None:
        self.workers = workers
        self.mono_to_wall = mono_to_wall
        self.sink = sink
        self.pending: dict[int, list[tuple[Counts, int, int]]] = {}
        self.histogram = new_histogram()
        self.written = 0
        self.samples = 0
        self.max_cpu_ns = 0  # the longest an interval took here: CPU a worker may have lost
        #: The workers' windows are open until about then (monotonic ns): the longest
        #: interval handled before it is a pause of the client while it measured.
        self.window_end_ns = 0
        self.in_window_max_cpu_ns = 0
        self.path = path
        self.file: TextIO | None = None
        self.writer: HistogramLogWriter | None = None
        self.header = header
        if path is not None:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self.file = open(path, "w", encoding="ascii")  # noqa: SIM115 (closed in finish)
            except OSError as exc:
                raise UserError(f"cannot write --hlog {path}: {exc.strerror or exc}") from None

    def _start_log(self, base_ns: int) -> None:
        # The base is the first interval's start, the window's opening as the workers read
        # it: a later start is never before it (the reader skips a negative timestamp).
        assert self.file is not None
        header = self.header
        writer = HistogramLogWriter(self.file)
        base_ms = (base_ns + self.mono_to_wall) / 1e6
        writer.base_time = base_ms
        # hdrh's output_start_time cannot format its date; these lines are Java's format.
        stamp = datetime.fromtimestamp(base_ms / 1e3, UTC).isoformat()
        if header:
            writer.output_comment(header)
        writer.output_log_format_version()
        writer.output_comment(f"[StartTime: {base_ms / 1e3:.3f} (seconds since epoch), {stamp}]")
        writer.output_comment(f"[BaseTime: {base_ms / 1e3:.3f} (seconds since epoch)]")
        writer.output_legend()
        self.file.flush()
        self.writer = writer

    def add(self, index: int, counts: Counts, start_ns: int, end_ns: int) -> None:
        """One worker's counts for interval ``index`` (recorded between the two readings)."""
        self.pending.setdefault(index, []).append((counts, start_ns, end_ns))
        self._complete_ready()

    def drop_worker(self) -> None:
        """One worker will send no more intervals (a cluster shard was lost): the
        intervals every other worker has sent are complete without it."""
        self.workers -= 1
        self._complete_ready()

    def _complete_ready(self) -> None:
        while self.written in self.pending and len(self.pending[self.written]) >= self.workers:
            self._complete(self.written)

    def _complete(self, index: int) -> None:
        cpu = thread_time_ns()
        parts = self.pending.pop(index)
        # One histogram, emptied and reused: a fresh one every interval left the parent's
        # heap growing for a while on a long run.
        histogram = self.histogram
        clear(histogram)
        add_counts(histogram, [part[0] for part in parts])
        self.samples += int(histogram.get_total_count())
        start = min(part[1] for part in parts)
        end = max(part[2] for part in parts)
        histogram.set_start_time_stamp((start + self.mono_to_wall) / 1e6)
        histogram.set_end_time_stamp((end + self.mono_to_wall) / 1e6)
        if self.file is not None:
            if self.writer is None:
                self._start_log(start)
            assert self.writer is not None
            self.writer.output_interval_histogram(histogram)
            self.file.flush()
        self.written = index + 1
        if self.sink is not None:
            self.sink(index, (end - start) / 1e9, histogram)
        spent = thread_time_ns() - cpu
        self.max_cpu_ns = max(self.max_cpu_ns, spent)
        if monotonic_ns() < self.window_end_ns:
            self.in_window_max_cpu_ns = max(self.in_window_max_cpu_ns, spent)

    def finish(self, fallback_base_ns: int) -> None:
        """Log what is left (an interval some worker never sent holds the others'), close."""
        for index in sorted(self.pending):
            self._complete(index)
        if self.file is not None:
            if self.writer is None:
                self._start_log(fallback_base_ns)  # no interval at all: a header alone
            self.file.close()
            self.file = None

    def summary(self, interval_s: float) -> dict[str, Any]:
        return {
            "interval_s": interval_s,
            "count": self.written,
            "samples": self.samples,
            "hlog": self.path,
            "max_cpu_us": round(self.max_cpu_ns / 1e3, 3),
            "in_window_max_cpu_us": round(self.in_window_max_cpu_ns / 1e3, 3),
        }
