"""The host read at a repeat's measured window's edges: its ``interference`` record.

The held load client (``echobench load --hold``) says when its window opens and closes
(``window START END`` on stdout, monotonic ns); the runner reads ``/proc`` just before
the start and just after the end (``EDGE_MARGIN_NS``), so that the readings themselves,
on the client's CPUs, fall outside the work the client times. Between them the
runner's loop only sleeps: it samples the server's CPU at the edges, not inside the
window, where each sample held the client off its CPU (``_measure._wait``).

Two sides (``_interference.Side``): the server (its CPUs, its process tree, and the
busy loops that keep those CPUs awake, which are ours but never the server's wait) and
the client (its CPUs, the load client's process tree, and the runner beside it).
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from echobench.benchmarks.runner._interference import Side, Window
from echobench.benchmarks.runner._usage import process_tree

#: How far outside the window each reading is taken (its own cost stays outside).
EDGE_MARGIN_NS = 5_000_000
#: How long the client may take to announce its window once told to start.
ANNOUNCE_SECONDS = 10.0


@dataclass
class Edges:
    """One repeat's readings. Unknown sides are ``None`` CPU sets (a server elsewhere, a
    client on a cluster); a repeat with neither is not read at all."""

    threshold_pct: float
    server_cpus: Sequence[int] | None
    client_cpus: Sequence[int] | None
    #: Ours on the server's CPUs that are not the server (the awake busy loops).
    server_ours: Sequence[int] = ()
    window: Window | None = None
    due: list[int] = field(default_factory=list)
    #: Why there is no record, when there is none.
    missing: str | None = None

    def sides(self, server_pids: Sequence[int], client_pid: int | None) -> dict[str, Side]:
        sides: dict[str, Side] = {}
        if self.server_cpus:
            sides["server"] = Side(
                tuple(self.server_cpus), tuple(server_pids), tuple(self.server_ours)
            )
        if self.client_cpus and client_pid is not None:
            sides["client"] = Side(
                tuple(self.client_cpus), tuple(process_tree(client_pid)), (os.getpid(),)
            )
        return sides

    def announced(
        self,
        stdout: IO[bytes],
        sides: dict[str, Side],
        stopping: Callable[[], bool],
    ) -> None:
        """Read the client's ``window`` line (it follows the go line at once) and plan the
        readings; without one, the repeat gets no record and says why."""
        if not sides:
            self.missing = "not measured (--no-interference, or no side runs on this host)"
            return
        deadline = time.monotonic() + ANNOUNCE_SECONDS
        while time.monotonic() < deadline and not stopping():
            if not select.select([stdout], [], [], 0.1)[0]:
                continue
            words = stdout.readline().split()
            if len(words) == 3 and words[0] == b"window":
                start, end = int(words[1]), int(words[2])
                self.window = Window(sides, self.threshold_pct)
                self.due = [start - EDGE_MARGIN_NS, end + EDGE_MARGIN_NS]
                return
            if not words:
                break  # its stdout closed: it ended; its exit status says why
        self.missing = "the load client did not say when its window opened"

    def until_next(self) -> float | None:
        """Seconds until the next reading is due (0: now), or ``None`` when none is left."""
        if not self.due:
            return None
        return max(0.0, (self.due[0] - time.monotonic_ns()) / 1e9)

    def read_due(self) -> bool:
        """Read the edges that are due; whether any was."""
        read = False
        while self.due and self.due[0] <= time.monotonic_ns():
            self.due.pop(0)
            read = True
            if self.window is not None:
                self.window.edge()
        return read

    def inside(self) -> bool:
        """Whether the window has opened (its first edge read) and not yet closed."""
        return self.window is not None and len(self.due) == 1

    def record(self) -> dict[str, Any] | None:
        """The repeat's ``interference`` (``_results_schema``), or ``None`` (``missing``: why)."""
        if self.window is None:
            return None
        if self.due:
            self.missing = "the load client ended before its window closed"
            return None
        result = self.window.result()
        if result is None:
            self.missing = self.window.error or "the window was not read"
            return None
        return {**result.as_dict(), "read_ms": round(1e3 * sum(self.window.costs), 3)}
