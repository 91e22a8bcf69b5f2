"""The instruments that check the latency scenario and the client: a server whose capacity
is known (``ratelimit_echo.c``), the host's own stalls (``gaploop.c``), and what their
checks say from the figures they are given."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from conftest import assert_one_line_error, run_echobench
from echobench.benchmarks.truth import _client_lag, _latency_check
from echobench.clients import LoadConfig, run_load
from echobench.servers._cbuild import build

CAPACITY, SIZE, DELAY_US = 10_000.0, 64, 300.0


@contextmanager
def ratelimited() -> Iterator[int]:
    binary = build(_latency_check.BACKENDS.parent / "ratelimit_echo.c", "ratelimit_echo")
    argv = [str(binary), f"{CAPACITY * SIZE:g}", f"{DELAY_US:g}", "10000"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY 127.0.0.1:"), line
        yield int(line.rsplit(":", 1)[1])
    finally:
        process.terminate()
        assert process.wait(10) == 0  # SIGTERM ends it cleanly
        if process.stdout is not None:
            process.stdout.close()


def test_the_rate_limited_server_has_the_capacity_it_is_told() -> None:
    with ratelimited() as port:
        base = {"port": port, "connections": 32, "size": SIZE, "warmup": 0.3, "workers": 1}
        closed = run_load(LoadConfig(**base, duration=1.0))
        half = run_load(LoadConfig(**base, duration=1.0, rate=CAPACITY / 2))
        over = run_load(LoadConfig(**base, duration=1.0, rate=CAPACITY * 1.2))
    # Closed loop, 32 connections keep it busy: its capacity, exactly.
    assert closed["messages_per_second"] == pytest.approx(CAPACITY, rel=0.03)
    # Below it, each echo waits its service and the delay: a floor under a millisecond.
    assert DELAY_US <= half["latency_us"]["p50"] < DELAY_US + 700, half["latency_us"]
    assert half["rate"]["met"]
    # Past it, the queue grows: the rate is not met and the median waits far longer.
    assert not over["rate"]["met"] and over["latency_us"]["p50"] > 20 * DELAY_US


def latency_block(value: float | None, low: float | None, high: float | None) -> dict:
    slo = {"messages_per_second": value, "range": [low, high], "undecided": [], "reason": "x"}
    return {
        "sweeps": [
            {"backend": "native", "summary": {"slo_capacity": {}}},
            {
                "backend": "ratelimited",
                "capacity": {"messages_per_second": 20_050.0},
                "summary": {"slo_capacity": slo},
            },
        ]
    }


@pytest.mark.parametrize(
    ("value", "low", "high", "passed"),
    [
        (20_017.0, 20_000.0, 21_000.0, True),
        (19_000.0, 18_000.0, 19_900.0, False),  # close, but its range leaves the capacity out
        (14_352.0, 4_980.0, 17_900.0, False),  # 28% off
        (None, None, 4_980.0, False),
    ],
)
def test_the_check_passes_within_10_percent_with_its_range_holding_the_capacity(
    value: float | None, low: float | None, high: float | None, passed: bool
) -> None:
    verdict = _latency_check.verdict(latency_block(value, low, high), 20_000.0)
    assert (verdict["within_10_percent"] and verdict["range_holds_it"]) is passed
    data = {
        "measured_at": "2026-12-02T18:40:58+00:00",
        "server": {"capacity_msgs_per_second": 20_000.0, "size": 64, "delay_us": 200.0},
        "settings": {"connections": 32, "fractions": "50,100", "target": "2ms"},
        "verdict": verdict,
    }
    text = _latency_check.render(data)
    assert ("**met**" in text) is passed and "20,000 msgs/s" in text
    assert (_latency_check.missed(data) == []) is passed


def run_record(lag: float, pause: float, gap: float) -> dict[str, Any]:
    return {
        "max_send_lag_us": lag,
        "p99_send_lag_us": 64.0,
        "max_pause_us": pause,
        "major_faults": 0,
        "memory_locked": True,
        "latency_us": {"p99": 600.0},
        "lag_per_second_us": [lag, 200.0],
        "steal_pct": {"1": 0.1},
        "host_gaps": {
            "max_gap_us": gap,
            "max_gap_per_second_us": [gap, 100.0, 100.0],
            # The loop has no work of its own: a trace explains all but 40 µs of a gap.
            "causes": {"traced": True, "own_max_lag_us": 40.0 if gap >= 250 else None},
        },
        # As a trace would leave it: a kernel thread held the CPU for all but 100 µs.
        "causes": {
            "traced": True,
            "own_max_lag_us": 100.0 if lag >= 250 else None,
            "own_under_us": 250.0,
            "held_by_us": {"kdamond.0/78": lag - 100.0} if lag >= 250 else {},
            "stopped_max_us": 0.0,
        },
    }


def lag_data(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "measured_at": "2026-12-03",
        "rate": 94_800.0,
        "capacity_msgs_per_second": 189_600.0,
        "settings": {"connections": 32, "size": 64, "duration": 10.0},
        "server_cpus": [0],
        "client_cpu": 1,
        "runs": runs,
        "host": {"noisy": None},
        "summary": _client_lag.summary(runs),
    }


def test_the_client_lag_goal_is_the_median_of_the_runs() -> None:
    runs = [run_record(lag, 90.0, gap) for lag, gap in ((300, 700), (420, 500), (4100, 6000))]
    summary = _client_lag.summary(runs)
    assert summary["median_max_send_lag_us"] == 420.0 and summary["lag_under_goal"]
    assert summary["median_host_max_gap_us"] == 700.0 and summary["pause_under_goal"]
    data = lag_data(runs)
    text = _client_lag.render(data)
    assert text.count("\n| ") == 2 + len(runs) and "max send lag 420 µs" in text
    assert "kept busy" not in text  # the loops had no CPU kept busy beside them
    busy = [{**r, "host_gaps": {**r["host_gaps"], "busy_cpus": [0]}} for r in runs]
    assert "with CPU 0 kept busy meanwhile by an idle-priority loop, as" in _client_lag.render(
        lag_data(busy)
    )
    assert "loop in some runs" in _client_lag.render(lag_data([busy[0], runs[1]]))
    assert "probed the host" not in text  # no run waited
    waited = [
        {**r, "quiet_wait": {"probes": probes, "waited_s": 3.1 * len(probes), "quiet": quiet}}
        for r, probes, quiet in zip(
            runs, ([120.0], [1900.0, 150.0], [2100.0, 1800.0]), (True, True, False), strict=True
        )
    ]
    assert (
        "2 of 3 runs started in a quiet stretch, after 5 probes and 16 s in all (3 probes "
        "stalled 500 µs or more, up to 2,100 µs)." in _client_lag.render(lag_data(waited))
    )
    assert _client_lag.missed(data) == []
    slow = _client_lag.summary([run_record(4100, 90.0, 700)] * 3)
    assert not slow["lag_under_goal"] and _client_lag.missed({**data, "summary": slow})


def test_the_client_lag_sets_each_second_beside_the_bare_hosts() -> None:
    runs = [run_record(lag, 90.0, gap) for lag, gap in ((300, 700), (1200, 500), (4100, 6000))]
    seconds = _client_lag.summary(runs)["seconds"]
    # Client seconds: 300, 200, 1200, 200, 4100, 200; host: 700, 100, 100, 500, 100 x2, ...
    assert seconds["client"] == {"seconds": 6, "over_goal": 2, "over_1ms": 2, "median_us": 250.0}
    assert seconds["host"] == {"seconds": 9, "over_goal": 3, "over_1ms": 1, "median_us": 100.0}
    data = lag_data(runs)
    text = _client_lag.render(data)
    assert "reached 500 µs in 2 of 6 seconds" in text and "in 3 of 9 seconds" in text
    assert "memory was locked" in text
    summary = data["summary"]
    assert summary["median_own_max_lag_us"] == 100.0 and summary["own_under_goal"] is True
    assert summary["held_by_us"] == {"kdamond.0": 4000.0}
    assert "own only by how much it outlasts" in text and "at most 100 µs" in text
    assert "`kdamond.0` 4,000 µs" in text and "stopped for up to 0 µs" in text
    # The loop's gaps left unexplained: 40, 40, 40; a run without one counts as 250.
    assert summary["median_loop_unexplained_us"] == 40.0 and "of up to 40 µs" in text
    stopped = [{**r, "causes": {**r["causes"], "stopped_max_us": 6200.0}} for r in runs]
    assert "stopped for up to 6,200 µs" in _client_lag.render(lag_data(stopped))
    untraced = [{**r, "causes": {"traced": False, "why_not": "needs root"}} for r in runs]
    plain = _client_lag.render(lag_data(untraced))
    assert "outlasts" not in plain and "| 1 | 300 | - |" in plain
    assert "| 1 | 300 | 100 |" in text and "| 3 | 4,100 | 100 |" in text
    assert "at least" not in text  # no wait whose end went unseen: no range
    unseen = [{**r, "causes": {**r["causes"], "own_max_lag_least_us": 60.0}} for r in runs]
    ranged = _client_lag.render(lag_data(unseen))
    assert "at most 100 µs" in ranged and "and at least 60 µs" in ranged
    assert "| 1 | 300 | 60-100 |" in ranged
    quiet = [{**runs[0], "causes": {**runs[0]["causes"], "own_max_lag_us": None}}]
    assert "| 1 | 300 | under 250 |" in _client_lag.render(lag_data(quiet))
    unlocked = [{**r, "memory_locked": False} for r in runs]
    assert "not locked" in _client_lag.render({**data, "runs": unlocked})
    # The client's nice value is said where it was recorded, and why it was not taken.
    assert "client on CPU 1; after" in text
    raised = [{**r, "nice": -20, "nice_not_set": None} for r in runs]
    assert "client on CPU 1 at nice -20; after" in _client_lag.render(lag_data(raised))
    refused = [{**r, "nice": 0, "nice_not_set": "nice -20: Permission denied"} for r in runs]
    assert "at nice 0 (nice -20: Permission denied)" in _client_lag.render(lag_data(refused))
    # The shield: what moved off the client's CPU, or why nothing did.
    moved = {
        "cpus": [1],
        "spare": [0],
        "threads": {"tokio-rt-worker": 4, "kdamond.0": 1},
        "irqs": ["36 virtio1-req.0", "42 virtio3-tx"],
        "workqueues": True,
        "warning": None,
    }
    shielded = _client_lag.render({**data, "shield": moved})
    assert (
        "client on CPU 1, shielded: 5 other threads (`tokio-rt-worker` x4, `kdamond.0`), "
        "2 interrupts and the kernel's unbound workqueues moved to CPU 0"
    ) in shielded
    assert "buckets" not in shielded  # a file from before the settings were recorded
    quietened = {
        **moved,
        "sysctls": {
            "net/netfilter/nf_conntrack_buckets": [262144, 4096],
            "vm/stat_interval": [1, 10],
        },
    }
    assert (
        "moved to CPU 0 and, of its settings, the connection tracker's table 262,144 -> 4,096 "
        "buckets (its garbage collector walks all of them), vm statistics folded every 10 s "
        "(not 1) for the runs"
    ) in _client_lag.render({**data, "shield": quietened})
    bare = {**moved, "cpus": [], "threads": {}, "irqs": [], "workqueues": False}
    assert "client on CPU 1, not shielded (asked not to); after" in _client_lag.render(
        {**data, "shield": bare}
    )
    rootless = {**bare, "warning": "shielding a CPU takes root"}
    assert "not shielded (shielding a CPU takes root)" in _client_lag.render(
        {**data, "shield": rootless}
    )


def test_the_host_gap_loop_reports_its_longest_stall() -> None:
    binary = build(_client_lag.GAPLOOP, "gaploop")
    done = subprocess.run([str(binary), "0", "1.2"], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert 1.19 < found["seconds"] < 1.5 and found["max_gap_us"] > 0
    assert found["gaps_over_1ms"] <= found["gaps_over_500us"]
    # One whole second in 1.2 s; its longest gap is one of the run's gaps.
    [second] = found["max_gap_per_second_us"]
    assert 0 < second <= found["max_gap_us"]
    # Every gap of 250 µs or more, with when it ended (the longest, if it was one).
    assert all(length >= 250 for _, length in found["gaps"])
    assert (found["max_gap_us"] >= 250) is any(
        length == found["max_gap_us"] for _, length in found["gaps"]
    )


def test_the_client_lag_finds_stalls_that_keep_to_the_hosts_cycle() -> None:
    def at(cycles: int, phase_ms: float = 40.0) -> int:
        return cycles * 100_000_000 + int(phase_ms * 1e6)

    runs = []
    for i in range(3):
        run = run_record(1900.0, 90.0, 1890.0)
        run["stalls"] = [[at(100 * i + 7), 1900.0]]
        run["host_gaps"]["stalls"] = [[at(100 * i + 50, 40.5), 1890.0]]
        # The episode in the window was the host's; one elsewhere, 300 µs, the client's.
        run["causes"]["own_by_episode"] = [[at(100 * i + 7), 1800.0], [at(100 * i + 20, 70), 300.0]]
        runs.append(run)
    found = _client_lag.summary(runs)["cycle"]
    assert found["recurs"] and found["chance"] < 1e-6
    assert found["client"] == {"stalls": 3, "in_window": 3}
    assert found["loop"] == {"stalls": 3, "in_window": 3}
    assert found["median_own_max_lag_us"] == 300.0 and found["own_under_goal"]
    text = _client_lag.render(lag_data(runs))
    assert "3 and 3 began in the same 1 ms of a 100 ms cycle (at 40.0 ms" in text
    assert "the client's own part is at most 300 µs" in text and "**met**" in text
    for i, run in enumerate(runs):
        run["stalls"] = [[at(i, 10.0 + 30 * i), 1900.0]]
        run["host_gaps"]["stalls"] = []
    scattered = _client_lag.summary(runs)["cycle"]
    assert not scattered["recurs"] and "median_own_max_lag_us" not in scattered
    assert "no one phase held more than chance" in _client_lag.render(lag_data(runs))
    before = [{k: v for k, v in run.items() if k != "stalls"} for run in runs]
    assert "cycle" not in _client_lag.summary(before)
    assert "cycle" not in _client_lag.render(lag_data(before))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--quiet-timeout", "-1"], "--quiet-timeout must be 0 or more"),
        (["--runs", "0"], "--runs, --duration, --connections and --size must be positive"),
    ],
)
def test_bad_client_lag_options_get_one_line(argv: list[str], message: str) -> None:
    assert_one_line_error(run_echobench("client-lag", *argv), message)
