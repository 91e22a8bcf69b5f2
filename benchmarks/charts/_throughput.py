"""Throughput: by backend and message size (bars), against connections (lines), and per
server CPU-second.

Cases whose load client was saturated (verdict ``client`` or ``both``) are hatched
(bars) or dashed and boxed (lines), because their numbers measure the load client,
not (only) the server; failed cases are written where their bar or point would be.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, FixedLocator, NullLocator

from echobench.benchmarks.charts._base import HATCH, add_legend, new_figure, spread_bar
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._panels import (
    advice,
    backend_handles,
    client_bound_handles,
    client_bound_note,
    closed_cases,
    no_data,
    present,
)
from echobench.benchmarks.compare._runview import CaseView, Run


def no_closed_loop(run: Run) -> str | None:
    """Why a closed-loop throughput chart cannot be drawn: no closed-loop case measured."""
    if any(c.ok for c in closed_cases(run)):
        return None
    return "no closed-loop case was measured"


def one_count(run: Run) -> str | None:
    """Why throughput against connections cannot be drawn: one count per panel."""
    closed = closed_cases(run)
    return no_closed_loop(run) or _connection_counts(run, [c for c in closed if not c.idle])


def _connection_counts(run: Run, closed: list[CaseView]) -> str | None:
    counts = sorted({c.connections for c in closed})
    if len(counts) == 1:
        plural = "" if counts[0] == 1 else "s"
        return f"this run has one connection count ({counts[0]} connection{plural}); " + advice(
            run, "run with several --connections (e.g. 1,32)"
        )
    panels: dict[tuple[str, int], set[int]] = {}
    for case in closed:
        panels.setdefault((case.transport, case.size), set()).add(case.connections)
    if all(len(v) < 2 for v in panels.values()):
        return "no message size was run at more than one connection count"
    return None


def no_server_cpu(run: Run) -> str | None:
    """Why CPU efficiency cannot be drawn: no server CPU time (a --connect run)."""
    if (why := no_closed_loop(run)) is not None:
        return why
    if any(c.efficiency is not None for c in closed_cases(run) if c.ok):
        return None
    return "no server CPU time was measured (a --connect run)"


def _client_mark(case: CaseView) -> str:
    """What is written on a bar whose load client was saturated."""
    return "client+server saturated" if case.both_saturated else "client-bound"


def _single_repeat(cases: Iterable[CaseView]) -> bool:
    """Every measured case has one repeat: min-max error bars are flat and say nothing."""
    counts = {len(c.repeats) for c in cases if c.ok}
    return counts == {1}


NO_SPREAD_NOTE = "1 repeat: no spread\n(the flat tick is the value)"


NO_SPREAD_FOOTER = (
    "1 repeat per case: no spread was measured, so a small difference may be noise "
    "(run with --repeat 3 or more)."
)


def _error_bar_handle(cases: Iterable[CaseView]) -> Line2D:
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


def _footer(figure: Figure, cases: Iterable[CaseView]) -> None:
    if _single_repeat(cases):
        figure.supxlabel(NO_SPREAD_FOOTER, fontsize=9, x=0.01, ha="left", color="0.3")


UNSTABLE_NOTE = "unstable: CV of the\nrepeats over 5%"
DISTURBED_NOTE = "disturbed: the host took\nthe CPUs in a repeat"


FAILED_NOTE = "failed case: no measurement"


Metric = Callable[[CaseView], tuple[float, float, float] | None]


def _throughput(case: CaseView) -> tuple[float, float, float] | None:
    median, low, high = case.throughput(), case.throughput("min"), case.throughput("max")
    if median is None or low is None or high is None:
        return None
    return median, low, high


def _efficiency(case: CaseView) -> tuple[float, float, float] | None:
    values = case.efficiencies
    if values:
        return statistics.median(values), min(values), max(values)
    median = case.efficiency
    return None if median is None else (median, median, median)


def _grouped_bars(run: Run, metric: Metric, title: str, ylabel: str) -> Figure:
    cases = closed_cases(run)
    panels = sorted({(c.transport, c.connections) for c in cases})
    figure, axes = new_figure(title, run.env_summary(), max(1, len(panels)))
    backends = present(run, cases)
    palette = colours(run.families())
    by_key = {(c.backend, c.transport, c.size, c.connections): c for c in cases}
    seen: set[str] = set()
    if not panels:
        no_data(figure, axes[0], "no closed-loop cases in this file")
    for ax, (transport, connections) in zip(axes, panels, strict=False):
        sizes = sorted(
            {c.size for c in cases if (c.transport, c.connections) == (transport, connections)}
        )
        width = 0.8 / max(1, len(backends))
        top = 0.0
        for j, backend in enumerate(backends):
            for i, size in enumerate(sizes):
                case = by_key.get((backend, transport, size, connections))
                if case is not None:
                    x = i + (j - (len(backends) - 1) / 2) * width
                    top = max(top, _bar(ax, x, width, case, metric, palette[backend], seen))
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
    handles = backend_handles(run, backends, "bar")
    handles.append(_error_bar_handle(cases))
    _footer(figure, cases)
    add_legend(figure, handles + _bar_notes(seen))
    return figure


def _bar(
    ax: Axes, x: float, width: float, case: CaseView, metric: Metric, colour: str, seen: set[str]
) -> float:
    """One case's bar, its min-max error bar and its notes (``seen`` gathers which notes
    the legend must explain); how high it reaches."""
    values = metric(case) if case.ok else None
    if values is None:
        ax.text(x, 0, " failed", rotation=90, ha="center", va="bottom", fontsize=7,
                color="#b00020")  # fmt: skip
        seen.add("failed")
        return 0.0
    median, low, high = values
    client_bound = case.client_bound
    ax.bar(
        x,
        median,
        width * 0.92,
        color=colour,
        hatch=HATCH if client_bound else None,
        edgecolor="black" if client_bound else colour,
        linewidth=0.6,
        gid=f"bar:{case.id}",
    )
    spread_bar(ax, x, median, low, high)
    notes = []
    if client_bound:
        notes.append(_client_mark(case))
        seen.add("client")
    if case.unstable:
        cv = case.cv
        notes.append(f"unstable{f' {cv:.0%}' if cv is not None else ''}")
        seen.add("unstable")
    if case.disturbed:
        notes.append("disturbed")
        seen.add("disturbed")
    if notes:
        ax.text(x, high, " " + ", ".join(notes), rotation=90, ha="center", va="bottom",
                fontsize=7)  # fmt: skip
    return high


def _bar_notes(seen: set[str]) -> list[Artist]:
    """The legend entries that explain the notes written on the bars."""
    handles: list[Artist] = []
    if "client" in seen:
        handles.append(
            Patch(facecolor="white", edgecolor="black", hatch=HATCH,
                  label=client_bound_note("hatched"))
        )  # fmt: skip
    for note, label in (
        ("unstable", UNSTABLE_NOTE),
        ("disturbed", DISTURBED_NOTE),
        ("failed", FAILED_NOTE),
    ):
        if note in seen:
            handles.append(Patch(facecolor="none", edgecolor="none", label=label))
    return handles


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


def by_connections(run: Run) -> Figure:
    cases = [c for c in closed_cases(run) if not c.idle]  # idle cases: the scale charts
    panels = sorted({(c.transport, c.size) for c in cases})
    spread = "1 repeat, no spread" if _single_repeat(cases) else "min-max error bars"
    figure, axes = new_figure(
        f"Throughput vs connections (median, {spread})",
        run.env_summary(),
        max(1, len(panels)),
    )
    backends = present(run, cases)
    palette = colours(run.families())
    seen: set[str] = set()
    if not panels:
        no_data(figure, axes[0], "no closed-loop cases in this file")
    for ax, (transport, size) in zip(axes, panels, strict=False):
        panel = [c for c in cases if (c.transport, c.size) == (transport, size)]
        top = 0.0
        for backend in backends:
            mine = sorted((c for c in panel if c.backend == backend), key=lambda c: c.connections)
            top = max(top, _connections_line(ax, backend, mine, palette[backend], seen))
        _connections_axes(ax, sorted({c.connections for c in panel}), top)
        ax.set_title(
            f"{size} B messages, closed loop" + ("" if transport == "tcp" else f", {transport}"),
            fontsize=10,
        )
    handles = backend_handles(run, backends, "line")
    handles.append(_error_bar_handle(cases))
    _footer(figure, cases)
    handles += client_bound_handles("client" in seen, boxed=True)
    if "failed" in seen:
        handles.append(
            Line2D([], [], color="black", marker="x", ls="none", mew=2, label=FAILED_NOTE)
        )
    add_legend(figure, handles)
    return figure


def _connections_line(
    ax: Axes, backend: str, mine: list[CaseView], colour: str, seen: set[str]
) -> float:
    """One backend's throughput against connections, client-bound points boxed and failed
    ones crossed at zero; how high its error bars reach."""
    top = 0.0
    measured = [(c, v) for c in mine if (v := _throughput(c)) is not None]
    if measured:
        top = max(v[2] for _, v in measured)
        ax.errorbar(
            [c.connections for c, _ in measured],
            [v[0] for _, v in measured],
            yerr=[[v[0] - v[1] for _, v in measured], [v[2] - v[0] for _, v in measured]],
            color=colour,
            marker="o",
            markersize=4,
            capsize=3,
            lw=1.6,
            label=backend,
            gid="connections:" + ",".join(c.id for c, _ in measured),
        )
        for c, v in measured:
            if c.client_bound:
                seen.add("client")
                ax.plot([c.connections], [v[0]], marker="s", markersize=12, mfc="none",
                        mec="black", ls="none", gid=f"client-bound:{c.id}")  # fmt: skip
    for c in mine:
        if not c.ok:
            seen.add("failed")
            ax.plot([c.connections], [0], marker="x", color="black", markersize=9, mew=2,
                    clip_on=False, ls="none", gid=f"failed:{c.id}")  # fmt: skip
    return top


def _connections_axes(ax: Axes, counts: list[int], top: float) -> None:
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
