"""The scheduler trace that says who held the client's CPU: parsed from the kernel's
own text, and recorded for real (as root) with two processes fighting over one CPU."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from echobench.benchmarks.runner._interference import host_sample, snapshot
from echobench.benchmarks.truth import _client_lag, _schedtrace
from echobench.benchmarks.truth._client_lag import Seen, _gaps, attribute, episodes
from echobench.clients import LoadConfig, run_load
from echobench.servers._launch import running_server

TRACE = """\
# tracer: nop
          python-100     [001] d..2. 50.000100: sched_switch: prev_comm=python prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=kdamond.0 next_pid=78 next_prio=120
     native_echo-7       [000] d..2. 50.000200: sched_switch: prev_comm=native_echo prev_pid=7 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
       kdamond.0-78      [001] d..2. 50.004100: sched_switch: prev_comm=kdamond.0 prev_pid=78 prev_prio=120 prev_state=R+ ==> next_comm=ksoftirqd/1 next_pid=22 next_prio=120
     ksoftirqd/1-22      [001] d..2. 50.004110: sched_switch: prev_comm=ksoftirqd/1 prev_pid=22 prev_prio=120 prev_state=S ==> next_comm=python next_pid=100 next_prio=120
          python-100     [001] d..2. 50.500000: sched_switch: prev_comm=python prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
     native_echo-7       [000] d.s3. 50.500900: sched_wakeup: comm=python pid=100 prio=120 target_cpu=001
          <idle>-0       [001] d..2. 50.501000: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=100 next_prio=120
"""  # noqa: E501


def test_a_wait_runs_from_preemption_or_wakeup_to_running_again() -> None:
    found = _schedtrace.waits(TRACE, 100, 1)
    assert [(w.start_ns, w.end_ns) for w in found] == [
        (50_000_100_000, 50_004_110_000),  # preempted by kdamond.0, then ksoftirqd/1
        (50_500_900_000, 50_501_000_000),  # woken from a sleep, ran 100 µs later
    ]
    assert found[0].ran == {"kdamond.0/78": 4_000_000, "ksoftirqd/1/22": 10_000}
    assert found[1].ran == {"swapper/1/0": 100_000}
    # A lag of 5 ms read at 50.004500: its last 4.4 ms hold the first wait, 4.01 ms of it.
    waited, who = _schedtrace.explained(found, 50_004_500_000, 5_000_000)
    assert waited == 4_010_000 and who == "kdamond.0/78"
    assert _schedtrace.explained(found, 50_200_000_000, 1_000_000) == (0, None)
    # The server's CPU is not the client's: nothing of CPU 0 counts.
    assert _schedtrace.waits(TRACE, 7, 1) == []


TICKS = "".join(
    f"          python-100     [001] d.h1. 60.{t:06d}: local_timer_entry: vector=236\n"
    for t in (0, 4000, 8000, 12000, 31000, 35000)
)


def test_a_missing_tick_is_the_vcpu_stopped_and_charged_to_the_host() -> None:
    # Ticks every 4 ms, then none for 19 ms: stopped for at least 19 - 4 = 15 ms.
    [stop] = _schedtrace.stops(TICKS, 1)
    assert (stop.start_ns, stop.end_ns) == (60_016_000_000, 60_031_000_000)
    assert _schedtrace.stops(TICKS, 0) == []  # another CPU's ticks
    # A lag of 18 ms read at 60.031 s: all but 3 ms of it the host's.
    causes = attribute([[60_031_000_000, 18_000.0]], Seen(TICKS), 100, 1)
    assert causes["stopped_max_us"] == 15_000.0 and causes["own_max_lag_us"] == 3_000.0


def _tick(cpu: int, now_us: float) -> str:
    now = round(now_us * 1000)
    return (
        f"          python-100     [{cpu:03d}] d.h.. {now // 1000 / 1e6:.6f}: "
        "hrtimer_expire_entry: hrtimer=000000006b94a048 function=tick_nohz_handler "
        f"now={now}\n"
    )


IDLE = (
    "          python-100     [001] d..2. 80.034100: sched_switch: prev_comm=python "
    "prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 "
    "next_prio=120\n"
    "          <idle>-0       [001] d..2. 80.045000: sched_switch: prev_comm=swapper/1 "
    "prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=100 "
    "next_prio=120\n"
)


def test_a_late_or_missed_tick_is_the_vcpu_stopped_from_its_grid_point() -> None:
    t0 = 80_000_000.0  # µs
    # On a 4 ms grid a few µs late, except: the tick due at 12 ms ran at 13.3 ms; those
    # due at 24 and 28 ms never ran, the next at 30.5 ms; the CPU idled from 34.1 to
    # 45 ms (its tick stopped by design), and the tick came back on the grid at 48 ms.
    late = [3, 2, 4, 1300, 3, 2, 6500, 5, 3, 2, 4, 3]
    grid = [0, 4, 8, 12, 16, 20, 24, 32, 48, 52, 56, 60]
    ticks = [(g * 1000 + d, g) for g, d in zip(grid, late, strict=True)]
    text = "".join(_tick(1, t0 + at) for at, _ in ticks) + IDLE + _tick(0, t0 + 13_900)
    found = _schedtrace.stops(text, 1)
    # Each from its grid point (as the earliest on-time tick has it: 2 µs late) on.
    assert [((w.start_ns - 80e9) / 1e3, (w.end_ns - 80e9) / 1e3) for w in found] == [
        (12_002.0, 13_300.0),
        (24_002.0, 30_500.0),
    ]
    assert found[0].ran == {"(vCPU stopped)": 1_298_000}
    # Another CPU's tick, late for the grid, is not this CPU's.
    assert _schedtrace.stops(text, 0) == []


PARENT = (
    "          python-100     [001] d..2. 90.000000: sched_switch: prev_comm=python "
    "prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=echobench next_pid=99 "
    "next_prio=120\n"
    "       echobench-99      [001] d..2. 90.000300: sched_switch: prev_comm=echobench "
    "prev_pid=99 prev_prio=120 prev_state=R ==> next_comm=kdamond.0 next_pid=78 "
    "next_prio=120\n"
    "       kdamond.0-78      [001] d..2. 90.000700: sched_switch: prev_comm=kdamond.0 "
    "prev_pid=78 prev_prio=120 prev_state=S ==> next_comm=python next_pid=100 "
    "next_prio=120\n"
)


def test_the_clients_own_parent_on_its_cpu_is_not_the_host() -> None:
    # A 1 ms lag: the client's parent held its CPU 300 µs, kdamond then 400 µs.
    lag = [[90_000_900_000, 1000.0]]
    apart = attribute(lag, Seen(PARENT), 100, 1)
    assert apart["own_max_lag_us"] == 300.0  # both taken for the host's
    kin = attribute(lag, Seen(PARENT), 100, 1, frozenset({99, 100}))
    assert kin["own_max_lag_us"] == 600.0
    assert kin["held_by_us"] == {"kdamond.0/78": 700.0}  # the wait's, parent not named


UNSEEN = (
    "          python-100     [001] d..2. 95.000000: sched_switch: prev_comm=python "
    "prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=tokio-rt-worker next_pid=76 "
    "next_prio=110\n" + _tick(1, 95_002_000.0)
    # No switch back: the next event on CPU 1 is a tick that interrupted the client.
)


def test_a_wait_whose_end_went_unrecorded_ends_at_the_process_next_event() -> None:
    # This VM records no event of its platform agent's threads, their switches out
    # among them: the client is known to run again only by the tick in its context.
    [wait] = _schedtrace.waits(UNSEEN, 100, 1)
    assert (wait.start_ns, wait.end_ns, wait.seen_end) == (95_000_000_000, 95_002_000_000, False)
    assert wait.ran == {"tokio-rt-worker/76": 2_000_000}
    # A 1.5 ms lag read within it: all the agent's, or none of it; the own part is given
    # as at most the whole lag, at least nothing.
    causes = attribute([[95_001_500_000, 1500.0]], Seen(UNSEEN), 100, 1)
    assert causes["own_max_lag_us"] == 1500.0 and causes["own_max_lag_least_us"] == 0.0
    assert causes["held_by_us"] == {"tokio-rt-worker/76": 1500.0}


PREEMPTED = (
    "          python-100     [001] d..2. 70.000000: sched_switch: prev_comm=python "
    "prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=kdamond.0 next_pid=78 "
    "next_prio=120\n"
    "       kdamond.0-78      [001] d..2. 70.004900: sched_switch: prev_comm=kdamond.0 "
    "prev_pid=78 prev_prio=120 prev_state=S ==> next_comm=python next_pid=100 "
    "next_prio=120\n"
)


def test_lags_behind_a_stall_are_one_episode_with_it() -> None:
    # kdamond held the CPU 4.9 ms; the lag across it, then one due just after it (its
    # catch-up: due before the last was sent), then a fresh one well after.
    t0 = 70_000_000_000
    events = [[t0 + 5_000_000, 5_000.0], [t0 + 6_000_000, 1_000.0], [t0 + 9_000_000, 300.0]]
    found = episodes(events)
    assert [(start - t0, len(members)) for start, members in found] == [(0, 2), (8_700_000, 1)]
    causes = attribute(events, Seen(PREEMPTED), 100, 1)
    # The catch-up owes nothing of its own (alone it would count its whole 1 ms): the
    # largest own part is the fresh lag's.
    assert causes["own_max_lag_us"] == 300.0 and causes["episodes"] == 2
    assert causes["held_by_us"] == {"kdamond.0/78": 4900.0}


SPIN = """\
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
start = time.time()
while time.time() - start < float(sys.argv[2]):
    pass
"""


@pytest.mark.skipif(_schedtrace.available() is not None, reason="needs root and tracefs")
def test_a_real_trace_names_who_took_the_cpu() -> None:
    cpu = max(os.sched_getaffinity(0))
    with _schedtrace.SchedTrace(cpu) as trace:
        victim = subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), "0.6"])
        time.sleep(0.05)
        rival = subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), "0.3"])
        assert victim.wait(10) == 0 and rival.wait(10) == 0
    assert not trace.dir.exists()  # the trace instance is gone with the block
    found = _schedtrace.waits(trace.text, victim.pid, cpu)
    # Two CPU-bound processes on one CPU take turns: the victim waited, for the rival.
    waited = sum(w.end_ns - w.start_ns for w in found)
    assert waited > 50_000_000, waited
    assert any(f"/{rival.pid}" in who for w in found for who in w.ran)


@pytest.mark.skipif(_schedtrace.available() is not None, reason="needs root and tracefs")
def test_a_traced_run_splits_its_lags_into_waits_and_its_own() -> None:
    cpu = max(os.sched_getaffinity(0))
    with running_server("native") as server:
        config = LoadConfig(
            port=server.port,
            connections=4,
            size=64,
            rate=5000,
            duration=1.5,
            warmup=0.3,
            cpus=(cpu,),
            workers=1,
        )
        with _schedtrace.SchedTrace(cpu) as trace:
            # A rival on the client's CPU makes lags that the trace must put on it.
            rival = subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), "1.6"])
            result = run_load(config)
            assert rival.wait(10) == 0
    [pid] = result["client_cpu"]["pids"]
    causes = attribute(result["rate"]["lag_events"], Seen(trace.text), pid, cpu)
    assert causes["traced"] and causes["lags_over_event"] == len(result["rate"]["lag_events"]) > 0
    assert any(f"/{rival.pid}" in who for who in causes["held_by_us"])
    largest = max(lag for _, lag in result["rate"]["lag_events"])
    assert causes["own_max_lag_us"] is not None and causes["own_max_lag_us"] < largest


@pytest.mark.skipif(_schedtrace.available() is not None, reason="needs root and tracefs")
def test_the_bare_loops_gaps_are_put_on_whoever_took_its_cpu() -> None:
    cpu = max(os.sched_getaffinity(0))
    rival = subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), "1.5"])
    try:
        gaps = _gaps(cpu, 1.2)
    finally:
        rival.wait(10)
    # Sharing a CPU, the loop stops for a scheduler slice at a time: the rival's.
    assert gaps["max_gap_us"] > 1000 and gaps["causes"]["lags_over_event"] > 0
    causes = gaps["causes"]
    assert any(f"/{rival.pid}" in who for who in causes["held_by_us"])
    assert causes["own_max_lag_us"] < gaps["max_gap_us"]


@pytest.mark.skipif(_schedtrace.available() is not None, reason="needs root and tracefs")
def test_a_busy_cpus_ticks_are_traced_on_their_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = max(os.sched_getaffinity(0))
    with _schedtrace.SchedTrace(cpu) as trace:
        assert subprocess.run([sys.executable, "-c", SPIN, str(cpu), "0.5"]).returncode == 0
    ticks = [line for line in trace.text.splitlines() if _schedtrace._HRTICK.search(line)]
    if trace.events[-1] == _schedtrace.HRTIMER:
        # Half a second of a busy CPU: some 125 ticks of the tick's own timer and no
        # other timer, nearly all on their grid (a stop is rare, minutes apart or so).
        assert len(ticks) > 80 and "local_timer_entry" not in trace.text
        assert len(_schedtrace.stops(trace.text, cpu)) < len(ticks) // 10
    # A kernel that knows none of the names gets the timer interrupt instead.
    monkeypatch.setattr(_schedtrace, "TICK_FUNCTIONS", ("echobench_no_such_function",))
    with _schedtrace.SchedTrace(cpu) as fallback:
        assert subprocess.run([sys.executable, "-c", SPIN, str(cpu), "0.2"]).returncode == 0
    assert fallback.events[-1] == _schedtrace.LOCAL_TIMER
    assert fallback.text.count("local_timer_entry") > 20
    assert "hrtimer_expire_entry" not in fallback.text


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_the_bare_loop_runs_with_the_servers_cpu_kept_busy_as_in_the_run() -> None:
    cpu, other = max(os.sched_getaffinity(0)), min(os.sched_getaffinity(0))
    before = snapshot({})
    gaps = _gaps(cpu, 1.5, [other])
    after = snapshot({})
    assert gaps["busy_cpus"] == [other] and "busy_warning" not in gaps
    # The idle-priority loop took what the other CPU had spare: it was busy throughout.
    assert host_sample(before, after, [other]).others_pct[other] > 80.0
    alone = _gaps(cpu, 0.3)
    assert alone["busy_cpus"] == []


def test_a_run_waits_for_a_quiet_stretch_within_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cpu = max(os.sched_getaffinity(0))
    assert _client_lag.quiet(cpu, [], 0.0) == {"probes": [], "waited_s": 0.0, "quiet": None}
    monkeypatch.setattr(_client_lag, "QUIET_PROBE_S", 0.4)
    # A task of our own on the client's CPU takes it in slices of a millisecond or so:
    # every probe stalls over the goal, and the wait ends with its budget, not quiet.
    rival = subprocess.Popen([sys.executable, "-c", SPIN, str(cpu), "4"])
    try:
        time.sleep(0.2)  # the rival's interpreter up and spinning
        waited = _client_lag.quiet(cpu, [], 1.0)
    finally:
        rival.wait(10)
    assert waited["quiet"] is False and len(waited["probes"]) >= 2
    assert all(p >= _client_lag.GOAL_US for p in waited["probes"])
    assert waited["waited_s"] >= 1.0
