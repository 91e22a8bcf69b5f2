"""``echobench publish``: every published table is its file rendered, step by step.

Measuring steps are proven on small settings by hand (``echobench publish --quick``),
not here: a test must not publish numbers from a busy machine. These run the
rendering half against a copy of the checkout's README, docs/ and published files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import AS_MEASURED, run_echobench
from echobench._cli import main
from echobench.benchmarks.publish._cmd_publish import STEPS
from echobench.benchmarks.publish._pages import page_with, pages, published_block, rewrite
from echobench.servers import UserError

ROOT = Path(__file__).resolve().parent.parent
FAST = "ceiling,agreement,client-cores,cluster"  # tables only: no charts, no browser


def _checkout(tmp_path: Path, *leave_out: str) -> Path:
    root = tmp_path / "checkout"
    published = root / "results" / "published"
    shutil.copytree(ROOT / "results" / "published", published)
    for name in leave_out:
        (published / name).unlink()
    shutil.copy(ROOT / "README.md", root / "README.md")
    shutil.copytree(ROOT / "docs", root / "docs")
    return root


def _pages(root: Path) -> dict[str, str]:
    return {str(page.relative_to(root)): page.read_text() for page in pages(root)}


def test_render_only_gives_back_the_pages_they_were_made_from(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    before = _pages(root)
    assert len(before) > 5  # the README and the docs/ pages
    for begin in ("<!-- client-ceiling:begin -->", "<!-- client-cores:begin -->"):
        # A table edited by hand is put back from its file, in whichever page holds it.
        page = page_with(root, begin)
        page.write_text(page.read_text().replace(begin, begin + "\n| typed | by hand |"))
    done = run_echobench(
        "publish", "--render-only", "--only", FAST, "--root", str(root), "--json", "-"
    )
    assert done.returncode == 0, done.stderr
    assert _pages(root) == before
    report = json.loads(done.stdout)
    assert [s["step"] for s in report["steps"]] == FAST.split(",")
    assert all(s["rendered"] and not s["measured"] for s in report["steps"])


def test_a_failed_step_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "run.json")
    begin = "<!-- client-ceiling:begin -->"
    page = page_with(root, begin)
    readme = page.read_text()
    page.write_text(readme.replace(begin, begin + "\n| typed | by hand |"))
    done = run_echobench(
        "publish", "--render-only", "--only", "client-cores,ceiling", "--root", str(root)
    )
    assert done.returncode == 1
    assert "client-cores failed: no " in done.stderr and "publish --only run" in done.stderr
    assert "Traceback" not in done.stderr
    assert "1 of 2 step(s) done; failed: client-cores" in done.stdout
    assert page.read_text() == readme  # the ceiling step still ran


def test_a_part_in_docs_links_its_charts_from_there(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# x\n")
    page = tmp_path / "docs" / "topic.md"
    page.write_text("text\n<!-- t:begin -->\nold\n<!-- t:end -->\nmore\n")
    body = "A [table](results/published/t.json).\n\n![c](results/published/charts/c.png)"
    assert rewrite(tmp_path, "<!-- t:begin -->", "<!-- t:end -->", body) == page
    text = page.read_text()
    assert "](../results/published/t.json)" in text
    assert "![c](../results/published/charts/c.png)" in text
    assert text.startswith("text\n") and text.endswith("<!-- t:end -->\nmore\n")
    assert published_block(tmp_path, "<!-- t:begin -->", "<!-- t:end -->") == body
    (tmp_path / "README.md").write_text("<!-- t:begin -->\n<!-- t:end -->\n")
    with pytest.raises(UserError, match=r"exactly one .*: README.md, docs/topic.md"):
        rewrite(tmp_path, "<!-- t:begin -->", "<!-- t:end -->", body)


def test_every_step_is_listed_with_what_it_writes() -> None:
    listed = run_echobench("publish", "--list")
    assert listed.returncode == 0
    names = [line.split()[0] for line in listed.stdout.splitlines() if not line.startswith(" ")]
    assert names == list(STEPS)
    assert "results/published/client_ceiling.json" in listed.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "nope"], "--only: unknown 'nope' (choose from ceiling, agreement"),
        (["--only", "run", "--skip", "ceiling"], "give --only or --skip, not both"),
        (["--skip", ",".join(STEPS)], "--skip leaves no step to run"),
        (["--render-only", "--root", "{tmp}"], "is not an echobench checkout"),
    ],
    ids=["unknown-step", "only-and-skip", "nothing-left", "not-a-checkout"],
)
def test_bad_choices_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["publish", *(a.replace("{tmp}", str(tmp_path)) for a in argv)])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("echobench publish: error: ")
    assert message in err and err.count("\n") == 1


def test_a_published_run_replaces_the_old_one_only_once_it_finished(tmp_path: Path) -> None:
    from echobench.benchmarks.publish._step import Context, run_into

    root = _checkout(tmp_path)
    ctx = Context(root=root)
    small = ("--backends", "asyncio-protocol", "--sizes", "64", "--connections", "1")
    small += ("--duration", "0.3", "--warmup", "0.1", "--repeat", "1", "--no-verify")
    small += AS_MEASURED
    before = (ctx.published / "run.json").read_bytes()
    with pytest.raises(UserError, match=r"exited with status 2; .*run.json is unchanged"):
        run_into(ctx, "run.json", *small, "--sizes", "0")
    assert (ctx.published / "run.json").read_bytes() == before
    run_into(ctx, "run.json", *small)
    doc = json.loads((ctx.published / "run.json").read_text())
    assert [c["backend"] for c in doc["cases"]] == ["asyncio-protocol"]
    (repeat,) = doc["cases"][0]["repeats"]
    assert repeat["messages_per_second"] > 0
    assert (ctx.published / repeat["hlog"]).is_file()  # its interval log, where it says
    assert not list(ctx.published.glob(".*publishing*"))
