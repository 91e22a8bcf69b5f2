"""The soak (``truth._soak``), published in docs/soak.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._soak import (
    BEGIN,
    END,
    FILE,
    HLOG,
    QUICK,
    SoakSettings,
    measure,
    missed,
    render_table,
)


def _measure(ctx: Context) -> list[str]:
    data = measure(QUICK if ctx.quick else SoakSettings(), ctx.published / HLOG)
    ctx.write(FILE, data)
    return missed(data)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("soak", FILE))
        return
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "soak")))


STEP = Step(
    name="soak",
    help="a 10-minute open-loop soak against native: per-minute p99, send lag, client RSS, "
    "beside the machine's noise floor (about 21 minutes)",
    files=(FILE, HLOG),
    measure=_measure,
    render=_render,
)
