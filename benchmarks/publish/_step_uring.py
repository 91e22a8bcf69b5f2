"""docs/backends.md's io_uring part: uring-native against native at 32 and 10,000 connections.

The ``uring`` step of ``echobench publish`` runs the two C servers, the completion-based
one and the epoll one, with the same design around them, at 32 and at 10,000
connections (64 B, closed loop, interleaved repeats) into
``results/published/uring.json``, and rewrites docs/backends.md between the ``uring``
markers from that file alone: a table and one sentence with the two ratios, each
marked where the load client, not the server, set the number.
"""

from __future__ import annotations

from typing import Any

from echobench.benchmarks.compare._runview import CaseView, Run, run_from_doc
from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, not_yet, run_into
from echobench.benchmarks.publish._step_vmbench import mark

FILE = "uring.json"
SHOWN = f"results/published/{FILE}"
BEGIN, END = "<!-- uring:begin -->", "<!-- uring:end -->"
OURS, THEIRS = "uring-native", "native"
COUNTS = (32, 10000)
#: The run: both servers at both counts, 64 B, three interleaved repeats; about 2 minutes.
OPTIONS = (
    "--backends", f"{THEIRS},{OURS}", "--sizes", "64",
    "--connections", ",".join(map(str, COUNTS)),
    "--duration", "2", "--warmup", "1", "--repeat", "3",
)  # fmt: skip


def _cases(run: Run) -> dict[tuple[str, int], CaseView]:
    return {(c.backend, c.connections): c for c in run.cases if c.rate is None and not c.idle}


def ratios(run: Run) -> dict[int, tuple[float, bool]]:
    """Connections -> uring-native's median msgs/s over native's, and whether the load
    client was saturated on either side (the ratio is then a bound, not the servers')."""
    cases = _cases(run)
    found = {}
    for count in sorted({c for _, c in cases}):
        ours, theirs = cases.get((OURS, count)), cases.get((THEIRS, count))
        if ours is None or theirs is None or not ours.ok or not theirs.ok:
            continue
        a, b = ours.throughput(), theirs.throughput()
        if a and b:
            found[count] = (a / b, ours.client_bound or theirs.client_bound)
    return found


def sentence(run: Run) -> str:
    found = ratios(run)
    if not found:
        return "No connection count measured both servers: no ratio."
    parts = [
        f"{ratio:.2f}x its msgs/s at {count:,} connections" for count, (ratio, _) in found.items()
    ]
    bound = [f"{count:,}" for count, (_, client) in found.items() if client]
    text = (
        f"`{OURS}` against `{THEIRS}`, the same server design on one core, completions "
        f"against readiness: {', '.join(parts)}"
    )
    if bound:
        text += (
            f"; at {' and '.join(bound)} connections the load client was saturated, so that "
            "ratio is bounded by the client as much as by the servers"
        )
    return text + "."


def render(doc: dict[str, Any], shown: str) -> str:
    run = run_from_doc(doc, shown)
    config = doc["config"]
    cases = _cases(run)
    counts = sorted({c for _, c in cases})
    lines = [
        header(
            doc["environment"],
            shown,
            f"; {', '.join(map(str, config.get('sizes') or []))} B messages, closed loop, "
            f"{config.get('repeat')} interleaved repeat(s) of {config.get('duration')} s after "
            f"{config.get('warmup')} s warm-up. Each cell: median msgs/s (min-max), median p99.",
            cases=doc["cases"],
        ),
        "",
        "| server | " + " | ".join(f"{c:,} connections" for c in counts) + " |",
        "| --- | " + " | ".join("---:" for _ in counts) + " |",
    ]
    for backend in (THEIRS, OURS):
        cells = []
        for count in counts:
            case = cases.get((backend, count))
            median = case.throughput() if case is not None and case.ok else None
            if case is None or median is None:
                cells.append("-" if case is None else "failed")
                continue
            low, high = case.throughput("min") or median, case.throughput("max") or median
            p99 = case.p99()
            cells.append(
                f"{median / 1000:,.1f}k ({low / 1000:,.1f}-{high / 1000:,.1f}), p99 "
                f"{'-' if p99 is None else f'{p99 / 1000:,.2f} ms'}{mark(case)}"
            )
        lines.append(f"| `{backend}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Marks: (C) client-bound, (B) the server and the load client both saturated: the "
        "number measures the load client at least as much as the server; ~ unstable (CV over "
        "5%); (D) disturbed: the host took the CPUs in a repeat that could not be measured again.",
        "",
        sentence(run),
    ]
    return "\n".join(lines)


def _measure(ctx: Context) -> list[str]:
    if ctx.quick:
        return run_into(
            ctx, FILE, "--backends", f"{THEIRS},{OURS}", "--sizes", "64",
            "--connections", "32,1000", "--duration", "0.5", "--warmup", "0.3", "--repeat", "1",
        )  # fmt: skip
    return run_into(ctx, FILE, *OPTIONS)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("uring", FILE))
        return
    ctx.rewrite(BEGIN, END, render(ctx.read(FILE, "uring"), SHOWN))


STEP = Step(
    name="uring",
    help="uring-native against native at 32 and 10,000 connections (64 B); docs/backends.md's "
    "table and ratio",
    files=(FILE,),
    measure=_measure,
    render=_render,
)
