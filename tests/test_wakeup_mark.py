"""A closed-loop number that waited for a halted CPU to wake says so (``--awake`` or not)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from rich.console import Console

from echobench.benchmarks.publish._step_run import render
from echobench.benchmarks.runner._terminal import footnotes, results_table
from echobench.benchmarks.runner._verdict import wakeup_bound

FIXTURE = Path(__file__).parent / "fixtures" / "run_small.json"


def test_wakeup_bound_is_a_closed_loop_neither_side_saturated_with_idle_cpus() -> None:
    assert wakeup_bound("neither", "closed", kept_awake=False)
    assert not wakeup_bound("neither", "closed", kept_awake=True)
    assert not wakeup_bound("server", "closed", kept_awake=False)
    assert not wakeup_bound("neither", "open", kept_awake=False)


def _tables(awake: bool) -> tuple[str, list[str], str]:
    doc = json.loads(FIXTURE.read_text())
    # One connection, neither side saturated: as every backend measured on an idle VM.
    one = next(e for e in doc["cases"] if e["id"] == "asyncio-streams/tcp/64B/1c/closed")
    one["summary"]["verdict"] = "neither"
    for record in one["repeats"]:
        kept = [0] if awake else []
        record["placement"] = {"server_cpus": [0], "client_cpus": [1], "awake_cpus": kept}
    console = Console(width=240, record=True)
    console.print(results_table(doc))
    return console.export_text(), footnotes(doc, remote=False), render(copy.deepcopy(doc), "x")


def test_the_tables_mark_it_only_when_the_cpus_were_let_idle() -> None:
    text, notes, published = _tables(awake=False)
    assert "neither, WAKE-UP BOUND" in text
    assert any("are WAKE-UP BOUND" in note for note in notes)
    assert "(w)" in published.split("Marks:")[0]
    text, notes, published = _tables(awake=True)
    assert "WAKE-UP BOUND" not in text and not any("WAKE-UP" in n for n in notes)
    assert "(w)" not in published.split("Marks:")[0] and "p99 94 µs (n)" in published


def test_awake_auto_keeps_the_cpus_awake_where_the_server_idles() -> None:
    from echobench.benchmarks.runner._matrix import Case
    from echobench.benchmarks.runner._measure import awake_for

    one = Case("native", "baseline", "tcp", 64, 1, None)
    many = Case("native", "baseline", "tcp", 64, 32, None)
    paced = Case("native", "baseline", "tcp", 64, 32, 5000.0)
    assert [awake_for(c, "auto") for c in (one, many, paced)] == [True, False, True]
    assert [awake_for(c, True) for c in (one, many, paced)] == [True, True, True]
    assert not any(awake_for(c, False) for c in (one, many, paced))
