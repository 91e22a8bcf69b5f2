"""The client's ceiling (``truth._ceiling``), published in docs/load-generator.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step
from echobench.benchmarks.runner._hostcheck import host_line, watched
from echobench.benchmarks.runner._isolation import usable_cpus
from echobench.benchmarks.truth._ceiling import BEGIN, END, FILE, measure, render_table


def _measure(ctx: Context) -> list[str]:
    with watched(usable_cpus()) as host:
        doc = measure(ctx.quick)
    ctx.write(FILE, {**doc, "host": host})
    return [f"ceiling: measured in a noisy period: {host['noisy']}"] if host["noisy"] else []


def _render(ctx: Context) -> None:
    doc = ctx.read(FILE, "ceiling")
    ctx.rewrite(BEGIN, END, render_table(doc) + host_line(doc.get("host")))


STEP = Step(
    name="ceiling",
    help="the load generator's own ceiling beside the native, minimal and vmbench clients",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
