"""The README's scale section is generated from a scale run, figures and sentences alike."""

from __future__ import annotations

import json
from pathlib import Path

from _scaledoc import scale_doc

from echobench.benchmarks.publish import _step_scale as scale_results
from echobench.benchmarks.publish._pages import published_block

ROOT = Path(__file__).parent.parent
PUBLISHED = ROOT / "results" / "published"


def test_table_rows_marks_and_columns_come_from_the_file() -> None:
    doc = scale_doc()
    text = scale_results.render(doc, "scale.json", ["scale-memory"])
    header = next(line for line in text.splitlines() if line.startswith("| backend |"))
    assert "| 1 | 100 | 10,000 | 1+10,000 idle | p99 | Jain | starved |" in header
    threads = next(line for line in text.splitlines() if line.startswith("| `threads` |"))
    # 1.5k msgs/s at 10,000 with 8,500 starved; 20,600 B per connection is 20.1 KiB.
    assert "| 1.5k S8500 |" in threads and "| 0.150 | 8,500 | 20.1 |" in threads
    assert "![scale-memory](results/published/scale-charts/scale-memory.png)" in text
    # Idle connections not held to the end are marked in the idle column.
    idle = next(c for c in doc["cases"] if c["backend"] == "threads" and c["idle"])
    idle["summary"]["idle_dropped"] = 8613
    threads = next(
        line
        for line in scale_results.render(doc, "scale.json").splitlines()
        if line.startswith("| `threads` |")
    )
    assert "| 3.6k D8613 |" in threads


def test_the_sentences_are_read_from_the_data() -> None:
    sentences = scale_results.takeaways(scale_doc())
    assert sentences[0] == (
        "At 10,000 connections `uvloop-protocol` led with 90.0k msgs/s and `threads` "
        "trailed with 1.5k; `threads` left 8,500 without an echo (Jain 0.15)."
    )
    assert sentences[1].startswith(
        "Memory per open connection ran from 0.5 KiB (`uvloop-protocol`) to 20.1 KiB (`threads`)"
    )
    assert sentences[2] == (
        "With 10,000 idle connections held open, 1 busy connection kept a median 90% of their "
        "throughput alone; `asyncio-protocol` kept the least, 90%."
    )


def test_the_readme_holds_the_published_scale_run_or_says_it_is_not_published() -> None:
    body = published_block(ROOT, scale_results.BEGIN, scale_results.END)
    run = PUBLISHED / scale_results.FILE
    if run.exists():
        doc = json.loads(run.read_text())
        charts = sorted(p.stem for p in (PUBLISHED / scale_results.CHARTS).glob("*.png"))
        rendered = scale_results.render(doc, scale_results.SHOWN)
        assert body.startswith(rendered.strip("\n"))
        for name in charts:
            assert f"scale-charts/{name}.png" in body
    else:
        assert body.startswith("Not measured yet")
