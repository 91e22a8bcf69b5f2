"""Is the host quiet enough to measure now? ``echobench doctor``'s and the runner's check.

For a few seconds, with nothing of ours running but the probe, it measures on each
CPU:

- steal, and the CPU time other tasks used (``_interference``'s figures: the run delay
  a benchmark process would have had behind them);
- timer wake-up latency: a thread pinned to the CPU sleeps 1-5 ms again and again (its
  timer slack set to 1 ns) and records how late each sleep ends. In a virtual machine an
  idle vCPU is halted, and waking it costs the hypervisor's scheduling latency, which
  then dominates a 1-connection round trip and low-load latency (``_awake``);
- the run-queue wait of those wake-ups (from the thread's schedstat): a late wake-up
  with no wait is the hypervisor's or the timer's; with a wait, another task held the CPU.

The figures of a Python thread include tens of microseconds of its own; they rank hosts
and show the halt effect (milliseconds), not a bare timer's precision.

:func:`watched` wraps an instrument that does not run through the runner (the client's
ceiling, the runner's agreement): the host checked before it and the steal while it ran,
for its published file (``host``) and table (:func:`host_line`).
"""

from __future__ import annotations

import ctypes
import os
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner._interference import (
    DEFAULT_THRESHOLD_PCT,
    PROC,
    HostSample,
    Snapshot,
    clock_ticks,
    host_sample,
    parse_schedstat,
    read_stat,
    snapshot,
)

#: prctl(2)'s option for a thread's timer slack (ns): the default 50 us would hide the
#: wake-up latency the probe is there to measure.
PR_SET_TIMERSLACK = 29
#: An idle CPU that wakes later than this at p99 makes 1-connection and low-load figures
#: a measurement of the wake-up (``echobench doctor`` says so).
SLOW_WAKEUP_US = 1000.0


class ProbeError(Exception):
    """The host's /proc lacks what the check reads; the message says what, in one line."""


@dataclass
class _Sleeper:
    cpu: int
    proc: Path
    lateness_us: list[float] = field(default_factory=list)
    wait_ns: int | None = None
    error: str | None = None

    def _schedstat(self) -> tuple[int, int]:
        path = self.proc / str(os.getpid()) / "task" / str(threading.get_native_id()) / "schedstat"
        try:
            found = parse_schedstat(path.read_text())
        except OSError:
            found = None
        if found is None:
            raise ProbeError(
                f"{path} is missing or unreadable: this kernel keeps no run-queue figures "
                "(schedstat, CONFIG_SCHED_INFO)"
            )
        return found

    def run(self, until: float) -> None:
        try:
            os.sched_setaffinity(0, {self.cpu})  # this thread only
        except OSError as exc:
            self.error = f"cannot pin a thread to CPU {self.cpu}: {exc}"
            return
        try:
            ctypes.CDLL(None).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the default slack then adds its 50 us to every figure
        try:
            _, waited0 = self._schedstat()
        except ProbeError as exc:
            self.error = str(exc)
            return
        step = 0
        while time.monotonic() < until:
            # 1-5 ms, in an order that never repeats a rhythm a timer could lock on to.
            want_ns = 1_000_000 + (step * 1_618_033) % 4_000_000
            step += 1
            start = time.monotonic_ns()
            time.sleep(want_ns / 1e9)
            self.lateness_us.append((time.monotonic_ns() - start - want_ns) / 1e3)
        self.wait_ns = self._schedstat()[1] - waited0


@dataclass(frozen=True)
class HostCheck:
    """What :func:`examine` found."""

    sample: HostSample
    #: ``{cpu: {"p50", "p99", "max", "samples"}}``: how late a 1-5 ms sleep ended, in us.
    wakeup_us: Mapping[int, Mapping[str, float]]
    #: ``{cpu: us}``: the mean run-queue wait of those wake-ups.
    wakeup_wait_us: Mapping[int, float]

    @property
    def quiet(self) -> bool:
        return self.sample.quiet

    def busy(self) -> list[str]:
        return self.sample.busy()

    def slowest_wakeup(self) -> tuple[int, Mapping[str, float]] | None:
        """The CPU whose wake-ups were latest at p99, with its figures."""
        if not self.wakeup_us:
            return None
        cpu = max(self.wakeup_us, key=lambda c: self.wakeup_us[c]["p99"])
        return cpu, self.wakeup_us[cpu]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.sample.as_dict(),
            "wakeup_us": {str(c): dict(v) for c, v in sorted(self.wakeup_us.items())},
            "wakeup_wait_us": {str(c): round(v, 1) for c, v in sorted(self.wakeup_wait_us.items())},
        }

    def sentence(self) -> str:
        """One line of what was measured: the worst steal, other work and wake-up."""
        steal = [v for v in self.sample.steal_pct.values() if v is not None]
        parts = [
            f"steal up to {max(steal):.1f}%" if steal else "steal unknown",
            f"other work up to {max(self.sample.others_pct.values(), default=0.0):.1f}%",
        ]
        slowest = self.slowest_wakeup()
        if slowest is not None:
            cpu, figures = slowest
            parts.append(f"an idle CPU woke {_us(figures['p99'])} late at p99 (CPU {cpu})")
        return f"{', '.join(parts)} over {self.sample.seconds:.1f} s"


def _us(value: float) -> str:
    return f"{value / 1000:.1f} ms" if value >= 1000 else f"{value:.0f} µs"


def examine(
    cpus: Sequence[int],
    seconds: float = 2.0,
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    proc: Path = PROC,
) -> HostCheck:
    """Measure the host on ``cpus`` for ``seconds``. Raises :class:`ProbeError` when /proc
    lacks what is read (no steal column, no schedstat) or a thread cannot be pinned."""
    try:
        first = read_stat(proc)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read {proc / 'stat'}: {exc}") from None
    missing = [cpu for cpu in cpus if cpu not in first]
    if missing:
        raise ProbeError(f"{proc / 'stat'} has no line for CPU {missing[0]}")
    if any(first[cpu].steal is None for cpu in cpus):
        raise ProbeError(
            f"{proc / 'stat'} has no steal column (a container or an old kernel): steal time "
            "cannot be measured here"
        )
    sleepers = [_Sleeper(cpu, proc) for cpu in cpus]
    own = time.process_time()
    before = Snapshot(time.monotonic_ns(), first, {}, clock_ticks())
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=s.run, args=(until,), daemon=True) for s in sleepers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = snapshot({}, proc)
    for sleeper in sleepers:
        if sleeper.error is not None:
            raise ProbeError(sleeper.error)
    sample = host_sample(before, after, cpus, time.process_time() - own, threshold_pct)
    wakeups = {s.cpu: _latency(s.lateness_us) for s in sleepers if s.lateness_us}
    waits = {
        s.cpu: s.wait_ns / 1e3 / len(s.lateness_us)
        for s in sleepers
        if s.wait_ns is not None and s.lateness_us
    }
    return HostCheck(sample, wakeups, waits)


def _latency(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
        "samples": len(ordered),
    }


@contextmanager
def watched(
    cpus: Sequence[int], threshold_pct: float = DEFAULT_THRESHOLD_PCT, check_s: float = 2.0
) -> Iterator[dict[str, Any]]:
    """The ``host`` record of an instrument that does not run through the runner: the host
    checked before it (nothing of ours running yet) and the steal each CPU saw while it ran
    (``others`` is meaningless there: the instrument's own work is on those CPUs). Filled in
    when the block ends; ``noisy`` says why its numbers were measured in a noisy period."""
    record: dict[str, Any] = {}
    try:
        check = examine(cpus, check_s, threshold_pct)
        record["before"] = {**check.as_dict(), "said": check.sentence()}
    except ProbeError as exc:
        record["before"] = {"skipped": str(exc)}
    first = snapshot({})
    try:
        yield record
    finally:
        last = snapshot({})
        during = host_sample(first, last, cpus, 0.0, threshold_pct)
        steal = {str(c): None if v is None else round(v, 2) for c, v in during.steal_pct.items()}
        record["during"] = {"seconds": round(during.seconds, 1), "steal_pct": steal}
        record["noisy"] = host_noise(record)


def host_noise(record: dict[str, Any]) -> str | None:
    """Why an instrument's ``host`` record says its numbers are noisy, or None."""
    before = record.get("before") or {}
    if before.get("quiet") is False:
        return f"the host was busy before it ({', '.join(before.get('busy') or [])})"
    threshold = before.get("threshold_pct", DEFAULT_THRESHOLD_PCT)
    steal = (record.get("during") or {}).get("steal_pct") or {}
    worst = max((v for v in steal.values() if v is not None), default=None)
    if worst is not None and worst > threshold:
        return f"steal reached {worst:.1f}% of a CPU while it ran"
    return None


def host_line(record: dict[str, Any] | None) -> str:
    """The sentence a published table carries about its ``host`` record ("" for none)."""
    if not record:
        return ""
    before = (record.get("before") or {}).get("said") or "not checked"
    steal = [
        v for v in ((record.get("during") or {}).get("steal_pct") or {}).values() if v is not None
    ]
    during = f"; steal while it ran up to {max(steal):.1f}%" if steal else ""
    noisy = record.get("noisy")
    tail = f" **Measured in a noisy period: {noisy}.**" if noisy else ""
    return f" Host before it: {before}{during}.{tail}"
