"""The open-loop latency charts: against offered load, at equal load, capacity at a target.

Open-loop latency counts from each message's scheduled send time, so a server
that falls behind shows it. Every point is a case: overloaded ones (the target
rate was not met; x is then the rate achieved) are hollow, and points whose
client could have made their latency are boxed. Percentiles come from the repeats'
HDR histograms merged, never from averaged percentiles; a latency sweep's points also
carry the 95% interval of their p99 (``runner._quantiles``), drawn as a whisker, and
its floor (the same client against ``native`` at the same rates) is drawn as a grey
band under every backend's curve. At equal load, backends are ranked by p99 only where
their intervals part, and points at the floor are never ranked above one another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
CLIENT_NOTE = "boxed: the client could have made\nit: not the server's latency"
FLOOR_COLOUR = "0.55"
FLOOR_NOTE = "the floor: the same client against\nnative (p99, 95% interval)"


@dataclass(frozen=True)
class Point:
    case: CaseView
    offered: float
    achieved: float
    #: p50, p99 and p99.9 [µs]; p50 and p99.9 are None without a histogram.
    latency: tuple[float | None, float | None, float | None]
    #: A latency sweep's figures for the point (``stats``): its p99's interval, whether
    #: it is at the floor, whether its client could have made it. Empty elsewhere.
    stats: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def p99(self) -> float | None:
        return self.latency[1]

    @property
    def p99_ci(self) -> tuple[float, float | None] | None:
        ci = self.stats.get("p99_ci_us")
        return (float(ci[0]), None if ci[1] is None else float(ci[1])) if ci else None

    @property
    def client_bound(self) -> bool:
        return bool(self.stats.get("client_bound", self.case.client_bound))

    @property
    def at_floor(self) -> bool:
        return bool(self.stats.get("at_floor"))


def slice_text(key: SliceKey) -> str:
    transport, size, connections = key
    plural = "" if connections == 1 else "s"
    return f"{size} B, {connections} connection{plural}" + (
        "" if transport == "tcp" else f", {transport}"
    )


def sweep_stats(run: Run) -> dict[str, dict[str, Any]]:
    """A latency sweep's figures per point, by case id."""
    return {
        str(point["case"]): point["stats"]
        for sweep in run.latency.get("sweeps") or ()
        for point in sweep.get("points") or ()
        if point.get("stats")
    }


def floor_only(run: Run) -> set[tuple[SliceKey, str]]:
    """The sweeps measured only as the floor: drawn as the band, never as a backend."""
    return {
        ((str(s["transport"]), int(s["size"]), int(s["connections"])), str(s["backend"]))
        for s in run.latency.get("sweeps") or ()
        if s.get("floor_only")
    }


def floor_band(run: Run) -> dict[SliceKey, list[tuple[float, float, float]]]:
    """Per slice, the floor's p99 interval at each of its rates: (rate, low, high); an
    interval open upward reaches to the p99 itself."""
    found: dict[SliceKey, list[tuple[float, float, float]]] = {}
    for sweep in run.latency.get("sweeps") or ():
        if sweep["backend"] != run.latency.get("floor_backend", "native"):
            continue
        key = (str(sweep["transport"]), int(sweep["size"]), int(sweep["connections"]))
        band = []
        for point in sweep.get("points") or ():
            stats = point.get("stats") or {}
            ci = stats.get("p99_ci_us")
            if ci and ci[0] is not None and stats.get("p99_us") is not None:
                high = ci[1] if ci[1] is not None else stats["p99_us"]
                band.append((float(point["rate"]), float(ci[0]), float(high)))
        if len(band) >= 2:
            found[key] = sorted(band)
    return found


def _point(case: CaseView, stats: dict[str, Any]) -> Point | None:
    if not case.ok or case.rate is None:
        return None
    achieved = case.throughput()
    if achieved is None:
        return None
    values = _spectra.percentiles((r.histogram for r in case.repeats if r.histogram), PERCENTILES)
    latency: tuple[float | None, float | None, float | None]
    if stats.get("p99_us") is not None:  # over the windows the sweep kept
        latency = (stats.get("p50_us"), stats["p99_us"], stats.get("p999_us"))
    elif values is not None:
        latency = (values[0], values[1], values[2])
    else:
        latency = (None, case.p99(), None)
    return Point(case, float(case.rate), achieved, latency, stats)


def open_loop_points(run: Run) -> dict[SliceKey, dict[str, list[Point]]]:
    """Measured open-loop points by slice and backend, by offered rate (a floor measured
    only as the floor is left out)."""
    found: dict[SliceKey, dict[str, list[Point]]] = {}
    stats = sweep_stats(run)
    hidden = floor_only(run)
    for case in run.cases:
        point = _point(case, stats.get(case.id, {}))
        if point is None or point.p99 is None:
            continue
        if ((case.transport, case.size, case.connections), case.backend) in hidden:
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
    if point.client_bound:
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
    bands = floor_band(run)
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
        if _draw_floor(ax, key, bands.get(key), right):
            seen.add("floor")
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
            if percentile == 99.0 and _whisker(ax, p.achieved, y, p, colour):
                seen.add("ci")
            if p.case.overloaded:
                seen.add("overloaded")
            if p.client_bound:
                seen.add("client")
    return drawn


def _whisker(ax: Axes, x: float, y: float, point: Point, colour: str) -> bool:
    """The p99's 95% interval as a vertical whisker; open upward: to 3x the p99, with a
    caret. Whether there was one to draw."""
    ci = point.p99_ci
    if ci is None:
        return False
    low, high = ci
    top = high if high is not None else 3 * y
    ax.plot(
        [x, x], [low, top], color=colour, lw=1.0, alpha=0.8, zorder=2, gid=f"ci:p99:{point.case.id}"
    )
    if high is None:
        ax.plot([x], [top], marker="^", markersize=4, color=colour, ls="none", zorder=2)
    return True


def _draw_floor(
    ax: Axes, key: SliceKey, band: list[tuple[float, float, float]] | None, right: float
) -> bool:
    """The floor's p99 interval across its rates, as a grey band; whether drawn."""
    if not band:
        return False
    kept = [b for b in band if b[0] <= right] or band[:2]
    ax.fill_between(
        [b[0] for b in kept],
        [b[1] for b in kept],
        [b[2] for b in kept],
        color=FLOOR_COLOUR,
        alpha=0.3,
        lw=0,
        zorder=0.5,
        gid=f"floor:{'/'.join(map(str, key))}",
    )
    return True


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
    if "ci" in seen:
        handles.append(
            Line2D([], [], color="black", lw=1.0, marker="|", label="p99's 95% interval")
        )
    if "floor" in seen:
        handles.append(Patch(color=FLOOR_COLOUR, alpha=0.3, label=FLOOR_NOTE))
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
        shown += _equal_load_panel(ax, key, found[key], rates[key], palette, seen)
        if target is not None:
            ax.axvline(target, color=SLO_COLOUR, ls="--", lw=1.2, gid="slo")
        ax.set_title(
            f"{slice_text(key)}; ranked by p99 at {max(rates[key]):,.0f} msg/s where the 95% "
            "intervals part\n(a shared rank: they overlap, or both are at the floor)"
            + _origin(run, key),
            fontsize=10,
        )
    handles: list[Artist] = [Patch(color=palette[b], label=b) for b in dict.fromkeys(shown)]
    for index, rate in enumerate(sorted({r for k in keys for r in rates[k]})):
        marker = MARKERS[index % len(MARKERS)]
        label = f"p99 at {rate:,.0f} msg/s"
        handles.append(Line2D([], [], color="black", marker=marker, ls="none", label=label))
    if target is not None:
        handles.append(Line2D([], [], color=SLO_COLOUR, ls="--", label=f"p99 target {_us(target)}"))
    if "ci" in seen:
        handles.append(Line2D([], [], color="black", lw=5, alpha=0.3, label="p99's 95% interval"))
    if "floor" in seen:
        ring = "grey ring: at the floor (not told\napart from native there)"
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                mfc="none",
                mec=FLOOR_COLOUR,
                markersize=11,
                ls="none",
                label=ring,
            )
        )
    handles += _point_notes("overloaded" in seen, "client" in seen)
    add_legend(figure, handles)
    return figure


def _equal_load_panel(
    ax: Axes,
    key: SliceKey,
    found: dict[str, list[Point]],
    rates: list[float],
    palette: dict[str, str],
    seen: set[str],
) -> list[str]:
    """One slice: a row per backend, ranked at the highest common rate; the rows drawn."""
    at = {
        backend: {p.offered: p for p in points if p.offered in rates}
        for backend, points in found.items()
    }
    at = {b: v for b, v in at.items() if v}
    top_rate = max(rates)
    tops = {b: v[top_rate] for b, v in at.items() if top_rate in v}
    ranked = ranks(tops)
    order = sorted(at, key=lambda b: (ranked.get(b, len(at) + 1), _rank(tops.get(b), b)))
    labels = []
    for row, backend in enumerate(order):
        _rate_marks(ax, row, at[backend], rates, palette[backend], seen)
        top = tops.get(backend)
        floor = " (at the floor)" if top is not None and top.at_floor else ""
        labels.append(f"{ranked[backend]}. {backend}{floor}" if backend in ranked else backend)
    ax.set_yticks(range(len(order)), labels)
    ax.set_ylim(len(order) - 0.5, -0.5)  # the lowest p99 at the highest rate on top
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(COMPACT)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("latency [µs, log scale]: dot p99, line p50 to p99.9")
    ax.grid(alpha=0.3, axis="x", which="both")
    return order


def surely_below(a: Point, b: Point) -> bool:
    """Whether ``a``'s p99 is surely under ``b``'s: their 95% intervals part (or, without
    intervals, their p99s differ), and not both at the floor, where the instrument
    cannot tell them apart."""
    if a.at_floor and b.at_floor:
        return False
    ci_a, ci_b = a.p99_ci, b.p99_ci
    if ci_a is None or ci_b is None:
        if a.stats or b.stats:  # a sweep's point without an interval: undecided
            return False
        return a.p99 is not None and b.p99 is not None and a.p99 < b.p99
    return ci_a[1] is not None and ci_a[1] < ci_b[0]


def ranks(points: dict[str, Point]) -> dict[str, int]:
    """Each backend's rank at one rate: one more than the backends surely under it, so
    backends that cannot be told apart share a rank."""
    return {
        name: 1 + sum(surely_below(other, point) for o, other in points.items() if o != name)
        for name, point in points.items()
    }


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
        ci = point.p99_ci
        if ci is not None:
            seen.add("ci")
            high = ci[1] if ci[1] is not None else 3 * point.p99
            ax.plot(
                [ci[0], high],
                [y, y],
                color=colour,
                lw=5,
                alpha=0.3,
                zorder=1,
                solid_capstyle="butt",
                gid=f"ci:p99:{point.case.id}",
            )
        _mark(ax, point.p99, y, point, colour, MARKERS[index % len(MARKERS)], 6.0)
        if point.at_floor:
            seen.add("floor")
            ax.plot(
                [point.p99],
                [y],
                marker="o",
                mfc="none",
                mec=FLOOR_COLOUR,
                markersize=11,
                ls="none",
                zorder=4,
                gid=f"at-floor:{point.case.id}",
            )
        if point.case.overloaded:
            seen.add("overloaded")
        if point.client_bound:
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
    """The ranked sweeps with their capacity at the target, best first; those without one
    last (a floor measured only as the floor is not ranked). Each row's ``rank`` is one
    more than the rows whose range lies wholly above its own: ranges that overlap share."""
    rows = []
    for sweep in run.latency.get("sweeps") or ():
        if sweep.get("floor_only"):
            continue
        slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
        rows.append({**sweep, "slo": slo})
    for row in rows:
        row["rank"] = 1 + sum(_surely_more(other["slo"], row["slo"]) for other in rows)
    return sorted(
        rows,
        key=lambda r: (r["rank"], -(r["slo"].get("messages_per_second") or -1.0), r["backend"]),
    )


def _surely_more(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether capacity ``a`` surely exceeds ``b``: a's range starts above where b's ends
    (without ranges, an older file, their values differ)."""
    if a.get("messages_per_second") is None:
        return False
    if b.get("messages_per_second") is None:
        return True
    if "range" not in a or "range" not in b:
        return float(a["messages_per_second"]) > float(b["messages_per_second"])
    a_low, b_high = (a["range"] or [None, None])[0], (b["range"] or [None, None])[1]
    return a_low is not None and b_high is not None and a_low > b_high


def slo_capacity(run: Run) -> Figure:
    """Capacity at the latency target, ranked, with each backend's capacity behind it."""
    rows = slo_rows(run)
    keys = {(r["transport"], r["size"], r["connections"]) for r in rows}
    height = TITLE_HEIGHT_IN + max(2.4, 0.6 + 0.42 * len(rows))
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    target = _slo_target(run) or 0.0
    figure.suptitle(
        f"Capacity at the latency target: every point under p99 {_us(target)} up to it "
        f"(first crossing)\n{run.env_summary()}",
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
        labels.append(f"{sweep['rank']}. {label}")
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
    if "range" in seen:
        handles.append(
            Line2D(
                [],
                [],
                color="black",
                marker="|",
                markersize=9,
                lw=1.2,
                label="range: the last rate surely\nunder the target to the first\n"
                "surely over it (> open)",
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
    low, high = slo.get("range") or (None, None)
    end = value
    if low is not None or high is not None:
        seen.add("range")
        start = low if low is not None else 0.0
        end = high if high is not None else value * 1.25
        ax.plot(
            [start, end],
            [row, row],
            color="black",
            lw=1.2,
            zorder=3,
            marker="|",
            markersize=9,
            gid=f"range:{sweep['backend']}",
        )
        if high is None:
            ax.plot([end], [row], marker=">", color="black", markersize=5, zorder=3)
    if slo.get("undecided"):
        notes.append(f"{len(slo['undecided'])} undecided")
    ax.text(end, row, "  " + ", ".join(notes), va="center", fontsize=8)
    return max(right, value, end)
