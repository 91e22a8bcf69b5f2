"""What the Dask engine costs (``truth._cluster_overhead``), published in docs/cluster.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._cluster_overhead import (
    BEGIN,
    END,
    FILE,
    QUICK,
    TOLERANCE,
    Params,
    overhead,
    render_table,
)


def _measure(ctx: Context) -> list[str]:
    doc = overhead(QUICK if ctx.quick else Params())
    ctx.write(FILE, doc)
    summary = doc["summary"]
    if summary["within"]:
        return []
    return [f"the cluster cost {summary['overhead']:.1%} of the throughput, over {TOLERANCE:.0%}"]


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("cluster", FILE))
        return
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "cluster")))


STEP = Step(
    name="cluster",
    help="what driving the load through a Dask cluster costs against local workers",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
