"""Disturbed repeats: kept in the file, left out of the numbers, measured again on a quiet host.

The rules run against a synthetic measurement and a fake host (fast, exact); the last
test pins a real busy process to the server's CPU during a real run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from echobench.benchmarks.runner import _environment, _results
from echobench.benchmarks.runner._interference import HostSample, QuietWait
from echobench.benchmarks.runner._isolation import Placement
from echobench.benchmarks.runner._matrix import Case, build_cases
from echobench.benchmarks.runner._measure import MeasureSettings
from echobench.benchmarks.runner._quiet import Quiet, host_warning
from echobench.benchmarks.runner._results_schema import load_results
from echobench.benchmarks.runner._runner import AutoRepeat, Runner
from echobench.servers._launch import echobench_command

#: Taken when the module is collected: a test that runs the CLI in-process pins pytest.
CPUS = sorted(os.sched_getaffinity(0))


def _cases() -> list[Case]:
    cases, _ = build_cases(
        [("alpha", "baseline", ("tcp",)), ("beta", "baseline", ("tcp",))],
        transports=["tcp"],
        sizes=[64],
        connections=[8],
        rates=[None],
    )
    return cases


def _figures(disturbed: bool) -> dict[str, Any]:
    steal = 30.0 if disturbed else 0.5
    return {
        "steal_pct": {"server": steal, "client": 0.0},
        "run_delay_pct": {"server": 0.0, "client": 0.0},
        "disturbed": disturbed,
        "reasons": [f"steal {steal:.1f}% on the server's CPUs"] if disturbed else [],
    }


class Host:
    """A measurement whose disturbed attempts are listed: (case backend, repeat, attempt).
    Disturbed repeats run at a tenth of the speed, as under a steal burst."""

    def __init__(self, disturbed: set[tuple[str, int, int]]) -> None:
        self.disturbed = disturbed
        self.calls: list[tuple[str, int, int]] = []

    def __call__(
        self, case: Case, repeat: int, settings: Any, *, attempt: int = 0, **_: Any
    ) -> dict[str, Any]:
        self.calls.append((case.backend, repeat, attempt))
        hit = (case.backend, repeat, attempt) in self.disturbed
        return {
            "repeat": repeat,
            "attempt": attempt,
            "messages_per_second": (4_000.0 if hit else 40_000.0) + repeat,
            "p99_us": 100.0,
            "server_cpu": None,
            "verdict": "server",
            "interference": _figures(hit),
        }


def _sample(quiet: bool) -> HostSample:
    return HostSample(1.0, {0: 0.0}, {0: 0.0 if quiet else 40.0}, 5.0)


class Waits:
    """A fake wait for a quiet host: each one takes ``seconds`` and ends quiet or not."""

    def __init__(self, seconds: float, quiet: bool = True) -> None:
        self.seconds = seconds
        self.quiet = quiet
        self.timeouts: list[float] = []

    def __call__(self, cpus: Any, timeout_s: float, threshold: float, **_: Any) -> QuietWait:
        self.timeouts.append(timeout_s)
        waited = min(self.seconds, timeout_s)
        return QuietWait(self.quiet, waited, 2, ("other work 40% on CPU 0",), _sample(self.quiet))


def _runner(
    tmp_path: Path,
    host: Host,
    quiet: Quiet | None,
    repeats: int = 3,
    auto: AutoRepeat | None = None,
) -> Runner:
    env = _environment.collect(
        command_line=["test"], pinning={"server_cpus": [0], "client_cpus": [1]}
    )
    config = {"repeat": "auto" if auto else repeats, "max_interference": 5.0}
    return Runner(
        doc=_results.new_document(config, env, []),
        cases=_cases(),
        settings=MeasureSettings(
            duration=0.1, warmup=0.0, workers=None, placement=Placement((), (), ())
        ),
        out=tmp_path / "run.json",
        repeats=auto.maximum if auto else repeats,
        seed=3,
        order="fixed",
        verify=False,
        auto=auto,
        measure=host,
        quiet=quiet,
    )


def _quiet(waits: Waits, retries: int = 3, budget: float = 300.0) -> Quiet:
    return Quiet(threshold_pct=5.0, retries=retries, budget_s=budget, cpus=[0, 1], wait=waits)


def test_a_disturbed_repeat_is_kept_left_out_and_measured_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = Host({("alpha", 1, 0)})
    waits = Waits(seconds=12.0)
    runner = _runner(tmp_path, host, _quiet(waits))
    assert runner.run() is None
    assert host.calls.count(("alpha", 1, 1)) == 1  # measured again, once
    doc = load_results(tmp_path / "run.json")
    alpha = next(e for e in doc["cases"] if e["backend"] == "alpha")
    assert [(r["repeat"], r["attempt"]) for r in alpha["repeats"]] == [
        (0, 0),
        (1, 0),
        (1, 1),
        (2, 0),
    ]
    kept = alpha["repeats"][1]
    assert kept["interference"]["disturbed"] and kept["messages_per_second"] == 4_001.0
    assert kept["interference"]["quiet_wait"]["waited_for"] == ["other work 40% on CPU 0"]
    summary = alpha["summary"]
    # The median is the clean repeats' (40,000 .. 40,002): the 4,001 is left out.
    assert summary["messages_per_second"]["median"] == 40_001.0
    assert summary["messages_per_second"]["min"] == 40_000.0
    assert summary["disturbed_repeats"] == 1 and summary["clean_repeats"] == 3
    assert summary["disturbed"] is False  # every repeat ended clean
    assert alpha["status"] == "ok" and doc["complete"] and doc["not_run"] == []
    assert runner.quiet is not None and runner.quiet.spent_s == 12.0
    err = capsys.readouterr().err
    assert "DISTURBED (steal 30.0% on the server's CPUs), measuring again" in err
    assert "[7/7]" in err  # the progress counted the repeat measured again


def test_retries_and_the_wait_budget_are_bounded_and_the_case_says_so(tmp_path: Path) -> None:
    # alpha is disturbed every time: 2 re-measures, then it is kept disturbed.
    host = Host({("alpha", r, a) for r in range(3) for a in range(5)})
    waits = Waits(seconds=50.0, quiet=False)
    runner = _runner(tmp_path, host, _quiet(waits, retries=2, budget=80.0))
    runner.run()
    alpha = next(e for e in runner.doc["cases"] if e["backend"] == "alpha")
    assert len([c for c in host.calls if c[0] == "alpha"]) == 3 + 2
    summary = alpha["summary"]
    assert summary["disturbed"] is True and summary["disturbed_repeats"] == 5
    assert summary["clean_repeats"] == 0
    # With no clean repeat, the numbers are the disturbed ones', marked as such.
    assert summary["messages_per_second"]["median"] == 4_000.0  # 4,000 x3, 4,001, 4,002
    last = alpha["repeats"][-1]["interference"]
    assert last["not_remeasured"] == "the case's 2 re-measure(s) (--disturbed-retries) were used"
    # The waits took 50 s, then the 30 s left; after that the budget was spent.
    assert waits.timeouts == [80.0, 30.0]
    assert "quiet_wait" not in alpha["repeats"][2]["interference"]  # third: measured at once
    beta = next(e for e in runner.doc["cases"] if e["backend"] == "beta")
    assert beta["summary"]["disturbed"] is False and beta["summary"]["disturbed_repeats"] == 0


def test_repeat_auto_counts_only_clean_repeats(tmp_path: Path) -> None:
    # Repeats 0 and 1 of alpha are disturbed and not measured again (no retries): auto
    # must go on to six clean ones, and judge only those.
    host = Host({("alpha", 0, 0), ("alpha", 1, 0)})
    runner = _runner(
        tmp_path, host, _quiet(Waits(0.0), retries=0), auto=AutoRepeat(maximum=10, target=0.5)
    )
    runner.run()
    alpha = next(e for e in runner.doc["cases"] if e["backend"] == "alpha")
    beta = next(e for e in runner.doc["cases"] if e["backend"] == "beta")
    assert len(beta["repeats"]) == 6 and beta["auto_repeat"]["repeats"] == 6
    assert len(alpha["repeats"]) == 8 and alpha["auto_repeat"]["repeats"] == 6
    assert alpha["summary"]["disturbed"] is True and alpha["summary"]["disturbed_repeats"] == 2


def test_a_resumed_run_counts_the_retries_its_cases_used() -> None:
    quiet = _quiet(Waits(0.0), retries=2)
    entry = {
        "id": "alpha/tcp/64B/8c/closed",
        "repeats": [{"repeat": 0, "attempt": 0}, {"repeat": 0, "attempt": 1}],
    }
    quiet.count_used([entry])
    record: dict[str, Any] = {"interference": _figures(True)}
    assert quiet.again(entry["id"], record, lambda: False, print)
    assert not quiet.again(entry["id"], record, lambda: False, print)
    assert "re-measure(s)" in record["interference"]["not_remeasured"]


def test_the_host_warning_says_what_was_busy_and_what_the_wait_did() -> None:
    assert host_warning({"quiet": True}) is None
    assert host_warning({"skipped": "--host-check 0"}) is None
    busy = {"quiet": False, "busy": ["steal 20% on CPU 1"]}
    waited = {**busy, "waited": {"quiet": True, "waited_s": 42.0}}
    assert host_warning(waited) == (
        "the host was busy when the run started (steal 20% on CPU 1); it waited 42 s for it "
        "to be quiet"
    )
    still = {
        **busy,
        "waited": {"quiet": False, "waited_s": 300.0, "last": {"busy": ["steal 9% on CPU 1"]}},
    }
    assert host_warning(still) == (
        "the host was busy when the run started (steal 20% on CPU 1) and still was after "
        "300 s of waiting (steal 9% on CPU 1): expect disturbed repeats"
    )


@pytest.mark.slow
@pytest.mark.skipif(len(CPUS) < 2, reason="needs a server and a client CPU")
def test_a_busy_process_on_the_servers_cpu_disturbs_the_repeats_it_overlaps(
    tmp_path: Path,
) -> None:
    """A normal-priority busy loop pinned to the server's CPU for the first repeat: that
    repeat is flagged, left out, and measured again once the loop has stopped."""
    os.sched_setaffinity(0, set(CPUS))  # undo the pinning of an in-process run before
    server_cpu, client_cpu = CPUS[:2]
    out = tmp_path / "run.json"
    # Past the first repeat's window (its server's start and priming took 2-3 s here),
    # so the wait after it still finds the loop there.
    hog_seconds = 6.0
    hog = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import time\nt = time.time()\nwhile time.time() - t < {hog_seconds}: pass",
        ]
    )
    os.sched_setaffinity(hog.pid, {server_cpu})
    hog_ends = time.time() + hog_seconds
    try:
        done = subprocess.run(
            [
                *echobench_command(),
                "run",
                *("--backends", "uvloop-protocol", "--sizes", "64", "--connections", "8"),
                *("--repeat", "2", "--duration", "0.8", "--warmup", "0.2", "--no-verify"),
                *("--server-cpus", str(server_cpu), "--client-cpus", str(client_cpu)),
                # No host check (it would wait the busy loop out); a bounded wait after.
                *("--host-check", "0", "--quiet-timeout", "12", "--disturbed-retries", "1"),
                *("--out", str(out)),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        hog.kill()
        hog.wait()
    assert done.returncode == 0, done.stderr[-2000:]
    (case,) = json.loads(out.read_text())["cases"]
    first = case["repeats"][0]
    figures = first["interference"]
    assert (first["repeat"], first["attempt"]) == (0, 0)
    # The busy loop held the server's CPU: its run delay, not the client's, says so.
    assert figures["disturbed"] and figures["run_delay_pct"]["server"] > 20
    assert any("server's CPUs" in reason for reason in figures["reasons"])
    # It waited for the CPU to be quiet, and measured repeat 0 again after the loop ended.
    wait = figures["quiet_wait"]
    assert any(f"on CPU {server_cpu}" in what for what in wait["waited_for"])
    again = case["repeats"][1]
    assert (again["repeat"], again["attempt"]) == (0, 1)
    # (started_at is to the second)
    assert datetime.fromisoformat(again["started_at"]).timestamp() >= hog_ends - 1
    summary = case["summary"]
    assert summary["disturbed_repeats"] >= 1
    clean = [
        r["messages_per_second"] for r in case["repeats"] if not r["interference"]["disturbed"]
    ]
    if clean:  # the median is the clean repeats' alone
        assert summary["messages_per_second"]["median"] == statistics.median(clean)
    assert "DISTURBED" in done.stderr
