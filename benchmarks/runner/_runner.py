"""The run loop: walk the schedule, verify each backend once, measure, write after every case.

SIGINT and SIGTERM only set a flag; the loop notices it within a sampling tick,
the case in progress kills the load client's and the server's process groups,
and the file is written with every finished case and what was not run.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from echobench.benchmarks.runner import _autorepeat, _interference, _results
from echobench.benchmarks.runner._matrix import Case, repeat_order, schedule
from echobench.benchmarks.runner._measure import CaseFailed, Interrupted, MeasureSettings, measure
from echobench.benchmarks.runner._quiet import Quiet
from echobench.benchmarks.runner._results_schema import write_results
from echobench.benchmarks.runner._terminal import RunProgress, outcome_line


@dataclass
class StopSignals:
    """Turns SIGINT/SIGTERM into a flag the loop checks, so nothing is cut off half-way."""

    signum: int | None = None
    _previous: dict[int, Any] = field(default_factory=dict)

    def __enter__(self) -> StopSignals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    def stopping(self) -> bool:
        return self.signum is not None


@dataclass(frozen=True)
class AutoRepeat:
    """``--repeat auto``: rounds of repeats until each case's median is pinned down."""

    maximum: int
    target: float
    minimum: int = _autorepeat.MINIMUM


@dataclass
class Runner:
    doc: dict[str, Any]
    cases: Sequence[Case]
    settings: MeasureSettings
    out: Path
    #: The repeats of every case; with ``auto``, the most any case gets.
    repeats: int
    seed: int
    order: str
    verify: bool
    auto: AutoRepeat | None = None
    #: Measures one repeat of one case; the real one, unless a test of the loop's
    #: bookkeeping gives it a synthetic one.
    measure: Callable[..., dict[str, Any]] = measure
    #: False for a pass that more passes follow: the file is never marked complete by it.
    final: bool = True
    #: Brings a scenario's own part of the document up to date before each write.
    annotate: Callable[[dict[str, Any]], None] | None = None
    #: What to do about a busy host: wait before the first case, measure a disturbed
    #: repeat again (``_quiet``); ``None`` keeps every repeat as it came.
    quiet: Quiet | None = None

    def save(self, *, complete: bool = False) -> None:
        _results.finalize(
            self.doc, self.cases, self.repeats, complete=complete, auto=self.auto is not None
        )
        if self.annotate is not None:
            self.annotate(self.doc)
        write_results(self.out, self.doc)

    def _work(
        self, done: set[tuple[str, int]], progress: RunProgress
    ) -> Iterator[tuple[int, Case]]:
        """The (repeat, case) pairs still to run, in order; with ``auto``, round by round,
        judging between rounds which cases need another repeat."""
        if self.auto is None:
            plan = schedule(self.cases, self.repeats, seed=self.seed, order=self.order)
            yield from ((r, case) for r, case in plan if (case.id, r) not in done)
            return
        for repeat in range(self.repeats):
            going = [case for case in self.cases if self._going_on(case, repeat, progress)]
            if not going:
                return
            for case in repeat_order(going, repeat, seed=self.seed, order=self.order):
                if (case.id, repeat) not in done:
                    yield repeat, case
        for case in self.cases:
            self._going_on(case, self.repeats, progress)  # records why the last ones stopped

    def _going_on(self, case: Case, repeat: int, progress: RunProgress) -> bool:
        """Whether ``case`` gets repeat ``repeat``, judged on its repeats before it; a case
        that stops gets its ``auto_repeat`` record."""
        assert self.auto is not None
        entry = _results.find(self.doc, case)
        if entry is None:
            return True
        if entry.get("auto_repeat"):
            return False
        metric, values = _results.judged_values(entry, before=repeat)
        failures = [f for f in entry["failures"] if f["repeat"] < repeat]
        # The cap counts every repeat run (a disturbed one too); the target, clean ones.
        ran = {r["repeat"] for r in entry["repeats"] if r["repeat"] < repeat}
        decision = _autorepeat.decide(
            values,
            attempts=len(ran) + len(failures),
            failed=bool(failures),
            minimum=self.auto.minimum,
            maximum=self.auto.maximum,
            target=self.auto.target,
        )
        if decision.more:
            return True
        entry["auto_repeat"] = decision.record(metric, len(values), self.auto.target)
        progress.fewer(self.repeats - repeat)
        return False

    def run(self) -> int | None:
        """Run what is left; returns the signal number if interrupted, else ``None``."""
        done = _results.attempted(self.doc)
        total = len(self.cases) * self.repeats
        if self.auto is not None:
            # A case that already stopped (a resumed run) will get no more than it had.
            for entry in self.doc["cases"]:
                if entry.get("auto_repeat"):
                    total -= self.repeats - len(entry["repeats"]) - len(entry["failures"])
        self.save()
        # What this pass has done already: a scenario's earlier passes are not its own.
        mine = {(case.id, r) for case in self.cases for r in range(self.repeats)}
        with StopSignals() as signals, RunProgress(total, len(done & mine)) as progress:
            for repeat, case in self._work(done, progress):
                if signals.stopping():
                    break
                if self.auto is None:
                    label = f"{case.id} (repeat {repeat + 1}/{self.repeats})"
                else:
                    label = f"{case.id} (repeat {repeat + 1}, auto, at most {self.repeats})"
                rejected = self._gate(case.backend, progress)
                if signals.stopping():
                    break
                if rejected is not None:
                    _results.add_failure(self.doc, case, repeat, rejected, None)
                    progress.finished(label, f"not measured: {rejected}")
                    self.save()
                    continue
                if not self._repeat(case, repeat, label, signals, progress):
                    break
            if signals.stopping():
                progress.note(
                    f"interrupted by {signal.Signals(signals.signum or 0).name}: stopped the "
                    "server and the load client, saving what finished"
                )
        self.save(complete=self.final and signals.signum is None)
        return signals.signum

    def _repeat(
        self, case: Case, repeat: int, label: str, signals: StopSignals, progress: RunProgress
    ) -> bool:
        """Measure one repeat, and again while it is disturbed and ``quiet`` allows; False
        when interrupted."""
        attempt = 0
        while True:
            progress.starting(label if not attempt else f"{label}, measured again")
            try:
                record = self.measure(
                    case, repeat, self.settings, stopping=signals.stopping, attempt=attempt
                )
            except Interrupted:
                return False
            except CaseFailed as exc:
                _results.add_failure(self.doc, case, repeat, exc.error, exc.stderr_tail)
                progress.finished(label, f"FAILED: {exc.error}")
                self.save()
                return True
            _results.add_repeat(self.doc, case, record)
            again = (
                _interference.disturbed(record)
                and self.quiet is not None
                and self.quiet.again(case.id, record, signals.stopping, progress.note)
            )
            progress.finished(label, outcome_line(record) + (", measuring again" if again else ""))
            self.save()
            if not again:
                return True
            progress.more(1)
            attempt += 1

    def _gate(self, backend: str, progress: RunProgress) -> str | None:
        """Why ``backend`` may not be measured (it failed verification), or ``None``."""
        if not self.verify:
            return None
        verification = self.doc.setdefault("verification", {})
        if backend not in verification:
            progress.starting(f"verifying {backend}")
            from echobench.benchmarks.runner._gate import verify_backend

            verification[backend] = verify_backend(backend)
            result = verification[backend]
            progress.note(
                f"verified {backend}: "
                + ("passed" if result["passed"] else f"FAILED ({result['error']})")
            )
            self.save()
        result = verification[backend]
        return None if result["passed"] else str(result["error"])
