"""The fleet's measures of success on hosts in network namespaces
(``truth._fleet_check``), published in docs/cluster.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._fleet_check import (
    BEGIN,
    END,
    FILE,
    QUICK,
    Params,
    check,
    render_table,
    shortfalls,
)
from echobench.benchmarks.truth._netns import why_not
from echobench.servers._errors import UserError


def _measure(ctx: Context) -> list[str]:
    reason = why_not()
    if reason is not None:
        raise UserError(f"the fleet step builds hosts in network namespaces: {reason}")
    doc = check(QUICK if ctx.quick else Params())
    ctx.write(FILE, doc)
    return shortfalls(doc)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("fleet", FILE))
        return
    ctx.rewrite(BEGIN, END, render_table(ctx.read(FILE, "fleet")))


STEP = Step(
    name="fleet",
    help="the cluster across hosts in network namespaces: start spread, exact merge, a "
    "shaped link, a refused certificate, the server host measured",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
