"""What the charts of a run share: their panels, one per slice of the run's parameters,
the legend entries every chart gives, and the advice a chart that is not drawn gives."""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from echobench.benchmarks.charts import _latency
from echobench.benchmarks.charts._base import new_figure
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.compare._runview import CaseView, Run


def advice(run: Run, what: str) -> str:
    """How to get the chart a run could not draw: ``what``, unless it was a --quick run."""
    if "--quick" in (run.environment.get("command_line") or ()):
        return "run without --quick"
    return what


def client_bound_note(how: str) -> str:
    return f"client saturated ({how}):\nmeasures the load client,\nnot (only) the server"


SliceKey = tuple[str, int, int, float | None, int, int]


def backend_handles(run: Run, backends: Iterable[str], kind: str) -> list[Artist]:
    palette = colours(run.families())
    if kind == "bar":
        return [Patch(facecolor=palette[b], label=b) for b in backends]
    return [Line2D([], [], color=palette[b], marker="o", label=b) for b in backends]


def present(run: Run, cases: Iterable[CaseView]) -> list[str]:
    names = {c.backend for c in cases}
    return [b for b in run.backends() if b in names]


def closed_cases(run: Run) -> list[CaseView]:
    """The closed-loop cases; those in vmbench's readline mode (another workload: a
    message is several lines) are left to the vmbench chart."""
    return [c for c in run.cases if c.rate is None and not c.readline]


def no_data(figure: Figure, ax: Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])


def client_bound_handles(seen: bool, boxed: bool = False) -> list[Artist]:
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


def slices(run: Run, closed_only: bool = False) -> list[SliceKey]:
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


def per_slice(
    run: Run, title: str, closed_only: bool = False
) -> tuple[Figure, list[tuple[Axes, SliceKey]]]:
    """A figure with one panel per combination of parameters, every case included."""
    keys = slices(run, closed_only)
    figure, axes = new_figure(
        title, run.env_summary(), max(1, len(keys)), ncols=3 if len(keys) > 4 else 2
    )
    if not keys:
        no_data(figure, axes[0], "no cases in this file")
    return figure, list(zip(axes, keys, strict=False))
