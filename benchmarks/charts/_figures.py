"""The charts of a file, whichever kind it is: an ``echobench run`` file or a
pytest-benchmark JSON file (``echobench plot`` draws both)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from echobench.benchmarks.charts._bench import benchmark_charts
from echobench.benchmarks.charts._scale import is_scale_run, scale_charts
from echobench.benchmarks.charts._skipped import skipped_charts
from echobench.benchmarks.charts._throughput import run_charts
from echobench.benchmarks.compare._runview import Run, is_pytest_benchmark, read_json, run_from_doc


def charts_for(path: str | Path) -> tuple[dict[str, Figure], dict[str, str]]:
    """The charts of a file (an ``echobench run`` file, or a pytest-benchmark JSON file),
    and the charts not drawn with why; a run reaching 1,000 connections adds the scale
    charts (``_scalecharts``)."""
    doc = read_json(path)
    if is_pytest_benchmark(doc):
        return benchmark_charts(doc), {}
    return run_figures(run_from_doc(doc, str(path)))


def run_figures(run: Run) -> tuple[dict[str, Figure], dict[str, str]]:
    """The charts of a run and the charts not drawn with why, in the order they are read."""
    figures, skipped = run_charts(run), skipped_charts(run)
    if is_scale_run(run):
        scale_figures, scale_skipped = scale_charts(run)
        figures, skipped = {**figures, **scale_figures}, {**skipped, **scale_skipped}
    return figures, skipped


def figures_for(path: str | Path) -> dict[str, Figure]:
    """The charts of a file that make sense for it (see ``charts_for`` for the others)."""
    return charts_for(path)[0]
