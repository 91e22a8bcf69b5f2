"""The README's sample results: a table and charts generated from a published run.

The ``run`` step of ``echobench publish`` runs a full default ``echobench run``
into ``results/published/run.json``; from that file alone it draws the charts
into ``results/published/charts/`` and rewrites the README table between the
``sample-results`` markers: for each backend and case, the median msgs/s with
its min-max range over the repeats, the median p99, and the bottleneck verdict,
so a reader sees at once which numbers measure the load client rather than the
server. It also rewrites the ``self-check`` markers with compare's A/A
self-check of the same run (``echobench compare --self-check``): how often
compare calls a change between two random halves of each case's repeats, or why
these repeats cannot tell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from echobench.benchmarks.charts._figures import charts_for
from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, draw, run_into
from echobench.benchmarks.runner._verdict import wakeup_bound_case

FILE = "run.json"
SHOWN = f"results/published/{FILE}"
CHARTS = "charts"
BEGIN, END = "<!-- sample-results:begin -->", "<!-- sample-results:end -->"
SELF_CHECK_BEGIN, SELF_CHECK_END = "<!-- self-check:begin -->", "<!-- self-check:end -->"
MARK = {"server": "", "neither": " (n)", "client": " (C)", "both": " (B)", "network": " (N)"}


def _case_label(case: dict[str, Any]) -> str:
    mode = "closed" if case.get("rate") is None else f"{case['rate']:g}/s"
    return f"{case['size']} B x {case['connections']} conn, {case['transport']}, {mode}"


def _cell(case: dict[str, Any]) -> str:
    if case.get("status") != "ok":
        return f"failed: {case.get('error') or 'see the results file'}"
    summary = case["summary"]
    rate = summary["messages_per_second"]
    p99 = (summary.get("p99_us") or {}).get("median")
    text = f"{rate['median'] / 1000:,.1f}k ({rate['min'] / 1000:,.1f}-{rate['max'] / 1000:,.1f})"
    if p99 is not None:
        text += f", p99 {p99:,.0f} µs"
    mark = MARK.get(summary.get("verdict", ""), "")
    if wakeup_bound_case(case):
        mark = " (w)"
    if summary.get("unstable"):
        mark += " ~"
    if summary.get("disturbed"):
        mark += " (D)"
    return text + mark


def _repeats(config: dict[str, Any]) -> str:
    if config["repeat"] == "auto":
        return (
            f"{config.get('min_repeat', 6)} to {config['max_repeat']} (until each median's "
            f"95% CI was within "
            f"+-{config['target_ci'] * 100:g}%)"
        )
    return str(config["repeat"])


def render(doc: dict[str, Any], shown: str) -> str:
    """The README table of run ``doc``, read from the file named ``shown``."""
    cases = doc["cases"]
    labels = list(dict.fromkeys(_case_label(c) for c in cases))
    backends = list(dict.fromkeys(c["backend"] for c in cases))
    by_key = {(c["backend"], _case_label(c)): c for c in cases}
    env = doc["environment"]
    config = doc["config"]
    lines = [
        header(
            env,
            shown,
            f", server on CPUs {env['pinning']['server_cpus']}, client on "
            f"{env['pinning']['client_cpus']}; {_repeats(config)} interleaved repeats of "
            f"{config['duration']:g} s after {config['warmup']:g} s warm-up. Each cell: "
            "median msgs/s (min-max), median p99.",
            cpu_model=True,
            cases=cases,
        ),
        "",
        "| backend | " + " | ".join(labels) + " |",
        "| --- | " + " | ".join("---:" for _ in labels) + " |",
    ]
    for backend in backends:
        cells = [
            _cell(by_key[(backend, label)]) if (backend, label) in by_key else "-"
            for label in labels
        ]
        lines.append(f"| `{backend}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Marks: (C) client-bound, (B) both the server and the load client saturated - "
        "these numbers measure the load client at least as much as the server; "
        "(n) neither side saturated; (w) neither saturated, and the server's CPU was let "
        "idle between messages (no --awake): in a VM each round trip waited for a halted "
        "vCPU to wake, which dominates the figure at one connection; "
        "~ unstable (CV over 5%); (D) disturbed: the host took "
        "the CPUs in a repeat that could not be measured again, not to be compared; no mark: "
        "server-bound. "
        "Compare ratios within this table, not with numbers from another machine or run.",
    ]
    return "\n".join(lines)


def render_self_check(run_path: Path, shown: str) -> str:
    """compare's A/A self-check of the run, as docs/charts.md shows it (seeded: reproducible)."""
    from echobench.benchmarks.compare._comparison import Criteria
    from echobench.benchmarks.compare._runview import load_run
    from echobench.benchmarks.compare._selfcheck import self_check

    run = load_run(run_path)
    if not any(len(case.repeats) >= 2 for case in run.cases):
        # A one-repeat run (publish --quick) has no halves to compare; say so in place.
        return f"No A/A self-check of `{shown}`: no case has two repeats to split."
    return self_check(run, Criteria()).markdown(shown)


def _measure(ctx: Context) -> list[str]:
    return run_into(ctx, FILE, *(["--quick"] if ctx.quick else []))


def _render(ctx: Context) -> None:
    doc = ctx.read(FILE, "run")
    run = ctx.published / FILE
    ctx.rewrite(BEGIN, END, render(doc, SHOWN))
    ctx.rewrite(SELF_CHECK_BEGIN, SELF_CHECK_END, render_self_check(run, SHOWN))
    figures, skipped = charts_for(run)
    draw(ctx, figures, CHARTS, skipped)


STEP = Step(
    name="run",
    help="a full default echobench run: the sample-results table, its charts, compare's "
    "A/A self-check",
    files=(FILE, f"{CHARTS}/*.png"),
    measure=_measure,
    render=_render,
)
