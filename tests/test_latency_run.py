"""``echobench run --scenario latency`` end to end: real servers, the real load client.

A server with a known delay and a known capacity (``tests/_fault_servers.py
ratelimit``) must give a curve flat at its delay below its capacity that bends at
it, and a capacity at the latency target within 10% of the true one. A rate the
client cannot hold must be reported as client-bound, and a sweep over two real
backends must produce the whole plan. Assertions leave room for a shared 2-core
machine: medians and ranks, never exact latencies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from _fault_servers import fault_server

from conftest import AS_MEASURED, CliResult, assert_one_line_error, run_echobench
from echobench.benchmarks.runner._awake import poll_unavailable
from echobench.clients._priority import OPEN_LOOP_NICE

pytestmark = pytest.mark.slow

#: The rate-limited server: 32,000 bytes/s is 500 messages/s of 64 bytes, 2 ms each,
#: echoed 50 ms after service; its latency below capacity is therefore about 52 ms. The
#: delay is long so that the client's stalls on a busy machine (tens of ms) stay under
#: half of every p99 and never make a point the client's (``_verdict.behind_schedule``);
#: 64 connections keep the closed-loop probe at the capacity (64 / 52 ms is 1,230/s).
BYTES_PER_SECOND = 32_000
CAPACITY = BYTES_PER_SECOND / 64
DELAY_US = 50_000.0
SERVICE_US = 1e6 / CAPACITY
TARGET = "100ms"


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def by_rate(doc: dict[str, Any]) -> dict[float, dict[str, Any]]:
    return {c["rate"]: c for c in doc["cases"] if c["rate"] is not None and c["repeats"]}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("latency") / "limited.json"
    with fault_server("ratelimit", BYTES_PER_SECOND, DELAY_US / 1e6) as server:
        result = run_echobench(
            *("run", "--scenario", "latency", "--connect", f"{server.host}:{server.port}"),
            *("--label", "limited", "--connections", "64", "--slo-p99", TARGET),
            *("--load-fractions", "25,50,90,105,130", "--probe-duration", "1"),
            *("--duration", "1.5", "--warmup", "0.3", "--out", str(out), *AS_MEASURED),
            *("--remeasure-budget", "0"),
            timeout=180,
        )
    assert result.returncode == 0, result.stderr
    doc = read(out)
    doc["_stdout"] = result.stdout
    return doc


def test_the_probe_finds_the_capacity_and_the_plan_offers_its_fractions(
    limited: dict[str, Any],
) -> None:
    assert limited["complete"] and limited["config"]["scenario"] == "latency"
    (sweep,) = limited["latency"]["sweeps"]
    assert sweep["capacity"]["messages_per_second"] == pytest.approx(CAPACITY, rel=0.05)
    assert not sweep["base"]["capped"]
    fractions = [p["fraction"] for p in sweep["points"] if p["fraction"] is not None]
    assert fractions == [0.25, 0.5, 0.9, 1.05, 1.3]
    for p in sweep["points"]:
        if p["fraction"] is not None:
            assert p["rate"] == pytest.approx(
                p["fraction"] * sweep["base"]["messages_per_second"], 0.01
            )
    # One backend: it is its own slowest, so the common rates are fractions of the low
    # end of its own probe's interval, a little under its own points.
    (common,) = limited["latency"]["common"]
    low = sweep["capacity"]["ci"][0]
    assert common["from_rate"] == pytest.approx(low) and low <= CAPACITY * 1.05
    assert [p["rate"] for p in sweep["points"] if p["common"]] == common["rates"]
    assert common["rates"] == [pytest.approx(f * low, rel=0.01) for f in (0.25, 0.5, 0.9)]
    # The probe repeated until its capacity was known within 5% (or had 5 repeats).
    assert sweep["capacity"]["within_target"] or sweep["capacity"]["repeats"] == 5
    assert "latency sweep" in limited["_stdout"] and "limited" in limited["_stdout"]


def p50(case: dict[str, Any]) -> float:
    return float(case["repeats"][0]["load"]["latency_us"]["p50"])


def test_flat_at_the_delay_below_capacity(limited: dict[str, Any]) -> None:
    below = [c for rate, c in by_rate(limited).items() if rate < 0.95 * CAPACITY]
    # 25, 50 and 90%, and the common rates under them (the same cases, when the probe's
    # interval was tight enough to round to them).
    assert 3 <= len(below) <= 6
    for case in below:
        assert not case["summary"]["overloaded"], case["id"]
        # The server's delay and service, and no more than as much again for threads
        # waking late on a busy machine: the same level from 25% to 90% of capacity.
        assert DELAY_US <= p50(case) <= 2 * (DELAY_US + SERVICE_US), (case["id"], p50(case))


def test_the_curve_bends_at_capacity_and_the_slo_capacity_lands_within_10_percent(
    limited: dict[str, Any],
) -> None:
    cases = by_rate(limited)
    below = [c for rate, c in cases.items() if rate < CAPACITY]
    above = [c for rate, c in sorted(cases.items()) if rate > CAPACITY]
    assert len(above) == 2
    for case in above:
        summary = case["summary"]
        assert summary["overloaded"] and not summary["client_bound"], (case["id"], summary)
        # Still recorded: the achieved rate is the capacity, the latency the queue's.
        assert summary["messages_per_second"]["median"] == pytest.approx(CAPACITY, rel=0.1)
    # Past capacity the queue grows through the window: the median waits many times longer.
    assert p50(above[-1]) > 3 * max(p50(c) for c in below), [p50(c) for c in (*below, *above)]
    (sweep,) = limited["latency"]["sweeps"]
    slo = sweep["summary"]["slo_capacity"]
    assert slo["p99_us"] == 100_000.0
    assert slo["messages_per_second"] == pytest.approx(CAPACITY, rel=0.10), slo
    assert slo["interpolated"] and not slo["at_least"], slo


def test_a_rate_the_client_cannot_hold_is_client_bound(tmp_path: Path) -> None:
    out = tmp_path / "unholdable.json"
    result = run_echobench(
        *("run", "--backends", "uvloop-protocol", "--rate", "600k", "--sizes", "64"),
        *("--connections", "8", "--duration", "0.5", "--warmup", "0.2", "--repeat", "1"),
        *("--no-verify", "--out", str(out), *AS_MEASURED),
    )
    assert result.returncode == 0, result.stderr
    (case,) = read(out)["cases"]
    repeat = case["repeats"][0]
    assert repeat["open_loop"]["client_behind"]
    assert repeat["open_loop"]["max_send_lag_us"] > repeat["open_loop"]["lag_limit_us"]
    # A client this far behind lagged at every send; the instants stay out of the record.
    assert "lag_events" not in repeat["load"]["rate"] and repeat["load"]["rate"]["max_send_lag_us"]
    assert case["summary"]["client_bound"] and case["summary"]["verdict"] in ("client", "both")
    # The table never presents that latency as the server's.
    row = next(line for line in result.stdout.splitlines() if "600000rps" in line)
    assert "client behind its schedule" in row and ("CLIENT-BOUND" in row or "BOTH" in row)


def small_sweep(tmp_path: Path, backends: str, *extra: str) -> tuple[CliResult, dict[str, Any]]:
    """A latency run at 50% and one given common rate, with short windows."""
    out = tmp_path / "sweep.json"
    result = run_echobench(
        *("run", "--scenario", "latency", "--backends", backends, *extra),
        *("--connections", "4", "--load-fractions", "50", "--probe-duration", "0.5"),
        # One common rate, given: its derivation from the slowest backend is a unit test's.
        *("--rate", "1000"),
        *("--duration", "0.3", "--warmup", "0.1", "--no-verify", "--out", str(out)),
        *("--remeasure-budget", "0", *AS_MEASURED),
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result, read(out)


def test_a_two_backend_sweep_runs_the_whole_plan(tmp_path: Path) -> None:
    result, doc = small_sweep(tmp_path, "asyncio-protocol,selectors")
    assert doc["complete"] and doc["latency"]["phase"] == "done"
    sweeps = {s["backend"]: s for s in doc["latency"]["sweeps"]}
    # native is measured too, not asked for: the floor, never ranked.
    assert set(sweeps) == {"asyncio-protocol", "selectors", "native"}
    assert [s["backend"] for s in sweeps.values() if s["floor_only"]] == ["native"]
    (common,) = doc["latency"]["common"]
    assert common["rates"] == [1000.0] and common["explicit"] and common["from_backend"] is None
    ids = {c["id"]: c for c in doc["cases"]}
    for sweep in sweeps.values():
        assert ids[sweep["probe"]]["mode"] == "closed" and ids[sweep["probe"]]["repeats"]
        rates = {p["rate"] for p in sweep["points"]}
        assert set(common["rates"]) <= rates  # every backend ran every common rate
        for p in sweep["points"]:
            assert ids[p["case"]]["repeats"], p["case"]
        slo = sweep["summary"]["slo_capacity"]
        assert set(slo) >= {"p99_us", "messages_per_second", "interpolated", "client_bound"}
        # 50% and the common rate; and where the probe's client was saturated and the hold
        # check found it behind its schedule (a slow host: selectors in a CI run), 50% of
        # the client's ceiling, so the check's own rate is a point of its own.
        held = [p for p in sweep["points"] if p["hold_check"] and p["fraction"] is None]
        assert all(not p["common"] for p in held) and len(held) <= 1
        assert sweep["summary"]["measured"] == len(sweep["points"]) == 2 + len(held)
        rest = [p for p in sweep["points"] if not p["common"] and p not in held]
        assert [p["fraction"] for p in rest] == [0.5]
        for p in sweep["points"]:
            stats = p["stats"]
            assert set(stats) >= {"p99_us", "p99_ci_us", "p50_ci_us", "p999_ci_us", "decision"}
            if stats["p99_ci_us"] is not None:
                low, high = stats["p99_ci_us"]
                assert low <= stats["p99_us"] and (high is None or stats["p99_us"] <= high)
            # At the floor, or not, or unknown where the floor has no interval there.
            assert stats["at_floor"] in (True, False, None)
            assert stats["at_floor"] is True or sweep["backend"] != "native"
    assert "capacity at the p99 target" in result.stdout
    # The scenario keeps the server's CPUs awake for its open-loop points (not for the
    # closed-loop probe, where it would cost a fast server), and says so.
    for case in doc["cases"]:
        for repeat in case["repeats"]:
            placement = repeat["placement"]
            kept = placement["server_cpus"] if case["mode"] == "open" else []
            assert placement["awake_cpus"] == kept and placement["server_cpus"], case["id"]
            # By polling where the guest can, and the open loop's client before other tasks.
            if kept and poll_unavailable() is None:
                assert placement["awake_how"].startswith("haltpoll"), placement
            nice = repeat["load"]["client_pauses"]["nice"]
            raised = case["mode"] == "open" and os.geteuid() == 0
            assert nice == (OPEN_LOOP_NICE if raised else os.getpriority(os.PRIO_PROCESS, 0))
    assert doc["config"]["awake"] == "auto" and "kept awake" in result.stdout
    if poll_unavailable() is None:
        assert "kept awake by polling in the idle loop" in result.stdout


def test_no_awake_leaves_the_server_cpus_idle(tmp_path: Path) -> None:
    # native alone: it is its own floor, so the sweep is one backend's (half the time).
    result, doc = small_sweep(tmp_path, "native", "--no-awake")
    repeats = [r for case in doc["cases"] for r in case["repeats"]]
    assert [s["backend"] for s in doc["latency"]["sweeps"]] == ["native"]
    assert doc["config"]["awake"] is False and len(repeats) >= 3  # the probe's and two points'
    assert {case["mode"] for case in doc["cases"]} == {"closed", "open"}
    assert all(r["placement"]["awake_cpus"] == [] for r in repeats)
    assert "kept awake" not in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--load-fractions", "50"], "applies to --scenario latency"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--quick", "--scenario", "latency"], "--quick is --scenario quick"),
        (["--scenario", "latency", "--rate", "closed"], "takes open-loop rates"),
        (["--scenario", "latency", "--slo-p99", "5"], "with its unit"),
        (["--scenario", "latency", "--load-fractions", "0"], "above 0"),
        (["--scenario", "latency", "--max-windows", "0"], "--max-windows must be at least 1"),
        (["--remeasure-budget", "30"], "applies to --scenario latency"),
    ],
)
def test_bad_scenario_options_get_one_line(argv: list[str], message: str, tmp_path: Path) -> None:
    result = run_echobench("run", *argv, "--out", str(tmp_path / "x.json"), timeout=60)
    assert_one_line_error(result, message)
