"""Which of a run's charts cannot show what they are for, and why.

A chart drawn from too little (one connection count, one throughput sample per
case, no latency histograms) looks like a result but says nothing: such a chart
is not drawn, and ``echobench plot`` and the report say why in one line instead.
"""

from __future__ import annotations

from echobench.benchmarks.charts._hlogs import log_path
from echobench.benchmarks.charts._latency import common_rates, curves
from echobench.benchmarks.compare._runview import Case, Run


def _advice(run: Run, what: str) -> str:
    if "--quick" in (run.environment.get("command_line") or ()):
        return "run without --quick"
    return what


def _connections(run: Run, closed: list[Case]) -> str | None:
    counts = sorted({c.connections for c in closed})
    if len(counts) == 1:
        plural = "" if counts[0] == 1 else "s"
        return f"this run has one connection count ({counts[0]} connection{plural}); " + _advice(
            run, "run with several --connections (e.g. 1,32)"
        )
    panels: dict[tuple[str, int], set[int]] = {}
    for case in closed:
        panels.setdefault((case.transport, case.size), set()).add(case.connections)
    if all(len(v) < 2 for v in panels.values()):
        return "no message size was run at more than one connection count"
    return None


def _stability(run: Run) -> str | None:
    points = [sum(len(r.series) for r in c.repeats) for c in run.cases]
    if not any(points):
        return "no throughput series was recorded (repeats shorter than 1 s)"
    if max(points) < 2:
        return (
            "one throughput sample per case (1 s series, 1 repeat): nothing to show over time; "
            + _advice(run, "run longer (--duration) or with more repeats")
        )
    return None


def _over_time(run: Run) -> str | None:
    logs = [log_path(run.path, r.hlog) for c in run.cases for r in c.repeats if r.hlog is not None]
    if not logs:
        return "no interval logs in this file (a run from before they were kept)"
    if not any(path.is_file() for path in logs):
        return f"its interval logs are not beside the results file ({logs[0].parent} is missing)"
    return None


def skipped_charts(run: Run) -> dict[str, str]:
    """Chart name -> why it is not drawn, for the charts of ``_charts.CHARTS`` that are not."""
    names = (
        "throughput-by-size",
        "throughput-vs-connections",
        "latency-at-equal-load",
        "latency-vs-load",
        "slo-capacity",
        "latency-spectrum",
        "cpu-efficiency",
        "stability",
        "latency-over-time",
    )
    if not any(c.ok for c in run.cases):
        return dict.fromkeys(names, "no case of this run was measured")
    skipped: dict[str, str] = {}
    closed = [c for c in run.cases if c.rate is None]
    if not any(c.ok for c in closed):
        for name in ("throughput-by-size", "throughput-vs-connections", "cpu-efficiency"):
            skipped[name] = "no closed-loop case was measured"
    elif (why := _connections(run, [c for c in closed if not c.idle])) is not None:
        skipped["throughput-vs-connections"] = why
    if not any(r.histogram for c in closed for r in c.repeats):
        skipped["latency-spectrum"] = "no closed-loop latency histogram was recorded"
    if not common_rates(run):
        skipped["latency-at-equal-load"] = (
            "no open-loop rate was measured on two or more backends (run --scenario latency, "
            "or --rate R on several backends)"
        )
    if not curves(run):
        skipped["latency-vs-load"] = (
            "no backend was measured at two or more open-loop rates (run --scenario latency)"
        )
    if not run.latency.get("sweeps"):
        skipped["slo-capacity"] = "not a latency sweep (run --scenario latency)"
    if "cpu-efficiency" not in skipped and not any(
        c.efficiency is not None for c in closed if c.ok
    ):
        skipped["cpu-efficiency"] = "no server CPU time was measured (a --connect run)"
    if (why := _stability(run)) is not None:
        skipped["stability"] = why
    if (why := _over_time(run)) is not None:
        skipped["latency-over-time"] = why
    return skipped
