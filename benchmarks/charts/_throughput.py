"""The charts of a run, as ``matplotlib.figure.Figure`` objects.

Every chart: one colour per backend (``_palette``), units on every axis, the
environment (Python, CPU, date, commit) under the title, a legend with one
entry per backend plus notes. Cases whose load client was saturated (verdict
``client`` or ``both``) are hatched (bars) or dashed and boxed (lines), because
their numbers measure the load client, not (only) the server. Failed cases are
written where their bar or point would be. A chart that cannot show what it is
for in a given run (one connection count, no latency data) is not drawn:
``skipped_charts`` says why.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never pick a GUI backend from the environment

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (
    EngFormatter,
    FixedFormatter,
    FixedLocator,
    LogLocator,
    NullFormatter,
    NullLocator,
)

from echobench.benchmarks.charts import _latency, _spectra
from echobench.benchmarks.charts._base import (
    COMPACT,
    DPI,
    HATCH,
    add_legend,
    new_figure,
)
from echobench.benchmarks.charts._hlogs import log_path, read_intervals
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._skipped import skipped_charts
from echobench.benchmarks.compare._runview import Case, Run, slice_label
from echobench.servers._errors import UserError


def client_bound_note(how: str) -> str:
    return f"client saturated ({how}):\nmeasures the load client,\nnot (only) the server"


def _client_mark(case: Case) -> str:
    """What is written on a bar whose load client was saturated."""
    return "client+server saturated" if case.both_saturated else "client-bound"


def _single_repeat(cases: Iterable[Case]) -> bool:
    """Every measured case has one repeat: min-max error bars are flat and say nothing."""
    counts = {len(c.repeats) for c in cases if c.ok}
    return counts == {1}


NO_SPREAD_NOTE = "1 repeat: no spread\n(the flat tick is the value)"
NO_SPREAD_FOOTER = (
    "1 repeat per case: no spread was measured, so a small difference may be noise "
    "(run with --repeat 3 or more)."
)


def _error_bar_handle(cases: Iterable[Case]) -> Line2D:
    single = _single_repeat(cases)
    return Line2D(
        [],
        [],
        color="black",
        marker="_",
        markersize=8,
        lw=0,
        label=NO_SPREAD_NOTE if single else "error bar: min-max\nover the repeats",
    )


def _footer(figure: Figure, cases: Iterable[Case]) -> None:
    if _single_repeat(cases):
        figure.supxlabel(NO_SPREAD_FOOTER, fontsize=9, x=0.01, ha="left", color="0.3")


UNSTABLE_NOTE = "unstable: CV of the\nrepeats over 5%"
FAILED_NOTE = "failed case: no measurement"

SliceKey = tuple[str, int, int, float | None, int]


Metric = Callable[[Case], tuple[float, float, float] | None]


def _backend_handles(run: Run, backends: Iterable[str], kind: str) -> list[Artist]:
    palette = colours(run.families())
    if kind == "bar":
        return [Patch(facecolor=palette[b], label=b) for b in backends]
    return [Line2D([], [], color=palette[b], marker="o", label=b) for b in backends]


def _present(run: Run, cases: Iterable[Case]) -> list[str]:
    names = {c.backend for c in cases}
    return [b for b in run.backends() if b in names]


def _closed(run: Run) -> list[Case]:
    return [c for c in run.cases if c.rate is None]


def _no_data(figure: Figure, ax: Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def _throughput(case: Case) -> tuple[float, float, float] | None:
    median, low, high = case.throughput(), case.throughput("min"), case.throughput("max")
    if median is None or low is None or high is None:
        return None
    return median, low, high


def _efficiency(case: Case) -> tuple[float, float, float] | None:
    values = case.efficiencies
    if values:
        return statistics.median(values), min(values), max(values)
    median = case.efficiency
    return None if median is None else (median, median, median)


def _grouped_bars(run: Run, metric: Metric, title: str, ylabel: str) -> Figure:
    cases = _closed(run)
    panels = sorted({(c.transport, c.connections) for c in cases})
    figure, axes = new_figure(title, run.env_summary(), max(1, len(panels)))
    backends = _present(run, cases)
    palette = colours(run.families())
    by_key = {(c.backend, c.transport, c.size, c.connections): c for c in cases}
    seen_client_bound = seen_unstable = seen_failed = False
    if not panels:
        _no_data(figure, axes[0], "no closed-loop cases in this file")
    for ax, (transport, connections) in zip(axes, panels, strict=False):
        sizes = sorted(
            {c.size for c in cases if (c.transport, c.connections) == (transport, connections)}
        )
        width = 0.8 / max(1, len(backends))
        top = 0.0
        for j, backend in enumerate(backends):
            for i, size in enumerate(sizes):
                case = by_key.get((backend, transport, size, connections))
                if case is None:
                    continue
                x = i + (j - (len(backends) - 1) / 2) * width
                values = metric(case) if case.ok else None
                if values is None:
                    ax.text(
                        x,
                        0,
                        " failed",
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color="#b00020",
                    )
                    seen_failed = True
                    continue
                median, low, high = values
                top = max(top, high)
                client_bound = case.client_bound
                ax.bar(
                    x,
                    median,
                    width * 0.92,
                    color=palette[backend],
                    hatch=HATCH if client_bound else None,
                    edgecolor="black" if client_bound else palette[backend],
                    linewidth=0.6,
                    gid=f"bar:{case.id}",
                )
                ax.errorbar(
                    x,
                    median,
                    yerr=[[median - low], [high - median]],
                    fmt="none",
                    ecolor="black",
                    elinewidth=0.9,
                    capsize=2,
                )
                notes = []
                if client_bound:
                    notes.append(_client_mark(case))
                    seen_client_bound = True
                if case.unstable:
                    cv = case.cv
                    notes.append(f"unstable{f' {cv:.0%}' if cv is not None else ''}")
                    seen_unstable = True
                if notes:
                    ax.text(
                        x,
                        high,
                        " " + ", ".join(notes),
                        rotation=90,
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(sizes)), [f"{s} B" for s in sizes])
        ax.set_xlim(-0.5, len(sizes) - 0.5)
        ax.set_ylim(0, (top or 1.0) * 1.35)
        ax.set_xlabel("message size [bytes]")
        ax.set_ylabel(ylabel)
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(axis="y", alpha=0.3)
        plural = "" if connections == 1 else "s"
        ax.set_title(
            f"{connections} connection{plural}, closed loop"
            + ("" if transport == "tcp" else f", {transport}"),
            fontsize=10,
        )
    handles = _backend_handles(run, backends, "bar")
    handles.append(_error_bar_handle(cases))
    _footer(figure, cases)
    if seen_client_bound:
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch=HATCH,
                label=client_bound_note("hatched"),
            )
        )
    if seen_unstable:
        handles.append(Patch(facecolor="none", edgecolor="none", label=UNSTABLE_NOTE))
    if seen_failed:
        handles.append(Patch(facecolor="none", edgecolor="none", label=FAILED_NOTE))
    add_legend(figure, handles)
    return figure


def throughput_by_size(run: Run) -> Figure:
    return _grouped_bars(
        run,
        _throughput,
        "Throughput by backend and message size (median of the repeats)",
        "throughput [msg/s]",
    )


def cpu_efficiency(run: Run) -> Figure:
    return _grouped_bars(
        run,
        _efficiency,
        "CPU efficiency: messages per second of server CPU time",
        "messages per server CPU-second [msg/CPU·s]",
    )


def _client_bound_handles(seen: bool, boxed: bool = False) -> list[Artist]:
    if not seen:
        return []
    if boxed:
        handle = Line2D(
            [],
            [],
            color="black",
            ls="none",
            marker="s",
            mfc="none",
            markersize=11,
            label=client_bound_note("boxed"),
        )
    else:
        handle = Line2D([], [], color="black", ls="--", label=client_bound_note("dashed"))
    return [handle]


def throughput_vs_connections(run: Run) -> Figure:
    cases = [c for c in _closed(run) if not c.idle]  # idle cases: the scale charts
    panels = sorted({(c.transport, c.size) for c in cases})
    spread = "1 repeat, no spread" if _single_repeat(cases) else "min-max error bars"
    figure, axes = new_figure(
        f"Throughput vs connections (median, {spread})",
        run.env_summary(),
        max(1, len(panels)),
    )
    backends = _present(run, cases)
    palette = colours(run.families())
    seen_client_bound = seen_failed = False
    if not panels:
        _no_data(figure, axes[0], "no closed-loop cases in this file")
    for ax, (transport, size) in zip(axes, panels, strict=False):
        panel = [c for c in cases if (c.transport, c.size) == (transport, size)]
        counts = sorted({c.connections for c in panel})
        top = 0.0
        for backend in backends:
            mine = sorted((c for c in panel if c.backend == backend), key=lambda c: c.connections)
            measured = [(c, v) for c in mine if (v := _throughput(c)) is not None]
            if measured:
                xs = [c.connections for c, _ in measured]
                ys = [v[0] for _, v in measured]
                low = [v[0] - v[1] for _, v in measured]
                high = [v[2] - v[0] for _, v in measured]
                top = max(top, *(v[2] for _, v in measured))
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[low, high],
                    color=palette[backend],
                    marker="o",
                    markersize=4,
                    capsize=3,
                    lw=1.6,
                    label=backend,
                    gid="connections:" + ",".join(c.id for c, _ in measured),
                )
                for c, v in measured:
                    if c.client_bound:
                        seen_client_bound = True
                        ax.plot(
                            [c.connections],
                            [v[0]],
                            marker="s",
                            markersize=12,
                            mfc="none",
                            mec="black",
                            ls="none",
                            gid=f"client-bound:{c.id}",
                        )
            for c in mine:
                if not c.ok:
                    seen_failed = True
                    ax.plot(
                        [c.connections],
                        [0],
                        marker="x",
                        color="black",
                        markersize=9,
                        mew=2,
                        clip_on=False,
                        ls="none",
                        gid=f"failed:{c.id}",
                    )
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.xaxis.set_minor_locator(NullLocator())
        if len(counts) == 1:
            ax.set_xlim(counts[0] / 2, counts[0] * 2)
        else:
            ax.set_xlim(counts[0] / 1.5, counts[-1] * 1.5)
        ax.set_ylim(0, (top or 1.0) * 1.15)
        ax.set_xlabel("concurrent connections [count, log scale]")
        ax.set_ylabel("throughput [msg/s]")
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        ax.set_title(
            f"{size} B messages, closed loop" + ("" if transport == "tcp" else f", {transport}"),
            fontsize=10,
        )
    handles = _backend_handles(run, backends, "line")
    handles.append(_error_bar_handle(cases))
    _footer(figure, cases)
    handles += _client_bound_handles(seen_client_bound, boxed=True)
    if seen_failed:
        handles.append(
            Line2D([], [], color="black", marker="x", ls="none", mew=2, label=FAILED_NOTE)
        )
    add_legend(figure, handles)
    return figure


def _slices(run: Run, closed_only: bool = False) -> list[SliceKey]:
    """Closed-loop slices, and open-loop ones at rates several backends ran (a latency
    sweep's other points are each one backend's own: they belong to latency-vs-load)."""
    common = _latency.common_rates(run)
    return sorted(
        {
            c.slice_key
            for c in run.cases
            if c.rate is None
            or (not closed_only and c.rate in common.get((c.transport, c.size, c.connections), ()))
        },
        key=lambda k: (k[3] is not None, k[3] or 0, k[0], k[1], k[2]),
    )


def _per_slice(
    run: Run, title: str, closed_only: bool = False
) -> tuple[Figure, list[tuple[Axes, SliceKey]]]:
    """A figure with one panel per combination of parameters, every case included."""
    slices = _slices(run, closed_only)
    figure, axes = new_figure(
        title, run.env_summary(), max(1, len(slices)), ncols=3 if len(slices) > 4 else 2
    )
    if not slices:
        _no_data(figure, axes[0], "no cases in this file")
    return figure, list(zip(axes, slices, strict=False))


CLOSED_LOOP_LATENCY_NOTE = (
    "Closed loop: each backend ran at its own maximum, so the loads differ between backends "
    "and these latencies answer different questions; compare latency at equal load in "
    "latency-at-equal-load."
)


def latency_spectrum(run: Run) -> Figure:
    figure, panels = _per_slice(
        run,
        "Closed-loop latency spectrum, each backend at its own load: the loads differ "
        "(HDR histograms of the repeats merged)",
        closed_only=True,
    )
    figure.supxlabel(CLOSED_LOOP_LATENCY_NOTE, fontsize=9, x=0.01, ha="left", color="0.3")
    backends = _present(run, _closed(run))
    palette = colours(run.families())
    seen_client_bound = False
    drawn: set[str] = set()
    for ax, key in panels:
        cases = {c.backend: c for c in run.cases if c.slice_key == key}
        missing = []
        for backend in backends:
            case = cases.get(backend)
            if case is None:
                continue
            curve = _spectra.spectrum(r.histogram for r in case.repeats if r.histogram)
            if curve is None:
                missing.append(backend)
                continue
            nines, values = curve
            drawn.add(backend)
            style = "--" if case.client_bound else "-"
            seen_client_bound |= case.client_bound
            ax.plot(
                nines,
                values,
                color=palette[backend],
                ls=style,
                lw=1.6,
                label=backend,
                gid=f"spectrum:{case.id}",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(_spectra.LOWEST_NINES, _spectra.HIGHEST_NINES)
        ax.xaxis.set_major_locator(FixedLocator(list(_spectra.NINES_TICKS)))
        ax.xaxis.set_major_formatter(FixedFormatter(list(_spectra.NINES_TICKS.values())))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(COMPACT)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("percentile [%]")
        ax.set_ylabel("latency [µs]")
        ax.grid(alpha=0.3, which="both")
        title = slice_label(key)
        if missing:
            title += f"\nno histogram: {', '.join(missing)}"
        ax.set_title(title, fontsize=9)
    handles = _backend_handles(run, [b for b in backends if b in drawn], "line")
    for handle in handles:
        assert isinstance(handle, Line2D)
        handle.set_marker("")
    add_legend(figure, handles + _client_bound_handles(seen_client_bound))
    return figure


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
    figure, panels = _per_slice(
        run,
        f"Stability: throughput in {_interval_words(_series_interval(run))}, "
        "repeats laid end to end",
    )
    backends = _present(run, run.cases)
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
            _no_data(figure, ax, "no throughput series recorded\n(repeats shorter than 1 s)")
            continue
        seen_boundary |= _mark_repeats(ax, boundaries)
        ax.set_ylim(0, (top or 1.0) * 1.1)
        ax.set_xlim(0, max(boundaries))
        ax.set_xlabel("measured time, repeats end to end [s]")
        ax.set_ylabel("throughput [msg/s]")
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(alpha=0.3)
        ax.set_title(slice_label(key), fontsize=9)
    handles = _backend_handles(run, [b for b in backends if b in drawn], "line")
    if seen_boundary:  # one repeat per case: no line, so no legend entry claiming one
        handles.append(_repeat_starts())
    add_legend(figure, handles + _client_bound_handles(seen_client_bound))
    return figure


def _over_time(run: Run, case: Case) -> tuple[list[float], list[list[float]], list[float]]:
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
    figure, panels = _per_slice(
        run,
        "Latency over time: p50, p99 and max of each interval (HdrHistogram interval logs), "
        "repeats laid end to end",
    )
    backends = _present(run, run.cases)
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
            _no_data(figure, ax, "no interval log for these cases")
            continue
        seen_boundary |= _mark_repeats(ax, boundaries)
        ax.set_xlim(0, max(boundaries))
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(COMPACT)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("measured time, repeats end to end [s]")
        ax.set_ylabel("latency [µs]")
        ax.grid(alpha=0.3, which="both")
        title = slice_label(key)
        if key[3] is not None:
            title += "\n(latency from the scheduled send time)"
        ax.set_title(title, fontsize=9)
    handles = _backend_handles(run, [b for b in backends if b in drawn], "line")
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
    add_legend(figure, handles + _client_bound_handles(seen_client_bound))
    return figure


CHARTS: dict[str, Callable[[Run], Figure]] = {
    "throughput-by-size": throughput_by_size,
    "throughput-vs-connections": throughput_vs_connections,
    # At equal load first: the closed-loop spectrum compares latencies at different loads.
    "latency-at-equal-load": _latency.latency_at_equal_load,
    "latency-vs-load": _latency.latency_vs_load,
    "slo-capacity": _latency.slo_capacity,
    "latency-spectrum": latency_spectrum,
    "cpu-efficiency": cpu_efficiency,
    "stability": stability,
    "latency-over-time": latency_over_time,
}


def run_charts(run: Run) -> dict[str, Figure]:
    """The charts of a run that can show what they are for, by file stem."""
    skipped = skipped_charts(run)
    return {name: draw(run) for name, draw in CHARTS.items() if name not in skipped}


def save(figures: dict[str, Figure], out_dir: str | Path, fmt: str = "png") -> list[Path]:
    if fmt not in ("png", "svg"):
        raise UserError(f"unknown chart format {fmt!r} (png or svg)")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror}") from None
    written = []
    for name, figure in figures.items():
        path = out / f"{name}.{fmt}"
        figure.savefig(path, format=fmt, dpi=DPI)
        written.append(path)
    return written
