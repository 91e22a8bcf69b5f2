"""The runner against the native client (``truth._agreement``), published in docs/running.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step
from echobench.benchmarks.truth._agreement import (
    BEGIN,
    END,
    FILE,
    QUICK,
    Params,
    agreement,
    contradictions,
    render_table,
)


def _measure(ctx: Context) -> list[str]:
    doc = agreement(QUICK if ctx.quick else Params())
    ctx.write(FILE, doc)
    return contradictions(doc)


def _render(ctx: Context) -> None:
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "agreement")))


STEP = Step(
    name="agreement",
    help="the runner's msgs/s against an independent native C client on the same server",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
