"""What every chart of a run shares: its size, title, legend and compact tick labels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: never pick a GUI backend from the environment

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

WIDTH_IN = 13.0
PANEL_HEIGHT_IN = 3.6
TITLE_HEIGHT_IN = 1.0
DPI = 100
HATCH = "///"


def _compact(value: float, _: object = None) -> str:
    """Tick label: 0.5, 20, 1.5k, 2M; EngFormatter's "500m" would read as a unit prefix."""
    for divisor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:g}{suffix}"
    return f"{value:g}"


COMPACT = FuncFormatter(_compact)


def new_figure(title: str, subtitle: str, panels: int, ncols: int = 2) -> tuple[Figure, list[Axes]]:
    """A figure with ``panels`` axes in a grid, sized by its rows; spare cells hidden."""
    ncols = max(1, min(ncols, panels))
    nrows = max(1, math.ceil(panels / ncols))
    figure = Figure(
        figsize=(WIDTH_IN, TITLE_HEIGHT_IN + PANEL_HEIGHT_IN * nrows), dpi=DPI, layout="constrained"
    )
    grid = figure.subplots(nrows, ncols, squeeze=False)
    axes = [ax for row in grid for ax in row]
    for spare in axes[panels:]:
        spare.set_visible(False)
    # Left-aligned, so that a long environment line never runs under the legend at the right.
    figure.suptitle(f"{title}\n{subtitle}", fontsize=12, x=0.01, ha="left")
    return figure, axes[:panels]


def spread_bar(
    ax: Axes, x: float, median: float, low: float, high: float, thin: bool = False
) -> None:
    """The black whisker from a bar's lowest repeat to its highest, around its median."""
    ax.errorbar(
        x,
        median,
        yerr=[[median - low], [high - median]],
        fmt="none",
        ecolor="black",
        elinewidth=0.8 if thin else 0.9,
        capsize=1.5 if thin else 2,
    )


def add_legend(figure: Figure, handles: Sequence[Artist]) -> None:
    figure.legend(handles=list(handles), loc="outside right upper", fontsize=9, frameon=False)


def log_latency_axis(ax: Axes, label: str = "latency [µs, log scale]") -> None:
    """A log latency y axis with ticks at 1, 2 and 5 of each decade, a light grid."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(COMPACT)
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(label)
