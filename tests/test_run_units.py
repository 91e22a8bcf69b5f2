"""The runner's pure parts: verdict, statistics, matrix order, schema, results bookkeeping."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from rich.console import Console

from echobench.benchmarks.runner import (
    _cmd_run,
    _environment,
    _isolation,
    _results,
    _stats,
    _terminal,
    _usage,
    _verdict,
)
from echobench.benchmarks.runner._matrix import (
    Case,
    build_cases,
    parse_int_list,
    parse_rates,
    repeat_order,
    schedule,
)
from echobench.benchmarks.runner._results_schema import SCHEMA_VERSION, load_results, write_results
from echobench.benchmarks.runner._usage import TreeSampler, _Sample
from echobench.benchmarks.truth import _agreement
from echobench.servers._errors import UserError

# --- bottleneck verdict on synthetic CPU figures ----------------------------------


@pytest.mark.parametrize(
    ("server", "client", "expected"),
    [
        (0.97, 0.40, "server"),
        (0.90, 0.10, "server"),  # exactly at the threshold counts
        (0.97, 0.89, "server"),  # the client just below saturation
        (0.95, 0.99, "both"),  # both saturated: the client limits the number too
        (0.93, 0.95, "both"),  # the quick run's uvloop-protocol figures on 2 cores
        (0.97, 0.97, "both"),  # ... and selectors'
        (0.90, 0.90, "both"),  # both exactly at the threshold
        (0.76, 0.98, "client"),  # ... and native's: the server had room to spare
        (0.60, 0.98, "client"),
        (0.89, 0.90, "client"),
        (0.50, 0.50, "neither"),
        (0.0, 0.0, "neither"),
        (None, 0.95, "client"),  # a remote server: judged from the client side only
        (None, 0.30, "neither"),
        (0.95, None, "server"),  # no client figure: never counted as saturated
    ],
)
def test_verdict(server: float | None, client: float | None, expected: str) -> None:
    assert _verdict.verdict(server, client) == expected
    assert _verdict.client_limited(expected) == (expected in ("client", "both"))


def test_utilization_and_capacity_from_cpu_seconds() -> None:
    # one Python process pinned to 2 CPUs can use one of them: 1.9 CPU-s in 2 s saturates it
    cores = _verdict.capacity(pinned_cpus=2, processes=1)
    assert cores == 1
    assert _verdict.utilization(1.9, 2.0, cores) == pytest.approx(0.95)
    assert _verdict.verdict(_verdict.utilization(1.9, 2.0, cores), 0.2) == "server"
    # four workers on two CPUs: half-busy
    cores = _verdict.capacity(pinned_cpus=2, processes=4)
    assert cores == 2
    assert _verdict.verdict(_verdict.utilization(2.0, 2.0, cores), 0.2) == "neither"
    assert _verdict.utilization(1.0, 0.0, 1) == 0.0


def test_overall_verdict_is_the_most_common_and_ties_never_hide_a_saturated_client() -> None:
    assert _verdict.overall(["client", "client", "server"]) == "client"
    assert _verdict.overall(["server", "server", "both"]) == "server"
    assert _verdict.overall(["both", "both", "server"]) == "both"
    assert _verdict.overall(["both", "server"]) == "both"
    assert _verdict.overall(["client", "server"]) == "client"
    assert _verdict.overall(["both", "client"]) == "both"
    assert _verdict.overall(["neither", "client"]) == "client"
    assert _verdict.overall(["neither", "server"]) == "server"
    assert _verdict.overall([]) == "neither"
    assert _verdict.overall(["", "?"]) == "neither"
    assert set(_verdict.VERDICTS) == {"server", "client", "both", "network", "neither"}


def test_the_table_and_footnotes_name_a_saturated_client() -> None:
    doc, cases = _document()
    verdicts = ["server", "both", "client", "neither"]
    for case, verdict in zip(cases, verdicts, strict=True):
        _results.add_repeat(doc, case, _record(0, 1000.0, verdict))
    _results.finalize(doc, cases, 1, complete=True)
    console = Console(width=200, record=True)
    console.print(_terminal.results_table(doc))
    table = console.export_text()
    assert "BOTH (client saturated)" in table and "CLIENT-BOUND" in table
    notes = " ".join(_terminal.footnotes(doc, remote=False))
    assert "1 case(s) are CLIENT-BOUND" in notes
    assert "1 case(s) are BOTH (client saturated)" in notes and "lower bound" in notes
    assert [e["summary"]["client_bound"] for e in doc["cases"]] == [False, True, True, False]


def test_runner_agreement_counts_only_server_bound_cases() -> None:
    assert _agreement.is_server_bound(["server", "server", "both"])
    assert not _agreement.is_server_bound(["both", "both", "server"])
    assert not _agreement.is_server_bound(["both"] * 5)
    assert not _agreement.is_server_bound(["server", "client"])
    row = {
        "backend": "b",
        "runner_messages_per_second": 2.0e5,
        "native_messages_per_second": 2.1e5,
        "ratio": 0.95,
        "server_bound": False,
        "agrees": True,
        "verdict": "both",
    }
    doc = {
        "params": {"size": 1024, "connections": 10, "duration": 3.0, "repeat": 5},
        "environment": {
            "pinning": {"server_cpus": [0], "client_cpus": [1]},
            "cpu": {"model": "cpu"},
            "started_at": "2026-01-01T00:00:00Z",
        },
        "rows": [row],
    }
    assert "no: client saturated too (claim does not apply)" in _agreement.render_table(doc)


# --- statistics -------------------------------------------------------------------


def test_spread_and_instability() -> None:
    s = _stats.spread([100.0, 110.0, 90.0])
    assert s["median"] == 100.0 and s["min"] == 90.0 and s["max"] == 110.0
    assert s["cv"] == pytest.approx(0.1)
    assert _stats.is_unstable(s["cv"])
    steady = _stats.spread([1000.0, 1010.0, 990.0])
    assert not _stats.is_unstable(steady["cv"])
    assert _stats.spread([5.0])["cv"] == 0.0
    assert _stats.spread([])["median"] is None


# --- the matrix and its order ------------------------------------------------------


def _backends() -> list[tuple[str, str, frozenset[str]]]:
    return [
        ("a", "asyncio", frozenset({"tcp", "unix"})),
        ("b", "uvloop", frozenset({"tcp"})),
    ]


def test_matrix_cases_ids_and_skipped_transports() -> None:
    cases, skipped = build_cases(
        _backends(), transports=["tcp", "unix"], sizes=[64, 1024], connections=[1], rates=[None]
    )
    ids = [c.id for c in cases]
    assert ids == [
        "a/tcp/64B/1c/closed",
        "a/tcp/1024B/1c/closed",
        "a/unix/64B/1c/closed",
        "a/unix/1024B/1c/closed",
        "b/tcp/64B/1c/closed",
        "b/tcp/1024B/1c/closed",
    ]
    assert skipped == [{"backend": "b", "transport": "unix", "reason": "b does not support unix"}]
    open_case = Case("a", "asyncio", "tcp", 64, 10, 5000.0)
    assert open_case.id == "a/tcp/64B/10c/5000rps" and open_case.mode == "open"


def test_each_repeat_has_its_own_reproducible_shuffle() -> None:
    cases, _ = build_cases(
        _backends(), transports=["tcp"], sizes=[1, 2, 3, 4], connections=[1, 2], rates=[None]
    )
    first = repeat_order(cases, 0, seed=7, order="shuffle")
    assert first == repeat_order(cases, 0, seed=7, order="shuffle")
    assert sorted(c.id for c in first) == sorted(c.id for c in cases)
    orders = {
        tuple(c.id for c in repeat_order(cases, r, seed=7, order="shuffle")) for r in range(4)
    }
    assert len(orders) > 1  # 16 cases: four identical shuffles would be a broken shuffle
    assert repeat_order(cases, 3, seed=7, order="fixed") == cases
    plan = schedule(cases, 3, seed=7, order="shuffle")
    assert len(plan) == 3 * len(cases)
    assert [r for r, _ in plan] == sorted(r for r, _ in plan)  # every case once per repeat


def test_list_parsing_and_bad_input() -> None:
    assert parse_int_list("64, 1K,16KiB", "sizes") == [64, 1024, 16384]
    assert parse_rates("closed,10k,2500") == [None, 10000.0, 2500.0]
    for bad in ("", "x", "0", "1.5"):
        with pytest.raises(UserError):
            parse_int_list(bad, "sizes")
    for bad in ("-5", "fast", "nan", "inf"):
        with pytest.raises(UserError):
            parse_rates(bad)


def test_placement_is_disjoint_with_two_cpus() -> None:
    p = _isolation.plan([0, 1])
    assert p.server_cpus == (0,) and p.client_cpus == (1,) and not p.warnings
    p = _isolation.plan([0, 1, 2, 3])
    assert set(p.server_cpus).isdisjoint(p.client_cpus)
    single = _isolation.plan([3])
    assert single.server_cpus == single.client_cpus == (3,) and single.warnings
    assert _isolation.parse_cpu_list("0,2-3", "x") == [0, 2, 3]
    with pytest.raises(UserError):
        _isolation.plan([0, 1], server_cpus=[5])


# --- server CPU over the busiest window --------------------------------------------


def test_busiest_window_ignores_idle_start_up() -> None:
    sampler = TreeSampler(pid=os.getpid())
    # idle for 1 s (client starting), then 2 s at 0.9 cores, then idle again
    cpu = 0.0
    for step in range(41):
        t = step * 0.1
        sampler.samples.append(_Sample(at=t, user=cpu * 0.7, system=cpu * 0.3))
        if 1.0 <= t < 3.0:
            cpu += 0.09
    window = sampler.busiest(2.0)
    assert window["window_s"] == pytest.approx(2.0)
    assert window["seconds"] == pytest.approx(1.8, rel=0.01)
    assert window["cores_used"] == pytest.approx(0.9, rel=0.01)
    assert window["user_s"] == pytest.approx(0.7 * 1.8, rel=0.01)
    # a measurement longer than the samples: the whole span
    assert sampler.busiest(10.0)["window_s"] == pytest.approx(4.0)


def test_sampler_reads_a_real_process_tree() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        sampler = TreeSampler(pid=os.getpid())
        sampler.sample()
        sampler.sample()
        assert sampler.processes >= 2
        assert sampler.peak_rss() > 1 << 20
    finally:
        child.kill()
        child.wait()


def test_the_tree_is_walked_down_from_its_root_as_psutil_finds_it() -> None:
    grandchild = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(5)']); time.sleep(5)"
    )
    child = subprocess.Popen([sys.executable, "-c", grandchild])
    try:
        root = psutil.Process(child.pid)
        deadline = time.monotonic() + 5
        while not root.children() and time.monotonic() < deadline:
            time.sleep(0.02)
        found = _usage.tree_pids(child.pid)
        assert found is not None and len(found) == 2 and found[0] == child.pid
        assert found == [child.pid, *(c.pid for c in root.children(recursive=True))]
        # Its figures are psutil's, to the tick.
        usage = _usage._usage(child.pid)
        assert usage is not None
        times = root.cpu_times()
        assert usage[:2] == pytest.approx((times.user, times.system), abs=0.02)
        assert usage[2] == pytest.approx(root.memory_info().rss, rel=0.1)
    finally:
        child.kill()
        child.wait()


def test_inside_the_window_the_runner_only_sleeps() -> None:
    from echobench.benchmarks.runner._edges import EDGE_MARGIN_NS, Edges
    from echobench.benchmarks.runner._interference import Side, Window
    from echobench.benchmarks.runner._measure import _wait

    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.2)"])
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        cpu = max(os.sched_getaffinity(0))
        edges = Edges(5.0, None, [cpu])
        edges.window = Window({"client": Side((cpu,), (client.pid,), ())}, 5.0)
        now = time.monotonic_ns()
        start, end = now + 300_000_000, now + 900_000_000
        edges.due = [start - EDGE_MARGIN_NS, end + EDGE_MARGIN_NS]  # as ``announced`` plans
        sampler = TreeSampler(pid=server.pid)
        _wait(client, None, sampler, edges, time.monotonic() + 10, 10, lambda: False)
        at = [round(sample.at * 1e9) for sample in sampler.samples]
        # One right after each edge was read (late only by as much as a sleep overran on
        # a loaded machine), so the window's CPU is interpolated, and none in between.
        late = 50_000_000
        assert [t for t in at if start - EDGE_MARGIN_NS <= t < start + late]
        assert not [t for t in at if start + late <= t < end]
        assert [t for t in at if end < t < end + late]
        assert len(edges.window.edges) == 2 and edges.record() is not None
    finally:
        for process in (client, server):
            process.kill()
            process.wait()


# --- schema round trip and bookkeeping ----------------------------------------------


def _record(repeat: int, rate: float, verdict: str = "server") -> dict[str, Any]:
    return {
        "repeat": repeat,
        "started_at": "2024-01-01T00:00:00+00:00",
        "server_address": "127.0.0.1:1",
        "messages_per_second": rate,
        "p99_us": 120.0 + repeat,
        "server_cpu": {
            "user_s": 1.0,
            "system_s": 0.8,
            "seconds": 1.8,
            "window_s": 2.0,
            "cores_used": 0.9,
            "capacity": 1,
            "utilization": 0.9,
        },
        "server_rss_peak_bytes": 30_000_000,
        "client_cpu": {"user_s": 0.5, "system_s": 0.5, "seconds": 2.0, "cores_used": 0.5},
        "verdict": verdict,
        "load": {"schema": "echobench.load", "schema_version": 1, "messages_per_second": rate},
    }


def _document() -> tuple[dict[str, Any], list[Case]]:
    cases, skipped = build_cases(
        _backends(), transports=["tcp"], sizes=[64], connections=[1, 10], rates=[None]
    )
    env = _environment.collect(
        command_line=["echobench", "run"], pinning={"server_cpus": [0], "client_cpus": [1]}
    )
    doc = _results.new_document({"repeat": 2}, env, skipped)
    return doc, cases


def test_results_bookkeeping_statuses_and_not_run() -> None:
    doc, cases = _document()
    a1, a10, b1, _b10 = cases
    _results.add_repeat(doc, a1, _record(0, 1000.0))
    _results.add_repeat(doc, a1, _record(1, 1100.0, "both"))
    _results.add_repeat(doc, a10, _record(0, 900.0))
    _results.add_failure(doc, b1, 0, "backend 'b' died mid-case", "Traceback...")
    _results.add_failure(doc, b1, 1, "backend 'b' died mid-case", "Traceback...")
    _results.finalize(doc, cases, 2, complete=True)
    by_id = {e["id"]: e for e in doc["cases"]}
    assert by_id[a1.id]["status"] == "ok"
    assert by_id[a10.id]["status"] == "partial"
    assert by_id[b1.id]["status"] == "failed" and by_id[b1.id]["stderr_tail"] == "Traceback..."
    assert doc["not_run"] == [a10.id, cases[3].id]
    assert doc["complete"] is False  # cases remain, whatever the caller hoped
    summary = by_id[a1.id]["summary"]
    assert summary["messages_per_second"]["median"] == 1050.0
    # one repeat of two saturated the client too: the median cannot be read as the server's
    assert summary["verdict"] == "both" and summary["client_bound"] is True
    assert by_id[a10.id]["summary"]["verdict"] == "server"
    assert by_id[a10.id]["summary"]["client_bound"] is False
    assert summary["messages_per_server_cpu_second"] == pytest.approx(1050.0 / 0.9)
    assert _results.attempted(doc) == {(a1.id, 0), (a1.id, 1), (a10.id, 0), (b1.id, 0), (b1.id, 1)}


def test_schema_round_trip(tmp_path: Path) -> None:
    doc, cases = _document()
    for case in cases:
        for r in range(2):
            _results.add_repeat(doc, case, _record(r, 1000.0 + r, "client"))
    _results.finalize(doc, cases, 2, complete=True)
    assert doc["complete"] is True and doc["not_run"] == []
    path = tmp_path / "sub" / "run.json"
    write_results(path, doc)
    assert load_results(path) == doc
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temp file left
    assert all(e["summary"]["client_bound"] for e in doc["cases"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        ('{"schema": "other"}', "not an echobench run file"),
        ('{"schema": "echobench.run", "schema_version": 99}', "schema_version 99"),
        ('{"schema": "echobench.run", "schema_version": 1}', "missing field"),
    ],
)
def test_load_results_rejects_bad_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_results(path)
    with pytest.raises(UserError, match="no such results file"):
        load_results(tmp_path / "missing.json")


def test_environment_records_what_the_schema_names() -> None:
    env = _environment.collect(command_line=["x"], pinning={"server_cpus": [0], "client_cpus": [0]})
    assert env["python"]["version"] and env["os"]["kernel"] and env["cpu"]["count"] >= 1
    assert "uvloop" in env["frameworks"] and env["frameworks"]["uvloop"]
    assert len(env["load_average"]) == 3
    assert set(env["git"]) == {"commit", "dirty"}
    json.dumps(env)  # serializable as it stands
    assert SCHEMA_VERSION == 2


# --- the command line refuses bad input in one line ---------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "abc"], "not a whole number"),
        (["--connections", "0"], "below the minimum"),
        (["--duration", "0"], "--duration must be at least"),
        (["--backends", "no-such-backend"], "unknown backend"),
        (["--transports", "carrier-pigeon"], "unknown 'carrier-pigeon'"),
        (["--connect", "nonsense"], "needs --label"),
        (["--connect", "nonsense", "--label", "x"], "takes HOST:PORT"),
        (["--label", "x"], "needs --connect"),
        (["--connect", "127.0.0.1:9", "--label", "x", "--awake"], "not --connect"),
        (["--resume", "/nonexistent/run.json"], "no such results file"),
        (["--scenario", "nope"], "unknown scenario 'nope' (choose from default, quick, scale"),
        (["--quick", "--scenario", "scale"], "cannot go with scale"),
        (["--connections", "10+x"], "neither a whole number nor ACTIVE+IDLE"),
        (["--connections", "1,20000", "--backends", "asyncio-protocol"], "connections but at most"),
    ],
)
def test_bad_input_gets_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echobench", "run", *argv, "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr


def test_scenarios_are_defaults_that_options_override() -> None:
    from echobench.benchmarks.runner._plan import _given, _resolve
    from echobench.benchmarks.runner._scenarios import SCENARIOS

    parser = argparse.ArgumentParser()
    _cmd_run.configure(parser)
    scale = _resolve(*_parsed(parser, "--scenario", "scale"))
    assert scale["scenario"] == "scale" and scale["sizes"] == [64]
    assert scale["connections"] == [1, 10, 100, 1000, 10000] and scale["idle"] == [[10, 10000]]
    # What is typed wins; what is not comes from the scenario.
    mine = _resolve(*_parsed(parser, "--scenario", "scale", "--connections", "5,2+30"))
    assert mine["connections"] == [5] and mine["idle"] == [[2, 30]] and mine["sizes"] == [64]
    quick = _resolve(*_parsed(parser, "--quick", "--repeat", "2"))
    assert quick["scenario"] == "quick" and quick["repeat"] == 2
    assert quick["connections"] == SCENARIOS["quick"].defaults["connections"]
    assert _resolve(*_parsed(parser))["scenario"] == "default"
    assert _given(parser.parse_args([])) == {}
    # Server CPUs are kept awake by default in the latency scenario, and where the server
    # idles between messages (one connection, an open loop) in the others.
    assert {_resolve(*_parsed(parser, "--scenario", s))["awake"] for s in SCENARIOS} == {"auto"}
    assert _resolve(*_parsed(parser, "--scenario", "latency", "--no-awake"))["awake"] is False
    assert _resolve(*_parsed(parser, "--scenario", "scale", "--awake"))["awake"] is True
    assert _resolve(*_parsed(parser, "--scenario", "latency", "--awake"))["awake"] is True
    # The client's CPUs are shielded only when asked; 'auto' for the open-loop cases.
    assert {_resolve(*_parsed(parser, "--scenario", s))["shield"] for s in SCENARIOS} == {False}
    assert _resolve(*_parsed(parser, "--shield"))["shield"] is True
    assert _resolve(*_parsed(parser, "--shield", "auto"))["shield"] == "auto"


def test_shield_auto_is_for_open_loop_cases_only() -> None:
    from echobench.benchmarks.runner._matrix import Case
    from echobench.benchmarks.runner._measure import shield_for

    closed = Case("native", "baseline", "tcp", 64, 32, None)
    opened = Case("native", "baseline", "tcp", 64, 32, rate=1000.0)
    assert [shield_for(c, "auto") for c in (closed, opened)] == [False, True]
    assert [shield_for(c, True) for c in (closed, opened)] == [True, True]
    assert [shield_for(c, False) for c in (closed, opened)] == [False, False]


def _parsed(parser: argparse.ArgumentParser, *argv: str) -> tuple[argparse.Namespace, dict]:
    from echobench.benchmarks.runner._plan import _given

    args = parser.parse_args(list(argv))
    return args, _given(args)


def test_idle_cases_follow_the_plain_counts() -> None:
    cases, _ = build_cases(
        _backends()[:1], transports=["tcp"], sizes=[64], connections=[1], rates=[None],
        idle=[[10, 100]],
    )  # fmt: skip
    assert [c.id.split("/", 1)[1] for c in cases] == [
        "tcp/64B/1c/closed",
        "tcp/64B/10c+100idle/closed",
    ]
    assert cases[1].total_connections == 110
