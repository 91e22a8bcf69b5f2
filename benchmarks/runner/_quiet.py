"""What a run does about interference: a quiet host first, and disturbed repeats again.

- **Before the first case** the host is measured for ``--host-check`` seconds with
  nothing of ours running (``_hostcheck``: steal, others' CPU time, timer wake-up
  latency on the run's CPUs). When it is busy, the run says so and waits for it to be
  quiet (``_interference.wait_for_quiet``), within ``--quiet-timeout``. What was found
  and how long was waited is the ``environment.host_check`` record.
- **After a disturbed repeat** (steal or run delay over ``--max-interference`` on either
  side of its window; ``_edges``) the repeat stays in the file, left out of the case's
  numbers, and while the case has re-measures left (``--disturbed-retries``) the run
  waits for a quiet host (probes of a second, with the server and the client stopped)
  and measures that repeat again. The waiting of the whole run is bounded by
  ``--quiet-timeout``: once that is spent (or with 0) it measures again at once. A case
  whose re-measures run out keeps the disturbed repeat, and says so.

What was waited for, and why a repeat was not measured again, go into the repeat's
``interference`` record (``quiet_wait``, ``not_remeasured``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from echobench.benchmarks.runner._hostcheck import HostCheck, ProbeError, examine
from echobench.benchmarks.runner._interference import QuietWait, wait_for_quiet

#: Defaults of ``--disturbed-retries`` (per case) and ``--quiet-timeout`` (per run, s).
RETRIES = 3
QUIET_TIMEOUT_S = 300.0
#: Seconds of the host check before the first case (``--host-check``).
HOST_CHECK_S = 2.0
#: One probe of the wait for a quiet host, and how many go by between two lines of it.
PROBE_S = 1.0
SAY_EVERY = 10

Say = Callable[[str], None]


@dataclass
class Quiet:
    threshold_pct: float
    retries: int
    budget_s: float
    #: The CPUs the run's servers and clients use.
    cpus: Sequence[int]
    check_s: float = HOST_CHECK_S
    #: The real probes, unless a test of the rules gives others.
    wait: Callable[..., QuietWait] = wait_for_quiet
    examine: Callable[..., HostCheck] = examine
    spent_s: float = 0.0
    used: dict[str, int] = field(default_factory=dict)

    @property
    def left_s(self) -> float:
        return max(0.0, self.budget_s - self.spent_s)

    def _wait(self, stopping: Callable[[], bool], say: Say) -> QuietWait:
        probes = [0]

        def busy(sample: Any) -> None:
            if probes[0] % SAY_EVERY == 0:  # a line every ten seconds, not every second
                say(f"waiting for a quiet host: {', '.join(sample.busy())}")
            probes[0] += 1

        done = self.wait(
            self.cpus,
            self.left_s,
            self.threshold_pct,
            probe_s=PROBE_S,
            stopping=stopping,
            on_wait=busy,
        )
        self.spent_s += done.waited_s
        return done

    def host_check(self, stopping: Callable[[], bool], say: Say) -> dict[str, Any]:
        """Measure the host before the first case, and wait while it is busy; the
        ``environment.host_check`` record."""
        if self.check_s <= 0:
            return {"skipped": "--host-check 0"}
        try:
            check = self.examine(self.cpus, self.check_s, self.threshold_pct)
        except ProbeError as exc:
            return {"skipped": str(exc)}
        record: dict[str, Any] = {**check.as_dict(), "said": check.sentence(), "waited": None}
        say(f"host check: {record['said']}")
        if check.quiet:
            return record
        say(f"the host is busy ({', '.join(check.busy())})")
        if self.left_s <= 0:
            record["waited"] = {"quiet": False, "said": "not waited for (--quiet-timeout 0)"}
            return record
        record["waited"] = self._wait(stopping, say).as_dict()
        return record

    def again(
        self, case_id: str, record: dict[str, Any], stopping: Callable[[], bool], say: Say
    ) -> bool:
        """After a disturbed repeat: whether to measure it again (having waited for a quiet
        host). Notes what happened in ``record["interference"]``."""
        figures = record["interference"]
        used = self.used.get(case_id, 0)
        if used >= self.retries:
            figures["not_remeasured"] = (
                f"the case's {self.retries} re-measure(s) (--disturbed-retries) were used"
            )
            return False
        if self.left_s > 0:
            figures["quiet_wait"] = self._wait(stopping, say).as_dict()
        if stopping():
            return False
        self.used[case_id] = used + 1
        return True

    def count_used(self, entries: Sequence[dict[str, Any]]) -> None:
        """Retries already spent by a resumed run's cases (each repeat measured again)."""
        for entry in entries:
            again = sum(1 for r in entry.get("repeats", ()) if r.get("attempt", 0) > 0)
            if again:
                self.used[entry["id"]] = again


def host_warning(record: dict[str, Any]) -> str | None:
    """The sentence a run's warnings carry about its host check, or ``None`` when the
    host was quiet (or not checked)."""
    if record.get("quiet", True):
        return None
    busy = ", ".join(record.get("busy") or [])
    waited = record.get("waited") or {}
    if waited.get("quiet"):
        return (
            f"the host was busy when the run started ({busy}); it waited "
            f"{waited.get('waited_s', 0):.0f} s for it to be quiet"
        )
    if not waited.get("waited_s"):
        return f"the host was busy when the run started ({busy}): expect disturbed repeats"
    still = ", ".join((waited.get("last") or {}).get("busy") or [])
    return (
        f"the host was busy when the run started ({busy}) and still was after "
        f"{waited['waited_s']:.0f} s of waiting ({still}): expect disturbed repeats"
    )
