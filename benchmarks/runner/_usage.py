"""CPU time and peak memory of a server's whole process tree, sampled while it is loaded.

A backend may fork workers, so every process in the server's tree counts; a
process that exits keeps the CPU it had used when last seen. The server's CPU is
taken over exactly the load client's measured window (its ``started_at`` and
``finished_at``), interpolated between the samples on either side of each edge;
when the samples do not cover that window, over the busiest window as long as it.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

#: Samples between two walks of the server's process tree. A walk scans every process on
#: the machine (psutil reads each one's parent): about 1.6 ms on a 2-core VM, where a
#: sample of the processes already known takes about 0.1 ms. The runner samples ten
#: times a second on the load client's CPU, so a walk each time held the client off its
#: sockets for 2% of the run, in 2 ms pieces that showed in the p99 of open-loop runs.
TREE_EVERY = 10

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
    _known: list[psutil.Process] = field(default_factory=list)
    _count: int = 0

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> None:
        rss = 0
        if self._count % TREE_EVERY == 0 or not self._known:
            self._known = self._tree()
        self._count += 1
        tree = self._known
        alive = 0
        for process in tree:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
            except psutil.Error:
                continue
            alive += 1
            self._per_pid[process.pid] = (times.user, times.system)
        self._max_processes = max(self._max_processes, alive)
        self._rss_peak = max(self._rss_peak, rss)
        user = sum(u for u, _ in self._per_pid.values())
        system = sum(s for _, s in self._per_pid.values())
        self.samples.append(_Sample(time.monotonic(), user, system, time.time()))

    def pids(self) -> list[int]:
        """The process tree's pids as last walked (walking it now if never)."""
        if not self._known:
            self._known = self._tree()
        return [process.pid for process in self._known]

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
        for process in self._tree():
            hwm = _vm_hwm(process.pid)
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
