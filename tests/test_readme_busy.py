"""A published table says where it comes from, and so when its run started on a busy machine."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from echobench.benchmarks.publish._pages import busy_note, header
from echobench.benchmarks.publish._step_run import render

PUBLISHED_RUN = Path(__file__).parent.parent / "results" / "published" / "run.json"


def test_busy_note_only_above_the_environment_checks_threshold() -> None:
    assert busy_note({"load_average": [0.4, 0.3, 0.2], "cpu": {"count": 2}}) == ""
    assert busy_note({"load_average": None, "cpu": {"count": 2}}) == ""
    note = busy_note({"load_average": [5.61, 10.5, 18.7], "cpu": {"count": 2}})
    assert "load average 5.61 on 2 CPUs" in note


def test_sample_results_header_carries_the_note_of_a_busy_start() -> None:
    doc = json.loads(PUBLISHED_RUN.read_text())
    # A run with the host check (every run since issue 19) is judged by it.
    busy = copy.deepcopy(doc)
    busy["environment"]["host_check"] = {"quiet": False, "busy": ["steal 30% on CPU 0"]}
    first = render(busy, "run.json").splitlines()[0]
    assert "The host was busy when this run started (steal 30% on CPU 0)" in first
    quiet = copy.deepcopy(doc)
    quiet["environment"]["host_check"] = {"quiet": True, "busy": []}
    quiet["environment"]["load_average"] = [9.0, 9.0, 9.0]
    assert "busy" not in render(quiet, "run.json").splitlines()[0]
    # An older file, without it, by its load average.
    old = copy.deepcopy(doc)
    old["environment"].pop("host_check", None)
    old["environment"]["load_average"] = [9.0, 9.0, 9.0]
    assert "Other work was running" in render(old, "run.json").splitlines()[0]
    old["environment"]["load_average"] = [0.1, 0.1, 0.1]
    assert "Other work was running" not in render(old, "run.json")


def test_header_names_the_file_date_commit_and_machine() -> None:
    env = {
        "started_at": "2026-11-26T17:00:00.123456",
        "git": {"commit": "0123456789abcdef"},
        "cpu": {"count": 2, "model": "Some CPU"},
        "python": {"version": "3.12.1"},
        "load_average": [9.0, 9.0, 9.0],
    }
    line = header(env, "results/x.json", "; how.", cpu_model=True)
    assert line.startswith(
        "Generated from `results/x.json` (2026-11-26T17:00:00, commit 0123456789): "
        "2 CPUs (Some CPU), Python 3.12.1; how. **Other work was running"
    )
    assert header({}, "x.json", ".") == "Generated from `x.json` (?, commit ?): ? CPUs, Python ?."


def _repeat(server: float, client: float, disturbed: bool = False) -> dict[str, object]:
    return {
        "interference": {"steal_pct": {"server": server, "client": client}, "disturbed": disturbed}
    }


def test_header_says_how_much_the_host_stole_while_the_table_was_measured() -> None:
    cases = [
        {"repeats": [_repeat(0.0, 0.5), _repeat(1.0, 0.25)]},
        {"repeats": [_repeat(0.0, 12.0, disturbed=True), {"no": "interference"}]},
    ]
    line = header({}, "x.json", ".", cases=cases)
    # Six CPU-windows in three repeats: median of 0, 0, 0.25, 0.5, 1, 12.
    assert line.endswith(
        " Steal over the 3 repeats' windows, per CPU: median 0.38%, max 12%; 1 repeat(s) disturbed."
    )
    # A file from before repeats recorded interference says nothing it does not know.
    assert "Steal" not in header({}, "x.json", ".", cases=[{"repeats": [{"p99_us": 1}]}])


def test_the_published_runs_header_carries_its_steal() -> None:
    doc = json.loads(PUBLISHED_RUN.read_text())
    first = render(doc, "run.json").splitlines()[0]
    steal = [
        value
        for case in doc["cases"]
        for repeat in case["repeats"]
        for value in repeat["interference"]["steal_pct"].values()
    ]
    assert f"max {max(steal):.2g}%" in first
