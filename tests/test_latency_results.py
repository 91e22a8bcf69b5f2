"""The README's latency section is generated from a latency sweep, figures and sentences alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _chartcheck import FIXTURES

from echobench.benchmarks.publish import _step_latency as latency_results
from echobench.benchmarks.publish._pages import published_block

ROOT = Path(__file__).parent.parent
PUBLISHED = ROOT / "results" / "published"


def sweep_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "latency_small.json").read_text())
    return doc


def test_table_rows_marks_and_columns_come_from_the_file() -> None:
    text = latency_results.render(sweep_doc(), "latency.json", ["slo-capacity"])
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| backend |"))
    # The common rates: 25, 50 and 90% of tornado's 55,482 msg/s, to three figures.
    assert "| p99 at 13,900/s | p99 at 27,700/s | p99 at 49,900/s |" in header
    assert header.endswith("| msgs/s with p99 under 1 ms |")
    row = {line.split("`")[1]: line for line in lines if line.startswith("| `")}
    assert set(row) == {s["backend"] for s in sweep_doc()["latency"]["sweeps"]}
    assert "| 237.6k (C) |" in row["uvloop-protocol"]  # its probe's client saturated
    assert row["tornado"].endswith("| none |")  # over 1 ms already at the lowest rate
    assert row["asyncio-streams"].endswith("| 89.2k ~ |")  # interpolated
    assert "≥ 149.0k" in row["asyncio-protocol"]  # every point it owns met the target
    assert "![slo-capacity](results/published/latency-charts/slo-capacity.png)" in text
    assert "kept awake" not in text  # a sweep from before --awake
    awake = {**sweep_doc(), "config": {**sweep_doc()["config"], "awake": True}}
    assert "server's CPUs kept awake" in latency_results.render(awake, "latency.json")


def test_the_two_sentences_are_read_from_the_data() -> None:
    doc = sweep_doc()
    first, second = latency_results.takeaways(doc)
    cases = {c["id"]: c for c in doc["cases"]}
    at = {
        c["backend"]: c["summary"]["p99_us"]["median"]
        for c in cases.values()
        if c["rate"] == 49_900.0
    }
    best, worst = min(at, key=at.__getitem__), max(at, key=at.__getitem__)
    assert first.startswith("Offered the same 49,900 msgs/s, p99 ran from ")
    assert f"(`{best}`)" in first and f"(`{worst}`)" in first
    assert f"{at[worst] / at[best]:,.1f}x apart" in first
    assert second.startswith(
        "Holding p99 under 1 ms, `asyncio-protocol` sustained at least 149,000 msgs/s"
    )
    assert "`trio` the least, 37,088" in second
    assert second.endswith("`tornado` missed it at every rate measured.")


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
