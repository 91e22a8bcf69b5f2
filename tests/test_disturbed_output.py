"""A disturbed case as every output shows it: left out where it must be, marked where seen.

The small run fixture, with one case's repeats disturbed the way the runner records it:
two of five repeats of asyncio-protocol at 64 B x 10 connections (at a tenth of their
speed, as under a steal burst), of which one was measured again cleanly and one could
not be (so the case is marked disturbed).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from echobench.benchmarks.charts._throughput import throughput_by_size
from echobench.benchmarks.compare._comparison import compare_runs
from echobench.benchmarks.compare._ranking import marks
from echobench.benchmarks.compare._runview import run_from_doc
from echobench.benchmarks.publish._pages import busy_note, header
from echobench.benchmarks.publish._step_run import render
from echobench.benchmarks.report._compare_table import render as render_compare
from echobench.benchmarks.report._page import notes
from echobench.benchmarks.runner._results import summarize
from echobench.benchmarks.runner._terminal import footnotes, results_table

FIXTURE = Path(__file__).parent / "fixtures" / "run_small.json"
CASE = "asyncio-protocol/tcp/64B/10c/closed"


def _disturbed(record: dict[str, Any]) -> dict[str, Any]:
    figures = {"server": 31.0, "client": 0.0}
    return {
        **copy.deepcopy(record),
        "messages_per_second": record["messages_per_second"] / 10,
        "interference": {
            "steal_pct": figures,
            "run_delay_pct": {"server": 0.0, "client": 0.0},
            "disturbed": True,
            "reasons": ["steal 31.0% on the server's CPUs"],
        },
    }


def _doc() -> dict[str, Any]:
    doc = json.loads(FIXTURE.read_text())
    doc["config"]["max_interference"] = 5.0
    for entry in doc["cases"]:
        for record in entry["repeats"]:
            record["interference"] = {"disturbed": False, "steal_pct": {}, "run_delay_pct": {}}
        if entry["id"] != CASE:
            entry["summary"] = summarize(entry["repeats"]) if entry["repeats"] else None
            continue
        first, second, *rest = entry["repeats"]
        again = {**copy.deepcopy(first), "attempt": 1}
        entry["repeats"] = [_disturbed(first), again, _disturbed(second), *rest]
        entry["summary"] = summarize(entry["repeats"])
    return doc


def test_the_summary_leaves_disturbed_repeats_out_and_marks_the_case() -> None:
    doc = _doc()
    entry = next(e for e in doc["cases"] if e["id"] == CASE)
    clean = [
        r["messages_per_second"] for r in entry["repeats"] if not r["interference"]["disturbed"]
    ]
    summary = entry["summary"]
    assert summary["disturbed"] is True  # repeat 1 ended disturbed
    assert summary["disturbed_repeats"] == 2 and summary["clean_repeats"] == 4
    assert summary["messages_per_second"]["min"] == min(clean)
    others = [e["summary"] for e in doc["cases"] if e["id"] != CASE and e["summary"]]
    assert not any(s["disturbed"] or s["disturbed_repeats"] for s in others)


def test_charts_report_and_compare_read_the_clean_repeats_and_mark_the_case() -> None:
    run = run_from_doc(_doc(), "run.json")
    case = next(c for c in run.cases if c.id == CASE)
    assert case.disturbed and case.disturbed_repeats == 2
    assert len(case.repeats) == 4  # the two disturbed are not what the outputs read
    assert "disturbed" in marks(case)
    said = " ".join(notes(run))
    assert "1 case(s) were disturbed: the host took their CPUs" in said
    assert "2 repeat(s) left out" in said
    # Compare: a run against itself, with the case marked in its row.
    table = compare_runs(run, run)
    console = Console(width=240, record=True)
    render_compare(console, table)
    assert "(disturbed)" in console.export_text()
    # The chart writes it on the bar, with a legend entry, as it does "unstable".
    figure = throughput_by_size(run)
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    texts += [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    assert any("disturbed" in t for t in texts)
    assert any(t.startswith("disturbed: the host took") for t in texts)


def test_the_terminal_table_and_the_published_table_mark_it() -> None:
    doc = _doc()
    console = Console(width=240, record=True)
    console.print(results_table(doc))
    rows = console.export_text().splitlines()
    row = next(line for line in rows if "asyncio-protocol" in line and "64B/10c" in line)
    assert "DISTURBED" in row
    assert any("1 case(s) are DISTURBED" in note for note in footnotes(doc, remote=False))
    table = render(doc, "run.json")
    assert "(D)" in table and "(D) disturbed" in table
    assert "1 of 34 case(s) were disturbed" in table.splitlines()[0]


@pytest.mark.parametrize(
    ("check", "said"),
    [
        ({"quiet": True, "busy": []}, ""),
        (
            {
                "quiet": False,
                "busy": ["steal 22% on CPU 1"],
                "waited": {"quiet": True, "waited_s": 40},
            },
            " The host was busy when this run started (steal 22% on CPU 1); it waited 40 s "
            "for it to be quiet.",
        ),
        (
            {"quiet": False, "busy": ["other work 60% on CPU 0"], "waited": {"quiet": False}},
            " **The host was busy when this run started (other work 60% on CPU 0) and did not "
            "become quiet: its numbers are noisy; compare within a column with care.**",
        ),
    ],
)
def test_the_busy_note_comes_from_the_host_check(check: dict[str, Any], said: str) -> None:
    # The host check decides, whatever the load average (it lags by a minute).
    env = {"host_check": check, "load_average": [9.0, 9.0, 9.0], "cpu": {"count": 2}}
    assert busy_note(env) == said
    assert header(env, "x.json", ".").endswith("." + said)
