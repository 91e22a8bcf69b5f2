"""The real-time probe that sees a CPU taken from every task at normal priority: run for
real beside a task of higher real-time priority that holds the CPU, and set against a
client's lags with the tick's stops, each stretch counted once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from test_latency_check import lag_data, run_record

from echobench.benchmarks.truth import _client_lag, _stopprobe
from echobench.benchmarks.truth._client_lag import Seen, attribute
from echobench.benchmarks.truth._stopprobe import STOPPED, Probe, probed

#: Holds the CPU for argv[1] seconds at real-time priority 2, above the probe's 1.
HOLD = """
import os, sys, time
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(2))
print(time.clock_gettime_ns(time.CLOCK_MONOTONIC), flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
released = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
# Back to normal priority before anything else: the probe runs at once, not after exit.
os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
print(released, flush=True)
"""


@pytest.mark.skipif(_stopprobe.unavailable() is not None, reason="needs root")
def test_a_cpu_held_above_the_probe_is_a_late_stretch_as_long() -> None:
    cpu = max(os.sched_getaffinity(0))
    with probed(cpu) as probe:
        time.sleep(0.3)  # wakeups on time first: the probe's own lateness
        held = subprocess.run(
            ["taskset", "-c", str(cpu), sys.executable, "-c", HOLD, "0.03"],
            capture_output=True,
            text=True,
            check=True,
        )
        time.sleep(0.1)
    began, ended = (int(line) for line in held.stdout.split())
    assert probe.why_not is None and probe.summary["policy"] == "SCHED_FIFO"
    assert probe.summary["wakeups"] > 0.3 / (probe.period_us / 1e6) * 0.5
    # On time but for the hold: the median wakeup came within 100 µs of its grid point.
    assert probe.summary["late_p50_us"] < 100
    [longest] = sorted(probe.stops(), key=lambda w: w.end_ns - w.start_ns)[-1:]
    # The hold, from within a period of its start to when it let the probe run again.
    assert longest.ran == {STOPPED: longest.end_ns - longest.start_ns}
    assert began - probe.period_us * 1e3 <= longest.start_ns <= began + 1_000_000
    assert ended <= longest.end_ns <= ended + 1_000_000
    assert 29_000 <= (longest.end_ns - longest.start_ns) / 1e3 <= 40_000
    record = probe.record()
    assert record["late_stretches"] == len(probe.gaps) and record["late_total_us"] >= 29_000


def test_without_real_time_priority_the_probe_explains_nothing() -> None:
    probe = Probe(gaps=[(1_000, 2_000_000)], why_not="a probe at real-time priority needs root")
    assert probe.stops() == [] and probe.record() == {"why_not": probe.why_not}


def _tick(now_ns: int) -> str:
    return (
        f"          python-100     [001] d.h.. {now_ns // 1000 / 1e6:.6f}: "
        "hrtimer_expire_entry: hrtimer=000000006b94a048 function=tick_nohz_handler "
        f"now={now_ns}\n"
    )


def test_a_stop_both_the_tick_and_the_probe_saw_counts_once() -> None:
    t0 = 70_000_000_000
    # Ticks on a 4 ms grid; the one due at 12 ms ran at 14 ms: stopped 12-14 ms.
    ticks = [t0 + g * 1_000_000 + 2_000 for g in (0, 4, 8)] + [t0 + 14_000_000]
    ticks += [t0 + g * 1_000_000 + 2_000 for g in (16, 20, 24)]
    text = "".join(_tick(t) for t in ticks)
    # A lag of 3 ms read at 15 ms: due at 12 ms, just as the stop began.
    lag = [[t0 + 15_000_000, 3_000.0]]
    alone = attribute(lag, Seen(text), 100, 1)
    assert alone["stopped_max_us"] == pytest.approx(2_000.0, abs=5)
    assert alone["own_max_lag_us"] == pytest.approx(1_000.0, abs=5)
    # The probe saw the same stop, from 11.9 to 14.0 ms, and a stop the tick could not
    # see, 14.2-14.8 ms, between two grid points: the first counts once, the second too.
    probe = Probe(gaps=[(t0 + 11_900_000, t0 + 14_000_000), (t0 + 14_200_000, t0 + 14_800_000)])
    both = attribute(lag, Seen(text), 100, 1, probe=probe)
    assert both["probe_stopped_max_us"] == pytest.approx(2_600.0)
    assert both["own_max_lag_us"] == pytest.approx(400.0, abs=5)
    # With only the probe, no trace of a tick: the same.
    only = attribute(lag, Seen(""), 100, 1, probe=probe)
    assert only["own_max_lag_us"] == pytest.approx(400.0) and only["stopped_max_us"] == 0


WAITED = (
    "          python-100     [001] d..2. 90.000000: sched_switch: prev_comm=python "
    "prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=kworker/1:2 next_pid=78 "
    "next_prio=120\n"
    "     kworker/1:2-78      [001] d..2. 90.001000: sched_switch: prev_comm=kworker/1:2 "
    "prev_pid=78 prev_prio=120 prev_state=S ==> next_comm=python next_pid=100 "
    "next_prio=120\n"
)


def test_a_wait_counts_only_outside_the_stops() -> None:
    # The client waited 1 ms for a kworker; the probe saw the CPU taken for 0.4 ms of
    # it (the kworker's time and the stop are one stretch, not two).
    probe = Probe(gaps=[(90_000_300_000, 90_000_700_000)])
    lag = [[90_001_200_000, 1_200.0]]
    causes = attribute(lag, Seen(WAITED), 100, 1, probe=probe)
    assert causes["own_max_lag_us"] == pytest.approx(200.0)
    assert attribute(lag, Seen(WAITED), 100, 1)["own_max_lag_us"] == pytest.approx(200.0)


def _probed(run: dict, late_max_us: float, why_not: str | None = None) -> dict:
    """``run`` as the probe beside it would leave it (``Probe.record``)."""
    record = {
        "period_us": 200.0,
        "seconds": 11.0,
        "wakeups": 55_000,
        "late_p99_us": 34,
        "late_max_us": late_max_us,
        "late_at_least_us": {"50": 120, "100": 20, "250": 4, "1000": int(late_max_us >= 1000)},
        "wakeups_per_second": 5000,
        "late_stretches": 20,
        "late_total_us": 3_000.0,
    }
    probe = {"why_not": why_not} if why_not else record
    return {
        **run,
        "causes": {**run["causes"], "probe": probe},
        "host_gaps": {
            **run["host_gaps"],
            "causes": {**run["host_gaps"]["causes"], "probe": record},
        },
    }


def test_with_the_probe_beside_every_run_the_lag_goal_is_the_clients_own_part() -> None:
    # The host stopped the CPU for 7 ms in each run; the client's own part was 100 µs.
    runs = [_probed(run_record(7_100, 90.0, 7_000), 7_050.0) for _ in range(3)]
    data = {**lag_data(runs), "capacity_beside_probe": 163_000.0}
    summary = data["summary"]
    assert not summary["lag_under_goal"] and summary["own_under_goal"]
    probe = summary["probe"]
    assert probe["client"]["runs"] == 3 and probe["client"]["over_1ms"] == 3
    assert probe["client"]["late_max_us"] == 7_050.0 and probe["loop"]["late_stretches"] == 60
    assert _client_lag.missed(data) == []
    text = _client_lag.render(data)
    assert "under 500 µs on a quiet host: **not met** here" in text
    assert "own part of it, which is what a quiet host leaves, 100 µs: **met**" in text
    assert "woke every 200 µs (`_stopprobe.py`), 5,000 times a second" in text
    assert "60 stretches (3 of 1 ms or more, the longest 7,050 µs) in the client's" in text
    assert "163,000 msgs/s with the probe below on its CPU" in text
    # The probe in every run, each with its own pid, is named once, as its program.
    held = [
        {**r, "causes": {**r["causes"], "held_by_us": {f"stopprobe-a86ae/{pid}": us}}}
        for r, pid, us in zip(runs, (301, 302, 303), (500.0, 700.0, 600.0), strict=True)
    ]
    summary_held = _client_lag.summary(held)["held_by_us"]
    assert summary_held == {"stopprobe": 700.0}
    assert "`stopprobe` 700 µs (the probe: the vCPU stopped while it ran)" in (
        _client_lag.render({**data, "runs": held, "summary": _client_lag.summary(held)})
    )
    assert _client_lag._task_name("kworker/1:1/31989") == "kworker/1:1"
    assert _client_lag._task_name("worker-12345/9") == "worker-12345"  # not a build's
    assert "the probe took 14% of it" in text
    # An own part over the goal is what is missed, named as such.
    over = [{**r, "causes": {**r["causes"], "own_max_lag_us": 900.0}} for r in runs]
    [line] = _client_lag.missed({**data, "summary": _client_lag.summary(over)})
    assert "own part of its largest send lag, median 900 µs" in line
    # A probe that could not run leaves the goal on the lag itself, and says why.
    unprobed = [_probed(run_record(7_100, 90.0, 7_000), 0.0, "needs root") for _ in range(3)]
    plain = {**lag_data(unprobed)}
    assert _client_lag.missed(plain) and "max send lag 7,100 µs (goal under 500" in (
        _client_lag.render(plain)
    )
    assert "No probe ran beside the client: needs root." in _client_lag.render(plain)


KILLED = """
import sys, time
from echobench.benchmarks.truth._stopprobe import probed
with probed(int(sys.argv[1])) as probe:
    print(probe.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.skipif(_stopprobe.unavailable() is not None, reason="needs root")
def test_a_probe_does_not_outlive_a_caller_killed_outright() -> None:
    cpu = max(os.sched_getaffinity(0))
    caller = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(cpu)], stdout=subprocess.PIPE, text=True
    )
    assert caller.stdout is not None
    pid = int(caller.stdout.readline())
    assert os.path.exists(f"/proc/{pid}")
    caller.kill()  # SIGKILL: no finally runs, nothing is told to stop
    caller.wait(10)
    caller.stdout.close()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid), f"stopprobe {pid} outlived its caller"


def _running(pid: int) -> bool:
    """Whether ``pid`` is still a live process (a zombie awaiting its reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
