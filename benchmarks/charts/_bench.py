"""Draw a pytest-benchmark JSON file (``pytest benchmarks/suites --benchmark-json F``).

One panel per benchmark group, one dot per benchmark: the median time of one
operation (a round's time divided by ``extra_info["operations_per_round"]``),
with min-max whiskers, on a log axis. Bars take the colour of the family in
``extra_info["family"]``, as in the run charts.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogLocator, NullFormatter

from echobench.benchmarks.charts._base import COMPACT, DPI, WIDTH_IN, add_legend
from echobench.benchmarks.charts._palette import FAMILY_COLOURS, colours
from echobench.benchmarks.compare._order import backend_order, family_key
from echobench.servers._errors import UserError


def _env(doc: dict[str, Any]) -> str:
    machine = doc.get("machine_info") or {}
    commit = doc.get("commit_info") or {}
    cpu = machine.get("cpu") or {}
    parts = [
        f"{machine.get('python_implementation', 'Python')} {machine.get('python_version', '?')}",
        f"{cpu.get('brand_raw') or machine.get('processor') or 'unknown CPU'}, "
        f"{cpu.get('count', '?')} CPUs",
        str(doc.get("datetime", ""))[:10],
    ]
    if commit.get("id"):
        parts.append(f"commit {str(commit['id'])[:8]}{' (dirty)' if commit.get('dirty') else ''}")
    return " · ".join(p for p in parts if p)


def benchmark_charts(doc: dict[str, Any]) -> dict[str, Figure]:
    benches = [b for b in doc.get("benchmarks") or [] if isinstance(b, dict) and b.get("stats")]
    if not benches:
        raise UserError("the pytest-benchmark file holds no benchmarks")
    groups: dict[str, list[dict[str, Any]]] = {}
    for bench in benches:
        groups.setdefault(str(bench.get("group") or "(no group)"), []).append(bench)
    heights = [0.6 + 0.3 * len(items) for items in groups.values()]
    figure = Figure(figsize=(WIDTH_IN, 1.2 + sum(heights)), dpi=DPI, layout="constrained")
    # One x axis for all groups, so that loops (or backends) compare at a glance.
    axes = figure.subplots(len(groups), 1, squeeze=False, sharex=True, height_ratios=heights)[:, 0]
    figure.suptitle(
        f"pytest-benchmark: time per operation (median; whiskers min-max over rounds)\n{_env(doc)}",
        fontsize=12,
        x=0.01,
        ha="left",
    )
    families: set[str] = set()
    for ax, (group, items) in zip(axes, sorted(groups.items()), strict=True):
        extras = [b.get("extra_info") or {} for b in items]
        backends = {str(e["backend"]): str(e.get("family")) for e in extras if e.get("backend")}
        shades = colours(backends)
        rank = {name: i for i, name in enumerate(backend_order(backends))}
        items = sorted(
            items,
            key=lambda b: rank.get(str((b.get("extra_info") or {}).get("backend")), 0),
        )
        labels = []
        for y, bench in enumerate(items):
            extra = bench.get("extra_info") or {}
            per_round = float(extra.get("operations_per_round") or 1)
            stats = bench["stats"]
            median = float(stats["median"]) / per_round * 1e6
            low = float(stats["min"]) / per_round * 1e6
            high = float(stats["max"]) / per_round * 1e6
            family = family_key(str(extra.get("family") or "external"))
            families.add(family)
            colour = shades.get(str(extra.get("backend")), FAMILY_COLOURS[family])
            # A dot and whiskers, not a bar: on a log axis a bar's length means nothing.
            ax.errorbar(
                median,
                y,
                xerr=[[median - low], [high - median]],
                fmt="o",
                color=colour,
                ecolor=colour,
                markersize=7,
                capsize=3,
                gid=f"bench:{bench.get('name')}",
            )
            labels.append(str(bench.get("name") or bench.get("fullname")))
        ax.set_yticks(range(len(items)), labels, fontsize=8)
        ax.set_ylim(len(items) - 0.5, -0.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(COMPACT)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("time per operation [µs, log scale]")
        ax.set_title(group, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3, which="both")
    handles: list[Any] = [
        Line2D([], [], color=FAMILY_COLOURS[f], marker="o", ls="none", label=f)
        for f in FAMILY_COLOURS
        if f in families
    ]
    handles.append(
        Line2D(
            [], [], color="black", marker="|", ls="-", label="median, whiskers:\nmin-max of rounds"
        )
    )
    add_legend(figure, handles)
    return {"pytest-benchmark": figure}
