"""Charts from thin runs: the 100 ms series, one repeat, and charts that cannot say anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _chartcheck import RUN_SMALL, legend_labels, title_text
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from echobench._cli import main
from echobench.benchmarks.charts import _catalog, _figures, _overtime, _throughput
from echobench.benchmarks.compare._runview import Run, run_from_doc
from echobench.benchmarks.report._page import render
from echobench.benchmarks.runner import _results


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(RUN_SMALL.read_text())
    return doc


def _quick_like(doc: dict[str, Any], repeats: int = 1) -> dict[str, Any]:
    """What ``echobench run --quick`` gives: one size, one connection count, few repeats."""
    doc["cases"] = [c for c in doc["cases"] if (c["size"], c["connections"], c["rate"]) == (
        1024, 10, None)]  # fmt: skip
    for case in doc["cases"]:
        case["repeats"] = case["repeats"][:repeats]
        for repeat in case["repeats"]:
            # As the runner records it: CPU over its own sampling window, a little longer
            # than the load's measured window.
            cpu = repeat["server_cpu"]
            cpu["window_s"] = repeat["load"]["elapsed_s"] * 1.03
            cpu["cores_used"] = cpu["seconds"] / cpu["window_s"]
        case["summary"] = _results.summarize(case["repeats"])
    doc["environment"]["command_line"] = ["echobench", "run", "--quick", "--out", "x.json"]
    return doc


def _stability_line(figure: Figure, case_id: str) -> tuple[list[float], list[float]]:
    for ax in figure.axes:
        for line in ax.get_lines():
            if line.get_gid() == f"stability:{case_id}":
                return [float(x) for x in line.get_xdata()], [float(y) for y in line.get_ydata()]
    raise AssertionError(f"no stability line for {case_id}")


def test_stability_draws_the_100ms_series() -> None:
    doc = _doc()
    run = run_from_doc(doc, "series")
    raw = next(c for c in doc["cases"] if c["id"] == "twisted/tcp/1024B/10c/closed")
    figure = _overtime.stability(run)
    xs, ys = _stability_line(figure, raw["id"])
    expected: list[float] = []
    for repeat in raw["repeats"]:
        series = repeat["load"]["series"]
        expected += [n / series["interval_s"] for n in series["counts"]] + [float("nan")]
    assert len(ys) == len(expected) == 5 * 51
    assert all(a == pytest.approx(b, nan_ok=True) for a, b in zip(ys, expected, strict=True))
    # Points sit mid-interval, and a repeat starts where the previous one ended.
    assert xs[0] == pytest.approx(0.05) and xs[51] == pytest.approx(5.05)
    # The stall in the fourth repeat's third second shows as a dip a per-second point hides.
    fourth = ys[3 * 51 : 4 * 51 - 1]
    assert min(fourth) < 0.2 * max(fourth)
    assert "each 100 ms" in title_text(figure)
    assert "start of a repeat" in legend_labels(figure)


def test_stability_falls_back_to_per_second_without_a_series() -> None:
    doc = _doc()
    for case in doc["cases"]:
        for repeat in case["repeats"]:
            del repeat["load"]["series"]
    raw = next(c for c in doc["cases"] if c["id"] == "twisted/tcp/1024B/10c/closed")
    figure = _overtime.stability(run_from_doc(doc, "per-second"))
    xs, ys = _stability_line(figure, raw["id"])
    assert [y for y in ys if y == y] == [
        float(v) for r in raw["repeats"] for v in r["load"]["per_second"]
    ]
    assert xs[0] == pytest.approx(0.5)
    assert "each measured second" in title_text(figure)


@pytest.mark.parametrize(
    "series",
    [{"interval_s": 0, "counts": [1, 2]}, {"interval_s": 0.1, "counts": [1, -2]}, [1, 2]],
)
def test_an_unusable_series_falls_back_to_per_second(series: object) -> None:
    doc = _doc()
    case = doc["cases"][0]
    case["repeats"][0]["load"]["series"] = series
    repeat = run_from_doc(doc, "bad-series").cases[0].repeats[0]
    assert repeat.series_interval_s == 1.0
    assert repeat.series == tuple(float(v) for v in case["repeats"][0]["load"]["per_second"])


def test_one_connection_count_skips_throughput_vs_connections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _quick_like(_doc())
    path = tmp_path / "quick.json"
    path.write_text(json.dumps(doc))
    figures, skipped = _figures.charts_for(path)
    assert "throughput-vs-connections" not in figures
    assert set(_figures.figures_for(path)) == set(figures)
    assert skipped["throughput-vs-connections"] == (
        "this run has one connection count (10 connections); run without --quick"
    )
    # The 100 ms series still gives 10 points per repeat, so stability is drawn.
    assert {"throughput-by-size", "latency-spectrum", "cpu-efficiency", "stability"} == set(figures)
    assert main(["plot", str(path), "--out", str(tmp_path / "charts")]) == 0
    out = capsys.readouterr().out
    note = (
        "skipped throughput-vs-connections: this run has one connection count "
        "(10 connections); run without --quick"
    )
    assert note in out.splitlines()
    assert not (tmp_path / "charts" / "throughput-vs-connections.png").exists()
    assert len(list((tmp_path / "charts").glob("*.png"))) == 4
    html = render(run_from_doc(doc, str(path)))
    assert note in html and 'alt="throughput-vs-connections"' not in html
    assert html.count('<svg class="chart"') == 4
    assert "Each case ran once (1 repeat): there is no spread" in html
    assert "none was unstable" not in html


def test_charts_without_their_data_are_skipped() -> None:
    doc = _quick_like(_doc())
    for case in doc["cases"]:
        for repeat in case["repeats"]:
            # A 1 s repeat from a load client without a series, no histogram, no server CPU.
            repeat["load"].pop("series")
            repeat["load"].pop("histogram")
            repeat["load"]["per_second"] = repeat["load"]["per_second"][:1]
            repeat["server_cpu"] = None
        case["summary"] = _results.summarize(case["repeats"])
    run = run_from_doc(doc, "thin")
    skipped = _catalog.skipped(run)
    assert set(skipped) == {
        "throughput-vs-connections",
        "latency-at-equal-load",
        "latency-vs-load",
        "slo-capacity",
        "latency-spectrum",
        "cpu-efficiency",
        "stability",
        "latency-over-time",
    }
    assert "latency histogram" in skipped["latency-spectrum"]
    assert "no interval logs" in skipped["latency-over-time"]
    assert "--scenario latency" in skipped["latency-vs-load"]
    assert "server CPU" in skipped["cpu-efficiency"]
    assert skipped["stability"].startswith("one throughput sample per case")
    assert set(_catalog.charts_of(run)[0]) == {"throughput-by-size"}


def test_nothing_measured_skips_every_chart() -> None:
    doc = _doc()
    for case in doc["cases"]:
        case.update(status="failed", repeats=[], summary=None)
    run = run_from_doc(doc, "all-failed")
    assert set(_catalog.skipped(run)) == {c.name for c in _catalog.CHARTS if c.kind(run) is None}
    assert _catalog.charts_of(run)[0] == {}


def _flat(figure: Figure) -> list[float]:
    """Length of every error bar drawn."""
    spans = []
    for ax in figure.axes:
        for container in ax.containers:
            if isinstance(container, ErrorbarContainer) and container.lines[2]:
                for segment in container.lines[2][0].get_segments():
                    spans.append(abs(float(segment[1][1]) - float(segment[0][1])))
    return spans


def test_one_repeat_claims_no_spread() -> None:
    run: Run = run_from_doc(_quick_like(_doc()), "one-repeat")
    for name in ("throughput-by-size", "cpu-efficiency"):
        figure = _catalog.BY_NAME[name].draw(run)
        labels = legend_labels(figure)
        assert any("1 repeat: no spread" in label for label in labels), name
        assert not any("min-max" in label for label in labels), name
        assert figure._supxlabel is not None and "1 repeat" in figure._supxlabel.get_text()
        spans = _flat(figure)
        assert spans and all(span == pytest.approx(0.0, abs=1e-6) for span in spans), name
    # No repeat boundary is drawn, so the legend does not list one.
    assert "start of a repeat" not in legend_labels(_overtime.stability(run))


def test_several_repeats_show_their_real_spread() -> None:
    run = run_from_doc(_quick_like(_doc(), repeats=3), "three-repeats")
    figure = _throughput.cpu_efficiency(run)
    assert any("min-max" in label for label in legend_labels(figure))
    assert figure._supxlabel is None
    assert any(span > 0 for span in _flat(figure))
