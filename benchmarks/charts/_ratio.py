"""The ``compare --chart`` figure: throughput ratio B/A per matched case, log scale."""

from __future__ import annotations

import math

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from echobench.benchmarks.charts._base import DPI, WIDTH_IN, add_legend
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.compare._comparison import Comparison, Pair

TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100)


def ratio_chart(comparisons: list[Comparison], subtitle: str) -> Figure:
    rows = [(c, p) for c in comparisons for p in c.pairs if p.throughput.ratio.median is not None]
    height = 1.6 + 0.32 * max(1, len(rows))
    figure = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    figure.suptitle(
        f"Throughput ratio B/A (median; thick: confidence interval, whiskers: range over the "
        "repeats)"
        f"\n{subtitle}",
        fontsize=12,
        x=0.01,
        ha="left",
    )
    palette = colours({p.b.backend: p.b.family for _, p in rows})
    labels = []
    seen_significant = False
    for y, (comparison, pair) in enumerate(rows):
        seen_significant |= _row(ax, y, pair, palette[pair.b.backend])
        label = (
            f"{comparison.b_name} vs {comparison.a_name}: {pair.label}"
            if len(comparisons) > 1
            else f"{pair.b.backend}: {pair.label}"
        )
        client_bound = pair.a.client_bound or pair.b.client_bound
        labels.append(label + (" (client saturated)" if client_bound else ""))
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    _ratio_axis(ax, [p for _, p in rows])
    add_legend(figure, _handles(palette, [p for _, p in rows], seen_significant))
    return figure


def _row(ax: Axes, y: int, pair: Pair, colour: str) -> bool:
    """One matched case's bar from 1, its range and interval, and its verdict; whether a
    change was called."""
    r = pair.throughput.ratio
    assert r.median is not None
    low = min(r.low, r.median) if r.low is not None else r.median
    high = max(r.high, r.median) if r.high is not None else r.median
    # Bars grow from 1 (no change), so that a log axis shows gains and losses alike.
    ax.barh(
        y,
        r.median - 1.0,
        left=1.0,
        color=colour,
        height=0.7,
        hatch="///" if pair.a.client_bound or pair.b.client_bound else None,
        edgecolor="black" if pair.a.client_bound or pair.b.client_bound else None,
    )
    ax.errorbar(
        r.median,
        y,
        xerr=[[r.median - low], [high - r.median]],
        fmt="o",
        color=colour,
        markeredgecolor="black",
        markersize=4,
        ecolor="black",
        capsize=2,
    )
    ci = pair.throughput.interval
    if ci.low is not None and ci.high is not None:
        ax.plot(
            [ci.low, ci.high],
            [y, y],
            color="black",
            lw=3.5,
            solid_capstyle="butt",
            zorder=1.5,  # under the median's marker
            gid=f"ci:{y}",
        )
    ax.text(high * 1.02, y, f" {pair.throughput.short()}", va="center", fontsize=7)
    return bool(pair.throughput.significant)


def _ratio_axis(ax: Axes, pairs: list[Pair]) -> None:
    """A log axis of ratios around 1, with room on the right for the verdicts."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.axvline(1.0, color="black", lw=0.8)
    if pairs:
        values = [v for p in pairs for v in (p.throughput.ratio.low, p.throughput.ratio.high) if v]
        lo, hi = min([*values, 1.0]), max([*values, 1.0])
        span = max(math.log10(hi / lo), 0.05)
        # Room on the right for the significance note.
        left, right = lo / 10 ** (0.1 * span), hi * 10 ** (0.9 * span)
        ax.set_xlim(left, right)
        ax.xaxis.set_major_locator(FixedLocator([t for t in TICKS if left <= t <= right]))
    else:
        ax.text(0.5, 0.5, "no matching cases", transform=ax.transAxes, ha="center")
    ax.set_xlabel("throughput ratio B/A [times, log scale; > 1: B is faster]")
    ax.grid(axis="x", alpha=0.3, which="both")


def _handles(palette: dict[str, str], pairs: list[Pair], seen_significant: bool) -> list[Artist]:
    handles: list[Artist] = [Patch(facecolor=c, label=b) for b, c in palette.items()]
    handles.append(
        Line2D(
            [],
            [],
            color="black",
            marker="|",
            ls="none",
            label="range: min(B)/max(A)\nto max(B)/min(A)",
        )
    )
    handles.append(
        Line2D([], [], color="black", lw=3.5, label="exact Hodges-Lehmann\nconfidence interval")
    )
    if any(p.a.client_bound or p.b.client_bound for p in pairs):
        handles.append(
            Patch(
                facecolor="white",
                edgecolor="black",
                hatch="///",
                label=(
                    "a side's client saturated:\nmeasures the load client,\nnot (only) the server"
                ),
            )
        )
    if seen_significant:
        handles.append(
            Patch(
                facecolor="none",
                edgecolor="none",
                label=(
                    "yes: change called (rank\ntest after the correction,\n"
                    "CI outside the noise band)"
                ),
            )
        )
    return handles
