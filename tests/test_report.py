"""report: one self-contained page, answer first, every case, every chart; text escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from _chartcheck import FIXTURES, RUN_SMALL
from _scaledoc import scale_doc
from matplotlib.colors import to_hex

from echobench._cli import main
from echobench.benchmarks.charts import _catalog
from echobench.benchmarks.charts._figures import run_figures
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._rankbars import effect_hover
from echobench.benchmarks.charts._spectrum import latency_spectrum
from echobench.benchmarks.charts._svg import DIMMED, case_hover, highlight
from echobench.benchmarks.compare._comparison import compare_runs
from echobench.benchmarks.compare._ranking import rankings
from echobench.benchmarks.compare._runview import load_run, run_from_doc
from echobench.benchmarks.report import _browser
from echobench.benchmarks.report._browser import VIEWPORT, chromium, unavailable
from echobench.benchmarks.report._page import notes, public, render
from echobench.servers._errors import UserError

PUBLISHED = Path(__file__).resolve().parents[1] / "results" / "published" / "run.json"


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cases: list[str] = []
        self.images: list[str] = []
        self.charts: list[str] = []
        self.rankings: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-case"):
            self.cases.append(str(found["data-case"]))
        if tag == "img":
            self.images.append(str(found.get("src")))
        if tag == "svg" and found.get("class") in ("chart", "ranking"):
            (self.charts if found["class"] == "chart" else self.rankings).append(tag)
        if (
            tag == "link"
            or (tag == "script" and found.get("src"))
            or (tag == "img" and not str(found["src"]).startswith("data:"))
        ):
            self.external.append(tag)


def _report_of(source: Path, factory: pytest.TempPathFactory) -> Path:
    out = factory.mktemp(source.stem)
    assert main(["report", str(source), "--out", str(out)]) == 0
    return out / f"{source.stem}.html"


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report_of(RUN_SMALL, tmp_path_factory)


@pytest.fixture(scope="module")
def page(page_file: Path) -> str:
    return page_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def published_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _report_of(PUBLISHED, tmp_path_factory)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; skipped, saying what to install, without one."""
    why = unavailable()
    if why is not None:
        pytest.skip(f"no browser for the report tests: {why}")
    with chromium() as launched:
        yield launched


class Opened:
    """A report opened in the browser, with everything it asked for and complained about."""

    def __init__(self, browser: Any, path: Path, script: bool = True) -> None:
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(java_script_enabled=script, viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(self.url, wait_until="load")

    def visible_rows(self) -> list[dict[str, str]]:
        return self.page.eval_on_selector_all(
            "#cases-table tbody tr",
            """rows => rows.filter(r => r.offsetParent !== null).map(r => ({
                case: r.dataset.case, family: r.dataset.family,
                msgs: r.cells[7].getAttribute("data-v")}))""",
        )

    def close(self) -> None:
        self.context.close()


@pytest.mark.slow
def test_report_holds_every_case_and_every_chart(page: str) -> None:
    parsed = _Collect()
    parsed.feed(page)
    run = load_run(RUN_SMALL)
    assert sorted(parsed.cases) == sorted(c.id for c in run.cases)
    assert len(parsed.charts) == 6 and not parsed.images and not parsed.external
    assert len(parsed.rankings) == len(rankings(run))
    # The answer first: rankings, then charts, then the table.
    assert (
        page.index('class="ranking"') < page.index('class="chart"') < page.index('id="cases-table"')
    )


@pytest.mark.slow
def test_report_names_itself_without_the_machines_paths(page: str) -> None:
    title = re.search(r"<title>(.*?)</title>", page)
    assert title is not None
    assert title.group(1).startswith("run_small.json · 2024-11-25 · Intel(R) Xeon(R) CPU")
    assert "commit 5a97d97c" in title.group(1)
    assert str(FIXTURES) not in page and "/work/" not in page and "/tmp/" not in page
    assert ">None<" not in page and "governor</th><td>unknown" in page


@pytest.mark.slow
def test_hovering_a_mark_gives_its_figures(page: str) -> None:
    case = next(c for c in load_run(RUN_SMALL).cases if c.backend == "uvloop-protocol" and c.ok)
    assert f"<title>{escape(case_hover(case))}</title>" in page  # in the charts
    assert f"uvloop-protocol (uvloop): median msg/s {case.throughput():,.1f} msg/s" in page


def test_absolute_paths_are_cut_to_their_last_part() -> None:
    said = public('File "/home/me/.venv/lib/x.py", line 3; see http://a.b/c/d and ./rel/p')
    assert said == 'File "…/x.py", line 3; see http://a.b/c/d and ./rel/p'


def test_two_runs_show_b_against_a(tmp_path: Path) -> None:
    doc = json.loads(RUN_SMALL.read_text())
    doc["cases"] = [
        c for c in doc["cases"] if (c["size"], c["connections"], c["rate"]) == (64, 1, None)
    ]
    (tmp_path / "a.json").write_text(json.dumps(doc))
    for case in doc["cases"]:
        if case["backend"] == "uvloop-protocol":
            for repeat in case["repeats"]:
                repeat["messages_per_second"] *= 1.3
                repeat["load"]["messages_per_second"] *= 1.3
            case["summary"]["messages_per_second"] = None
    (tmp_path / "b.json").write_text(json.dumps(doc))
    files = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    assert main(["report", *files, "--out", str(tmp_path)]) == 0
    html = (tmp_path / "b-vs-a.html").read_text(encoding="utf-8")
    (comparison,) = compare_runs(load_run(files[0]), load_run(files[1])).comparisons
    faster = [p for p in comparison.pairs if p.b.backend == "uvloop-protocol"]
    assert faster and all(p.throughput.ratio.median == pytest.approx(1.3) for p in faster)
    assert "<h1>b.json vs a.json</h1>" in html and "B against A, case by case" in html
    for pair in comparison.pairs:
        assert f"<title>{escape(effect_hover(pair.throughput))}</title>" in html


def test_report_refuses_unknown_highlights_and_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(RUN_SMALL), "--highlight", "nope", "--out", str(tmp_path)]) == 2
    assert "--highlight: nope not in run_small.json" in capsys.readouterr().err
    assert main(["report", str(RUN_SMALL)] * 2 + [str(RUN_SMALL)]) == 2
    assert "give one results file, or two" in capsys.readouterr().err


def test_highlight_greys_every_other_backend() -> None:
    doc = json.loads(RUN_SMALL.read_text())
    doc["cases"] = [c for c in doc["cases"] if (c["size"], c["connections"]) == (64, 1)]
    run = run_from_doc(doc, "one-slice.json")
    figure = latency_spectrum(run)
    palette = colours(run.families())
    highlight(figure, palette, ["native"])
    drawn = {to_hex(line.get_color()) for ax in figure.axes for line in ax.get_lines()}
    assert drawn == {to_hex(palette["native"]), DIMMED}


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


def test_notes_say_when_the_server_cpus_were_kept_awake() -> None:
    run = load_run(RUN_SMALL)
    assert "kept awake" not in " ".join(notes(run))  # a file from before --awake
    awake = replace(run, config={**run.config, "awake": True})
    assert "kept awake by an idle-priority busy loop" in " ".join(notes(awake))
    polled = replace(awake, awake_hows=("haltpoll: idle vCPUs poll up to 2000 µs",))
    assert "kept awake by polling in the idle loop (haltpoll" in " ".join(notes(polled))


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
    assert "<script>alert" not in html and "<b>&</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_report_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    assert main(["report", str(bench), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pytest-benchmark file" in err and err.count("\n") == 1
    assert re.search(r"\S", err)


def _numbers(rows: list[dict[str, str]]) -> list[float]:
    return [float(r["msgs"]) for r in rows if r["msgs"]]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["fixture", "published"])
def test_the_page_in_a_browser(
    which: str, browser: Any, page_file: Path, published_file: Path, tmp_path: Path
) -> None:
    path, source = (page_file, RUN_SMALL) if which == "fixture" else (published_file, PUBLISHED)
    run = load_run(source)
    opened = Opened(browser, path)
    try:
        assert opened.errors == []
        assert opened.requests == [opened.url]  # the page itself, nothing else
        rows = opened.visible_rows()
        assert len(rows) == len(run.cases)
        before = [r["case"] for r in rows]

        opened.page.click("#cases-table th:has-text('median msg/s')")
        ascending = opened.visible_rows()
        assert _numbers(ascending) == sorted(_numbers(ascending)) != _numbers(rows)
        assert [r["case"] for r in ascending] != before
        failed = {c.id for c in run.cases if not c.ok}
        assert {r["case"] for r in ascending[len(ascending) - len(failed) :]} == failed
        opened.page.click("#cases-table th:has-text('median msg/s')")
        descending = _numbers(opened.visible_rows())
        assert descending == sorted(descending, reverse=True)

        opened.page.select_option("#filter-family", "uvloop")
        uvloop = opened.visible_rows()
        assert {r["family"] for r in uvloop} == {"uvloop"}
        assert sorted(r["case"] for r in uvloop) == sorted(
            c.id for c in run.cases if c.family == "uvloop"
        )
        opened.page.check("#hide-client")
        shown = {r["case"] for r in opened.visible_rows()}
        assert shown == {c.id for c in run.cases if c.family == "uvloop" and not c.client_bound}
        assert (
            opened.page.inner_text("#shown-count") == f"showing {len(shown)} of {len(rows)} cases"
        )
        opened.page.select_option("#filter-family", "")
        opened.page.uncheck("#hide-client")

        opened.page.click("#highlight-controls button[data-backend='uvloop-protocol']")
        faded = opened.page.eval_on_selector_all(
            "svg g[data-backend]",
            """marks => marks.map(m => [m.dataset.backend,
                getComputedStyle(m).opacity < 0.5])""",
        )
        assert faded and {b for b, dim in faded if not dim} == {"uvloop-protocol"}
        assert {b for b, dim in faded if dim} == set(run.backends()) - {"uvloop-protocol"}
        opened.page.click("#highlight-clear")

        opened.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
        assert opened.errors == [] and opened.requests == [opened.url]
    finally:
        opened.close()


@pytest.mark.slow
def test_without_javascript_the_page_is_the_plain_table(browser: Any, page_file: Path) -> None:
    opened = Opened(browser, page_file, script=False)
    try:
        assert not opened.page.is_visible("#case-controls")
        assert not opened.page.is_visible("#highlight-controls")
        assert len(opened.visible_rows()) == len(load_run(RUN_SMALL).cases)
        assert opened.page.is_visible("svg.ranking") and opened.page.is_visible("svg.chart")
    finally:
        opened.close()


def test_without_a_browser_the_reason_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_browser, "chromium_path", lambda: None)
    assert unavailable() == "no chromium browser found (apt-get install chromium)"
    with pytest.raises(UserError, match="apt-get install chromium"):
        _browser.screenshot(Path("page.html"), Path("page.png"))


def test_a_scale_run_ranks_memory_and_shows_the_scale_charts() -> None:
    run = run_from_doc(scale_doc(), "scale.json")
    html = render(run)
    said = re.findall(r'<p class="takeaway">(.*?)</p>', html)
    assert said[-1] == (
        "At 64 B, 1 connection among 10,000 idle, uvloop-protocol measured best with 500 B, "
        "41.2x less memory than threads; 1 repeat each, so no spread was measured."
    )
    assert "threads (baseline): median msg/s 1,500.0 msg/s" in html and "starved 8500" in html
    for name in _catalog.SCALE:
        assert f"<h3>{name}</h3>" in html
    figures, _ = run_figures(run)
    assert set(_catalog.SCALE) <= set(figures)
    assert html.count('<svg class="chart"') == len(figures)
    bar = 'id="scale-memory-bar:uvloop-protocol/tcp/64B/1c+10000idle/closed" data-backend='
    assert bar in html
