"""report: one self-contained page holding every case, every chart, the notes; text escaped."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from _chartcheck import RUN_SMALL

from benchmarks._cli import main
from benchmarks._report import notes, render
from benchmarks._runview import load_run, run_from_doc


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cases: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-case"):
            self.cases.append(str(found["data-case"]))
        if tag == "img":
            self.images.append(str(found.get("src")))
        if tag in ("link", "script") or (
            tag == "img" and not str(found["src"]).startswith("data:")
        ):
            self.external.append(tag)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(RUN_SMALL), "--out", str(out)]) == 0
    return (out / "run_small.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_holds_every_case_and_every_chart(page: str) -> None:
    parsed = _Collect()
    parsed.feed(page)
    run = load_run(RUN_SMALL)
    assert sorted(parsed.cases) == sorted(c.id for c in run.cases)
    assert len(parsed.images) == 5 and not parsed.external
    for src in parsed.images:
        data = base64.b64decode(src.split(",", 1)[1])
        assert data.startswith(b"\x89PNG") and len(data) > 10_000


@pytest.mark.slow
def test_report_has_the_environment_and_the_numbers(page: str) -> None:
    for text in ("3.11.7", "Intel(R) Xeon(R) CPU @ 2.20GHz", "5a97d97c0ffee0dd", "tornado 6.4.2"):
        assert text in page
    run = load_run(RUN_SMALL)
    case = next(c for c in run.cases if c.backend == "uvloop-protocol" and c.ok)
    assert f"{case.throughput():,.0f}" in page
    assert f"{case.p99():,.1f}" in page


def test_notes_explain_client_bound_unstable_and_failed() -> None:
    said = " ".join(notes(load_run(RUN_SMALL)))
    assert "client-bound" in said and "measure the client, not the server" in said
    assert "saturated both the server's and the load client's CPU" in said
    assert "lower bound for the server" in said and "uvloop-protocol (64 B, 10 connections" in said
    assert "unstable" in said and "twisted" in said
    assert "failed" in said and "Too many open files" not in said  # error, not the stderr
    assert "tornado" in said


def test_text_from_the_file_is_escaped() -> None:
    doc = json.loads(RUN_SMALL.read_text())
    doc["cases"] = doc["cases"][:2]
    doc["cases"][1].update(
        status="failed",
        repeats=[],
        summary=None,
        error="<script>alert(1)</script>",
        stderr_tail="<b>&</b>",
    )
    html = render(run_from_doc(doc, "evil.json"))
    assert "<script>" not in html and "<b>&</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    assert main(["report", str(bench), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pytest-benchmark file" in err and err.count("\n") == 1
    assert re.search(r"\S", err)
