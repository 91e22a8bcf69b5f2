"""The README's latency section is generated from a latency sweep, figures and sentences alike."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from _chartcheck import FIXTURES

from echobench.benchmarks.publish import _step_latency as latency_results
from echobench.benchmarks.publish import _step_latency_repeat as latency_repeat
from echobench.benchmarks.publish._pages import published_block

ROOT = Path(__file__).parent.parent
PUBLISHED = ROOT / "results" / "published"


def sweep_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "latency_small.json").read_text())
    return doc


def test_table_rows_marks_and_columns_come_from_the_file() -> None:
    doc = sweep_doc()
    text = latency_results.render(doc, "latency.json", ["slo-capacity"])
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| backend |"))
    rates = doc["latency"]["common"][0]["rates"]
    assert " | ".join(f"p99 at {r:,.0f}/s" for r in rates) in header
    assert header.endswith("| msgs/s with p99 under 1 ms (first crossing) |")
    row = {line.split("`")[1]: line for line in lines if line.startswith("| `")}
    assert set(row) == {s["backend"] for s in doc["latency"]["sweeps"]}
    sweeps = {s["backend"]: s for s in doc["latency"]["sweeps"]}
    for name, sweep in sweeps.items():
        cap = sweep["capacity"]
        # The probe's median and its interval, as the file has them.
        assert (
            f"| {cap['messages_per_second'] / 1000:,.1f}k [{cap['ci'][0] / 1000:,.1f}k-"
            in row[name]
        )
    assert "(C) |" in row["uvloop-protocol"].split(" | ")[1] + " |"  # its probe's client saturated
    assert row["tornado"].endswith("| none |")  # over 1 ms already at the lowest rate
    assert row["native"].startswith("| `native` (the floor) |") and row["native"].endswith(
        "| the floor |"
    )
    # Capacities at the target with their first-crossing ranges, and undecided points.
    slo = sweeps["asyncio-streams"]["summary"]["slo_capacity"]
    low, high = slo["range"]
    assert f"[{low / 1000:,.1f}k, {high / 1000:,.1f}k] ~ (1?)" in row["asyncio-streams"]
    assert "≥ " in row["asyncio-protocol"] and ", open]" in row["asyncio-protocol"]
    # Each p99 with its interval, marked at the floor where it is.
    assert "(F)" in row["uvloop-protocol"] and "µs [" in row["trio"]
    assert "(F) at the floor" in text and "first crossing" in text
    assert "![slo-capacity](results/published/latency-charts/slo-capacity.png)" in text
    assert "kept awake" not in text  # a sweep from before --awake
    awake = {**doc, "config": {**doc["config"], "awake": True}}
    assert "server's CPUs kept awake" in latency_results.render(awake, "latency.json")
    # The open-loop client's nice value, where its repeats recorded one.
    assert "client at nice" not in text
    niced = copy.deepcopy(doc)
    for case in niced["cases"]:
        for rep in case["repeats"]:
            pauses = rep["load"].setdefault("client_pauses", {})
            pauses["nice"] = -20 if case["rate"] is not None else 0
    assert "; the open-loop client at nice -20." in latency_results.render(niced, "latency.json")


def test_the_sentences_are_read_from_the_data() -> None:
    doc = sweep_doc()
    first, second, third = latency_results.takeaways(doc)
    rate = max(doc["latency"]["common"][0]["rates"])
    at = {
        s["backend"]: p["stats"]
        for s in doc["latency"]["sweeps"]
        if not s["floor_only"]
        for p in s["points"]
        if p["rate"] == rate
    }
    floor = sorted(b for b, st in at.items() if st["at_floor"])
    above = {b: st["p99_us"] for b, st in at.items() if b not in floor}
    best, worst = min(above, key=above.__getitem__), max(at, key=lambda b: at[b]["p99_us"])
    assert first.startswith(f"Offered the same {rate:,.0f} msgs/s, p99 ran from ")
    # The best not at the floor leads; those at the floor are named, never ranked.
    assert f"(`{best}`)" in first and f"(`{worst}`)" in first
    assert all(f"`{b}`" in first.split(";")[1] for b in floor) and "at the floor" in first
    assert second.startswith(
        "Holding p99 under 1 ms (first crossing), `uvloop-protocol` sustained at least 152,000"
    )
    assert "level with `asyncio-protocol` (their ranges overlap)" in second
    assert second.endswith("`tornado` missed it at every rate measured.")
    assert third.startswith("The instrument's floor, the same client against `native`")
    assert "would set the target at 4x that" in third


@pytest.mark.parametrize("above", [1, 0])
def test_one_or_no_backend_above_the_floor_is_said_as_such(above: int) -> None:
    doc = sweep_doc()
    rate = max(doc["latency"]["common"][0]["rates"])
    ranked = [s for s in doc["latency"]["sweeps"] if not s["floor_only"]]
    for i, sweep in enumerate(ranked):
        for point in sweep["points"]:
            if point["rate"] == rate:
                point["stats"]["at_floor"] = i >= above
                point["stats"]["client_bound"] = False
    first = latency_results.takeaways(doc)[0]
    assert "ran from" not in first and "x apart" not in first
    if above:
        assert f"only `{ranked[0]['backend']}` stood above the floor, at p99 " in first
    else:
        assert "every backend's p99 was at the floor" in first
    assert all(f"`{s['backend']}`" in first for s in ranked)


def test_the_readme_holds_the_published_sweep_or_says_it_is_not_published() -> None:
    body = published_block(ROOT, latency_results.BEGIN, latency_results.END)
    run = PUBLISHED / latency_results.FILE
    if run.exists():
        doc = json.loads(run.read_text())
        rendered = latency_results.render(doc, latency_results.SHOWN)
        assert body.startswith(rendered.strip("\n"))
        for name in sorted(p.stem for p in (PUBLISHED / latency_results.CHARTS).glob("*.png")):
            assert f"latency-charts/{name}.png" in body
    else:
        assert body.startswith("Not measured yet")


def test_two_sweeps_agree_where_their_ranges_overlap() -> None:
    first = sweep_doc()
    second = copy.deepcopy(first)
    slos = {s["backend"]: s["summary"]["slo_capacity"] for s in second["latency"]["sweeps"]}
    # Run B: trio a little higher, inside its range; twisted and asyncio-streams swap
    # places, their ranges still parted: a ranking that does not hold.
    slos["trio"]["messages_per_second"] *= 1.05
    slos["twisted"].update(messages_per_second=130_000.0, range=[125_000.0, 135_000.0])
    found = latency_repeat.agreement(first, second)
    rows = {r["backend"]: r for r in found["rows"]}
    assert "native" not in rows  # the floor, measured only as the floor
    assert rows["trio"]["overlap"] and rows["trio"]["ratio"] == pytest.approx(1.05)
    assert not rows["twisted"]["overlap"] and not found["all_overlap"]
    assert ["asyncio-streams", "twisted"] in found["swapped"]
    assert found["unexplained"] == [["asyncio-streams", "twisted"]]
    # uvloop-protocol and asyncio-protocol are level (open ranges): a swap there is fine.
    slos["twisted"].update(messages_per_second=56_000.0, range=[54_100.0, 61_800.0])
    slos["asyncio-protocol"]["messages_per_second"] = 160_000.0
    fine = latency_repeat.agreement(first, second)
    assert fine["swapped"] == [["asyncio-protocol", "uvloop-protocol"]] and fine["ranking_holds"]
    assert fine["all_overlap"] and latency_repeat.missed(first, second) == []
    text = latency_repeat.render(first, second)
    assert "capacity range overlapped between the two runs: **met**" in text
    assert "only where their ranges overlap: **met**" in text
    assert "| `trio` |" in text and "| 1.05 |" in text
