"""The README's sample-results table is generated from a results file, never typed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echobench.benchmarks.publish import _step_run
from echobench.benchmarks.publish._pages import replace_between
from echobench.servers import UserError

FIXTURE = Path(__file__).parent / "fixtures" / "run_small.json"


def test_table_has_every_backend_and_marks_client_bound_cases() -> None:
    doc = json.loads(FIXTURE.read_text())
    table = _step_run.render(doc, FIXTURE.name)
    for case in doc["cases"]:
        assert f"| `{case['backend']}` |" in table
    client_bound = [c for c in doc["cases"] if c["status"] == "ok" and c["summary"]["client_bound"]]
    assert client_bound, "the fixture must hold a client-bound case"
    for case in client_bound:
        row = next(line for line in table.splitlines() if f"`{case['backend']}`" in line)
        assert "(C)" in row or "(B)" in row
    failed = [c for c in doc["cases"] if c["status"] != "ok"]
    assert failed and "failed:" in table


def test_medians_come_from_the_file() -> None:
    doc = json.loads(FIXTURE.read_text())
    case = next(c for c in doc["cases"] if c["status"] == "ok")
    median = case["summary"]["messages_per_second"]["median"]
    assert f"{median / 1000:,.1f}k" in _step_run.render(doc, FIXTURE.name)


def test_replace_between_rewrites_only_the_marked_part(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- a -->\nold\n<!-- b -->\noutro\n")
    replace_between("<!-- a -->", "<!-- b -->", "new table", readme)
    assert readme.read_text() == "intro\n<!-- a -->\nnew table\n<!-- b -->\noutro\n"
    with pytest.raises(UserError, match="lacks"):
        replace_between("<!-- x -->", "<!-- y -->", "t", readme)
