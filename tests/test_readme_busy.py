"""A published table says so when its run started on a busy machine."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from echobench.benchmarks.truth._readme import busy_note
from echobench.benchmarks.truth._sample_results import render

PUBLISHED_RUN = Path(__file__).parent.parent / "results" / "published" / "run.json"


def test_busy_note_only_above_the_environment_checks_threshold() -> None:
    assert busy_note({"load_average": [0.4, 0.3, 0.2], "cpu": {"count": 2}}) == ""
    assert busy_note({"load_average": None, "cpu": {"count": 2}}) == ""
    note = busy_note({"load_average": [5.61, 10.5, 18.7], "cpu": {"count": 2}})
    assert "load average 5.61 on 2 CPUs" in note


def test_sample_results_header_carries_the_note_of_a_busy_start() -> None:
    doc = json.loads(PUBLISHED_RUN.read_text())
    busy = copy.deepcopy(doc)
    busy["environment"]["load_average"] = [9.0, 9.0, 9.0]
    assert "Other work was running" in render(busy, "run.json").splitlines()[0]
    quiet = copy.deepcopy(doc)
    quiet["environment"]["load_average"] = [0.1, 0.1, 0.1]
    assert "Other work was running" not in render(quiet, "run.json")
