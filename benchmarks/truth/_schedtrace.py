"""Who held the client's CPU while it was late: the kernel scheduler's own trace.

A client's send lag has two kinds of cause: its own work (a long pass of its event
loop, a collection) and others taking its CPU from under it (a kernel thread, another
process). Totals cannot tell which made a given lag (a thread that ran 20 ms in 10 s
may have done it in one 4 ms slice or in a thousand short ones), so ``SchedTrace``
records ftrace's ``sched_switch`` events on one CPU and ``sched_wakeup`` events of tasks
woken onto it (a wakeup is traced where the waker runs, so by its target, not by the
CPU it is recorded on), in a trace instance of its own (so whatever else traces this
machine is left alone), stamped by CLOCK_MONOTONIC as the client's own clock readings
are. ``waits`` turns it into the stretches in which a process was runnable and not
running, each with who ran instead; ``explained`` says how much of a lag read at an
instant such stretches cover.

No scheduler event shows the hypervisor stopping the vCPU: the guest sees its task
running throughout. The scheduler tick does: on a busy CPU it fires on a fixed grid
(every 4 ms at HZ=250; here 5,001 ticks of a spinning CPU fired a median 3.8 µs and a
99th percentile 22.5 µs after their grid point), and a vCPU that is not running cannot
take it. So the trace also records the tick's own hrtimer expiry
(``hrtimer_expire_entry``, filtered in the kernel to the tick's function, with the
time it ran), and ``stops`` reads a tick that fired late, or not at all, as the vCPU
stopped from its grid point on. Where the kernel cannot filter by function name, the
timer interrupt (``local_timer_entry``) stands in, and only missed ticks count.
Needs root and tracefs; ``available`` says why not otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import TracebackType

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sched/sched_switch", "sched/sched_wakeup")
HRTIMER = "timer/hrtimer_expire_entry"
LOCAL_TIMER = "irq_vectors/local_timer_entry"
#: The tick's hrtimer function, newest name first (Linux 6.10 renamed it).
TICK_FUNCTIONS = ("tick_nohz_handler", "tick_sched_timer")
BUFFER_KIB = 16 * 1024  # per CPU; a client's CPU switched some 50 times a second here

_SWITCH = re.compile(
    r"\[(\d+)\] \S+ (\d+)\.(\d+): sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)
_WAKEUP = re.compile(r"\s(\d+)\.(\d+): sched_wakeup: comm=.*? pid=(\d+) ")
#: Any event's context: the task that was running where it was recorded.
_CONTEXT = re.compile(r"^\s*(.*)-(\d+)\s+\[(\d+)\] \S+ (\d+)\.(\d+):")
_TICK = re.compile(r"\[(\d+)\] \S+ (\d+)\.(\d+): local_timer_entry:")
_HRTICK = re.compile(
    r"\[(\d+)\] \S+ \d+\.\d+: hrtimer_expire_entry: hrtimer=\S+ "
    rf"function=(?:{'|'.join(TICK_FUNCTIONS)}) now=(\d+)"
)
#: With only the timer interrupt: a gap between two over this many tick periods is the
#: vCPU stopped (other timers interrupt too, so a late interrupt says nothing).
STOP_TICKS = 1.5
#: A tick this much later than its grid point counts as the vCPU stopped: well past
#: the on-time ticks' jitter (above), and under the shortest lag kept (250 µs).
LATE_NS = 100_000
#: The grid is put this far under the on-time ticks' 1st percentile, so that none of
#: the on-time ticks falls before its grid point (a tick never fires early).
GRID_MARGIN_NS = 50_000


def available() -> str | None:
    """None when this process can trace the scheduler, else why not, in words. As root it
    mounts tracefs where it is not yet (a fresh VM boots without it, and ``perf`` and
    ``trace-cmd`` mount it the same way); the mount stays, as theirs does."""
    if os.geteuid() != 0:
        return "tracing the scheduler needs root"
    if not (TRACEFS / "instances").is_dir() and TRACEFS.is_dir():
        try:
            subprocess.run(
                ["mount", "-t", "tracefs", "nodev", str(TRACEFS)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
        except OSError:
            pass  # no mount(8): said below
    if not (TRACEFS / "instances").is_dir():
        return f"no tracefs at {TRACEFS} (and mounting it failed)"
    return None


@dataclass(frozen=True)
class Wait:
    """A stretch in which the traced process was runnable and did not run."""

    start_ns: int
    end_ns: int
    ran: dict[str, int] = field(default_factory=dict)  # "comm/pid" -> ns it ran meanwhile
    #: False where the switch back was not recorded and the wait ends at the first event
    #: after it in the process's own context: it ran again by then, when exactly is not
    #: known, so the wait is at most this long.
    seen_end: bool = True

    def overlap(self, start_ns: int, end_ns: int) -> int:
        return max(0, min(self.end_ns, end_ns) - max(self.start_ns, start_ns))

    def others(self, own: frozenset[int]) -> float:
        """The share of the wait that tasks other than the pids ``own`` ran (a client's
        parent holding its CPU is still the client)."""
        total = sum(self.ran.values())
        if not total:
            return 1.0
        mine = sum(ns for who, ns in self.ran.items() if int(who.rsplit("/", 1)[1]) in own)
        return 1.0 - mine / total


class SchedTrace:
    """``with SchedTrace(cpu) as trace:`` records the scheduler's switches on ``cpu`` and
    the wakeups onto it; ``trace.text`` holds them once the block has ended. The
    instance is removed on the way out."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.dir = TRACEFS / "instances" / f"echobench-{os.getpid()}"
        self.text = ""
        self.events: tuple[str, ...] = EVENTS

    def _write(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value)

    def _tick_event(self) -> str:
        """Filter the tick's own hrtimer on this CPU, or, where the kernel cannot filter
        by a function's name (before Linux 6.2) or knows none of ``TICK_FUNCTIONS``, the
        timer interrupt: which event is then enabled."""
        for function in TICK_FUNCTIONS:
            try:
                self._write(
                    f"events/{HRTIMER}/filter",
                    f"CPU == {self.cpu} && function.function == {function}",
                )
            except OSError:
                continue
            return HRTIMER
        self._write(f"events/{LOCAL_TIMER}/filter", f"CPU == {self.cpu}")
        return LOCAL_TIMER

    def __enter__(self) -> SchedTrace:
        self.dir.mkdir()
        try:
            self._write("tracing_on", "0")
            self._write("trace_clock", "mono")
            self._write("buffer_size_kb", str(BUFFER_KIB))
            # Filtered in the kernel: the server's CPU switches and wakes hundreds of
            # thousands of times a second, which would overwrite the buffer.
            self._write("events/sched/sched_switch/filter", f"CPU == {self.cpu}")
            self._write("events/sched/sched_wakeup/filter", f"target_cpu == {self.cpu}")
            self.events = (*EVENTS, self._tick_event())
            for event in self.events:
                self._write(f"events/{event}/enable", "1")
            self._write("tracing_on", "1")
        except OSError:
            self.dir.rmdir()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._write("tracing_on", "0")
            self.text = (self.dir / "trace").read_text()
        finally:
            # The kernel refuses to remove an instance whose events are still enabled.
            for event in self.events:
                self._write(f"events/{event}/enable", "0")
            self.dir.rmdir()


def _ns(seconds: str, fraction: str) -> int:
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def waits(text: str, pid: int, cpu: int) -> list[Wait]:
    """The stretches in ``text`` (a ``SchedTrace``'s) in which ``pid``, on ``cpu``, was
    runnable and not running: from its preemption, or from its wakeup, to when it ran
    again, with who ran on ``cpu`` meanwhile.

    Some tasks' events are never recorded (on this VM, none of the platform agent's
    threads', so not their switches out either): a wait whose switch back is missing
    ends at the first event after it recorded in ``pid``'s own context on ``cpu`` (a
    tick that interrupted it, say), or at its next switch out, as ``seen_end=False``."""
    found: list[Wait] = []
    since: int | None = None
    ran: dict[str, int] = {}
    running: tuple[str, int] | None = None  # who is on the CPU, and since when

    def close(at: int, seen: bool) -> None:
        nonlocal since
        assert since is not None
        if running is not None:
            ran[running[0]] = ran.get(running[0], 0) + at - max(running[1], since)
        found.append(Wait(since, at, {k: v for k, v in ran.items() if v > 0}, seen))
        since = None

    for line in text.splitlines():
        wake = _WAKEUP.search(line)
        if wake is not None and int(wake.group(3)) == pid:
            if since is None:
                since, ran = _ns(wake.group(1), wake.group(2)), {}
            continue
        switch = None if wake is not None else _SWITCH.search(line)
        if switch is None:
            context = _CONTEXT.match(line)
            if (
                since is not None
                and context is not None
                and int(context.group(2)) == pid
                and int(context.group(3)) == cpu
            ):
                at = _ns(context.group(4), context.group(5))
                close(at, False)
                running = (f"{context.group(1)}/{pid}", at)
            continue
        if int(switch.group(1)) != cpu:
            continue
        at = _ns(switch.group(2), switch.group(3))
        prev_pid, state, next_pid = int(switch.group(5)), switch.group(6), int(switch.group(8))
        if prev_pid == pid and since is not None:
            close(at, False)  # it ran again before this switch out, unrecorded
        if since is not None and running is not None:
            ran[running[0]] = ran.get(running[0], 0) + at - max(running[1], since)
        if prev_pid == pid and state.startswith("R"):
            since, ran = at, {}
        if next_pid == pid and since is not None:
            found.append(Wait(since, at, {k: v for k, v in ran.items() if v > 0}))
            since = None
        running = (f"{switch.group(7)}/{next_pid}", at)
    return found


def spans(found: list[Wait]) -> list[tuple[int, int]]:
    """The stretches of ``found`` as their union: sorted, none overlapping another (two
    sources that saw one stop, the tick and a probe, then count it once)."""
    union: list[tuple[int, int]] = []
    for wait in sorted(found, key=lambda w: w.start_ns):
        if union and wait.start_ns <= union[-1][1]:
            union[-1] = (union[-1][0], max(union[-1][1], wait.end_ns))
        else:
            union.append((wait.start_ns, wait.end_ns))
    return union


def covered(union: list[tuple[int, int]], start_ns: int, end_ns: int) -> int:
    """How much of ``[start_ns, end_ns]`` the stretches ``union`` (from ``spans``) cover."""
    total = 0
    index = max(0, bisect_left(union, (start_ns, start_ns)) - 1)
    while index < len(union) and union[index][0] < end_ns:
        a, b = union[index]
        total += max(0, min(b, end_ns) - max(a, start_ns))
        index += 1
    return total


def explained(found: list[Wait], at_ns: int, lag_ns: int) -> tuple[int, str | None]:
    """How much of a lag of ``lag_ns`` read at ``at_ns`` the process spent waiting for
    its CPU, and who held the CPU longest meanwhile."""
    start = at_ns - lag_ns
    covered = 0
    held: dict[str, int] = {}
    for wait in found:
        share = wait.overlap(start, at_ns)
        if share <= 0:
            continue
        covered += share
        span = wait.end_ns - wait.start_ns
        for who, ns in wait.ran.items():
            held[who] = held.get(who, 0) + (ns * share // span if span else 0)
    top = max(held, key=lambda who: held[who]) if held else None
    return covered, top


def held_by(
    found: list[Wait], events: list[list[float]], own: frozenset[int] = frozenset()
) -> dict[str, float]:
    """For events ``[read at ns, length µs]`` (a client's lags, a loop's gaps): the
    longest each other task (not of the pids ``own``) held the CPU in one of them [µs],
    longest first."""
    held: dict[str, float] = {}
    for at, length_us in events:
        waited, who = explained(found, int(at), round(length_us * 1e3))
        if who is not None and int(who.rsplit("/", 1)[1]) not in own:
            held[who] = max(held.get(who, 0.0), round(waited / 1e3, 1))
    return dict(sorted(held.items(), key=lambda item: -item[1]))


def stops(text: str, cpu: int) -> list[Wait]:
    """When ``cpu`` did not run at all, as far as its scheduler tick shows, which steal
    may not count (this VM's did not). With the tick's own expiries (``_late_ticks``)
    any tick ``LATE_NS`` or more behind its grid point shows one; with only the timer
    interrupt (``_missed_ticks``), only a tick missed does. Either way a stop shows only
    when it spans a grid point, and its length as a lower bound."""
    exact: list[int] = []
    coarse: list[int] = []
    resumed: list[int] = []  # when the CPU left its idle task
    for line in text.splitlines():
        tick = _HRTICK.search(line)
        if tick is not None:
            if int(tick.group(1)) == cpu:
                exact.append(int(tick.group(2)))
            continue
        interrupt = _TICK.search(line)
        if interrupt is not None:
            if int(interrupt.group(1)) == cpu:
                coarse.append(_ns(interrupt.group(2), interrupt.group(3)))
            continue
        switch = _SWITCH.search(line)
        if switch is not None and int(switch.group(1)) == cpu and switch.group(5) == "0":
            resumed.append(_ns(switch.group(2), switch.group(3)))
    if len(exact) >= 3:
        return _late_ticks(exact, resumed)
    return _missed_ticks(coarse)


def _period(ticks: list[int]) -> int:
    """The tick's period exactly, as the kernel has it (``TICK_NSEC``, whole ns, for the
    HZ nearest the median gap): a grid spread by a measured period's error of even
    60 ns would drift 0.3 ms in 20 s of ticks. The median is of the gaps no longer than
    one and a half times the shortest tenth (an idle CPU's tick stops)."""
    gaps = sorted(b - a for a, b in pairwise(ticks))
    close = [g for g in gaps if g <= 1.5 * gaps[len(gaps) // 10]]
    hz = round(1e9 / close[len(close) // 2])
    return (1_000_000_000 + hz // 2) // hz


def _late_ticks(ticks: list[int], resumed: list[int]) -> list[Wait]:
    """Stops from the tick's expiry times: the tick is re-armed for the first grid point
    after it ran (or after the CPU left its idle task, where the tick is stopped by
    design), so a tick that ran ``LATE_NS`` or more past that point says the CPU could
    take no interrupt from the grid point on: the vCPU stopped (or, much less likely in
    a task at user level, its interrupts held off)."""
    period = _period(ticks)
    first = ticks[0]
    offsets = sorted((t - first + period // 2) % period - period // 2 for t in ticks)
    near = [o for o in offsets if abs(o) < period // 4]
    # A late tick is rare and a tick never fires early, so the grid lies at or under
    # the on-time ticks' low end.
    origin = first + near[len(near) // 100] - GRID_MARGIN_NS
    found = []
    for a, b in pairwise(ticks):
        woke = bisect_left(resumed, b) - 1
        since = max(a, resumed[woke]) if woke >= 0 else a
        due = origin + ((since - origin) // period + 1) * period + GRID_MARGIN_NS
        if b - due >= LATE_NS:
            found.append(Wait(due, b, {"(vCPU stopped)": b - due}))
    return found


def _missed_ticks(ticks: list[int]) -> list[Wait]:
    """Stops from timer interrupts alone: a gap over ``STOP_TICKS`` periods counts as a
    stop of the gap less one period, and only while the CPU is busy (an idle CPU's tick
    stops by design, which is why the client's, polling, suits it)."""
    if len(ticks) < 3:
        return []
    gaps = sorted(b - a for a, b in pairwise(ticks))
    period = gaps[len(gaps) // 2]
    return [
        Wait(a + period, b, {"(vCPU stopped)": b - a - period})
        for a, b in pairwise(ticks)
        if b - a > STOP_TICKS * period
    ]
