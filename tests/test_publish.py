"""``echobench publish``: every README table is its published file rendered, step by step.

Measuring steps are proven on small settings by hand (``echobench publish --quick``),
not here: a test must not publish numbers from a busy machine. These run the
rendering half against a copy of the checkout's README and published files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_echobench
from echobench._cli import main
from echobench.benchmarks.truth._cmd_publish import STEPS

ROOT = Path(__file__).resolve().parent.parent
FAST = "ceiling,agreement,client-cores,cluster"  # tables only: no charts, no browser


def _checkout(tmp_path: Path, *leave_out: str) -> Path:
    root = tmp_path / "checkout"
    published = root / "results" / "published"
    shutil.copytree(ROOT / "results" / "published", published)
    for name in leave_out:
        (published / name).unlink()
    shutil.copy(ROOT / "README.md", root / "README.md")
    return root


def test_render_only_gives_back_the_readme_it_was_made_from(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    readme = (root / "README.md").read_text()
    begin = "<!-- client-ceiling:begin -->"
    # A table edited by hand is put back from its file.
    (root / "README.md").write_text(readme.replace(begin, begin + "\n| typed | by hand |"))
    done = run_echobench(
        "publish", "--render-only", "--only", FAST, "--root", str(root), "--json", "-"
    )
    assert done.returncode == 0, done.stderr
    assert (root / "README.md").read_text() == readme
    report = json.loads(done.stdout)
    assert [s["step"] for s in report["steps"]] == FAST.split(",")
    assert all(s["rendered"] and not s["measured"] for s in report["steps"])


def test_a_failed_step_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    root = _checkout(tmp_path, "run.json")
    readme = (root / "README.md").read_text()
    begin = "<!-- client-ceiling:begin -->"
    (root / "README.md").write_text(readme.replace(begin, begin + "\n| typed | by hand |"))
    done = run_echobench(
        "publish", "--render-only", "--only", "client-cores,ceiling", "--root", str(root)
    )
    assert done.returncode == 1
    assert "client-cores failed: no " in done.stderr and "publish --only run" in done.stderr
    assert "Traceback" not in done.stderr
    assert "1 of 2 step(s) done; failed: client-cores" in done.stdout
    assert (root / "README.md").read_text() == readme  # the ceiling step still ran


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
    from echobench.benchmarks.truth._publish import Context, run_into
    from echobench.servers import UserError

    root = _checkout(tmp_path)
    ctx = Context(root=root)
    small = ("--backends", "asyncio-protocol", "--sizes", "64", "--connections", "1")
    small += ("--duration", "0.3", "--warmup", "0.1", "--repeat", "1", "--no-verify")
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
