"""The runner against the native client (``truth._agreement``), published in docs/running.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step
from echobench.benchmarks.runner._hostcheck import host_line, watched
from echobench.benchmarks.runner._isolation import usable_cpus
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
    with watched(usable_cpus()) as host:
        doc = agreement(QUICK if ctx.quick else Params())
    ctx.write(FILE, {**doc, "host": host})
    noisy = [f"agreement: measured in a noisy period: {host['noisy']}"] if host["noisy"] else []
    return contradictions(doc) + noisy


def _render(ctx: Context) -> None:
    doc = ctx.read(FILE, "agreement")
    ctx.rewrite(BEGIN, END, render_table(doc) + host_line(doc.get("host")))


STEP = Step(
    name="agreement",
    help="the runner's msgs/s against an independent native C client on the same server",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
