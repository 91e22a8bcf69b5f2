"""CPU time and peak memory of a server's whole process tree, sampled while it is loaded.

A backend may fork workers, so every process in the server's tree counts; a
process that exits keeps the CPU it had used when last seen. The server's CPU is
taken over exactly the load client's measured window (its ``started_at`` and
``finished_at``), interpolated between the samples on either side of each edge;
when the samples do not cover that window, over the busiest window as long as it.
"""

from __future__ import annotations

import bisect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from echobench.benchmarks.runner._procstat import RSS, STIME, UTIME, after_comm

#: Samples between two walks of the server's process tree. The runner samples ten times a
#: second on the load client's CPU, and each walk holds the client off its sockets.
#: psutil's walk scans every process on the machine for its parent: 1.4-1.6 ms on a
#: 2-core VM, which, once a second, set a floor of 1.65-2.0 ms under the client's
#: largest send lag at every point of a latency sweep (2026-12-04: 45 points of 45,
#: against 0.19-0.5 ms for the same open loop run without the runner). So the tree is
#: walked from its root down through ``/proc/<pid>/task/<tid>/children`` (0.02 ms a
#: process), and psutil's scan is only the fallback for a kernel without those files.
#: A sample reads each process's ``/proc/<pid>/stat`` itself, once: psutil's
#: ``oneshot`` read of times and memory took 0.07-0.3 ms, and a sample beside an open
#: loop on its CPU raised the client's largest send lag from 0.18-0.2 ms to 0.34 ms.
TREE_EVERY = 10
PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _usage(pid: int) -> tuple[float, float, int] | None:
    """(user s, system s, RSS bytes) of one process, None once it is gone."""
    try:
        fields = after_comm(f"/proc/{pid}/stat")
        return int(fields[UTIME]) / _TICK, int(fields[STIME]) / _TICK, int(fields[RSS]) * _PAGE
    except FileNotFoundError:
        if PROC.is_dir():
            return None
    except (OSError, ValueError, IndexError):
        return None
    try:  # no /proc: psutil's own way (macOS, BSD)
        process = psutil.Process(pid)
        with process.oneshot():
            times = process.cpu_times()
            return times.user, times.system, process.memory_info().rss
    except psutil.Error:
        return None


def _children(pid: int) -> list[int] | None:
    """``pid``'s children, from each of its threads' ``children`` file; None where the
    kernel has no such files (``CONFIG_PROC_CHILDREN``)."""
    try:
        tids = [entry.name for entry in (PROC / str(pid) / "task").iterdir()]
    except OSError:
        return []  # gone
    found: list[int] = []
    for tid in tids:
        try:
            found += map(int, (PROC / str(pid) / "task" / tid / "children").read_text().split())
        except FileNotFoundError:
            if not (PROC / str(pid) / "task" / tid).exists():
                continue  # the thread ended meanwhile
            return None
        except (OSError, ValueError):
            continue
    return found


def tree_pids(pid: int) -> list[int] | None:
    """``pid`` and its descendants, root first, walked down from it; None where the
    kernel cannot list a process's children."""
    seen = [pid]
    for parent in seen:  # grows as it goes: breadth first
        children = _children(parent)
        if children is None:
            return None
        seen += [child for child in children if child not in seen]
    return seen


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, root first: walked down from it where the kernel
    lists each process's children, else by psutil's scan of every process."""
    pids = tree_pids(pid)
    if pids is not None:
        return pids
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return [pid]  # gone, as the walk from /proc has it


_IDLE = {"user_s": 0.0, "system_s": 0.0, "seconds": 0.0, "window_s": 0.0, "cores_used": 0.0}


@dataclass
class _Sample:
    at: float
    user: float
    system: float
    wall: float = 0.0  # time.time(), to line up with the client's window

    @property
    def total(self) -> float:
        return self.user + self.system


@dataclass
class TreeSampler:
    pid: int
    samples: list[_Sample] = field(default_factory=list)
    _per_pid: dict[int, tuple[float, float]] = field(default_factory=dict)
    _rss_peak: int = 0
    _max_processes: int = 1
    _known: list[int] = field(default_factory=list)
    _count: int = 0

    def sample(self) -> None:
        rss = 0
        if self._count % TREE_EVERY == 0 or not self._known:
            self._known = process_tree(self.pid)
        self._count += 1
        alive = 0
        for pid in self._known:
            usage = _usage(pid)
            if usage is None:
                continue
            alive += 1
            self._per_pid[pid] = usage[:2]
            rss += usage[2]
        self._max_processes = max(self._max_processes, alive)
        self._rss_peak = max(self._rss_peak, rss)
        user = sum(u for u, _ in self._per_pid.values())
        system = sum(s for _, s in self._per_pid.values())
        self.samples.append(_Sample(time.monotonic(), user, system, time.time()))

    def pids(self) -> list[int]:
        """The process tree's pids as last walked (walking it now if never)."""
        if not self._known:
            self._known = process_tree(self.pid)
        return list(self._known)

    @property
    def processes(self) -> int:
        """The most processes the tree had at once."""
        return self._max_processes

    def busiest(self, seconds: float) -> dict[str, float]:
        """CPU used over the busiest window ``seconds`` long (the whole span if shorter):
        ``seconds`` is CPU-seconds (user + system), ``window_s`` the window's length."""
        samples = self.samples
        if len(samples) < 2:
            return dict(_IDLE)
        times = [s.at for s in samples]
        best: tuple[float, _Sample, _Sample] | None = None
        for i, start in enumerate(samples[:-1]):
            j = bisect.bisect_left(times, start.at + seconds, lo=i + 1)
            if j == len(samples):
                if best is not None:
                    break  # no full-length window starts here or later
                j = len(samples) - 1  # the whole span is shorter than the window
            end = samples[j]
            span = end.at - start.at
            if span > 0:
                rate = (end.total - start.total) / span
                if best is None or rate > best[0]:
                    best = (rate, start, end)
        if best is None:
            return dict(_IDLE)
        rate, start, end = best
        return {
            "user_s": end.user - start.user,
            "system_s": end.system - start.system,
            "seconds": end.total - start.total,
            "window_s": end.at - start.at,
            "cores_used": rate,
        }

    def between(self, start_wall: float, end_wall: float) -> dict[str, float] | None:
        """CPU used over exactly ``[start_wall, end_wall]`` (``time.time()`` seconds), or
        ``None`` when the samples do not cover that span."""
        samples = self.samples
        if (
            len(samples) < 2
            or end_wall <= start_wall
            or samples[0].wall > start_wall
            or samples[-1].wall < end_wall
        ):
            return None
        user0, system0 = self._interpolate(start_wall)
        user1, system1 = self._interpolate(end_wall)
        span = end_wall - start_wall
        used = (user1 - user0) + (system1 - system0)
        return {
            "user_s": user1 - user0,
            "system_s": system1 - system0,
            "seconds": used,
            "window_s": span,
            "cores_used": used / span,
        }

    def _interpolate(self, wall: float) -> tuple[float, float]:
        walls = [s.wall for s in self.samples]
        j = min(max(bisect.bisect_left(walls, wall), 1), len(walls) - 1)
        before, after = self.samples[j - 1], self.samples[j]
        gap = after.wall - before.wall
        f = (wall - before.wall) / gap if gap > 0 else 1.0
        return (
            before.user + f * (after.user - before.user),
            before.system + f * (after.system - before.system),
        )

    def peak_rss(self) -> int:
        """Sum of the tree's peak RSS (VmHWM), or the highest sampled RSS without /proc."""
        total = 0
        readable = False
        for pid in process_tree(self.pid):
            hwm = _vm_hwm(pid)
            if hwm is not None:
                total += hwm
                readable = True
        return max(total, self._rss_peak) if readable else self._rss_peak


def _vm_hwm(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            parts = line.split()
            return int(parts[1]) * 1024  # reported in kB
    return None
