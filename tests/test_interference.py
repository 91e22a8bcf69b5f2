"""Interference from recorded /proc snapshots: steal, run delay, CPU sets, wraps, gaps.

The /proc/stat lines are this 2-core VM's, recorded; the "after" lines add known
amounts to them, so every figure below is worked out by hand. A fake /proc tree
(``stat`` and ``PID/task/TID/schedstat`` files) stands in for the real one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from echobench.benchmarks.runner import _interference as interference
from echobench.benchmarks.runner._interference import (
    MAX_TASKS,
    Side,
    Snapshot,
    Tasks,
    between,
    counter_delta,
    host_sample,
    parse_schedstat,
    parse_stat,
    snapshot,
)

#: Recorded: user nice system idle iowait irq softirq steal guest guest_nice.
BEFORE = """cpu  160069 205 50120 197438 1316 0 21358 118 0 0
cpu0 49219 29 22573 138056 395 0 4853 51 0 0
cpu1 110850 175 27547 59382 921 0 16505 66 0 0
intr 452939 0 0 0
ctxt 10945534
"""


def _after(cpu0: tuple[int, ...], cpu1: tuple[int, ...], text: str = BEFORE) -> str:
    """BEFORE with each CPU's columns advanced by the given ticks."""
    lines = []
    for line in text.splitlines():
        name, *values = line.split()
        add = {"cpu0": cpu0, "cpu1": cpu1}.get(name)
        if add is not None:
            values = [str(int(v) + d) for v, d in zip(values, [*add, 0, 0, 0], strict=False)]
        lines.append(" ".join([name, *values]))
    return "\n".join(lines) + "\n"


#: Two seconds at 100 ticks/s: cpu0 busy 190 (user 150, system 30, softirq 10), idle 4,
#: steal 6; cpu1 busy 120, idle 40, steal 40.
TWO_SECONDS = _after((150, 0, 30, 4, 0, 0, 10, 6), (100, 0, 20, 40, 0, 0, 0, 40))
SIDES = {"server": Side((0,), (100,)), "client": Side((1,), (200,), (300,))}


def _snap(stat: str, at_s: float, sides: dict[str, Tasks] | None = None) -> Snapshot:
    return Snapshot(round(at_s * 1e9), parse_stat(stat), sides or {}, ticks=100)


def _tasks(**threads: tuple[float, float]) -> dict[int, tuple[int, int]]:
    """``t101=(ran_s, waited_s)`` -> {101: (ns, ns)}."""
    return {
        int(name[1:]): (round(ran * 1e9), round(wait * 1e9))
        for name, (ran, wait) in threads.items()
    }


def test_parse_stat_reads_each_cpu_and_leaves_out_the_total() -> None:
    cpus = parse_stat(BEFORE)
    assert sorted(cpus) == [0, 1]
    assert cpus[0].steal == 51
    assert cpus[0].columns == (49219, 29, 22573, 138056, 395, 0, 4853, 51)  # no guest
    with pytest.raises(ValueError, match="no per-CPU lines"):
        parse_stat("cpu  1 2 3 4\nintr 5\n")
    with pytest.raises(ValueError, match="cpu0 has 3 columns"):
        parse_stat("cpu0 1 2 3\n")


def test_parse_schedstat() -> None:
    assert parse_schedstat("141203745 450529605 830\n") == (141203745, 450529605)
    assert parse_schedstat("") is None
    assert parse_schedstat("n/a n/a\n") is None


def test_steal_is_per_cpu_set() -> None:
    before = _snap(BEFORE, 10.0, {"server": Tasks({}, {}), "client": Tasks({}, {})})
    after = _snap(TWO_SECONDS, 12.0, {"server": Tasks({}, {}), "client": Tasks({}, {})})
    result = between(before, after, SIDES)
    assert result.sides["server"].steal_pct == pytest.approx(100 * 6 / 200)
    assert result.sides["client"].steal_pct == pytest.approx(100 * 40 / 200)
    # Both CPUs as one set: their steal over their time together.
    both = {"all": Side((0, 1))}
    whole = between(
        dataclasses.replace(before, sides={"all": Tasks({}, {})}),
        dataclasses.replace(after, sides={"all": Tasks({}, {})}),
        both,
    )
    assert whole.sides["all"].steal_pct == pytest.approx(100 * 46 / 400)
    # No thread of ours waited, so however busy others kept the CPUs, no run delay.
    assert result.disturbed and result.reasons() == ["steal 20.0% on the client's CPUs"]


def test_run_delay_is_the_wait_capped_by_others_cpu_time() -> None:
    # The server's one thread ran 1.5 s and waited 0.3 s; cpu0 was busy 1.9 s, so
    # others ran 0.4 s of its 2 s: run delay = min(15%, 20%) = 15%.
    # The client's thread ran 1.0 s and waited 0.1 s; the runner beside it (ours) ran
    # 0.2 s and waited 1.0 s, which is not the client's; cpu1 was busy 1.2 s: others 0.
    before = _snap(
        BEFORE,
        0.0,
        {
            "server": Tasks(_tasks(t101=(5.0, 1.0)), {}),
            "client": Tasks(_tasks(t201=(3.0, 0.5)), _tasks(t301=(1.0, 2.0))),
        },
    )
    after = _snap(
        TWO_SECONDS,
        2.0,
        {
            "server": Tasks(_tasks(t101=(6.5, 1.3)), {}),
            "client": Tasks(_tasks(t201=(4.0, 0.6)), _tasks(t301=(1.2, 3.0))),
        },
    )
    result = between(before, after, SIDES)
    server, client = result.sides["server"], result.sides["client"]
    assert server.wait_pct == pytest.approx(15.0)
    assert server.others_pct == pytest.approx(100 * (1.9 - 1.5) / 2.0)
    assert server.run_delay_pct == pytest.approx(15.0)
    assert client.wait_pct == pytest.approx(5.0)
    assert client.others_pct == pytest.approx(0.0)
    assert client.run_delay_pct == pytest.approx(0.0)
    record = result.as_dict()
    assert record["run_delay_pct"] == {"server": 15.0, "client": 0.0}
    assert record["steal_pct"] == {"server": 3.0, "client": 20.0}
    assert record["disturbed"] is True
    assert record["reasons"] == [
        "run delay 15.0% on the server's CPUs",
        "steal 20.0% on the client's CPUs",
    ]
    assert record["detail"]["server"] == {
        "wait_pct": 15.0,
        "others_pct": 20.0,
        "softirq_thread_pct": None,
        "threads": 1,
    }


def test_a_server_that_waits_for_its_own_threads_is_not_disturbed() -> None:
    # A thread per connection: 30 threads waited 9 s in all over a 2 s window, but they
    # ran 1.85 of cpu0's 1.9 busy seconds themselves: others held it for 0.05 s (2.5%).
    ran0 = {f"t{1000 + i}": (1.0, 2.0) for i in range(30)}
    ran1 = {f"t{1000 + i}": (1.0 + 1.85 / 30, 2.0 + 9.0 / 30) for i in range(30)}
    before = _snap(BEFORE, 0.0, {"server": Tasks(_tasks(**ran0), {})})
    after = _snap(TWO_SECONDS, 2.0, {"server": Tasks(_tasks(**ran1), {})})
    result = between(before, after, {"server": Side((0,), (100,))}, threshold_pct=5.0)
    figures = result.sides["server"]
    assert figures.wait_pct == pytest.approx(450.0)
    assert figures.run_delay_pct == pytest.approx(2.5)
    assert figures.threads == 30


def test_threads_born_dead_and_reused_in_the_window() -> None:
    before = {101: (10, 10), 102: (50, 50), 103: (900, 900)}
    # 101 goes on (+5, +1); 102 died (lost); 103's id was reused by a new thread (7, 3);
    # 104 was born (2, 2).
    after = {101: (15, 11), 103: (7, 3), 104: (2, 2)}
    assert interference._task_deltas(before, after) == (5 + 7 + 2, 1 + 3 + 2)


def test_counter_wrap_and_reset() -> None:
    assert counter_delta(100, 160, limit=300) == 60
    assert counter_delta(2**32 - 10, 50, limit=300) == 60  # a 32-bit counter wrapped
    assert counter_delta(2**64 - 10, 50, limit=300) == 60  # a 64-bit one
    assert counter_delta(5000, 10, limit=300) is None  # reset: a CPU went offline and back
    assert counter_delta(100, 100 + 10_000, limit=300) is None  # more than the window holds


def test_a_wrapped_stat_counter_still_gives_the_steal() -> None:
    near = BEFORE.replace(
        "cpu1 110850 175 27547 59382 921 0 16505 66", f"cpu1 {2**32 - 30} 0 0 0 0 0 0 {2**32 - 5}"
    )
    after = near.replace(f"cpu1 {2**32 - 30} 0 0 0 0 0 0 {2**32 - 5}", "cpu1 90 0 0 40 0 0 0 35")
    sides = {"client": Side((1,))}
    result = between(
        _snap(near, 0.0, {"client": Tasks({}, {})}),
        _snap(after, 2.0, {"client": Tasks({}, {})}),
        sides,
    )
    # user +120, idle +40, steal +40 over 200 ticks.
    assert result.sides["client"].steal_pct == pytest.approx(20.0)
    reset = near.replace(f"cpu1 {2**32 - 30} 0 0 0 0 0 0 {2**32 - 5}", "cpu1 3 0 0 1 0 0 0 0")
    broken = between(
        _snap(after, 0.0, {"client": Tasks({}, {})}),
        _snap(reset, 2.0, {"client": Tasks({}, {})}),
        sides,
    )
    assert broken.sides["client"].steal_pct is None
    assert "CPU 1's counters were reset in the window" in broken.sides["client"].notes
    assert not broken.disturbed  # unknown is never disturbed


def test_a_container_without_the_steal_column() -> None:
    seven = "\n".join(" ".join(line.split()[:8]) for line in BEFORE.splitlines()) + "\n"
    later = "\n".join(" ".join(line.split()[:8]) for line in TWO_SECONDS.splitlines()) + "\n"
    assert parse_stat(seven)[0].steal is None
    result = between(
        _snap(seven, 0.0, {"server": Tasks({}, {})}),
        _snap(later, 2.0, {"server": Tasks({}, {})}),
        {"server": Side((0,))},
    )
    figures = result.sides["server"]
    assert figures.steal_pct is None
    assert "/proc/stat has no steal column" in figures.notes
    assert result.as_dict()["steal_pct"] == {"server": None}
    # Others' CPU time is still known: no thread of ours ran, so all the busy time, 190
    # of 194 ticks without the steal column.
    assert figures.others_pct == pytest.approx(100 * 190 / 194)


def test_sides_sharing_a_cpu_share_its_others_time() -> None:
    # One CPU for both (a 1-CPU machine): ours is the server's 1.0 s and the client's
    # 0.7 s of cpu0's 1.9 busy seconds; others ran 0.2 s (10%).
    sides = {"server": Side((0,), (100,)), "client": Side((0,), (200,))}
    before = _snap(
        BEFORE,
        0.0,
        {"server": Tasks(_tasks(t101=(0, 0)), {}), "client": Tasks(_tasks(t201=(0, 0)), {})},
    )
    after = _snap(
        TWO_SECONDS,
        2.0,
        {
            "server": Tasks(_tasks(t101=(1.0, 0.4)), {}),
            "client": Tasks(_tasks(t201=(0.7, 0.6)), {}),
        },
    )
    result = between(before, after, sides)
    assert result.sides["server"].others_pct == pytest.approx(10.0)
    assert result.sides["client"].others_pct == pytest.approx(10.0)
    assert result.sides["server"].run_delay_pct == pytest.approx(10.0)  # min(20%, 10%)


def _fake_proc(root: Path, stat: str, threads: dict[int, dict[int, str | None]]) -> Path:
    """A /proc with ``stat`` and, per pid, its threads' schedstat (None: no such file)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stat").write_text(stat)
    for pid, tids in threads.items():
        for tid, text in tids.items():
            task = root / str(pid) / "task" / str(tid)
            task.mkdir(parents=True, exist_ok=True)
            if text is not None:
                (task / "schedstat").write_text(text)
    return root


def test_snapshot_reads_a_proc_tree(tmp_path: Path) -> None:
    sides = {"server": Side((0,), (100,)), "client": Side((1,), (200,), (300,))}
    proc = _fake_proc(
        tmp_path / "a",
        BEFORE,
        {
            100: {100: "5000000000 1000000000 9\n", 101: "0 0 0\n"},
            200: {200: "1 2 3\n"},
            300: {300: "4 5 6\n"},
        },
    )
    shot = snapshot(sides, proc)
    assert shot.sides["server"].measured == {100: (5_000_000_000, 1_000_000_000), 101: (0, 0)}
    assert shot.sides["client"].measured == {200: (1, 2)}
    assert shot.sides["client"].ours == {300: (4, 5)}
    assert shot.cpus[1].steal == 66
    # A process that has exited has no threads; it is not an error.
    gone = snapshot({"server": Side((0,), (99999,))}, proc)
    assert gone.sides["server"].measured == {} and gone.sides["server"].unread is None


def test_a_kernel_without_schedstat_leaves_the_wait_unknown(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, BEFORE, {100: {100: None}})
    sides = {"server": Side((0,), (100,))}
    first = snapshot(sides, proc)
    assert first.sides["server"].unread == "the kernel keeps no schedstat"
    (proc / "stat").write_text(TWO_SECONDS)
    second = dataclasses.replace(snapshot(sides, proc), at_ns=first.at_ns + 2_000_000_000)
    figures = between(first, second, sides).sides["server"]
    assert figures.wait_pct is None and figures.others_pct is None and figures.run_delay_pct is None
    assert figures.steal_pct == pytest.approx(3.0)
    assert any("no schedstat" in note for note in figures.notes)


def test_the_cpus_softirq_thread_is_ours(tmp_path: Path) -> None:
    # Recorded at 10,000 connections with nothing else running: the server waited while
    # ksoftirqd/0 did its sockets' network work. Here the server ran 1.5 s and waited
    # 0.3 s of 2 s; cpu0 was busy 1.9 s, 0.3 s of it ksoftirqd/0's: others 0.1 s (5%)
    # and run delay min(15%, 5%), where without the softirq thread it would be 15%.
    def proc_at(name: str, stat: str, server: str, softirq: str) -> Path:
        root = _fake_proc(tmp_path / name, stat, {100: {100: server}, 14: {14: softirq}})
        (root / "14" / "comm").write_text("ksoftirqd/0\n")
        (root / "100" / "comm").write_text("native_echo\n")
        return root

    sides = {"server": Side((0,), (100,))}
    before = snapshot(sides, proc_at("a", BEFORE, "5000000000 1000000000 1\n", "7 5 1\n"))
    after = dataclasses.replace(
        snapshot(sides, proc_at("b", TWO_SECONDS, "6500000000 1300000000 1\n", "300000007 5 1\n")),
        at_ns=before.at_ns + 2_000_000_000,
    )
    assert before.sides["server"].softirq == {14: (7, 5)}
    figures = between(before, after, sides).sides["server"]
    assert figures.softirq_thread_pct == pytest.approx(15.0)
    assert figures.others_pct == pytest.approx(5.0)
    assert figures.run_delay_pct == pytest.approx(5.0)
    assert not between(before, after, sides).disturbed
    # A CPU without a softirq thread (none by that name) leaves the figure unknown.
    assert interference.softirq_thread(1, tmp_path / "a") is None


def test_too_many_threads_are_not_read_one_by_one(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, BEFORE, {100: {t: "1 1 1\n" for t in range(MAX_TASKS + 1)}})
    tasks = interference.read_tasks(Side((0,), (100,)), proc)
    assert tasks.unread == f"more than {MAX_TASKS} threads" and not tasks.measured


def test_host_sample_takes_the_probers_own_time_off() -> None:
    before, after = _snap(BEFORE, 0.0), _snap(TWO_SECONDS, 2.0)
    sample = host_sample(before, after, [0, 1], own_cpu_s=0.2, threshold_pct=5.0)
    # cpu0: 1.9 busy s less 0.1 of ours over 2 s; cpu1: 1.2 less 0.1.
    assert sample.others_pct[0] == pytest.approx(90.0)
    assert sample.others_pct[1] == pytest.approx(55.0)
    assert sample.steal_pct == {0: pytest.approx(3.0), 1: pytest.approx(20.0)}
    assert sample.busy() == [
        "other work 90% on CPU 0",
        "steal 20% on CPU 1",
        "other work 55% on CPU 1",
    ]
    assert not sample.quiet
    record = sample.as_dict()
    assert record["steal_pct"] == {"0": 3.0, "1": 20.0} and record["quiet"] is False


def _sample(**others: float) -> interference.HostSample:
    cpus = {int(name[3:]): value for name, value in others.items()}
    return interference.HostSample(1.0, dict.fromkeys(cpus, 0.0), cpus, 5.0)


def test_the_quiet_wait_probes_until_quiet_and_keeps_what_it_waited_for() -> None:
    samples = iter([_sample(cpu0=40.0, cpu1=1.0), _sample(cpu0=9.0, cpu1=1.0), _sample(cpu0=2.0)])
    heard: list[list[str]] = []
    done = interference.wait_for_quiet(
        [0, 1],
        timeout_s=60,
        measure=lambda: next(samples),
        on_wait=lambda s: heard.append(s.busy()),
    )
    assert done.quiet and done.probes == 3
    assert done.waited_for == ("other work 40% on CPU 0",)
    assert heard == [["other work 40% on CPU 0"], ["other work 9% on CPU 0"]]
    assert done.sentence().startswith("waited 0 s for a quiet host (other work 40% on CPU 0")
    assert interference.wait_for_quiet([0], 60, measure=lambda: _sample(cpu0=0.0)).sentence() == (
        "the host was quiet"
    )


def test_the_quiet_wait_honours_its_timeout_and_says_what_it_waited_for() -> None:
    """A real busy process on a CPU: the wait gives up at its timeout and names it."""
    import os
    import subprocess
    import sys
    import time

    cpu = max(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        time.sleep(0.2)
        started = time.monotonic()
        done = interference.wait_for_quiet([cpu], timeout_s=1.5, probe_s=0.5)
        took = time.monotonic() - started
    finally:
        hog.kill()
        hog.wait()
    assert not done.quiet
    # It probed while a probe could end within the timeout, and started none that could not.
    assert done.probes >= 2 and 1.0 <= took <= 1.5 + 0.2
    assert done.waited_for and done.waited_for[0].startswith("other work ")
    assert done.waited_for[0].endswith(f"% on CPU {cpu}")
    said = done.sentence()
    assert said.startswith("the host was still busy after ") and f"on CPU {cpu}" in said
    record = done.as_dict()
    assert record["quiet"] is False and record["last"]["other_work_pct"][str(cpu)] > 50
