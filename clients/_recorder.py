"""Latency samples counted in bounded steps, after the window or, past a budget, during it.

A worker's hot path only appends: open loop, latencies to ``samples``; closed loop,
clock readings to each connection's ``stamps``. Every ``collect`` (the worker calls it
on its 100 ms marks) queues what has completed so far; the queue is worked off in
steps of at most ``FOLD_SLICE`` samples or ``GATHER_CONNECTIONS`` connections.

An open loop whose window holds at most ``RAW_BUDGET`` samples (8 bytes each) is
*recorded whole*: ``collect`` only moves the raw samples aside (a copy of 100 ms of
them, so the array the sends append to stays small and never reallocates a large
block), and the steps run when the window has closed. Nothing but sends and sockets
then runs while it is measured: counting in the window was the client's longest own
pause (fold steps to 0.75 ms of CPU, an interval's emit 0.4 ms, on a 2-core VM at
90,000 msgs/s), and the open loop charges every pause to the messages due during it.

Past the budget (a long run), or in a closed loop, the queue is worked off as it
fills, each step its own event-loop callback so sockets are served between steps
(holding every raw sample of a 10-minute soak would cost 150 MB). Every in-window
step is timed (``stats``), so the claim that no step holds the loop long is checked
in every run rather than assumed.

Intervals: a collection that ends an interval queues an ``emit`` after its samples, so
the interval's counts go to ``emit`` complete. Open loop, a sample belongs to the
interval in which the worker recorded it (``collect`` copies ``samples`` atomically, on
the loop); closed loop, to the interval in which its echo completed, read from the
completion's own clock reading, however late the connection is gathered.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from time import monotonic_ns, thread_time_ns
from typing import Any

import numpy as np

from echobench.clients._dependence import dependence
from echobench.clients._histogram import Counts, SampleCounts
from echobench.clients._protocol import ClosedLoopConnection

#: Samples counted in one step. ~70 ns each on a busy core of a 2-core VM: about 0.15 ms.
FOLD_SLICE = 2048
#: Closed-loop connections read in one step (a few microseconds each).
GATHER_CONNECTIONS = 64
#: Raw samples an open-loop worker may hold to record its window whole (64 MiB): 70 s at
#: 120,000 msgs/s a worker.
RAW_BUDGET = 8 * 1024 * 1024


class Recorder:
    """The window's latency counts, per interval and in total, built in bounded steps."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        emit: Callable[[int, Counts], None],
        *,
        defer: bool = False,
    ) -> None:
        self.loop = loop
        self.emit = emit
        #: Recording the window whole: its steps wait for the window to close.
        self.deferring = defer
        self.deferred = defer  # and it stayed so: nothing was counted in the window
        self.held = 0  # raw samples moved aside and not yet counted
        self.samples: array[int] = array("q")
        self.interval = SampleCounts()
        self.total = SampleCounts()
        # Touch the counters' pages now, before the window: the first fold would otherwise
        # take the page faults of 1 MiB of fresh zeros.
        self.interval.counts.fill(0)
        self.total.counts.fill(0)
        self.queue: deque[tuple[Any, ...]] = deque()
        self.scheduled = False
        self.after = 0  # closed loop: completions read at or before this are warmup
        self.steps = 0
        self.max_step_ns = 0  # wall clock: what the loop felt (preemption included)
        self.max_step_cpu_ns = 0  # this thread's CPU: what the step cost
        self.max_step_samples = 0
        self.step_cpu_ns = 0  # all the steps' CPU: the client's time not serving sockets
        self.after_ns = 0  # the wall time the steps left for after the window took
        self.dependence: dict[str, Any] | None = None  # a window recorded whole only

    def open(self, now: int) -> None:
        """The window opens at ``now``: what completed before it is warmup."""
        del self.samples[:]
        self.after = now

    def collect(
        self, until: int, conns: Sequence[ClosedLoopConnection], interval: int | None
    ) -> None:
        """Queue the samples completed up to ``until``; then close ``interval``, if given."""
        started, cpu = monotonic_ns(), thread_time_ns()
        if self.samples:
            self.held += len(self.samples)
            self.queue.append(("fold", self.samples.tobytes()))
            del self.samples[:]
        if conns:
            self.queue.append(("gather", conns, 0, until))
        if interval is not None:
            self.queue.append(("emit", interval))
        self._account(started, cpu, 0)
        if self.deferring and self.held > RAW_BUDGET:
            self.deferring = self.deferred = False  # a long run: count as it goes
        if not self.deferring and not self.scheduled and self.queue:
            self.scheduled = True
            self.loop.call_soon(self._step)

    def slice_waiting(self) -> bool:
        """Whether a whole slice of raw samples waits to be counted."""
        return len(self.samples) >= FOLD_SLICE

    def finish(self) -> None:
        """Work off the whole queue now (the window has closed: nothing waits on the loop)."""
        started = monotonic_ns()
        if self.deferred:
            # The whole window's samples in the order they were recorded: how dependent
            # consecutive ones are is what a percentile's interval may assume.
            raw = b"".join(item[1] for item in self.queue if item[0] == "fold")
            self.dependence = dependence(np.frombuffer(raw, dtype=np.int64))
        while self.queue:
            self._work()
        self.after_ns = monotonic_ns() - started

    def stats(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "max_step_ns": self.max_step_ns,
            "max_step_cpu_ns": self.max_step_cpu_ns,
            "max_step_samples": self.max_step_samples,
            "step_cpu_ns": self.step_cpu_ns,
            "deferred": self.deferred,
            "after_ns": self.after_ns,
        }

    # -- the steps -----------------------------------------------------------------------

    def _step(self) -> None:
        self.scheduled = False
        if not self.queue:
            return
        started, cpu = monotonic_ns(), thread_time_ns()
        folded = self._work()
        self._account(started, cpu, folded)
        if self.queue:
            self.scheduled = True
            self.loop.call_soon(self._step)

    def _account(self, started: int, cpu: int, folded: int) -> None:
        spent = monotonic_ns() - started
        used = thread_time_ns() - cpu
        self.step_cpu_ns += used
        self.steps += 1
        if spent > self.max_step_ns:
            self.max_step_ns = spent
        if used > self.max_step_cpu_ns:
            self.max_step_cpu_ns = used
        if folded > self.max_step_samples:
            self.max_step_samples = folded

    def _work(self) -> int:
        """One step of the queue; return the samples it counted."""
        item = self.queue.popleft()
        kind = item[0]
        if kind == "fold":
            raw = item[1]
            chunk = np.frombuffer(raw, dtype=np.int64) if isinstance(raw, bytes) else raw
            if chunk.size > FOLD_SLICE:
                self.queue.appendleft(("fold", chunk[FOLD_SLICE:]))
                chunk = chunk[:FOLD_SLICE]
            self.interval.add(chunk)
            self.held = max(0, self.held - int(chunk.size))
            return int(chunk.size)
        if kind == "gather":
            self._gather(item[1], item[2], item[3])
            return 0
        counts = self.interval.take()
        self.total.merge(counts)
        self.emit(int(item[1]), counts)
        return 0

    def _gather(self, conns: Sequence[ClosedLoopConnection], start: int, until: int) -> None:
        got: list[np.ndarray] = []
        found = 0
        index = start
        while index < len(conns) and index - start < GATHER_CONNECTIONS and found < FOLD_SLICE:
            latencies = conns[index].take_latencies(self.after, until)
            index += 1
            if latencies is not None:
                got.append(latencies)
                found += latencies.size
        if index < len(conns):
            self.queue.appendleft(("gather", conns, index, until))
        if got:
            self.queue.appendleft(("fold", np.concatenate(got) if len(got) > 1 else got[0]))
