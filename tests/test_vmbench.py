"""``--scenario vmbench``: its matrix, the chart in uvloop's style, and the README's part.

The chart and the sentences are checked on a small synthetic run whose every ratio is
known (``tests/_vmbenchdoc.py``); the scenario's matrix is checked as the runner plans it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _chartcheck import expected_pixels, legend_labels, png_size
from _vmbenchdoc import BOTH, CLIENT_BOUND, FAILED, SIZES, vmbench_doc
from matplotlib.figure import Figure

from echobench.benchmarks.charts import _catalog, _figures, _vmbench
from echobench.benchmarks.charts._palette import FAMILY_COLOURS
from echobench.benchmarks.compare._runview import Run, run_from_doc
from echobench.benchmarks.publish import _step_uring, _step_vmbench
from echobench.benchmarks.runner._matrix import build_cases
from echobench.benchmarks.runner._scenarios import SCENARIOS


@pytest.fixture(scope="module")
def run() -> Run:
    return run_from_doc(vmbench_doc(), "vmbench.json")


@pytest.fixture(scope="module")
def figure(run: Run) -> Figure:
    figures, skipped = _catalog.charts_of(run, ["vmbench"])
    assert skipped == {}
    return figures["vmbench"]


def _bars(figure: Figure, prefix: str) -> dict[str, float]:
    return {
        str(patch.get_gid())[len(prefix) :]: patch.get_height()
        for ax in figure.axes
        for patch in ax.patches
        if str(patch.get_gid()).startswith(prefix)
    }


def test_the_scenario_is_vmbenchs_matrix() -> None:
    config = SCENARIOS["vmbench"].defaults
    assert config["sizes"] == [1024, 10240, 102400] and config["connections"] == [10]
    assert config["readline"] == 5 and config["rates"] == [None]
    assert {"asyncio-sockets", "uvloop-streams", "rloop-protocol", "uring-native", "native"} <= set(
        config["backends"]  # type: ignore[call-overload]
    )
    backends = [("asyncio-streams", "asyncio", ("tcp",)), ("asyncio-protocol", "asyncio", ("tcp",))]
    cases, _ = build_cases(
        backends, transports=["tcp"], sizes=[1024], connections=[10], rates=[None],
        readline=5, readline_backends={"asyncio-streams"},
    )  # fmt: skip
    assert [c.id for c in cases] == [
        "asyncio-streams/tcp/1024B/10c/closed",
        "asyncio-streams/tcp/1024B/10c/closed/readline5",
        "asyncio-protocol/tcp/1024B/10c/closed",
    ]


def test_a_group_per_server_and_a_bar_per_size_in_uvloops_colours(run: Run, figure: Figure) -> None:
    upper, lower = figure.axes
    labels = [t.get_text() for t in lower.get_xticklabels()]
    assert labels[:4] == ["asyncio\nprotocol", "asyncio\nsockets", "asyncio\nstreams",
                          "asyncio\nstreams\nreadline x5"]  # fmt: skip
    assert "rloop\nprotocol †" in labels and labels[-1] == "native"
    bars = _bars(figure, "vmbench:")
    measured = {c.id: c.throughput() for c in run.cases if c.ok}
    assert bars == measured and FAILED not in bars
    colours = {patch.get_facecolor() for patch in upper.patches if patch.get_gid()}
    assert len(colours) == len(SIZES)  # coloured by size, as uvloop's chart
    assert legend_labels(figure)[:3] == ["1 KiB", "10 KiB", "100 KiB"]
    strips = {line.get_gid(): line.get_color() for line in upper.get_lines() if line.get_gid()}
    assert strips["family:rloop-sockets"] == FAMILY_COLOURS["rloop"]
    assert strips["family:uring-native"] == FAMILY_COLOURS["uring"]
    texts = {t.get_text() for t in upper.texts}
    assert {"C", "B", " failed"} <= texts
    assert upper.get_ylabel() == "throughput [requests/s]"


def test_the_lower_panel_is_each_server_over_asyncio_on_its_api(figure: Figure) -> None:
    ratios = _bars(figure, "vmbench-ratio:")
    assert ratios["uvloop-streams/tcp/10240B/10c/closed"] == pytest.approx(2.5)
    assert ratios["uvloop-streams/tcp/1024B/10c/closed/readline5"] == pytest.approx(1.3)
    assert ratios["rloop-sockets/tcp/1024B/10c/closed"] == pytest.approx(0.9)
    assert ratios["uring-native/tcp/102400B/10c/closed"] == pytest.approx(1.8)
    assert ratios[CLIENT_BOUND] == pytest.approx(2.0)
    assert ratios[BOTH] == pytest.approx(1.2)
    assert not any(key.startswith("asyncio-") for key in ratios)  # the 1x line itself
    lower = figure.axes[1]
    assert lower.get_yscale() == "log" and "[times" in lower.get_ylabel()
    band = [p for p in lower.patches if not p.get_gid()]
    assert band and band[0].get_y() == _vmbench.CLAIM[0]


def test_the_png_is_written_and_other_runs_draw_no_vmbench_chart(
    figure: Figure, tmp_path: Path
) -> None:
    (path,) = _figures.save({"vmbench": figure}, tmp_path)
    assert png_size(path) == expected_pixels(figure)
    doc = vmbench_doc()
    doc["config"]["scenario"] = "default"
    assert "vmbench" in _catalog.skipped(run_from_doc(doc, "x.json"), ["vmbench"])


def test_the_readme_part_is_written_from_the_file() -> None:
    text = _step_vmbench.render(vmbench_doc(), "results/published/vmbench.json", ["vmbench"])
    assert "| `uvloop-streams` readline x5 | 5.2k (5.1-5.3) |" in text
    assert "| `native` | 80.0k (78.4-80.8) (C) |" in text
    assert "| `rloop-protocol` †half-close |" in text
    assert "1.50 / 1.50 / 1.50 |" in text  # uvloop-sockets over asyncio-sockets
    first, second = _step_vmbench.takeaways(run_from_doc(vmbench_doc(), "x"))
    assert first.startswith("On vmbench's matrix uvloop ran asyncio's own servers at 1.20-2.50x")
    assert "within the README's 2-4x in 3 of them" in first  # streams at 2.5x, 3 sizes
    assert "1 of those ratios involve a client-bound case" in first
    assert "rloop on the same API 0.90-1.00x" in second
    assert "`uring-native` 1.80x" in second and "`native` 2.00x" in second
    assert "![vmbench](results/published/vmbench-charts/vmbench.png)" in text


def test_the_uring_ratio_is_written_from_the_file() -> None:
    from _vmbenchdoc import _case

    doc = vmbench_doc()
    doc["config"] = {"sizes": [64], "repeat": 3, "duration": 2.0, "warmup": 1.0}
    doc["cases"] = [
        {**_case(backend, family, 64, rate), "connections": count,
         "id": f"{backend}/tcp/64B/{count}c/closed"}
        for backend, family, count, rate in (
            ("native", "native", 32, 200_000.0), ("uring-native", "uring", 32, 180_000.0),
            ("native", "native", 10000, 100_000.0), ("uring-native", "uring", 10000, 125_000.0),
        )
    ]  # fmt: skip
    text = _step_uring.render(doc, "results/published/uring.json")
    assert "| `native` | 200.0k (196.0-202.0), p99 0.50 ms | 100.0k (98.0-101.0), p99" in text
    assert text.endswith(
        "`uring-native` against `native`, the same server design on one core, completions "
        "against readiness: 0.90x its msgs/s at 32 connections, 1.25x its msgs/s at 10,000 "
        "connections."
    )
