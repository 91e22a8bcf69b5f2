"""The latency-over-time chart, drawn from interval logs written as the load client writes them."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from _chartcheck import RUN_SMALL, assert_units_on_axes, expected_pixels, legend_labels, png_size

from echobench._cli import main
from echobench.benchmarks.charts import _overtime
from echobench.benchmarks.charts._catalog import skipped
from echobench.benchmarks.charts._hlogs import read_intervals
from echobench.benchmarks.compare._runview import load_run
from echobench.benchmarks.publish._step import _move_interval_logs
from echobench.clients._histogram import SampleCounts
from echobench.clients._intervals import Intervals

CASES = ("asyncio-protocol/tcp/64B/10c/5000rps", "uvloop-protocol/tcp/64B/10c/5000rps")
#: p99 per one-second interval of each repeat's log, µs; one spike to find on the chart.
QUIET, SPIKE = 100.0, 50_000.0


def _write_log(path: Path, p99s: list[float]) -> None:
    intervals = Intervals(1, 0, path=str(path), header="test")
    for index, p99 in enumerate(p99s):
        counts = SampleCounts()
        # 99 samples at 50 µs and one at the p99 value: HDR's p99 is the 99th-ranked one.
        counts.add(np.array([50_000] * 98 + [round(p99 * 1e3)] * 2, dtype=np.int64))
        start = 1_000_000_000 + index * 1_000_000_000
        intervals.add(index, counts.take(), start, start + 1_000_000_000)
    intervals.finish(0)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    doc = json.loads(RUN_SMALL.read_text())
    logs = tmp_path / "run-hlog"
    for case in doc["cases"]:
        if case["id"] not in CASES:
            continue
        for repeat in case["repeats"][:2]:
            name = f"{case['id'].replace('/', '_')}.r{repeat['repeat']}.hlog"
            spiky = case["id"] == CASES[0] and repeat is case["repeats"][1]
            _write_log(logs / name, [QUIET, QUIET, SPIKE if spiky else QUIET, QUIET])
            repeat["hlog"] = f"run-hlog/{name}"
    out = tmp_path / "run.json"
    out.write_text(json.dumps(doc))
    return out


def test_the_log_reads_back_as_written(results: Path) -> None:
    intervals = read_intervals(
        results.parent / "run-hlog" / f"{CASES[0].replace('/', '_')}.r1.hlog"
    )
    assert [i.start_s for i in intervals] == [0.0, 1.0, 2.0, 3.0]
    assert [i.length_s for i in intervals] == [1.0] * 4
    assert [i.count for i in intervals] == [100] * 4
    assert intervals[2].p99_us == pytest.approx(SPIKE, rel=1e-3)
    assert intervals[0].p99_us == pytest.approx(QUIET, rel=1e-3)
    assert intervals[0].p50_us == pytest.approx(50, rel=1e-3)


def test_p50_p99_and_max_per_interval_with_the_spike_in_place(
    results: Path, tmp_path: Path
) -> None:
    run = load_run(results)
    assert "latency-over-time" not in skipped(run)
    figure = _overtime.latency_over_time(run)
    assert_units_on_axes(figure)
    assert {"asyncio-protocol", "uvloop-protocol", "p50", "p99", "max"} <= set(
        legend_labels(figure)
    )
    lines = {str(line.get_gid()): line for ax in figure.axes for line in ax.get_lines()}
    for case in CASES:
        for what in ("p50", "p99", "max"):
            assert f"{what}:{case}" in lines
    xs = list(lines[f"p99:{CASES[0]}"].get_xdata())
    ys = list(lines[f"p99:{CASES[0]}"].get_ydata())
    points = [(x, y) for x, y in zip(xs, ys, strict=True) if not math.isnan(x)]
    # Two repeats of four 1 s intervals end to end: the spike is the second repeat's third.
    assert [x for x, _ in points] == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5]
    spikes = [x for x, y in points if y > 10 * QUIET]
    assert spikes == [6.5]
    quiet = [y for x, y in points if x != 6.5]
    assert all(y == pytest.approx(QUIET, rel=1e-3) for y in quiet)
    calm = [y for y in lines[f"p99:{CASES[1]}"].get_ydata() if not math.isnan(y)]
    assert max(calm) == pytest.approx(QUIET, rel=1e-3)
    path = tmp_path / "latency-over-time.png"
    figure.savefig(path, dpi=figure.dpi)
    assert png_size(path) == expected_pixels(figure)


def test_skipped_with_a_reason_when_the_logs_are_absent(results: Path, tmp_path: Path) -> None:
    assert "no interval logs" in skipped(load_run(RUN_SMALL))["latency-over-time"]
    (tmp_path / "run-hlog").rename(tmp_path / "elsewhere")
    why = skipped(load_run(results))["latency-over-time"]
    assert "not beside the results file" in why


def test_cli_plot_draws_it(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(results), "--out", str(results.parent / "charts")]) == 0
    assert "latency-over-time.png" in capsys.readouterr().out
    assert png_size(results.parent / "charts" / "latency-over-time.png")[0] > 0


def test_published_run_keeps_its_logs_under_its_own_name(results: Path) -> None:
    # echobench publish runs into a partial file, then renames it: the logs follow.
    partial = results.with_name(".run.json.publishing.json")
    doc = json.loads(results.read_text())
    for case in doc["cases"]:
        for repeat in case["repeats"]:
            if "hlog" in repeat:
                repeat["hlog"] = repeat["hlog"].replace("run-hlog/", f"{partial.stem}-hlog/")
    partial.write_text(json.dumps(doc))
    (results.parent / "run-hlog").rename(results.parent / f"{partial.stem}-hlog")
    os.replace(partial, results)
    _move_interval_logs(partial, results)
    assert "latency-over-time" not in skipped(load_run(results))
    assert not (results.parent / f"{partial.stem}-hlog").exists()
    refs = [r.get("hlog") for c in json.loads(results.read_text())["cases"] for r in c["repeats"]]
    assert {ref.split("/")[0] for ref in refs if ref} == {"run-hlog"}
