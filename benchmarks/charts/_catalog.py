"""The chart registry: every chart of a run, its name, how it is drawn, and when it applies.

A chart that cannot show what it is for in a given run (one connection count, no
latency histograms, a run from before interval logs were kept) is not drawn, and
``plot`` and the report say why in one line: its ``why_not`` says so, or ``None``
when it can be drawn. A chart made for one kind of run (the scale charts) is not
part of another kind's charts at all: its ``kind`` says why, or ``None``.

To add a chart: a module in this room with its draw function (``Run -> Figure``) and
its ``why_not`` (``Run -> str | None``), and one line in ``CHARTS``; the list of
charts not drawn (``skipped``) comes from the same lines. ``CHARTS`` is in the order
the charts are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from matplotlib.figure import Figure

from echobench.benchmarks.charts import (
    _latency,
    _overtime,
    _scale,
    _spectrum,
    _throughput,
    _vmbench,
)
from echobench.benchmarks.compare._runview import Run

Why = Callable[[Run], str | None]


def _every_run(run: Run) -> str | None:
    return None


@dataclass(frozen=True)
class Chart:
    #: Its file stem, and how plot, the report and publish name it.
    name: str
    draw: Callable[[Run], Figure]
    #: Why it cannot show what it is for in this run; None: it can.
    why_not: Why
    #: Why this run is not of the kind the chart is for; None: it is.
    kind: Why = _every_run


#: The scale charts' kind: a run that reaches ``_scale.SCALE_FROM`` connections.
SCALE_RUN = _scale.not_a_scale_run
CHARTS: tuple[Chart, ...] = (
    Chart("vmbench", _vmbench.vmbench_chart, _vmbench.no_case, _vmbench.not_a_vmbench_run),
    Chart("throughput-by-size", _throughput.throughput_by_size, _throughput.no_closed_loop),
    Chart("throughput-vs-connections", _throughput.by_connections, _throughput.one_count),
    # At equal load first: the closed-loop spectrum compares latencies at different loads.
    Chart("latency-at-equal-load", _latency.latency_at_equal_load, _latency.no_common_rate),
    Chart("latency-vs-load", _latency.latency_vs_load, _latency.no_curve),
    Chart("slo-capacity", _latency.slo_capacity, _latency.not_a_sweep),
    Chart("latency-spectrum", _spectrum.latency_spectrum, _spectrum.no_histogram),
    Chart("cpu-efficiency", _throughput.cpu_efficiency, _throughput.no_server_cpu),
    Chart("stability", _overtime.stability, _overtime.no_series),
    Chart("latency-over-time", _overtime.latency_over_time, _overtime.no_interval_logs),
    Chart("scale-throughput", _scale.scale_throughput, _scale.too_few_counts, SCALE_RUN),
    Chart("scale-p99", _scale.scale_p99, _scale.no_p99, SCALE_RUN),
    Chart("scale-fairness", _scale.scale_fairness, _scale.too_few_counts, SCALE_RUN),
    Chart("scale-memory", _scale.scale_memory, _scale.no_memory, SCALE_RUN),
    Chart("scale-connect", _scale.scale_connect, _scale.no_connect_rate, SCALE_RUN),
    Chart("scale-idle", _scale.scale_idle, _scale.no_idle_pair, SCALE_RUN),
)
BY_NAME = {chart.name: chart for chart in CHARTS}
#: The scale charts, which a scale run adds (the publish step's charts).
SCALE = tuple(chart.name for chart in CHARTS if chart.kind is SCALE_RUN)


def _chosen(run: Run, names: Iterable[str] | None) -> list[Chart]:
    """The charts asked for by name, or every chart of this run's kind; in reading order."""
    if names is None:
        return [chart for chart in CHARTS if chart.kind(run) is None]
    wanted = set(names)
    if unknown := wanted - set(BY_NAME):
        raise KeyError(f"no such chart: {', '.join(sorted(unknown))}")
    return [chart for chart in CHARTS if chart.name in wanted]


def skipped(run: Run, names: Iterable[str] | None = None) -> dict[str, str]:
    """Chart name -> why it is not drawn, for the charts (of ``names``, else of this run's
    kind) that are not."""
    charts = _chosen(run, names)
    if not any(case.ok for case in run.cases):
        return dict.fromkeys((chart.name for chart in charts), "no case of this run was measured")
    why = {chart.name: chart.kind(run) or chart.why_not(run) for chart in charts}
    return {name: reason for name, reason in why.items() if reason is not None}


def charts_of(
    run: Run, names: Iterable[str] | None = None
) -> tuple[dict[str, Figure], dict[str, str]]:
    """The charts (of ``names``, else of this run's kind) that can show what they are for,
    by name in the order they are read, and the others with why they are not drawn."""
    charts = _chosen(run, names)
    left_out = skipped(run, [chart.name for chart in charts])
    return {c.name: c.draw(run) for c in charts if c.name not in left_out}, left_out
