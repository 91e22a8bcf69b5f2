"""rankings: grouping, order, and sentences that claim no more than the verdicts allow."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from _chartcheck import FIXTURES, RUN_SMALL

from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._rankbars import ranking_svg
from echobench.benchmarks.compare._ranking import (
    MEMORY,
    P99,
    RANKERS,
    THROUGHPUT,
    Ranking,
    marks,
    rank,
    rankings,
)
from echobench.benchmarks.compare._runview import CaseView, Repeat, Run, load_run


def _case(
    backend: str, values: tuple[float, ...], verdict: str = "server", **summary: Any
) -> CaseView:
    repeats = tuple(
        Repeat(
            messages_per_second=v,
            p99_us=1e6 / v,
            messages=None,
            server_cpu_seconds=None,
            server_cores_used=None,
            per_second=(),
            histogram=None,
            verdict=verdict,
        )
        for v in values
    )
    return CaseView(
        id=f"{backend}/tcp/64B/32c/closed",
        backend=backend,
        family=backend.split("-")[0],
        transport="tcp",
        size=64,
        connections=32,
        rate=None,
        mode="closed",
        status="ok" if values else "failed",
        error=None if values else "refused",
        stderr_tail=None,
        repeats=repeats,
        summary={"verdict": verdict, **summary} if values else {},
    )


def _say(*cases: CaseView) -> str:
    return rank("k", "64 B, 32 connections", THROUGHPUT, list(cases)).takeaway


def test_groups_follow_the_parameters_and_sort_best_first() -> None:
    run = load_run(RUN_SMALL)
    found = rankings(run)
    assert len(found) == len(
        {(c.transport, c.mode, c.rate, c.size, c.connections) for c in run.cases}
    )
    for ranking in found:
        assert len({(c.size, c.connections, c.rate) for c in ranking.cases}) == 1
        values = [v[0] for c in ranking.cases if (v := ranking.values(c)) is not None]
        if ranking.metric is THROUGHPUT:
            assert values == sorted(values, reverse=True)
        else:  # open loop: every backend got the same offered rate, so latency ranks
            assert ranking.metric is P99 and values == sorted(values)
        failed = [i for i, c in enumerate(ranking.cases) if not c.ok]
        assert failed == list(range(len(ranking.cases) - len(failed), len(ranking.cases)))


def test_a_clear_lead_between_server_bound_figures_is_stated_plainly() -> None:
    said = _say(
        _case("uvloop-protocol", (200.0, 210.0, 205.0)),
        _case("asyncio-streams", (100.0, 98.0, 102.0)),
    )
    assert said.startswith("At 64 B, 32 connections, uvloop-protocol leads with 205 msg/s")
    assert "2.0x asyncio-streams" in said and "bound" not in said


def test_a_client_bound_leader_is_at_least_and_a_client_bound_base_at_most() -> None:
    leader_bound = _say(_case("native", (300.0,) * 3, "client"), _case("asyncio-streams", (100.0,)))
    assert "at least 3.0x asyncio-streams" in leader_bound
    assert "native's figure is a lower bound" in leader_bound
    base_bound = _say(_case("native", (300.0,) * 3), _case("asyncio-streams", (100.0,), "both"))
    assert "at most 3.0x asyncio-streams" in base_bound


def test_both_client_bound_withholds_the_ratio_as_the_servers() -> None:
    said = _say(
        _case("uvloop-protocol", (210.0,), "both"), _case("asyncio-streams", (100.0,), "client")
    )
    assert "2.1x asyncio-streams as measured" in said
    assert "both lower bounds" in said and "servers' own ratio is unknown" in said
    assert "leads" not in said  # the base could truly be faster: no lead is claimed


def test_overlapping_ranges_are_level_not_a_lead() -> None:
    said = _say(
        _case("uvloop-protocol", (100.0, 110.0, 104.0)),
        _case("uvloop-streams", (99.0, 108.0, 103.0)),
        _case("asyncio-streams", (50.0, 51.0, 52.0)),
    )
    assert "measured best" in said and "leads" not in said
    assert "level within the repeats' range with uvloop-streams" in said


def test_a_client_bound_runner_up_blocks_the_claim_of_a_lead() -> None:
    said = _say(
        _case("uvloop-protocol", (200.0,) * 3),
        _case("native", (150.0,) * 3, "client"),
        _case("asyncio-streams", (100.0,) * 3),
    )
    assert "measured best" in said and "native could do better than shown" in said


def test_unstable_starved_failed_and_lone_cases_are_said() -> None:
    said = _say(
        _case("uvloop-protocol", (100.0, 140.0, 120.0), starved=3),
        _case("asyncio-streams", (50.0, 51.0, 52.0)),
        _case("tornado", ()),
    )
    assert "uvloop-protocol was unstable (CV 17%)" in said
    assert "uvloop-protocol starved 3 connection(s)" in said and "1 failed" in said
    assert marks(_case("x", (1.0, 2.0), starved=2, unstable=True))[-2:] == [
        "unstable 47%",
        "starved 2",
    ]
    assert "only tornado-x was measured" in _say(_case("tornado-x", (5.0,)), _case("y", ()))
    assert "no backend was measured (1 failed)" in _say(_case("y", ()))


def test_a_scenario_supplies_its_own_ranking() -> None:
    run = load_run(RUN_SMALL)
    own = Run(run.path, run.environment, {**run.config, "scenario": "mine"}, run.cases, (), True)

    def mine(r: Run) -> list[Ranking]:
        return [rank("all", "every case", P99, list(r.cases))]

    RANKERS["mine"] = mine
    try:
        (only,) = rankings(own)
    finally:
        del RANKERS["mine"]
    assert only.key == "all" and len(only.cases) == len(run.cases)
    assert len(rankings(own)) > 1  # unregistered again: the default grouping


def test_parameters_only_one_backend_ran_are_not_ranked() -> None:
    run = load_run(RUN_SMALL)
    lone = replace(next(c for c in run.cases if c.rate is not None), rate=1234.0, id="lone")
    found = rankings(replace(run, cases=(*run.cases, lone)))
    assert all(c.id != "lone" for r in found for c in r.cases)
    assert len(found) == len(rankings(run))
    (only,) = rankings(replace(run, cases=(lone,)))  # nothing else: then it is the answer
    assert only.cases == (lone,) and "only" in only.takeaway


def test_a_saturated_client_does_not_bound_the_servers_memory() -> None:
    lean = _case("uvloop-protocol", (100.0,) * 3, "client", server_rss_per_connection_bytes=500)
    fat = _case("threads", (90.0,) * 3, "both", server_rss_per_connection_bytes=2000)
    said = rank("m", "64 B, 32 connections", MEMORY, [fat, lean]).takeaway
    assert said == (
        "At 64 B, 32 connections, uvloop-protocol measured best with 500 B, 4.0x less memory "
        "than threads; medians over the repeats, whose spread is not recorded."
    )


def test_a_latency_run_leads_with_capacity_at_the_target() -> None:
    run = load_run(FIXTURES / "latency_small.json")
    slo, *rest = rankings(run)
    assert slo.key == "slo-tcp-64B-32c" and slo.title == "p99 under 1 ms, 64 B, 32 connections"
    assert [c.backend for c in slo.cases][:2] == ["uvloop-protocol", "asyncio-protocol"]
    assert "at least 1.6x asyncio-streams" in slo.takeaway
    assert "the sweep stopped short of the server's limit" in slo.takeaway
    # Both capped sweeps' ranges are open upward: the second is level with the first.
    assert "level within their first-crossing ranges with asyncio-protocol" in slo.takeaway
    assert "measured best" in slo.takeaway and "tornado" not in slo.takeaway
    svg = ranking_svg(slo, colours(run.families()))
    assert svg.count('fill="url(#hatch-slo-tcp-64B-32c)"') == sum(
        map(slo.metric.bounded, slo.cases)
    )
    # Then the probes, and p99 at every rate all backends were offered, judged by its
    # interval; no lone rates, and never the floor (native, measured only as the floor).
    assert [r.metric.name for r in rest] == [THROUGHPUT.name] + ["p99 latency (95% interval)"] * (
        len(rest) - 1
    )
    assert all(len(r.cases) == len(run.backends()) - 1 for r in rest)
    assert all("native" not in {c.backend for c in r.cases} for r in rest)
