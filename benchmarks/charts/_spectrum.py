"""The latency percentile spectrum: 50% to 99.99% on a "nines" axis, from the repeats'
HDR histograms merged (``_spectra``), never from averaged percentiles."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from echobench.benchmarks.charts import _spectra
from echobench.benchmarks.charts._base import add_legend, log_latency_axis
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._panels import (
    backend_handles,
    client_bound_handles,
    closed_cases,
    per_slice,
    present,
)
from echobench.benchmarks.compare._runview import Run, slice_label


def no_histogram(run: Run) -> str | None:
    """Why the spectrum cannot be drawn: no closed-loop case recorded a histogram."""
    if any(r.histogram for c in closed_cases(run) for r in c.repeats):
        return None
    return "no closed-loop latency histogram was recorded"


CLOSED_LOOP_LATENCY_NOTE = (
    "Closed loop: each backend ran at its own maximum, so the loads differ between backends "
    "and these latencies answer different questions; compare latency at equal load in "
    "latency-at-equal-load."
)


def latency_spectrum(run: Run) -> Figure:
    figure, panels = per_slice(
        run,
        "Closed-loop latency spectrum, each backend at its own load: the loads differ "
        "(HDR histograms of the repeats merged)",
        closed_only=True,
    )
    figure.supxlabel(CLOSED_LOOP_LATENCY_NOTE, fontsize=9, x=0.01, ha="left", color="0.3")
    backends = present(run, closed_cases(run))
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
        log_latency_axis(ax, "latency [µs]")
        ax.set_xlim(_spectra.LOWEST_NINES, _spectra.HIGHEST_NINES)
        ax.xaxis.set_major_locator(FixedLocator(list(_spectra.NINES_TICKS)))
        ax.xaxis.set_major_formatter(FixedFormatter(list(_spectra.NINES_TICKS.values())))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("percentile [%]")
        ax.grid(alpha=0.3, which="both")
        title = slice_label(key)
        if missing:
            title += f"\nno histogram: {', '.join(missing)}"
        ax.set_title(title, fontsize=9)
    handles = backend_handles(run, [b for b in backends if b in drawn], "line")
    for handle in handles:
        assert isinstance(handle, Line2D)
        handle.set_marker("")
    add_legend(figure, handles + client_bound_handles(seen_client_bound))
    return figure
