"""The stretches a CPU was taken from every task at normal priority, measured beside them.

The guest's scheduler trace (``_schedtrace``) sees another task take a client's CPU,
but not the hypervisor stopping the vCPU: the guest sees its task running throughout.
Its timer tick shows a stop only when one spans a tick (every 4 ms), and an idle CPU's
tick is off, so on this VM a bare C loop, which has no work of its own, kept gaps of
1-2 ms that the trace left unexplained. ``probed(cpu)`` runs ``stopprobe.c`` on the CPU
for the block: a thread at SCHED_FIFO priority 1 that sleeps to a grid of wakeups every
``PERIOD_US`` and records each that came late. Only the vCPU stopped, interrupts and
their soft work, or a real-time task hold it off, and each holds off every task at
normal priority as long, so a late wakeup is a stretch no client beside it could run;
a stop is seen to within a period. Beside the bare loop, with the client's CPU
shielded, it explained all but 173 µs of the loop's gaps (a 7.3 ms stop among them).
Needs root (or CAP_SYS_NICE) for its priority; without it ``Probe.why_not`` says so
and nothing is set against a lag. May import ``echobench.servers`` and ``_schedtrace``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echobench.benchmarks.truth._schedtrace import Wait
from echobench.servers._cbuild import build
from echobench.servers._errors import UserError

SOURCE = Path(__file__).with_name("stopprobe.c")
#: A stop is seen to within this. Each wakeup costs the CPU's other tasks a switch and
#: the timer's exits to the hypervisor: some 30 µs here, where a closed-loop client
#: beside the probe lost 6% of its rate at a 500 µs period, 14% at 200 and 29% at 100
#: (``echobench client-lag`` measures it again, ``capacity_beside_probe``, and sets its
#: rate at half of that).
PERIOD_US = 200.0
#: The name the scheduler's trace gives the stretches the probe found.
STOPPED = "(CPU taken: vCPU stopped or interrupts)"


@dataclass
class Probe:
    """What the probe found, once its block has ended; ``why_not`` where it could not
    run at real-time priority (its lateness would then be the scheduler's)."""

    period_us: float = PERIOD_US
    summary: dict[str, Any] = field(default_factory=dict)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    pid: int | None = None
    why_not: str | None = None

    def stops(self) -> list[Wait]:
        """The late wakeups, each from its grid point to when the probe ran."""
        if self.why_not is not None:
            return []
        return [Wait(due, ran, {STOPPED: ran - due}) for due, ran in self.gaps]

    def record(self) -> dict[str, Any]:
        if self.why_not is not None:
            return {"why_not": self.why_not}
        lengths = [ran - due for due, ran in self.gaps]
        seconds = self.summary.get("seconds") or 0.0
        return {
            **self.summary,
            "wakeups_per_second": round(self.summary["wakeups"] / seconds) if seconds else None,
            "late_stretches": len(lengths),
            "late_total_us": round(sum(lengths) / 1e3, 1),
        }


def unavailable() -> str | None:
    """None where the probe can run at real-time priority, else why not, in words."""
    if os.geteuid() != 0:
        return "a probe at real-time priority needs root"
    return None


@contextmanager
def probed(cpu: int, period_us: float = PERIOD_US) -> Iterator[Probe]:
    """The probe on ``cpu`` for the block; ``Probe`` holds its findings after."""
    probe = Probe(period_us=period_us, why_not=unavailable())
    if probe.why_not is not None:
        yield probe
        return
    binary = build(SOURCE, "stopprobe")
    process = subprocess.Popen(
        [str(binary), str(cpu), f"{period_us:g}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    probe.pid = process.pid
    assert process.stdout is not None
    started = process.stdout.readline().strip() == "ready"
    try:
        if started:
            yield probe
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    if not started or process.returncode != 0:
        raise UserError(f"stopprobe failed: {err.strip() or process.returncode}")
    found = json.loads(out)
    probe.gaps = [(int(due), int(ran)) for due, ran in found.pop("gaps")]
    probe.summary = found
    if found["policy"] != "SCHED_FIFO":
        probe.why_not = f"the probe ran at {found['policy']}"
