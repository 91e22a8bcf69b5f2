"""The client cores each backend needs (``truth._client_cores``), published in docs/cluster.md."""

from __future__ import annotations

from echobench.benchmarks.publish._step import Context, Step
from echobench.benchmarks.truth._client_cores import BEGIN, END, RUN, render


def _render(ctx: Context) -> None:
    ctx.rewrite(BEGIN, END, render(ctx.read(RUN, "run")))


STEP = Step(
    name="client-cores",
    help="the client cores each backend needs, derived from the published run",
    files=(),
    render=_render,
)
