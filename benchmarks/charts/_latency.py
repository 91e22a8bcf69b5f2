"""The open-loop latency charts: against offered load, at equal load, capacity at a target.

Open-loop latency counts from each message's scheduled send time, so a server
that falls behind shows it. Every point is a case: overloaded ones (the target
rate was not met; x is then the rate achieved) are hollow, and points whose
client fell behind its schedule (their latency is not the server's) are boxed.
Percentiles come from the repeats' HDR histograms merged, never from averaged
percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

from echobench.benchmarks.charts import _spectra
from echobench.benchmarks.charts._base import (
    COMPACT,
    DPI,
    HATCH,
    TITLE_HEIGHT_IN,
    WIDTH_IN,
    add_legend,
    log_latency_axis,
    new_figure,
)
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.compare._order import FAMILY_ORDER, family_key
from echobench.benchmarks.compare._runview import CaseView, Run

SliceKey = tuple[str, int, int]
PERCENTILES = (50.0, 99.0, 99.9)
STYLES = {50.0: ":", 99.0: "-", 99.9: "--"}
NAMES = {50.0: "p50", 99.0: "p99", 99.9: "p99.9"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SLO_COLOUR = "#b00020"
OVERLOADED_NOTE = "hollow: overloaded (target rate\nnot met; x is the rate achieved)"
CLIENT_NOTE = "boxed: the client fell behind its\nschedule: not the server's latency"


@dataclass(frozen=True)
class Point:
    case: CaseView
    offered: float
    achieved: float
    #: p50, p99 and p99.9 [µs]; p50 and p99.9 are None without a histogram.
    latency: tuple[float | None, float | None, float | None]

    @property
    def p99(self) -> float | None:
        return self.latency[1]


def slice_text(key: SliceKey) -> str:
    transport, size, connections = key
    plural = "" if connections == 1 else "s"
    return f"{size} B, {connections} connection{plural}" + (
        "" if transport == "tcp" else f", {transport}"
    )


def _point(case: CaseView) -> Point | None:
    if not case.ok or case.rate is None:
        return None
    achieved = case.throughput()
    if achieved is None:
        return None
    values = _spectra.percentiles((r.histogram for r in case.repeats if r.histogram), PERCENTILES)
    latency: tuple[float | None, float | None, float | None]
    if values is not None:
        latency = (values[0], values[1], values[2])
    else:
        latency = (None, case.p99(), None)
    return Point(case, float(case.rate), achieved, latency)


def open_loop_points(run: Run) -> dict[SliceKey, dict[str, list[Point]]]:
    """Measured open-loop points by slice and backend, by offered rate."""
    found: dict[SliceKey, dict[str, list[Point]]] = {}
    for case in run.cases:
        point = _point(case)
        if point is None or point.p99 is None:
            continue
        key = (case.transport, case.size, case.connections)
        found.setdefault(key, {}).setdefault(case.backend, []).append(point)
    for backends in found.values():
        for points in backends.values():
            points.sort(key=lambda p: p.offered)
    return found


def curves(run: Run) -> dict[SliceKey, dict[str, list[Point]]]:
    """Slices and backends measured at two or more open-loop rates: what makes a curve."""
    result = {}
    for key, backends in open_loop_points(run).items():
        kept = {b: pts for b, pts in backends.items() if len(pts) >= 2}
        if kept:
            result[key] = kept
    return result


def common_rates(run: Run) -> dict[SliceKey, list[float]]:
    """Per slice, the rates every backend was offered alike: the latency scenario's common
    rates, else any rate measured on two or more backends (``--rate`` on several)."""
    points = open_loop_points(run)
    result: dict[SliceKey, list[float]] = {}
    declared = {
        (str(c["transport"]), int(c["size"]), int(c["connections"])): [float(r) for r in c["rates"]]
        for c in run.latency.get("common") or ()
    }
    for key, backends in points.items():
        if key in declared:
            rates = declared[key]
        else:
            seen: dict[float, int] = {}
            for pts in backends.values():
                for p in pts:
                    seen[p.offered] = seen.get(p.offered, 0) + 1
            rates = sorted(r for r, n in seen.items() if n >= 2)
        measured = [
            r
            for r in rates
            if sum(any(p.offered == r for p in pts) for pts in backends.values()) >= 2
        ]
        if measured:
            result[key] = measured
    return result


def no_common_rate(run: Run) -> str | None:
    """Why latency at equal load cannot be drawn: no open-loop rate two backends ran."""
    if common_rates(run):
        return None
    return (
        "no open-loop rate was measured on two or more backends (run --scenario latency, "
        "or --rate R on several backends)"
    )


def no_curve(run: Run) -> str | None:
    """Why latency against load cannot be drawn: no backend at two or more rates."""
    if curves(run):
        return None
    return "no backend was measured at two or more open-loop rates (run --scenario latency)"


def not_a_sweep(run: Run) -> str | None:
    """Why capacity at a latency target cannot be drawn: not a latency sweep."""
    return None if run.latency.get("sweeps") else "not a latency sweep (run --scenario latency)"


def _slo_target(run: Run) -> float | None:
    target = run.latency.get("slo_p99_us")
    return float(target) if target else None


def _capacities(run: Run) -> dict[tuple[SliceKey, str], float]:
    found = {}
    for sweep in run.latency.get("sweeps") or ():
        cap = sweep.get("capacity")
        if cap:
            key = (str(sweep["transport"]), int(sweep["size"]), int(sweep["connections"]))
            found[(key, str(sweep["backend"]))] = float(cap["messages_per_second"])
    return found


def _mark(
    ax: Axes, x: float, y: float, point: Point, colour: str, marker: str, size: float
) -> None:
    hollow = point.case.overloaded
    ax.plot(
        [x],
        [y],
        marker=marker,
        markersize=size,
        color=colour,
        mfc="white" if hollow else colour,
        mew=1.4,
        ls="none",
        gid=f"{'overloaded' if hollow else 'point'}:{point.case.id}",
    )
    if point.case.client_bound:
        ax.plot(
            [x],
            [y],
            marker="s",
            markersize=size + 7,
            mfc="none",
            mec="black",
            ls="none",
            gid=f"client-bound:{point.case.id}",
        )


def latency_vs_load(run: Run) -> Figure:
    """p50, p99 and p99.9 against the rate achieved: one panel per family and slice, that
    family's backends in colour over every other backend's p99 in grey."""
    found = curves(run)
    panels = [
        (key, family)
        for key in sorted(found)
        for family in FAMILY_ORDER
        if any(family_key(run.families()[b]) == family for b in found[key])
    ]
    figure, axes = new_figure(
        "Latency against offered load (open loop): p50, p99 and p99.9 by msg/s achieved",
        run.env_summary(),
        max(1, len(panels)),
        ncols=3 if len(panels) > 4 else 2,
    )
    figure.supxlabel(
        "Latency counts from each message's scheduled send time, so a queue that builds up "
        "shows; each family's backends in colour over every other backend's p99 in grey.",
        fontsize=9,
        x=0.01,
        ha="left",
        color="0.3",
    )
    palette = colours(run.families())
    target = _slo_target(run)
    capacities = _capacities(run)
    seen: set[str] = set()
    drawn: list[str] = []
    if not panels:
        axes[0].text(
            0.5,
            0.5,
            "no backend was measured at two or more open-loop rates",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
    low, high = math.inf, 0.0
    for ax, (key, family) in zip(axes, panels, strict=False):
        backends = found[key]
        mine = [
            b for b in run.backends() if b in backends and family_key(run.families()[b]) == family
        ]
        right = max(p.achieved for b in mine for p in backends[b]) * 1.12
        for other, points in backends.items():
            if other not in mine:
                kept = [p for p in points if p.achieved <= right]
                ax.plot([p.achieved for p in kept], [float(p.p99 or 0.0) for p in kept],
                        color="0.82", lw=1.0, zorder=1, gid=f"context:{other}")  # fmt: skip
        for backend in mine:
            drawn.append(backend)
            ys = _percentile_curves(ax, key, backend, backends[backend], palette[backend], seen)
            if ys:
                low, high = min(low, *ys), max(high, *ys)
            cap = capacities.get((key, backend))
            if cap is not None:
                seen.add("capacity")
                ax.axvline(cap, color=palette[backend], ls=(0, (1, 3)), lw=1.2, zorder=2)
        if target is not None:
            ax.axhline(target, color=SLO_COLOUR, ls="--", lw=1.2, zorder=2, gid="slo")
        ax.set_xlim(0, right)
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.set_xlabel("throughput achieved [msg/s]")
        log_latency_axis(ax)
        ax.grid(alpha=0.3, which="both")
        ax.set_title(f"{family}: {slice_text(key)}", fontsize=10)
    if high > 0:
        bottom = low / 1.5
        top = max(high, target or 0.0) * 1.5
        for ax in axes:
            ax.set_ylim(bottom, top)
    add_legend(figure, _curve_handles(palette, drawn, target, seen))
    return figure


def _percentile_curves(
    ax: Axes, key: SliceKey, backend: str, points: list[Point], colour: str, seen: set[str]
) -> list[float]:
    """One backend's p50, p99 and p99.9 curves, each point marked as measured (``seen``
    gathers the marks the legend must explain); every latency drawn."""
    drawn: list[float] = []
    for index, percentile in enumerate(PERCENTILES):
        have = [p for p in points if p.latency[index] is not None]
        if not have:
            continue
        ys = [float(p.latency[index] or 0.0) for p in have]
        drawn += ys
        ax.plot(
            [p.achieved for p in have],
            ys,
            color=colour,
            ls=STYLES[percentile],
            lw=1.8 if percentile == 99.0 else 1.1,
            zorder=3,
            gid=f"curve:{NAMES[percentile]}:{backend}:{'/'.join(map(str, key))}",
        )
        for p, y in zip(have, ys, strict=True):
            _mark(ax, p.achieved, y, p, colour, "o", 4.5 if percentile == 99.0 else 3.0)
            if p.case.overloaded:
                seen.add("overloaded")
            if p.case.client_bound:
                seen.add("client")
    return drawn


def _curve_handles(
    palette: dict[str, str], drawn: list[str], target: float | None, seen: set[str]
) -> list[Artist]:
    handles: list[Artist] = [
        Line2D([], [], color=palette[b], marker="o", label=b) for b in dict.fromkeys(drawn)
    ]
    handles += [
        Line2D([], [], color="black", ls=STYLES[p], lw=1.8 if p == 99.0 else 1.1, label=NAMES[p])
        for p in PERCENTILES
    ]
    handles.append(Line2D([], [], color="0.82", lw=1.0, label="other backends' p99"))
    if target is not None:
        handles.append(Line2D([], [], color=SLO_COLOUR, ls="--", label=f"p99 target {_us(target)}"))
    if "capacity" in seen:
        handles.append(
            Line2D([], [], color="black", ls=(0, (1, 3)), label="closed-loop capacity (probe)")
        )
    return handles + _point_notes("overloaded" in seen, "client" in seen)


def _point_notes(overloaded: bool, client: bool) -> list[Artist]:
    notes: list[Artist] = []
    if overloaded:
        notes.append(
            Line2D([], [], color="black", marker="o", mfc="white", ls="none", label=OVERLOADED_NOTE)
        )
    if client:
        notes.append(
            Line2D(
                [],
                [],
                color="black",
                marker="s",
                mfc="none",
                markersize=11,
                ls="none",
                label=CLIENT_NOTE,
            )
        )
    return notes


def _us(value: float) -> str:
    return f"{value / 1000:g} ms" if value >= 1000 else f"{value:g} µs"


def latency_at_equal_load(run: Run) -> Figure:
    """At each common rate, every backend's p99 (a dot) and its p50 to p99.9 (a line)."""
    rates = common_rates(run)
    found = open_loop_points(run)
    keys = sorted(rates)
    rows = max((len(found[k]) for k in keys), default=1)
    height = TITLE_HEIGHT_IN + len(keys or [None]) * max(2.4, 0.5 + 0.42 * rows)
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(max(1, len(keys)), 1, squeeze=False)[:, 0]
    figure.suptitle(
        "Latency at equal load: each backend's p99 at the same offered rates (open loop)\n"
        + run.env_summary(),
        fontsize=12,
        x=0.01,
        ha="left",
    )
    palette = colours(run.families())
    target = _slo_target(run)
    seen: set[str] = set()
    if not keys:
        axes[0].text(
            0.5,
            0.5,
            "no open-loop rate was measured on two or more backends",
            ha="center",
            va="center",
            transform=axes[0].transAxes,
        )
    shown: list[str] = []
    for ax, key in zip(axes, keys, strict=False):
        at = {
            backend: {p.offered: p for p in points if p.offered in rates[key]}
            for backend, points in found[key].items()
        }
        at = {b: v for b, v in at.items() if v}
        top_rate = max(rates[key])

        order = sorted(at, key=lambda b: _rank(at[b].get(top_rate), b))
        for row, backend in enumerate(order):
            shown.append(backend)
            _rate_marks(ax, row, at[backend], rates[key], palette[backend], seen)
        ax.set_yticks(range(len(order)), order)
        ax.set_ylim(len(order) - 0.5, -0.5)  # the lowest p99 at the highest rate on top
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(COMPACT)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("latency [µs, log scale]: dot p99, line p50 to p99.9")
        ax.grid(alpha=0.3, axis="x", which="both")
        if target is not None:
            ax.axvline(target, color=SLO_COLOUR, ls="--", lw=1.2, gid="slo")
        origin = _origin(run, key)
        ax.set_title(
            f"{slice_text(key)}; ranked by p99 at {top_rate:,.0f} msg/s{origin}", fontsize=10
        )
    handles: list[Artist] = [Patch(color=palette[b], label=b) for b in dict.fromkeys(shown)]
    for index, rate in enumerate(sorted({r for k in keys for r in rates[k]})):
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                marker=MARKERS[index % len(MARKERS)],
                ls="none",
                label=f"p99 at {rate:,.0f} msg/s",
            )
        )
    if target is not None:
        handles.append(Line2D([], [], color=SLO_COLOUR, ls="--", label=f"p99 target {_us(target)}"))
    handles += _point_notes("overloaded" in seen, "client" in seen)
    add_legend(figure, handles)
    return figure


def _rate_marks(
    ax: Axes, row: int, at: dict[float, Point], rates: list[float], colour: str, seen: set[str]
) -> None:
    """One backend's row: at each common rate its p99 (a marker per rate) and its p50 to
    p99.9 (a line); ``seen`` gathers the marks the legend must explain."""
    spacing = 0.8 / max(1, len(rates))
    for index, rate in enumerate(rates):
        point = at.get(rate)
        if point is None or point.p99 is None:
            continue
        y = row + (index - (len(rates) - 1) / 2) * spacing
        p50, _, p999 = point.latency
        if p50 is not None and p999 is not None:
            ax.plot([p50, p999], [y, y], color=colour, lw=1.2, zorder=2)
        _mark(ax, point.p99, y, point, colour, MARKERS[index % len(MARKERS)], 6.0)
        if point.case.overloaded:
            seen.add("overloaded")
        if point.case.client_bound:
            seen.add("client")


def _rank(point: Point | None, backend: str) -> tuple[float, str]:
    return (point.p99 if point is not None and point.p99 else math.inf, backend)


def _origin(run: Run, key: SliceKey) -> str:
    for entry in run.latency.get("common") or ():
        if (entry["transport"], entry["size"], entry["connections"]) == key:
            if entry.get("from_backend"):
                return (
                    f"\n(rates: {', '.join(f'{f:.0%}' for f in run.latency['common_fractions'])}"
                    f" of the slowest backend's, {entry['from_backend']}: "
                    f"{float(entry['from_rate']):,.0f} msg/s)"
                )
            return "\n(rates given with --rate)"
    return ""


def slo_rows(run: Run) -> list[dict[str, Any]]:
    """The sweeps with their capacity at the target, best first; those without one last."""
    rows = []
    for sweep in run.latency.get("sweeps") or ():
        slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
        rows.append({**sweep, "slo": slo})
    return sorted(
        rows, key=lambda r: (-(r["slo"].get("messages_per_second") or -1.0), r["backend"])
    )


def slo_capacity(run: Run) -> Figure:
    """Capacity at the latency target, ranked, with each backend's capacity behind it."""
    rows = slo_rows(run)
    keys = {(r["transport"], r["size"], r["connections"]) for r in rows}
    height = TITLE_HEIGHT_IN + max(2.4, 0.6 + 0.42 * len(rows))
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    target = _slo_target(run) or 0.0
    figure.suptitle(
        f"Capacity at the latency target: the highest offered load with p99 under {_us(target)}"
        f" (ranked)\n{run.env_summary()}",
        fontsize=12,
        x=0.01,
        ha="left",
    )
    palette = colours({r["backend"]: r["family"] for r in rows})
    seen: set[str] = set()
    labels = []
    right = 0.0
    for row, sweep in enumerate(rows):
        name = sweep["backend"]
        label = (
            name
            if len(keys) == 1
            else f"{name} ({slice_text((sweep['transport'], sweep['size'], sweep['connections']))})"
        )
        labels.append(label)
        right = max(right, _slo_bar(ax, row, sweep, palette[name], seen))
    ax.set_yticks(range(len(rows)), labels)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, (right or 1.0) * 1.3)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlabel(f"offered load with p99 under {_us(target)} [msg/s]")
    ax.grid(alpha=0.3, axis="x")
    handles: list[Artist] = [Patch(color=palette[r["backend"]], label=r["backend"]) for r in rows]
    handles.append(
        Patch(
            facecolor="none", edgecolor="black", ls="--", label="closed-loop capacity\n(the probe)"
        )
    )
    if "interpolated" in seen:
        handles.append(
            Patch(
                facecolor="none",
                edgecolor="none",
                label="interpolated: between the last\npoint under the target and\n"
                "the next, linearly in p99",
            )
        )
    if "client" in seen:
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch=HATCH,
                label="hatched: the open-loop client\nlimited it: the server may\ndo more",
            )
        )
    add_legend(figure, handles)
    return figure


def _slo_bar(ax: Axes, row: int, sweep: dict[str, Any], colour: str, seen: set[str]) -> float:
    """One backend's capacity at the target (a bar, or why it has none) over its
    closed-loop capacity (a dashed outline); how far right it reaches."""
    right = 0.0
    cap = (sweep.get("capacity") or {}).get("messages_per_second")
    if cap:
        right = cap
        ax.barh(row, cap, 0.8, color="none", edgecolor=colour, lw=1.0, ls="--")
    slo = sweep["slo"]
    value = slo.get("messages_per_second")
    if value is None:
        why = slo.get("reason") or sweep.get("error") or "not measured"
        ax.text(0, row, f"  none: {why}", va="center", fontsize=8, color=SLO_COLOUR)
        return right
    client = bool(slo.get("client_bound"))
    if client:
        seen.add("client")
    if slo.get("interpolated"):
        seen.add("interpolated")
    ax.barh(
        row,
        value,
        0.62,
        color=colour,
        hatch=HATCH if client else None,
        edgecolor="black" if client else colour,
        gid=f"slo:{sweep['backend']}",
    )
    notes = [f"{'≥ ' if slo.get('at_least') else ''}{value:,.0f}"]
    if slo.get("interpolated"):
        notes.append("interpolated")
    if client:
        notes.append(
            "client could go no higher"
            if slo.get("at_least")
            else "across points the client could not hold"
        )
    ax.text(value, row, "  " + ", ".join(notes), va="center", fontsize=8)
    return max(right, value)
