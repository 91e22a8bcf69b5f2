"""A/A agreement, injected contention and the measurement's overhead (``truth._repeatability``),
published in docs/interference.md; numbers measured in a noisy period are reported, not
passed off as a verdict."""

from __future__ import annotations

import shutil

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._repeatability import (
    BEGIN,
    END,
    FILE,
    QUICK,
    RUNS,
    Params,
    render_table,
    repeatability,
    verdicts,
)


def _measure(ctx: Context) -> list[str]:
    folder = ctx.published / RUNS
    shutil.rmtree(folder, ignore_errors=True)  # one measurement's runs, never two mixed
    doc = repeatability(QUICK if ctx.quick else Params(), folder)
    ctx.write(FILE, doc)
    return verdicts(doc)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("repeatability", FILE))
        return
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "repeatability")))


STEP = Step(
    name="repeatability",
    help="two runs of the same code against each other (A/A), a busy loop on the server's "
    "CPU caught, what measuring interference costs, and the 1-connection column idle and "
    "awake (about 12 minutes)",
    files=(FILE, f"{RUNS}/*.json"),
    measure=_measure,
    render=_render,
)
