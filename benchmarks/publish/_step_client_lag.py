"""The open-loop client's send lag at half its capacity (``truth._client_lag``), published
in docs/load-generator.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._client_lag import QUICK, LagSettings, measure, missed, render

FILE = "client_lag.json"
BEGIN, END = "<!-- client-lag:begin -->", "<!-- client-lag:end -->"


def _measure(ctx: Context) -> list[str]:
    data = measure(QUICK if ctx.quick else LagSettings())
    ctx.write(FILE, data)
    return missed(data)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("client-lag", FILE))
        return
    ctx.rewrite(BEGIN, END, render(ctx.read(FILE, "client-lag")))


STEP = Step(
    name="client-lag",
    help="the open-loop client's max send lag and own pauses at half its capacity, median of "
    "5 runs, against the host's own stalls, seen beside each and after it (about 6 minutes)",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
