"""The scale charts, drawn from a small synthetic scale run: panels per family with the
rest in grey, log connection axes, starved cases ringed, bars per backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from _chartcheck import assert_units_on_axes, expected_pixels, legend_labels, png_size
from _scaledoc import BACKENDS, COUNTS, scale_doc
from matplotlib.figure import Figure

from echobench.benchmarks.charts import _catalog, _figures, _scale
from echobench.benchmarks.compare._runview import Run, run_from_doc
from echobench.benchmarks.runner._terminal import results_table


@pytest.fixture(scope="module")
def run() -> Run:
    return run_from_doc(scale_doc(), "scale.json")


@pytest.fixture(scope="module")
def figures(run: Run) -> dict[str, Figure]:
    figures, skipped = _catalog.charts_of(run, _catalog.SCALE)
    assert skipped == {}
    return figures


def test_every_scale_chart_is_drawn_with_units(figures: dict[str, Figure]) -> None:
    assert set(figures) == set(_catalog.SCALE)
    for figure in figures.values():
        assert_units_on_axes(figure)


def test_line_charts_have_a_panel_per_family_with_the_others_in_grey(
    figures: dict[str, Figure],
) -> None:
    for name in ("scale-throughput", "scale-p99", "scale-fairness"):
        axes = [ax for ax in figures[name].axes if ax.get_visible()]
        assert [ax.get_title() for ax in axes] == ["asyncio", "uvloop", "baseline"]
        for ax in axes:
            assert ax.get_xscale() == "log"
            assert list(ax.get_xticks()) == list(COUNTS)
            coloured = [line for line in ax.get_lines() if line.get_label() in
                        {b for b, *_ in BACKENDS}]  # fmt: skip
            grey = [line for line in ax.get_lines() if line.get_color() == _scale.GREY]
            assert len(coloured) == 1 and len(grey) == 2
    assert figures["scale-p99"].axes[0].get_yscale() == "log"


def test_starved_cases_are_ringed_and_named(figures: dict[str, Figure]) -> None:
    figure = figures["scale-throughput"]
    rings = [line.get_gid() for ax in figure.axes for line in ax.get_lines()
             if (line.get_gid() or "").startswith("starved:")]  # fmt: skip
    assert rings == ["starved:threads/tcp/64B/10000c/closed"]
    assert _scale.STARVED_NOTE in legend_labels(figure)
    jain = next(ax for ax in figures["scale-fairness"].axes if ax.get_title() == "baseline")
    (threads,) = [line for line in jain.get_lines() if line.get_label() == "threads"]
    assert list(threads.get_ydata()) == [0.99, 0.99, 0.15]


def test_memory_bars_are_per_backend_at_the_largest_count(figures: dict[str, Figure]) -> None:
    (ax,) = [ax for ax in figures["scale-memory"].axes if ax.get_visible()]
    widths = sorted(round(bar.get_width(), 3) for bar in ax.patches)
    assert widths == sorted(round(m / 1024, 3) for *_, m, _ in BACKENDS)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "threads (1+10,000 idle)" in labels  # the largest count is the idle case
    idle = next(ax for ax in figures["scale-idle"].axes if ax.get_visible())
    assert sorted(round(bar.get_width()) for bar in idle.patches) == [90, 90, 90]


def test_the_png_is_written_and_other_runs_draw_no_scale_chart(
    figures: dict[str, Figure], tmp_path: Path
) -> None:
    (path,) = _figures.save({"scale-memory": figures["scale-memory"]}, tmp_path)
    assert png_size(path) == expected_pixels(figures["scale-memory"])
    small = scale_doc()
    small["cases"] = [c for c in small["cases"] if c["connections"] + c["idle"] < 1000]
    skipped = _catalog.skipped(run_from_doc(small, "small.json"), _catalog.SCALE)
    assert set(skipped) == set(_catalog.SCALE)


def test_the_terminal_table_marks_starved_cases() -> None:
    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(results_table(scale_doc()))
    rows = [line for line in console.export_text().splitlines() if "10000c/" in line]
    assert any("threads" in row and "STARVED 8500" in row for row in rows)
    assert not any("STARVED" in row for row in rows if "threads" not in row)
