"""``--repeat auto``: the stopping rule on seeded synthetic repeats, the runner's rounds with a
synthetic measurement (interleaving, why each case stopped, a real SIGINT and resume),
and one small real run."""

from __future__ import annotations

import json
import math
import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest
import scipy.stats

from conftest import AS_MEASURED
from echobench._cli import main
from echobench.benchmarks.runner import _autorepeat, _environment, _results
from echobench.benchmarks.runner._autorepeat import CAP, FAILED, TARGET_MET, decide, median_interval
from echobench.benchmarks.runner._isolation import Placement
from echobench.benchmarks.runner._matrix import Case, build_cases
from echobench.benchmarks.runner._measure import MeasureSettings
from echobench.benchmarks.runner._results_schema import load_results
from echobench.benchmarks.runner._runner import AutoRepeat, Runner


@pytest.mark.parametrize("n", [5, 6, 7, 9, 12, 20])
def test_median_interval_is_the_exact_order_statistic_one(n: int) -> None:
    values = [float(v) for v in range(100, 100 + n)]
    interval = median_interval(values)
    # Reference: the largest j with 1 - 2 P(Binomial(n, 1/2) <= j - 1) >= 95%.
    js = [j for j in range(1, n // 2 + 1) if 1 - 2 * scipy.stats.binom.cdf(j - 1, n, 0.5) >= 0.95]
    if not js:
        assert interval is None  # 5 repeats: at most 93.75%, no 95% interval exists
        return
    j = max(js)
    assert interval == (values[j - 1], values[n - j])


def _run_rule(rng: random.Random, sigma: float, maximum: int = 12) -> tuple[int, str | None]:
    values: list[float] = []
    while True:
        decision = decide(values, attempts=len(values), maximum=maximum)
        if not decision.more:
            return len(values), decision.stop
        values.append(50_000 * rng.lognormvariate(0, sigma))


def test_a_quiet_case_stops_at_the_minimum_and_a_noisy_one_runs_to_the_cap() -> None:
    rng = random.Random(1408)
    for _ in range(20):
        assert _run_rule(rng, 0.002) == (_autorepeat.MINIMUM, TARGET_MET)
        assert _run_rule(rng, 0.10) == (12, CAP)


def test_a_failed_repeat_stops_the_case_and_few_repeats_never_stop_it() -> None:
    tight = [100.0, 100.1, 100.0, 99.9, 100.0]
    assert decide(tight, attempts=5).more  # no 95% interval from 5 repeats, however tight
    assert decide([*tight, 100.0], attempts=6).stop == TARGET_MET
    assert decide([*tight, 100.0], attempts=6, minimum=8).more  # --min-repeat 8
    assert decide([*tight, 100.0, 100.0, 100.0], attempts=8, minimum=8).stop == TARGET_MET
    stopped = decide(tight, attempts=6, failed=True)
    assert not stopped.more and stopped.stop == FAILED
    record = decide([*tight, 100.0], attempts=6).record("messages_per_second", 6, 0.02)
    assert record["relative_ci"] == pytest.approx(0.001) and "after 6 repeats" in record["detail"]


# --- the runner's rounds, with a synthetic measurement -------------------------------------

NOISE = {"quiet": 0.002, "noisy": 0.08}


def _cases() -> list[Case]:
    backends = [(name, "baseline", ("tcp",)) for name in ("quiet", "noisy")]
    cases, _ = build_cases(
        backends, transports=["tcp"], sizes=[64], connections=[1, 8], rates=[None]
    )
    return cases


class Synthetic:
    """A measurement whose msgs/s depends only on (case, repeat): runs are reproducible."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.calls: list[tuple[int, str]] = []
        self.interrupt_after = interrupt_after

    def __call__(self, case: Case, repeat: int, settings: Any, **_: Any) -> dict[str, Any]:
        self.calls.append((repeat, case.id))
        if self.interrupt_after is not None and len(self.calls) == self.interrupt_after:
            os.kill(os.getpid(), signal.SIGINT)  # the runner finishes this repeat, then stops
        rng = random.Random(f"{case.id}:{repeat}")
        rate = 40_000 * rng.lognormvariate(0, NOISE[case.backend])
        return {
            "repeat": repeat,
            "messages_per_second": rate,
            "p99_us": 100.0,
            "server_cpu": None,
            "verdict": "server",
        }


def _runner(tmp_path: Path, measure: Synthetic, doc: dict[str, Any] | None = None) -> Runner:
    if doc is None:
        pinning = {"server_cpus": [0], "client_cpus": [1]}
        env = _environment.collect(command_line=["test"], pinning=pinning)
        doc = _results.new_document({"repeat": "auto"}, env, [])
    return Runner(
        doc=doc,
        cases=_cases(),
        settings=MeasureSettings(
            duration=0.1, warmup=0.0, workers=None, placement=Placement((), (), ())
        ),
        out=tmp_path / "run.json",
        repeats=9,
        seed=5,
        order="shuffle",
        verify=False,
        auto=AutoRepeat(maximum=9, target=0.02),
        measure=measure,
    )


def test_rounds_stay_interleaved_and_record_why_each_case_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    measure = Synthetic()
    runner = _runner(tmp_path, measure)
    assert runner.run() is None
    doc = runner.doc
    by_id = {e["id"]: e for e in doc["cases"]}
    for entry in doc["cases"]:
        record = entry["auto_repeat"]
        if entry["backend"] == "quiet":
            assert record["stop"] == TARGET_MET and len(entry["repeats"]) == 6
            assert record["relative_ci"] <= 0.02
        else:
            assert record["stop"] == CAP and len(entry["repeats"]) == 9
            assert record["relative_ci"] > 0.02 and "--max-repeat 9" in record["detail"]
        assert entry["status"] == "ok"
    assert doc["complete"] is True and doc["not_run"] == []
    # Round r runs every case still going exactly once before round r + 1 starts, in an
    # order of its own.
    rounds = [[case for r, case in measure.calls if r == k] for k in range(9)]
    assert [len(r) for r in rounds] == [4] * 6 + [2] * 3
    assert [r for r, _ in measure.calls] == sorted(r for r, _ in measure.calls)
    assert len({tuple(r) for r in rounds[:6]}) > 1
    assert set(rounds[8]) == {i for i in by_id if i.startswith("noisy")}
    # The progress count shrinks as cases stop: it ends at 30 of 30, not 30 of 36.
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("[30/30]")


def test_an_interrupted_auto_run_keeps_its_repeats_and_resumes_to_the_same_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = _runner(tmp_path / "whole", Synthetic())
    whole.run()
    first = _runner(tmp_path, Synthetic(interrupt_after=22))
    assert first.run() == signal.SIGINT
    saved = load_results(tmp_path / "run.json")
    assert sum(len(e["repeats"]) for e in saved["cases"]) == 22
    assert saved["complete"] is False and saved["not_run"]
    resumed = Synthetic()
    capsys.readouterr()
    assert _runner(tmp_path, resumed, doc=saved).run() is None
    assert len(resumed.calls) == 4 * 6 + 2 * 3 - 22  # only what was not run
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("[30/30]")
    final = json.loads((tmp_path / "run.json").read_text())
    expected = {e["id"]: (e["auto_repeat"], len(e["repeats"])) for e in whole.doc["cases"]}
    assert {e["id"]: (e["auto_repeat"], len(e["repeats"])) for e in final["cases"]} == expected


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--repeat", "many"], "a whole number or 'auto'"),
        (["--max-repeat", "9"], "goes with --repeat auto"),
        (["--repeat", "auto", "--max-repeat", "4"], "below the minimum of 6"),
        (["--repeat", "auto", "--min-repeat", "5"], "at least 6"),
        (["--repeat", "auto", "--min-repeat", "9", "--max-repeat", "8"], "minimum of 9"),
        (["--min-repeat", "8"], "goes with --repeat auto"),
        (["--repeat", "auto", "--target-ci", "0"], "above 0%"),
    ],
)
def test_auto_repeat_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["run", "--backends", "selectors", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_auto_repeat_end_to_end_on_a_real_backend(tmp_path: Path) -> None:
    out = tmp_path / "auto.json"
    args = [
        *("run", "--backends", "selectors", "--sizes", "64", "--connections", "1"),
        *("--duration", "0.2", "--warmup", "0", "--no-verify", *AS_MEASURED),
        *("--repeat", "auto", "--max-repeat", "6", "--target-ci", "50%", "--out", str(out)),
    ]
    assert main(args) == 0
    doc = load_results(out)
    assert doc["config"]["repeat"] == "auto" and doc["config"]["max_repeat"] == 6
    (entry,) = doc["cases"]
    record = entry["auto_repeat"]
    # Never before the minimum of 6 repeats; at 6 the cap stops it if the target did not.
    assert len(entry["repeats"]) == 6 and entry["status"] == "ok"
    # It judged the clean ones (a busy test machine disturbs some; they are kept as they came).
    assert record["repeats"] == entry["summary"]["clean_repeats"]
    width = record["relative_ci"]
    assert record["stop"] == (TARGET_MET if width is not None and width <= 0.5 else CAP)
    assert doc["complete"] is True and doc["not_run"] == []
    assert math.isfinite(entry["summary"]["messages_per_second"]["median"])
