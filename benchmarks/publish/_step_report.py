"""The README's picture of the report: the top of the published run's page, as a reader
first sees it in a browser (headless Chromium, through ``echobench report --screenshot``)."""

from __future__ import annotations

import subprocess
import tempfile

from echobench.benchmarks.publish._step import Context, Step
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command

FILE = "report-top.png"
RUN = "run.json"


def _render(ctx: Context) -> None:
    run = ctx.published / RUN
    if not run.exists():
        raise UserError(f"no {run}: measure it first (echobench publish --only run)")
    with tempfile.TemporaryDirectory(prefix="echobench-publish-") as scratch:
        argv = [*echobench_command(), "report", str(run), "--out", scratch]
        done = subprocess.run(
            [*argv, "--screenshot", str(ctx.published / FILE)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise UserError(f"echobench report failed: {done.stderr.strip()[-300:]}")


STEP = Step(
    name="report",
    help="the README's picture of the report of the published run (needs Chromium)",
    files=(FILE,),
    render=_render,
)
