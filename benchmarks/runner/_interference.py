"""Interference: how much of a measured window the host took from the server and the client.

On a shared machine the largest error in a number is often neither the server nor
the client: the host takes their CPUs away. Two ways, each measured per CPU set (the
server's CPUs, the client's CPUs) over exactly the measured window:

- **steal**: the hypervisor ran something else on the vCPU. The ``steal`` column of
  each CPU's line in ``/proc/stat``, as a share of that CPU's time.
- **run delay**: another task in the guest held the CPU while ours were ready to run.
  ``/proc/PID/task/TID/schedstat`` gives each thread's run-queue wait in ns; summed
  over a side's threads and divided by the side's CPU time (window x CPUs) that is the
  share of the window ours spent waiting. A server with more threads than CPUs (a
  thread per connection) also waits for *itself*, which is not interference, so the
  wait is capped by the CPU time that tasks other than ours used on those CPUs
  (the CPUs' busy time in ``/proc/stat``, every column but idle, iowait and steal,
  less the run time of every thread of ours there): a side cannot have been kept
  waiting by others longer than others ran. ``run_delay_pct`` is the smaller of the
  two; both are kept (``detail``). The kernel charges the network work it does in a
  task's context (softirq, most of loopback's) to that task's run time, so it is ours;
  a kernel built with ``IRQ_TIME_ACCOUNTING`` does not, and there it counts as others'
  (an overestimate, which can only flag a repeat, never hide interference).
  Under heavy traffic the kernel defers that work to its per-CPU softirq thread
  (``ksoftirqd/N``), and the server waits behind it: measured with nothing else
  running, ``native`` at 10,000 connections waited 15-17% of its window while
  ``ksoftirqd/0`` ran 11-12% of that CPU, and every repeat was flagged. The softirq
  threads of a side's CPUs are therefore counted as ours; their share is kept
  (``detail.softirq_thread_pct``), and a neighbour's traffic still shows in the quiet
  probe before the window, which counts them as others.

Involuntary context switches are not recorded. A count says how often another task
preempted ours, not for how long, and the time is what moves a number: under a busy loop
pinned beside it, the ``native`` server was preempted 37 times in a 1.8 s window and
waited 42% of it, ``asyncio-streams`` 410 times and 48%. The run delay measures the time
directly; the counts would cost a larger file per thread at each edge.

The cost is two readings of ``/proc`` per repeat, at the measured window's edges
(``/proc/stat`` and one small file per thread), on the client's CPUs but outside the
work the client times. A side with more than ``MAX_TASKS`` threads is not read thread
by thread (10,000 reads would cost the client tens of milliseconds). Its run delay is
then unknown (``None``, with a note): without its threads' run time, others' CPU time on
those CPUs cannot be told from its own. Its steal is still read, and so is the other
side's run delay, whose CPUs it does not share.

The API, small on purpose (the runner, ``echobench doctor`` and the latency scenario
read it):

- :func:`parse_stat`, :func:`parse_schedstat`: the pure parsers of the two files.
- :class:`Side`: a CPU set, the processes measured on it, and other processes of ours
  that run there (their CPU time is ours, their wait is not counted).
- :func:`snapshot` reads ``/proc`` at one instant; :func:`between` turns two snapshots
  into an :class:`Interference`, whose :meth:`Interference.as_dict` is the record
  ``{"steal_pct": {side: pct}, "run_delay_pct": {side: pct}, "disturbed", ...}``.
- :class:`Window` takes the snapshots at a window's edges and gives the result.
- :func:`disturbed` says whether a repeat's record was disturbed, and :func:`counted`
  which of a case's repeats its numbers are made of: the clean ones, or, when none is
  clean, all of them (the case is then marked disturbed, never silently mixed in).
- :func:`probe` measures the host for a second or two with nothing of ours running
  (steal and others' CPU time per CPU), and :func:`wait_for_quiet` repeats it until the
  host is quiet or a time budget is spent (``_hostcheck`` adds the wake-up latency).

A percentage is ``None`` where the host cannot say (no ``steal`` column in a container,
no schedstat in the kernel, an unreadable process); ``None`` never counts as disturbed,
and ``notes`` says what was missing.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from echobench.benchmarks.runner._matrix import parse_percent

R = TypeVar("R", bound=Mapping[str, Any])

#: Above this share of a window (percent), steal or run delay on either side makes a
#: repeat disturbed, and a host probe not quiet (``--max-interference``).
DEFAULT_THRESHOLD_PCT = 5.0
#: Threads read one by one per side at a window's edge; with more, the side's run delay
#: is unknown (its own threads' run time cannot be told from others').
MAX_TASKS = 256
PROC = Path("/proc")
#: /proc/stat's columns, in order; ``steal`` is the eighth (Linux 2.6.11 on).
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def parse_threshold(text: str | None, what: str = "max-interference") -> float:
    """``--max-interference``: ``5%`` (or ``5``) -> 5.0 percent; ``None`` -> the default."""
    return DEFAULT_THRESHOLD_PCT if text is None else 100.0 * parse_percent(text, what)


def clock_ticks() -> int:
    """/proc/stat's unit: USER_HZ ticks per second."""
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100


# -- the pure parsers -------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    """One CPU's line of /proc/stat: its columns up to ``steal``, in ticks (the guest
    columns are left out: guest time is inside ``user`` already)."""

    columns: tuple[int, ...]

    @property
    def steal(self) -> int | None:
        """``None`` where the line has no steal column."""
        return self.columns[7] if len(self.columns) > 7 else None


#: The columns of a CPU's time that are not busy: idle, iowait and steal.
_NOT_BUSY = frozenset({3, 4, 7})


def parse_stat(text: str) -> dict[int, CpuTimes]:
    """The ``cpuN`` lines of /proc/stat, by CPU number (the ``cpu`` total is left out).

    Raises ``ValueError`` when there are none, or a line has fewer than the four columns
    every kernel has."""
    cpus: dict[int, CpuTimes] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        values = tuple(int(v) for v in rest.split())
        if len(values) < 4:
            raise ValueError(f"/proc/stat: {name} has {len(values)} columns, not at least 4")
        cpus[int(name[3:])] = CpuTimes(values[: len(STAT_FIELDS)])
    if not cpus:
        raise ValueError("/proc/stat has no per-CPU lines")
    return cpus


def parse_schedstat(text: str) -> tuple[int, int] | None:
    """A thread's ``schedstat``: (ns it ran, ns it waited on a run queue), or ``None``
    when the kernel keeps no such figures (a line that is not three numbers)."""
    parts = text.split()
    if len(parts) < 2:
        return None
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        return None


# -- reading /proc at one instant ---------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """A CPU set and what of ours runs on it."""

    cpus: tuple[int, ...]
    #: Processes whose threads' run-queue wait is this side's run delay.
    pids: tuple[int, ...] = ()
    #: Other processes of ours on these CPUs (the runner beside the client, the busy
    #: loops that keep the server's CPUs awake): their run time is not others', and
    #: their wait is not the side's (an idle-priority loop waits whenever the server runs).
    ours: tuple[int, ...] = ()


@dataclass(frozen=True)
class Tasks:
    """One side's threads at one instant: (ran ns, waited ns) by thread id."""

    measured: Mapping[int, tuple[int, int]]
    ours: Mapping[int, tuple[int, int]]
    #: Why the threads' wait could not be read (too many, no schedstat), or None.
    unread: str | None = None
    #: The kernel's softirq threads of the side's CPUs (the network work of our sockets).
    softirq: Mapping[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    at_ns: int  # time.monotonic_ns()
    cpus: Mapping[int, CpuTimes]
    sides: Mapping[str, Tasks]
    ticks: int = 100  # USER_HZ


def read_stat(proc: Path = PROC) -> dict[int, CpuTimes]:
    return parse_stat((proc / "stat").read_text())


def _threads(pid: int, proc: Path) -> list[tuple[int, tuple[int, int] | None]]:
    """(tid, schedstat) of every thread of ``pid``; [] once it has exited."""
    try:
        tids = os.listdir(proc / str(pid) / "task")
    except OSError:
        return []
    found: list[tuple[int, tuple[int, int] | None]] = []
    for tid in tids:
        task = proc / str(pid) / "task" / tid
        try:
            text = (task / "schedstat").read_text()
        except OSError:
            if task.is_dir():  # alive, but the kernel keeps no schedstat
                found.append((int(tid), None))
            continue  # else it exited between the listing and the read
        found.append((int(tid), parse_schedstat(text)))
    return found


@functools.cache
def softirq_thread(cpu: int, proc: Path = PROC) -> int | None:
    """The pid of ``ksoftirqd/cpu``, found once by its name (kernel threads live as long as
    the boot), or None where there is none."""
    for entry in os.listdir(proc):
        if entry.isdigit():
            try:
                comm = (proc / entry / "comm").read_text().strip()
            except OSError:
                continue
            if comm == f"ksoftirqd/{cpu}":
                return int(entry)
    return None


def read_tasks(side: Side, proc: Path = PROC) -> Tasks:
    softirq: dict[int, tuple[int, int]] = {}
    for cpu in side.cpus:
        pid = softirq_thread(cpu, proc)
        for tid, times in _threads(pid, proc) if pid is not None else ():
            if times is not None:
                softirq[tid] = times
    measured: dict[int, tuple[int, int]] = {}
    ours: dict[int, tuple[int, int]] = {}
    unread = None
    count = 0
    for group, pids in ((measured, side.pids), (ours, side.ours)):
        for pid in pids:
            threads = _threads(pid, proc)
            count += len(threads)
            if count > MAX_TASKS:
                return Tasks({}, {}, f"more than {MAX_TASKS} threads", softirq)
            for tid, times in threads:
                if times is None:
                    unread = "the kernel keeps no schedstat"
                else:
                    group[tid] = times
    if unread is not None:
        return Tasks({}, {}, unread, softirq)
    return Tasks(measured, ours, softirq=softirq)


def snapshot(sides: Mapping[str, Side], proc: Path = PROC) -> Snapshot:
    """/proc at one instant: every CPU's times and each side's threads.

    Raises ``OSError`` when /proc/stat cannot be read and ``ValueError`` when it is not
    what Linux writes."""
    tasks = {name: read_tasks(side, proc) for name, side in sides.items()}
    return Snapshot(time.monotonic_ns(), read_stat(proc), tasks, clock_ticks())


# -- from two snapshots to interference ---------------------------------------------------


def counter_delta(before: int, after: int, limit: float) -> int | None:
    """How far a counter moved, at most ``limit``; ``None`` when it cannot have moved
    that way. A counter that went backwards wrapped (at 2**32 if it was below that,
    else at 2**64), or was reset (a CPU taken offline and back), which is ``None``."""
    if after >= before:
        delta = after - before
    else:
        delta = -1
        for modulus in (2**32, 2**64):
            if before < modulus and after + modulus - before <= limit:
                delta = after + modulus - before
                break
    return delta if 0 <= delta <= limit else None


@dataclass(frozen=True)
class SideFigures:
    """One side's interference over a window, in percent of its CPU time."""

    steal_pct: float | None
    run_delay_pct: float | None
    #: The run-queue wait of the side's threads, and others' CPU time on its CPUs: the
    #: run delay is the smaller (see the module's docstring).
    wait_pct: float | None
    others_pct: float | None
    threads: int
    notes: tuple[str, ...] = ()
    #: The CPUs' softirq threads' run time, counted as ours (not in ``others_pct``).
    softirq_thread_pct: float | None = None

    def worst(self) -> float | None:
        values = [v for v in (self.steal_pct, self.run_delay_pct) if v is not None]
        return max(values) if values else None


@dataclass(frozen=True)
class Interference:
    window_s: float
    threshold_pct: float
    sides: Mapping[str, SideFigures]

    @property
    def disturbed(self) -> bool:
        return any(
            (worst := figures.worst()) is not None and worst > self.threshold_pct
            for figures in self.sides.values()
        )

    def reasons(self) -> list[str]:
        """What was over the threshold, in words: ``["steal 12.0% on the server's CPUs"]``."""
        said = []
        for name, figures in self.sides.items():
            for what, value in (("steal", figures.steal_pct), ("run delay", figures.run_delay_pct)):
                if value is not None and value > self.threshold_pct:
                    said.append(f"{what} {value:.1f}% on the {name}'s CPUs")
        return said

    def as_dict(self) -> dict[str, Any]:
        """The per-repeat record (``_results_schema``)."""
        names = list(self.sides)
        return {
            "steal_pct": {n: _round(self.sides[n].steal_pct) for n in names},
            "run_delay_pct": {n: _round(self.sides[n].run_delay_pct) for n in names},
            "disturbed": self.disturbed,
            "threshold_pct": self.threshold_pct,
            "window_s": round(self.window_s, 3),
            "reasons": self.reasons(),
            "detail": {
                n: {
                    "wait_pct": _round(self.sides[n].wait_pct),
                    "others_pct": _round(self.sides[n].others_pct),
                    "softirq_thread_pct": _round(self.sides[n].softirq_thread_pct),
                    "threads": self.sides[n].threads,
                }
                for n in names
            },
            "notes": [f"{n}: {note}" for n in names for note in self.sides[n].notes],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _task_deltas(
    before: Mapping[int, tuple[int, int]], after: Mapping[int, tuple[int, int]]
) -> tuple[int, int]:
    """Summed (ran, waited) ns over the window. A thread born in the window counts from
    zero; one that died in it is lost (its last figures died with it); a thread id that
    went backwards was reused, and counts from zero too."""
    ran = waited = 0
    for tid, (run1, wait1) in after.items():
        run0, wait0 = before.get(tid, (0, 0))
        if run1 < run0 or wait1 < wait0:
            run0, wait0 = 0, 0
        ran += run1 - run0
        waited += wait1 - wait0
    return ran, waited


def _cpu_deltas(
    before: Snapshot, after: Snapshot, cpus: Iterable[int], window_s: float
) -> tuple[float, float, float | None, list[str]]:
    """(seconds the CPUs' tasks ran, seconds of CPU time, steal seconds or None) over
    ``cpus``, and what could not be read."""
    ticks = after.ticks
    limit = window_s * ticks * 1.5 + 2  # one CPU's ticks in the window, with slack
    busy = total = 0.0
    steal: float | None = 0.0
    notes: list[str] = []
    for cpu in cpus:
        a, b = before.cpus.get(cpu), after.cpus.get(cpu)
        if a is None or b is None:
            notes.append(f"CPU {cpu} is not in /proc/stat")
            continue
        # Column by column: one counter's wrap must not be read as the others' jump.
        deltas = [counter_delta(x, y, limit) for x, y in zip(a.columns, b.columns, strict=False)]
        if any(d is None for d in deltas) or len(a.columns) != len(b.columns):
            notes.append(f"CPU {cpu}'s counters were reset in the window")
            continue
        moved = [d or 0 for d in deltas]
        total += sum(moved) / ticks
        busy += sum(d for i, d in enumerate(moved) if i not in _NOT_BUSY) / ticks
        if len(moved) <= 7:
            steal = None
        elif steal is not None:
            steal += moved[7] / ticks
    return busy, total, steal, notes


def between(
    before: Snapshot,
    after: Snapshot,
    sides: Mapping[str, Side],
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
) -> Interference:
    """The interference each side saw between two snapshots (taken with the same
    ``sides``)."""
    window_s = max(0.0, (after.at_ns - before.at_ns) / 1e9)
    figures: dict[str, SideFigures] = {}
    for name, side in sides.items():
        figures[name] = _side(before, after, name, side, sides, window_s)
    return Interference(window_s, threshold_pct, figures)


def _side(
    before: Snapshot,
    after: Snapshot,
    name: str,
    side: Side,
    sides: Mapping[str, Side],
    window_s: float,
) -> SideFigures:
    # Sides that share a CPU share its others' time: ours is then every side's threads.
    shared = [n for n, s in sides.items() if set(s.cpus) & set(side.cpus)]
    cpus = sorted({c for n in shared for c in sides[n].cpus})
    busy, total, steal, notes = _cpu_deltas(before, after, cpus, window_s)
    if total <= 0 or window_s <= 0:
        return SideFigures(
            None, None, None, None, 0, tuple(notes or ["no time passed between the readings"])
        )
    steal_pct = None
    if steal is None:
        notes.append("/proc/stat has no steal column")
    else:
        _, own_total, own_steal, _ = _cpu_deltas(before, after, side.cpus, window_s)
        if own_total > 0 and own_steal is not None:
            steal_pct = 100.0 * own_steal / own_total
    ran_ns = 0
    unread = None
    # Sides that share a CPU read its softirq thread each: counted once, by thread id.
    softirq_before: dict[int, tuple[int, int]] = {}
    softirq_after: dict[int, tuple[int, int]] = {}
    for n in shared:
        b, a = before.sides.get(n), after.sides.get(n)
        if a is not None and b is not None:
            softirq_before.update(b.softirq)
            softirq_after.update(a.softirq)
        if a is None or b is None or a.unread or b.unread:
            unread = (a.unread if a else None) or (b.unread if b else None) or "not read"
            continue
        ran_ns += _task_deltas(b.measured, a.measured)[0] + _task_deltas(b.ours, a.ours)[0]
    softirq_ns = _task_deltas(softirq_before, softirq_after)[0]
    softirq_pct = 100.0 * softirq_ns / 1e9 / total if softirq_after else None
    others_pct = None
    if unread is None:
        others_pct = 100.0 * max(0.0, busy - (ran_ns + softirq_ns) / 1e9) / total
    else:
        notes.append(f"others' CPU time unknown: {unread}")
    b_tasks, a_tasks = before.sides.get(name), after.sides.get(name)
    wait_pct = None
    threads = 0
    if a_tasks is not None and b_tasks is not None and not (a_tasks.unread or b_tasks.unread):
        threads = len(a_tasks.measured)
        capacity = window_s * len(side.cpus)
        wait_pct = 100.0 * _task_deltas(b_tasks.measured, a_tasks.measured)[1] / 1e9 / capacity
    elif a_tasks is not None and a_tasks.unread:
        notes.append(f"run-queue wait not read: {a_tasks.unread}")
    known = [v for v in (wait_pct, others_pct) if v is not None]
    run_delay = min(known) if known else None
    return SideFigures(
        steal_pct, run_delay, wait_pct, others_pct, threads, tuple(notes), softirq_pct
    )


def disturbed(record: Mapping[str, Any]) -> bool:
    """Whether a repeat's record was disturbed (files without the field were not)."""
    return bool((record.get("interference") or {}).get("disturbed"))


def counted(repeats: Sequence[R]) -> list[R]:
    """The repeats a case's numbers are made of: the clean ones, or every one when none
    is clean."""
    clean = [r for r in repeats if not disturbed(r)]
    return clean or list(repeats)


# -- the host with nothing of ours running ------------------------------------------------


@dataclass(frozen=True)
class HostSample:
    """The host over a probe: per CPU, steal and others' CPU time, in percent."""

    seconds: float
    steal_pct: Mapping[int, float | None]
    others_pct: Mapping[int, float]
    threshold_pct: float

    def busy(self) -> list[str]:
        """What is over the threshold, in words (``[]``: quiet)."""
        said = []
        for cpu in sorted(self.others_pct):
            steal = self.steal_pct.get(cpu)
            if steal is not None and steal > self.threshold_pct:
                said.append(f"steal {steal:.0f}% on CPU {cpu}")
            if self.others_pct[cpu] > self.threshold_pct:
                said.append(f"other work {self.others_pct[cpu]:.0f}% on CPU {cpu}")
        return said

    @property
    def quiet(self) -> bool:
        return not self.busy()

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "steal_pct": {str(c): _round(v) for c, v in sorted(self.steal_pct.items())},
            "other_work_pct": {str(c): _round(v) for c, v in sorted(self.others_pct.items())},
            "threshold_pct": self.threshold_pct,
            "quiet": self.quiet,
            "busy": self.busy(),
        }


def host_sample(
    before: Snapshot,
    after: Snapshot,
    cpus: Sequence[int],
    own_cpu_s: float = 0.0,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
) -> HostSample:
    """Steal and others' CPU time per CPU between two snapshots of ``/proc/stat``;
    ``own_cpu_s`` is what the prober itself used (taken from the CPUs evenly)."""
    window_s = max(1e-9, (after.at_ns - before.at_ns) / 1e9)
    steal: dict[int, float | None] = {}
    others: dict[int, float] = {}
    for cpu in cpus:
        busy, total, stolen, notes = _cpu_deltas(before, after, [cpu], window_s)
        if notes and total <= 0:
            raise ValueError(notes[0])
        share = own_cpu_s / max(1, len(cpus))
        others[cpu] = 100.0 * max(0.0, busy - share) / total if total > 0 else 0.0
        steal[cpu] = None if stolen is None or total <= 0 else 100.0 * stolen / total
    return HostSample(window_s, steal, others, threshold_pct)


def probe(
    cpus: Sequence[int],
    seconds: float = 1.0,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    *,
    sleep: Callable[[float], None] = time.sleep,
    proc: Path = PROC,
) -> HostSample:
    """The host over ``seconds`` with nothing of ours running: two readings of
    ``/proc/stat`` around a sleep."""
    own = time.process_time()
    before = snapshot({}, proc)
    sleep(seconds)
    after = snapshot({}, proc)
    return host_sample(before, after, cpus, time.process_time() - own, threshold_pct)


@dataclass(frozen=True)
class QuietWait:
    """How a wait for a quiet host went."""

    quiet: bool
    waited_s: float
    probes: int
    #: What the first probe found over the threshold (what was waited for); [] if none.
    waited_for: tuple[str, ...]
    last: HostSample

    def sentence(self) -> str:
        if not self.waited_for:
            return "the host was quiet"
        what = ", ".join(self.waited_for)
        if self.quiet:
            return f"waited {self.waited_s:.0f} s for a quiet host ({what} at first)"
        return (
            f"the host was still busy after {self.waited_s:.0f} s ({', '.join(self.last.busy())}; "
            f"at first: {what}); went on"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "quiet": self.quiet,
            "waited_s": round(self.waited_s, 1),
            "probes": self.probes,
            "waited_for": list(self.waited_for),
            "last": self.last.as_dict(),
            "said": self.sentence(),
        }


def wait_for_quiet(
    cpus: Sequence[int],
    timeout_s: float,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    *,
    probe_s: float = 1.0,
    stopping: Callable[[], bool] = lambda: False,
    on_wait: Callable[[HostSample], None] | None = None,
    measure: Callable[[], HostSample] | None = None,
) -> QuietWait:
    """Probe until the host is quiet on ``cpus``, or ``timeout_s`` has passed (a probe
    that would end past it is not started), or ``stopping()``. ``on_wait`` hears each
    busy probe (to say so); ``measure`` replaces the real probe in tests of the rule."""
    take = measure or (lambda: probe(cpus, probe_s, threshold_pct))
    started = time.monotonic()
    first = take()
    probes = 1
    waited_for = tuple(first.busy())
    last = first
    while not last.quiet and not stopping():
        if on_wait is not None:
            on_wait(last)
        if time.monotonic() - started + probe_s > timeout_s:
            break
        last = take()
        probes += 1
    return QuietWait(last.quiet, time.monotonic() - started, probes, waited_for, last)


@dataclass
class Window:
    """Snapshots at a measured window's edges: :meth:`edge` at each, then :meth:`result`.
    An edge that cannot be read leaves ``result`` ``None``, with the reason in ``error``."""

    sides: Mapping[str, Side]
    threshold_pct: float = DEFAULT_THRESHOLD_PCT
    proc: Path = PROC
    edges: list[Snapshot] = field(default_factory=list)
    error: str | None = None
    #: How long each reading took (s): what the measurement costs the CPU it runs on.
    costs: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The softirq threads are found now, before the window: the search reads every
        # process's name (0.7 ms here), which the first edge would otherwise pay.
        for side in self.sides.values():
            for cpu in side.cpus:
                softirq_thread(cpu, self.proc)

    def edge(self) -> None:
        began = time.perf_counter()
        try:
            self.edges.append(snapshot(self.sides, self.proc))
        except (OSError, ValueError) as exc:
            self.error = f"cannot read /proc: {exc}"
        self.costs.append(time.perf_counter() - began)

    def result(self) -> Interference | None:
        if self.error is not None or len(self.edges) < 2:
            return None
        return between(self.edges[0], self.edges[-1], self.sides, self.threshold_pct)
