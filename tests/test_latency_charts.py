"""The latency sweep's charts, rankings and report notes, from the fixture sweep.

``fixtures/latency_small.json`` (``fixtures/make_latency_small.py``) holds what they
must show: hockey sticks over several families, overloaded points, a client-bound
capacity with its sweep capped, capacities at the target that are interpolated, a
lower bound, or missing, with their ranges, the floor (native, measured only as the
floor) and points at it, and the p99's intervals.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _chartcheck import (
    FIXTURES,
    assert_units_on_axes,
    expected_pixels,
    legend_labels,
    png_size,
    title_text,
)
from matplotlib.figure import Figure

from echobench.benchmarks.charts import _catalog, _figures, _latency, _spectrum
from echobench.benchmarks.compare._ranking import rankings
from echobench.benchmarks.compare._runview import Run, load_run
from echobench.benchmarks.report._page import notes

LATENCY_SMALL = FIXTURES / "latency_small.json"


@pytest.fixture(scope="module")
def run() -> Run:
    return load_run(LATENCY_SMALL)


LATENCY_CHARTS = ("latency-at-equal-load", "latency-vs-load", "slo-capacity")


@pytest.fixture(scope="module")
def figures(run: Run) -> dict[str, Figure]:
    assert not set(LATENCY_CHARTS) & set(_catalog.skipped(run))
    return {name: _catalog.BY_NAME[name].draw(run) for name in LATENCY_CHARTS}


def gids(figure: Figure, prefix: str) -> set[str]:
    return {
        str(artist.get_gid())
        for ax in figure.axes
        for artist in [*ax.get_lines(), *ax.patches, *ax.collections]
        if str(artist.get_gid()).startswith(prefix)
    }


def ranked_sweeps(run: Run) -> list[dict]:
    return [s for s in run.latency["sweeps"] if not s["floor_only"]]


def stats(run: Run) -> dict[str, dict]:
    return {p["case"]: p["stats"] for s in run.latency["sweeps"] for p in s["points"]}


def test_the_fixture_holds_what_the_charts_must_show(run: Run) -> None:
    sweeps = ranked_sweeps(run)
    slos = [s["summary"]["slo_capacity"] for s in sweeps]
    assert len({s["family"] for s in sweeps}) >= 5
    assert any(s["base"]["capped"] for s in sweeps)
    assert any(slo["interpolated"] for slo in slos)
    assert any(slo["at_least"] for slo in slos)
    assert any(slo["messages_per_second"] is None for slo in slos)
    assert any(slo["undecided"] for slo in slos)
    assert all(slo["rule"] == "first-crossing" for slo in slos)
    assert any(c.overloaded for c in run.cases)
    points = list(stats(run).values())
    assert any(p["client_bound"] for p in points) and any(p["at_floor"] for p in points)
    assert {p["ci_method"]["p99"] for p in points} >= {"order-statistics", "batches", "windows"}
    (floor,) = [s for s in run.latency["sweeps"] if s["floor_only"]]
    assert floor["backend"] == "native"


def test_latency_charts_lead_and_carry_units_and_environment(
    run: Run, figures: dict[str, Figure]
) -> None:
    names = list(_catalog.BY_NAME)
    assert names.index("latency-at-equal-load") < names.index("latency-spectrum")
    for figure in figures.values():
        assert_units_on_axes(figure)
        assert "CPython 3.11.7" in title_text(figure)
    spectrum = title_text(_spectrum.latency_spectrum(run))
    assert spectrum.startswith("Closed-loop") and "the loads differ" in spectrum


def test_hockey_stick_per_family_with_three_percentiles_and_the_slo(
    run: Run, figures: dict[str, Figure]
) -> None:
    figure = figures["latency-vs-load"]
    families = {s["family"] for s in ranked_sweeps(run)}
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert sorted(t.split(":")[0] for t in titles) == sorted(families)
    curves = gids(figure, "curve:")
    for sweep in ranked_sweeps(run):
        for name in ("p50", "p99", "p99.9"):
            assert any(g.startswith(f"curve:{name}:{sweep['backend']}:") for g in curves)
    # The floor, measured only as the floor, is a band in every panel, not a curve.
    assert not any(":native:" in g for g in curves)
    bands = [c.get_gid() for ax in figure.axes for c in ax.collections]
    assert bands.count("floor:tcp/64/32") == len(titles)
    # Every panel draws the 1 ms target; the legend says what it is.
    slo_lines = [line for ax in figure.axes for line in ax.get_lines() if line.get_gid() == "slo"]
    assert len(slo_lines) == len(titles)
    assert all(float(line.get_ydata()[0]) == 1000.0 for line in slo_lines)
    labels = legend_labels(figure)
    assert "p99 target 1 ms" in labels and "p99's 95% interval" in labels
    assert any(label.startswith("the floor:") for label in labels)


def test_every_p99_has_its_interval_drawn(run: Run, figures: dict[str, Figure]) -> None:
    figure = figures["latency-vs-load"]
    whiskers = {g.split(":", 2)[2] for g in gids(figure, "ci:p99:")}
    floor = {p["case"] for s in run.latency["sweeps"] if s["floor_only"] for p in s["points"]}
    expected = {c for c, st in stats(run).items() if st["p99_ci_us"] and c not in floor}
    assert whiskers == expected
    for ax in figure.axes:
        for line in ax.get_lines():
            gid = str(line.get_gid())
            if gid.startswith("ci:p99:"):
                low, high = stats(run)[gid.split(":", 2)[2]]["p99_ci_us"]
                ys = list(line.get_ydata())
                assert ys[0] == pytest.approx(low) and (
                    high is None or ys[1] == pytest.approx(high)
                )


def test_overloaded_points_are_hollow_and_client_bound_ones_boxed(
    run: Run, figures: dict[str, Figure]
) -> None:
    figure = figures["latency-vs-load"]
    floor = {p["case"] for s in run.latency["sweeps"] if s["floor_only"] for p in s["points"]}
    overloaded = {c.id for c in run.cases if c.rate is not None and c.overloaded} - floor
    hollow = {g.split(":", 1)[1] for g in gids(figure, "overloaded:")}
    assert hollow == overloaded
    for ax in figure.axes:
        for line in ax.get_lines():
            if str(line.get_gid()).startswith("overloaded:"):
                assert line.get_markerfacecolor() == "white"
    # Boxed: the points the sweep found its client could have made (a quarter of the
    # target), not the repeats' verdicts.
    behind = {c for c, st in stats(run).items() if st["client_bound"]} - floor
    assert behind and {g.split(":", 1)[1] for g in gids(figure, "client-bound:")} == behind
    labels = legend_labels(figure)
    assert any(label.startswith("hollow: overloaded") for label in labels)
    assert any("not the server's latency" in label for label in labels)


def test_equal_load_ranks_only_where_the_intervals_part(
    run: Run, figures: dict[str, Figure]
) -> None:
    figure = figures["latency-at-equal-load"]
    (common,) = run.latency["common"]
    (ax,) = [ax for ax in figure.axes if ax.get_visible()]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    rows = {label.split(". ", 1)[1].removesuffix(" (at the floor)"): label for label in labels}
    assert sorted(rows) == sorted(s["backend"] for s in ranked_sweeps(run))
    points = gids(figure, "point:") | gids(figure, "overloaded:")
    for backend in rows:
        for rate in common["rates"]:
            case = f"{backend}/tcp/64B/32c/{rate:g}rps"
            assert any(g.endswith(":" + case) for g in points), case
    # A rank is one more than the backends surely under it at the highest common rate:
    # their intervals part, and not both at the floor.
    top = max(common["rates"])
    at = {b: stats(run)[f"{b}/tcp/64B/32c/{top:g}rps"] for b in rows}

    def under(a: dict, b: dict) -> bool:
        if a["at_floor"] and b["at_floor"]:
            return False
        return a["p99_ci_us"][1] is not None and a["p99_ci_us"][1] < b["p99_ci_us"][0]

    for backend, label in rows.items():
        expected = 1 + sum(under(at[o], at[backend]) for o in rows if o != backend)
        assert label.startswith(f"{expected}. "), (label, expected)
        assert label.endswith("(at the floor)") == bool(at[backend]["at_floor"])
    floor_rings = gids(figure, "at-floor:")
    assert floor_rings and all(stats(run)[g.split(":", 1)[1]]["at_floor"] for g in floor_rings)
    ranks = [int(label.split(".")[0]) for label in labels]
    assert ranks == sorted(ranks) and len(set(ranks)) < len(ranks)  # some are level
    assert "tornado" in ax.get_title() or "slowest" in ax.get_title()
    for rate in common["rates"]:
        assert f"p99 at {rate:,.0f} msg/s" in legend_labels(figure)


def test_capacity_at_the_target_is_ranked_and_says_what_it_is(
    run: Run, figures: dict[str, Figure]
) -> None:
    figure = figures["slo-capacity"]
    (ax,) = figure.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    rows = [label.split(". ", 1)[1] for label in labels]
    slos = {s["backend"]: s["summary"]["slo_capacity"] for s in ranked_sweeps(run)}
    assert sorted(rows) == sorted(slos) and "native" not in rows  # the floor is not ranked
    values = {b: slo["messages_per_second"] for b, slo in slos.items()}
    measured = [b for b in rows if values[b] is not None]
    assert rows[-1] == "tornado" and values["tornado"] is None

    def surely_more(a: dict, b: dict) -> bool:
        return (
            a["range"][0] is not None
            and b["range"][1] is not None
            and (a["range"][0] > b["range"][1])
        )

    for backend, label in zip(rows, labels, strict=True):
        if values[backend] is None:
            continue
        above = sum(surely_more(slos[o], slos[backend]) for o in measured if o != backend)
        assert label.startswith(f"{1 + above}. "), label
    bars = {p.get_gid(): p.get_width() for p in ax.patches if p.get_gid()}
    assert bars == {f"slo:{b}": pytest.approx(values[b]) for b in measured}
    ranges = gids(figure, "range:")
    assert ranges == {f"range:{b}" for b in measured}
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "interpolated" in texts and "≥" in texts and "none: p99 was over" in texts
    assert "undecided" in texts
    assert "first crossing" in title_text(figure)
    hatched = {p.get_gid() for p in ax.patches if p.get_hatch()}
    capped = {b for b, slo in slos.items() if slo["client_bound"]}
    assert hatched == {f"slo:{b}" for b in capped}


def test_written_pngs_have_the_figure_size(figures: dict[str, Figure], tmp_path: Path) -> None:
    wanted = {
        k: v
        for k, v in figures.items()
        if k in ("latency-vs-load", "latency-at-equal-load", "slo-capacity")
    }
    for path in _figures.save(wanted, tmp_path):
        assert png_size(path) == expected_pixels(wanted[path.stem])


def test_a_plain_run_at_one_rate_on_two_backends_has_equal_load_but_no_curve() -> None:
    small = load_run(FIXTURES / "run_small.json")
    assert _latency.common_rates(small) == {("tcp", 64, 10): [5000.0]}
    assert _latency.curves(small) == {}


def test_rankings_lead_with_capacity_at_the_target_and_notes_explain_the_sweep(
    run: Run,
) -> None:
    found = rankings(run)
    first = found[0]
    assert first.title.startswith("p99 under 1 ms")
    # The two sweeps the client capped have ranges open upward: level, whichever leads.
    assert first.cases[0].backend in ("asyncio-protocol", "uvloop-protocol")
    assert "level with" in first.takeaway
    assert "tornado" not in [c.backend for c in first.cases]  # nothing under the target
    assert not any(c.backend == "native" for r in found for c in r.cases)  # the floor
    assert any("open loop at" in r.title for r in found)  # p99 at each common rate
    said = " ".join(notes(run))
    assert "were overloaded" in said and "achieved" in said
    assert "open-loop client held only" in said  # the capped sweep
    assert "tornado: no capacity at the target" in said
