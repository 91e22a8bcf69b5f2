"""The charts of a file, whichever kind it is: an ``echobench run`` file or a
pytest-benchmark JSON file (``echobench plot`` draws both), and saving them."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from echobench.benchmarks.charts._base import DPI
from echobench.benchmarks.charts._bench import benchmark_charts
from echobench.benchmarks.charts._catalog import charts_of
from echobench.benchmarks.compare._runview import Run, is_pytest_benchmark, read_json, run_from_doc
from echobench.servers._errors import UserError


def charts_for(path: str | Path) -> tuple[dict[str, Figure], dict[str, str]]:
    """The charts of a file (an ``echobench run`` file, or a pytest-benchmark JSON file),
    and the charts not drawn with why; a run reaching 1,000 connections adds the scale
    charts (``_scale``)."""
    doc = read_json(path)
    if is_pytest_benchmark(doc):
        return benchmark_charts(doc), {}
    return run_figures(run_from_doc(doc, str(path)))


def run_figures(run: Run) -> tuple[dict[str, Figure], dict[str, str]]:
    """The charts of a run and the charts not drawn with why, in the order they are read."""
    return charts_of(run)


def figures_for(path: str | Path) -> dict[str, Figure]:
    """The charts of a file that make sense for it (see ``charts_for`` for the others)."""
    return charts_for(path)[0]


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
