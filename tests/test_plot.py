"""Charts drawn from the fixture run: what a reader relies on, checked on the Figure objects."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from _chartcheck import (
    RUN_SMALL,
    assert_units_on_axes,
    expected_pixels,
    legend_labels,
    png_size,
    title_text,
    visible_axes,
)
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from echobench._cli import main
from echobench.benchmarks.charts import _catalog, _figures, _spectra
from echobench.benchmarks.compare._runview import Run, load_run


@pytest.fixture(scope="module")
def run() -> Run:
    return load_run(RUN_SMALL)


@pytest.fixture(scope="module")
def figures(run: Run) -> dict[str, Figure]:
    return _catalog.charts_of(run)[0]


def test_the_fixture_holds_what_the_charts_must_show(run: Run) -> None:
    assert len({c.family for c in run.cases}) >= 5
    assert any(c.client_bound and not c.both_saturated for c in run.cases)
    assert any(c.both_saturated and c.client_bound for c in run.cases)
    assert any(c.unstable for c in run.cases)
    assert any(not c.ok for c in run.cases)
    assert any(c.rate is not None for c in run.cases)


def test_six_charts_each_with_units_and_environment(figures: dict[str, Figure]) -> None:
    # Two backends ran at one open-loop rate: latency at equal load; no sweep, no curve.
    assert set(figures) == {
        "throughput-by-size",
        "throughput-vs-connections",
        "latency-at-equal-load",
        "latency-spectrum",
        "cpu-efficiency",
        "stability",
    }
    for figure in figures.values():
        assert_units_on_axes(figure)
        title = title_text(figure)
        for part in ("CPython 3.11.7", "Xeon", "2024-11-25", "commit 5a97d97c"):
            assert part in title


def test_one_legend_entry_per_backend(run: Run, figures: dict[str, Figure]) -> None:
    everyone = set(run.backends())
    open_loop = {c.backend for c in run.cases if c.rate is not None and c.ok}
    for name, figure in figures.items():
        # Latency at equal load shows the backends that ran the common open-loop rate.
        backends = open_loop if name == "latency-at-equal-load" else everyone
        labels = legend_labels(figure)
        named = [label for label in labels if label in everyone]
        assert sorted(named) == sorted(set(named)), f"{name}: a backend twice in the legend"
        assert set(named) == backends, f"{name}: legend lacks {backends - set(named)}"


def test_bars_have_min_max_error_bars(run: Run, figures: dict[str, Figure]) -> None:
    measured = [c for c in run.cases if c.rate is None and c.ok]
    for name in ("throughput-by-size", "cpu-efficiency"):
        containers = [
            container
            for ax in figures[name].axes
            for container in ax.containers
            if isinstance(container, ErrorbarContainer)
        ]
        assert len(containers) == len(measured), name
    # Each error bar spans the case's real min..max, not a made-up spread.
    ax = visible_axes(figures["throughput-by-size"])[0]
    spans = set()
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer):
            segments = container.lines[2][0].get_segments()
            spans.add(round(float(segments[0][0][1])))
    expected = {round(c.throughput("min") or 0) for c in measured if c.connections == 1}
    assert spans == expected


def test_client_bound_cases_are_marked(run: Run, figures: dict[str, Figure]) -> None:
    client_bound = [c for c in run.cases if c.client_bound and c.rate is None]
    assert client_bound
    hatched = [p for ax in figures["throughput-by-size"].axes for p in ax.patches if p.get_hatch()]
    assert {p.get_gid() for p in hatched} == {f"bar:{c.id}" for c in client_bound}
    boxed = {
        line.get_gid()
        for ax in figures["throughput-vs-connections"].axes
        for line in ax.get_lines()
        if str(line.get_gid()).startswith("client-bound:")
    }
    assert boxed == {f"client-bound:{c.id}" for c in client_bound}
    dashed = {
        line.get_gid()
        for ax in figures["latency-spectrum"].axes
        for line in ax.get_lines()
        if line.get_linestyle() == "--"
    }
    assert dashed == {f"spectrum:{c.id}" for c in client_bound}
    for name, figure in figures.items():
        if name == "latency-at-equal-load":
            continue  # its open-loop cases kept their schedule: none is client-bound
        assert any(
            "client saturated" in label and "not (only) the server" in label
            for label in legend_labels(figure)
        )
    # Written on the bars, telling "client only" from "server and client" apart.
    texts = [t.get_text() for ax in figures["throughput-by-size"].axes for t in ax.texts]
    both = [c for c in client_bound if c.both_saturated]
    assert sum("client+server saturated" in t for t in texts) == len(both) > 0
    assert sum("client-bound" in t for t in texts) == len(client_bound) - len(both)


def test_failed_and_unstable_cases_are_written_on_the_bars(
    run: Run, figures: dict[str, Figure]
) -> None:
    texts = [t.get_text() for ax in figures["throughput-by-size"].axes for t in ax.texts]
    assert sum("failed" in t for t in texts) == sum(1 for c in run.cases if not c.ok)
    assert sum("unstable" in t for t in texts) == sum(1 for c in run.cases if c.unstable)


def test_a_backend_keeps_its_colour_across_charts(figures: dict[str, Figure]) -> None:
    def line_colour(figure: Figure, gid_prefix: str, backend: str) -> str:
        for ax in figure.axes:
            for line in ax.get_lines():
                if str(line.get_gid()).startswith(f"{gid_prefix}:{backend}/"):
                    return str(line.get_color())
        raise AssertionError(f"no line for {backend}")

    def bar_colour(figure: Figure, backend: str) -> tuple[float, ...]:
        for ax in figure.axes:
            for patch in ax.patches:
                if str(patch.get_gid()).startswith(f"bar:{backend}/"):
                    return tuple(patch.get_facecolor())
        raise AssertionError(f"no bar for {backend}")

    from matplotlib.colors import to_rgba

    for backend in ("asyncio-protocol", "uvloop-protocol", "twisted", "native"):
        spectrum = to_rgba(line_colour(figures["latency-spectrum"], "spectrum", backend))
        stability = to_rgba(line_colour(figures["stability"], "stability", backend))
        bars = bar_colour(figures["throughput-by-size"], backend)
        efficiency = bar_colour(figures["cpu-efficiency"], backend)
        assert spectrum == stability == bars == efficiency
    a = bar_colour(figures["throughput-by-size"], "asyncio-protocol")
    b = bar_colour(figures["throughput-by-size"], "asyncio-streams")
    c = bar_colour(figures["throughput-by-size"], "uvloop-protocol")
    assert len({a, b, c}) == 3


def test_spectrum_is_read_from_the_merged_histograms(run: Run) -> None:
    case = next(c for c in run.cases if c.backend == "twisted" and c.ok)
    curve = _spectra.spectrum(r.histogram for r in case.repeats if r.histogram)
    assert curve is not None
    nines, values = curve
    assert nines[0] == pytest.approx(2.0) and nines[-1] == pytest.approx(10_000.0)
    assert all(b >= a for a, b in itertools.pairwise(values))
    # The merged 99th percentile lies within the repeats' own p99s.
    p99 = values[abs(nines - 100.0).argmin()]
    assert min(case.p99s) * 0.9 <= p99 <= max(case.p99s) * 1.1


def test_written_pngs_have_the_figure_size(tmp_path: Path, figures: dict[str, Figure]) -> None:
    written = _figures.save(figures, tmp_path)
    assert len(written) == 6
    for path in written:
        assert path.stat().st_size > 10_000
        assert png_size(path) == expected_pixels(figures[path.stem])


@pytest.mark.slow
def test_cli_plot_writes_png_and_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(RUN_SMALL), "--out", str(tmp_path / "png")]) == 0
    assert len(list((tmp_path / "png").glob("*.png"))) == 6
    assert main(["plot", str(RUN_SMALL), "--out", str(tmp_path / "svg"), "--format", "svg"]) == 0
    svgs = list((tmp_path / "svg").glob("*.svg"))
    assert len(svgs) == 6 and all(p.read_text().lstrip().startswith("<?xml") for p in svgs)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not json", "not valid JSON"),
        (json.dumps({"schema": "other"}), "not an echobench run file"),
    ],
)
def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    assert main(["plot", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_pytest_benchmark_json_is_drawn(tmp_path: Path) -> None:
    doc = {
        "machine_info": {
            "python_implementation": "CPython",
            "python_version": "3.11.7",
            "cpu": {"brand_raw": "Test CPU", "count": 2},
        },
        "commit_info": {"id": "abcdef0123456789", "dirty": False},
        "datetime": "2024-11-25T10:00:00",
        "version": "5.1.0",
        "benchmarks": [
            {
                "group": f"loop: {loop}",
                "name": f"test_call_soon[{loop}]",
                "extra_info": {"family": loop, "operations_per_round": 1000},
                "stats": {"min": 0.001 * k, "max": 0.003 * k, "median": 0.002 * k},
            }
            for k, loop in enumerate(("asyncio", "uvloop"), start=1)
        ],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    figures = _figures.figures_for(path)
    figure = figures["pytest-benchmark"]
    assert_units_on_axes(figure)
    assert "µs" in visible_axes(figure)[0].get_xlabel()
    assert {"asyncio", "uvloop"} <= set(legend_labels(figure))
    # 2 ms per round of 1000 operations is 2 µs per operation.
    dot = next(
        line
        for line in visible_axes(figure)[0].get_lines()
        if line.get_gid() == "bench:test_call_soon[asyncio]"
    )
    assert float(dot.get_xdata()[0]) == pytest.approx(2.0)
    assert main(["plot", str(path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "pytest-benchmark.png").stat().st_size > 5_000


def test_every_family_has_its_colour_in_the_order_families_are_listed() -> None:
    from echobench.benchmarks.charts._palette import FAMILY_COLOURS
    from echobench.benchmarks.compare._order import FAMILY_ORDER

    assert tuple(FAMILY_COLOURS) == FAMILY_ORDER
