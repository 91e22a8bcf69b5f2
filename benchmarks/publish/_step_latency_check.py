"""The latency scenario against a server of known capacity (``truth._latency_check``),
quoted in docs/latency.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step, not_yet
from echobench.benchmarks.truth._latency_check import (
    QUICK,
    CheckSettings,
    measure,
    missed,
    render,
)

FILE = "latency_check.json"
BEGIN, END = "<!-- latency-check:begin -->", "<!-- latency-check:end -->"


def _measure(ctx: Context) -> list[str]:
    data = measure(QUICK if ctx.quick else CheckSettings())
    ctx.write(FILE, data)
    return missed(data)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("latency-check", FILE))
        return
    ctx.rewrite(BEGIN, END, render(ctx.read(FILE, "latency-check")))


STEP = Step(
    name="latency-check",
    help="the latency scenario against a rate-limited C echo of known capacity: its "
    "capacity at a 2 ms target within 10% (about 2 minutes)",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
