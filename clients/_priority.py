"""A worker's scheduling priority raised over the other tasks on its CPU.

An open loop keeps a schedule: a task that takes the worker's CPU for a millisecond
delays every send due meanwhile. On a 2-core VM the platform's agent (``tokio-rt-worker``
threads at nice -10) did exactly that, 1.5-2.8 ms at a time in busy minutes, and in
client-lag (half the client's capacity against ``native``, 3 runs of 10 s) the client's
largest send lag reached 500 µs in 13 of 27 seconds at nice 0 and in 3 of 27 at nice
-20 (the median second's largest 450 µs and 294 µs), the agent gone from the kernel
trace of those lags. cyclictest runs its measuring threads above everything else for
the same reason.

A nice value, not ``SCHED_FIFO``: the pacer polls through its loop from a millisecond
before a send is due (``_pacer``), so at 100k msgs/s the worker never sleeps, and as a
real-time task it held its CPU from the kernel's own per-CPU work until the run failed
to report. At nice -20 a nice-0 task still gets its share when it has work.

Best effort, as with memory (``_memory``): without the privilege to lower its nice
value (``CAP_SYS_NICE``, ``RLIMIT_NICE``) the worker runs as it is, and the result says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The nice values a worker may ask for.
NICE_RANGE = range(-20, 20)
#: What an orchestrator gives an open loop's workers (``echobench run``, client-lag).
OPEN_LOOP_NICE = -20


@dataclass(frozen=True)
class Priority:
    nice: int  # the nice value the worker runs at
    why_not: str | None  # why it is not the one asked for, else None

    def as_dict(self) -> dict[str, object]:
        return {"nice": self.nice, "why_not": self.why_not}


def set_nice(asked: int | None) -> Priority:
    """Set this process's nice value to ``asked`` (``None``: leave it)."""
    if asked is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, asked)
        except OSError as exc:
            current = os.getpriority(os.PRIO_PROCESS, 0)
            return Priority(current, f"nice {asked}: {exc.strerror or exc}")
    return Priority(os.getpriority(os.PRIO_PROCESS, 0), None)
