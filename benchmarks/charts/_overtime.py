"""A run over time: throughput per 100 ms (``stability``) and p50, p99 and max of every
second from the interval logs (``latency-over-time``), each case's repeats end to end."""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter

from echobench.benchmarks.charts._base import add_legend, log_latency_axis
from echobench.benchmarks.charts._hlogs import log_path, read_intervals
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._panels import (
    advice,
    backend_handles,
    client_bound_handles,
    no_data,
    per_slice,
    present,
)
from echobench.benchmarks.compare._runview import CaseView, Run, slice_label


def no_series(run: Run) -> str | None:
    """Why stability cannot be drawn: no throughput series, or one sample per case."""
    points = [sum(len(r.series) for r in c.repeats) for c in run.cases]
    if not any(points):
        return "no throughput series was recorded (repeats shorter than 1 s)"
    if max(points) < 2:
        return (
            "one throughput sample per case (1 s series, 1 repeat): nothing to show over time; "
            + advice(run, "run longer (--duration) or with more repeats")
        )
    return None


def no_interval_logs(run: Run) -> str | None:
    """Why latency over time cannot be drawn: no interval logs, or none beside the file."""
    logs = [log_path(run.path, r.hlog) for c in run.cases for r in c.repeats if r.hlog is not None]
    if not logs:
        return "no interval logs in this file (a run from before they were kept)"
    if not any(path.is_file() for path in logs):
        return f"its interval logs are not beside the results file ({logs[0].parent} is missing)"
    return None


def _series_interval(run: Run) -> float | None:
    """The finest interval any repeat's throughput series has (None: no series at all)."""
    intervals = {r.series_interval_s for c in run.cases for r in c.repeats if r.series}
    return min(intervals) if intervals else None


def _interval_words(seconds: float | None) -> str:
    if seconds is None or seconds >= 1:
        return "each measured second"
    return f"each {seconds * 1000:g} ms"


def _repeat_starts() -> Line2D:
    return Line2D([], [], color="0.6", lw=0.6, ls=":", label="start of a repeat")


def _mark_repeats(ax: Axes, ends: set[float]) -> bool:
    """A dotted line where each repeat but the first starts (repeats laid end to end);
    whether there was one."""
    for end in sorted(ends)[:-1]:
        ax.axvline(end, color="0.6", lw=0.6, ls=":")
    return len(ends) > 1


def stability(run: Run) -> Figure:
    figure, panels = per_slice(
        run,
        f"Stability: throughput in {_interval_words(_series_interval(run))}, "
        "repeats laid end to end",
    )
    backends = present(run, run.cases)
    palette = colours(run.families())
    seen_client_bound = seen_boundary = False
    drawn: set[str] = set()
    for ax, key in panels:
        cases = {c.backend: c for c in run.cases if c.slice_key == key}
        boundaries: set[float] = set()
        top = 0.0
        for backend in backends:
            case = cases.get(backend)
            if case is None or not any(r.series for r in case.repeats):
                continue
            xs: list[float] = []
            ys: list[float] = []
            offset = 0.0
            for repeat in case.repeats:
                step = repeat.series_interval_s
                # Each point at the middle of its interval; NaN breaks the line between repeats.
                xs += [offset + (i + 0.5) * step for i in range(len(repeat.series))] + [math.nan]
                ys += [*repeat.series, math.nan]
                offset = round(offset + len(repeat.series) * step, 9)
                boundaries.add(offset)
            top = max(top, max((y for y in ys if not math.isnan(y)), default=0.0))
            drawn.add(backend)
            seen_client_bound |= case.client_bound
            ax.plot(
                xs,
                ys,
                color=palette[backend],
                lw=1.3,
                marker=".",
                markersize=3,
                ls="--" if case.client_bound else "-",
                label=backend,
                gid=f"stability:{case.id}",
            )
        if not boundaries:
            no_data(figure, ax, "no throughput series recorded\n(repeats shorter than 1 s)")
            continue
        seen_boundary |= _mark_repeats(ax, boundaries)
        ax.set_ylim(0, (top or 1.0) * 1.1)
        ax.set_xlim(0, max(boundaries))
        ax.set_xlabel("measured time, repeats end to end [s]")
        ax.set_ylabel("throughput [msg/s]")
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        ax.set_title(slice_label(key), fontsize=9)
    handles = backend_handles(run, [b for b in backends if b in drawn], "line")
    if seen_boundary:  # one repeat per case: no line, so no legend entry claiming one
        handles.append(_repeat_starts())
    add_legend(figure, handles + client_bound_handles(seen_client_bound))
    return figure


def _over_time(run: Run, case: CaseView) -> tuple[list[float], list[list[float]], list[float]]:
    """x (middle of each interval, repeats end to end, NaN between repeats), [p50, p99, max]
    per interval in µs (NaN: no echo in it), and where each repeat ends."""
    xs: list[float] = []
    ys: list[list[float]] = [[], [], []]
    ends: list[float] = []
    offset = 0.0
    for repeat in case.repeats:
        if repeat.hlog is None:
            continue
        try:
            intervals = read_intervals(log_path(run.path, repeat.hlog))
        except (OSError, ValueError):
            continue  # moved or damaged: the chart shows the repeats it can read
        if not intervals:
            continue
        for interval in intervals:
            xs.append(offset + interval.start_s + interval.length_s / 2)
            for values, value in zip(
                ys, (interval.p50_us, interval.p99_us, interval.max_us), strict=True
            ):
                values.append(math.nan if value is None else value)
        xs.append(math.nan)
        for values in ys:
            values.append(math.nan)
        last = intervals[-1]
        offset = round(offset + last.start_s + last.length_s, 6)
        ends.append(offset)
    return xs, ys, ends


def latency_over_time(run: Run) -> Figure:
    figure, panels = per_slice(
        run,
        "Latency over time: p50, p99 and max of each interval (HdrHistogram interval logs), "
        "repeats laid end to end",
    )
    backends = present(run, run.cases)
    palette = colours(run.families())
    seen_client_bound = seen_boundary = False
    drawn: set[str] = set()
    for ax, key in panels:
        cases = {c.backend: c for c in run.cases if c.slice_key == key}
        boundaries: set[float] = set()
        for backend in backends:
            case = cases.get(backend)
            if case is None:
                continue
            xs, (p50, p99, top), ends = _over_time(run, case)
            if not ends:
                continue
            boundaries.update(ends)
            drawn.add(backend)
            seen_client_bound |= case.client_bound
            colour, style = palette[backend], "--" if case.client_bound else "-"
            ax.plot(xs, p99, color=colour, ls=style, lw=1.5, marker=".", markersize=3,
                    label=backend, gid=f"p99:{case.id}")  # fmt: skip
            ax.plot(xs, p50, color=colour, ls=style, lw=0.7, alpha=0.6, gid=f"p50:{case.id}")
            ax.plot(xs, top, color=colour, ls="none", marker="^", markersize=3, alpha=0.7,
                    gid=f"max:{case.id}")  # fmt: skip
        if not boundaries:
            no_data(figure, ax, "no interval log for these cases")
            continue
        seen_boundary |= _mark_repeats(ax, boundaries)
        ax.set_xlim(0, max(boundaries))
        log_latency_axis(ax, "latency [µs]")
        ax.set_xlabel("measured time, repeats end to end [s]")
        ax.grid(alpha=0.3, which="both")
        title = slice_label(key)
        if key[3] is not None:
            title += "\n(latency from the scheduled send time)"
        ax.set_title(title, fontsize=9)
    handles = backend_handles(run, [b for b in backends if b in drawn], "line")
    for handle in handles:
        assert isinstance(handle, Line2D)
        handle.set_marker("")
    handles += [
        Line2D([], [], color="black", lw=1.5, marker=".", label="p99"),
        Line2D([], [], color="black", lw=0.7, alpha=0.6, label="p50"),
        Line2D([], [], color="black", ls="none", marker="^", markersize=4, label="max"),
    ]
    if seen_boundary:
        handles.append(_repeat_starts())
    add_legend(figure, handles + client_bound_handles(seen_client_bound))
    return figure
