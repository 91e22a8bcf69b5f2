"""The client's ceiling (``truth._ceiling``), published in docs/load-generator.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step
from echobench.benchmarks.truth._ceiling import BEGIN, END, FILE, measure, render_table


def _measure(ctx: Context) -> list[str]:
    ctx.write(FILE, measure(ctx.quick))
    return []


def _render(ctx: Context) -> None:
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "ceiling")))


STEP = Step(
    name="ceiling",
    help="the load generator's own ceiling beside the native, minimal and vmbench clients",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
