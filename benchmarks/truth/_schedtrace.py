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
running throughout. The timer tick does, coarsely: it also records
``local_timer_entry``, and ``stops`` reads a tick missed as the vCPU stopped.
Needs root and tracefs; ``available`` says why not otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import TracebackType

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("sched/sched_switch", "sched/sched_wakeup", "irq_vectors/local_timer_entry")
BUFFER_KIB = 16 * 1024  # per CPU; a client's CPU switched some 50 times a second here

_SWITCH = re.compile(
    r"\[(\d+)\] \S+ (\d+)\.(\d+): sched_switch: prev_comm=(.*?) prev_pid=(\d+) "
    r"prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)"
)
_WAKEUP = re.compile(r"\s(\d+)\.(\d+): sched_wakeup: comm=.*? pid=(\d+) ")
_TICK = re.compile(r"\[(\d+)\] \S+ (\d+)\.(\d+): local_timer_entry:")
#: A gap between two scheduler ticks over this many tick periods is the vCPU stopped.
STOP_TICKS = 1.5


def available() -> str | None:
    """None when this process can trace the scheduler, else why not, in words."""
    if os.geteuid() != 0:
        return "tracing the scheduler needs root"
    if not (TRACEFS / "instances").is_dir():
        return f"no tracefs at {TRACEFS}"
    return None


@dataclass(frozen=True)
class Wait:
    """A stretch in which the traced process was runnable and did not run."""

    start_ns: int
    end_ns: int
    ran: dict[str, int] = field(default_factory=dict)  # "comm/pid" -> ns it ran meanwhile

    def overlap(self, start_ns: int, end_ns: int) -> int:
        return max(0, min(self.end_ns, end_ns) - max(self.start_ns, start_ns))


class SchedTrace:
    """``with SchedTrace(cpu) as trace:`` records the scheduler's switches on ``cpu`` and
    the wakeups onto it; ``trace.text`` holds them once the block has ended. The
    instance is removed on the way out."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.dir = TRACEFS / "instances" / f"echobench-{os.getpid()}"
        self.text = ""

    def _write(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value)

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
            self._write("events/irq_vectors/local_timer_entry/filter", f"CPU == {self.cpu}")
            for event in EVENTS:
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
            for event in EVENTS:
                self._write(f"events/{event}/enable", "0")
            self.dir.rmdir()


def _ns(seconds: str, fraction: str) -> int:
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def waits(text: str, pid: int, cpu: int) -> list[Wait]:
    """The stretches in ``text`` (a ``SchedTrace``'s) in which ``pid``, on ``cpu``, was
    runnable and not running: from its preemption, or from its wakeup, to when it ran
    again, with who ran on ``cpu`` meanwhile."""
    found: list[Wait] = []
    since: int | None = None
    ran: dict[str, int] = {}
    running: tuple[str, int] | None = None  # who is on the CPU, and since when
    for line in text.splitlines():
        wake = _WAKEUP.search(line)
        if wake is not None:
            if int(wake.group(3)) == pid and since is None:
                since, ran = _ns(wake.group(1), wake.group(2)), {}
            continue
        switch = _SWITCH.search(line)
        if switch is None or int(switch.group(1)) != cpu:
            continue
        at = _ns(switch.group(2), switch.group(3))
        if since is not None and running is not None:
            ran[running[0]] = ran.get(running[0], 0) + at - max(running[1], since)
        prev_pid, state, next_pid = int(switch.group(5)), switch.group(6), int(switch.group(8))
        if prev_pid == pid and state.startswith("R"):
            since, ran = at, {}
        if next_pid == pid and since is not None:
            found.append(Wait(since, at, {k: v for k, v in ran.items() if v > 0}))
            since = None
        running = (f"{switch.group(7)}/{next_pid}", at)
    return found


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


def held_by(found: list[Wait], events: list[list[float]]) -> dict[str, float]:
    """For events ``[read at ns, length µs]`` (a client's lags, a loop's gaps): the
    longest each other task held the CPU in one of them [µs], longest first."""
    held: dict[str, float] = {}
    for at, length_us in events:
        waited, who = explained(found, int(at), round(length_us * 1e3))
        if who is not None:
            held[who] = max(held.get(who, 0.0), round(waited / 1e3, 1))
    return dict(sorted(held.items(), key=lambda item: -item[1]))


def stops(text: str, cpu: int) -> list[Wait]:
    """When ``cpu`` did not run at all, as far as its scheduler tick shows: the tick
    fires every period (4 ms at HZ=250) on a busy CPU, and cannot on a vCPU that the
    hypervisor has stopped, which steal may not count (this VM's did not). A gap over
    ``STOP_TICKS`` periods counts as a stop of the gap less one period, so only stops
    of about half a period or more show, and only while the CPU is busy (an idle CPU's
    tick stops by design, which is why the client's, polling, suits it)."""
    ticks = []
    for line in text.splitlines():
        tick = _TICK.search(line)
        if tick is not None and int(tick.group(1)) == cpu:
            ticks.append(_ns(tick.group(2), tick.group(3)))
    if len(ticks) < 3:
        return []
    gaps = sorted(b - a for a, b in pairwise(ticks))
    period = gaps[len(gaps) // 2]
    return [
        Wait(a + period, b, {"(vCPU stopped)": b - a - period})
        for a, b in pairwise(ticks)
        if b - a > STOP_TICKS * period
    ]
