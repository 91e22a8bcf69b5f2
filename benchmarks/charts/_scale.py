"""The charts of concurrency at scale, for runs that go to 1,000 connections or more.

Eighteen backends on one axis are unreadable, so the line charts have one panel per
family: its backends in colour over every other backend in light grey, so each panel
reads against the field. Starved cases (connections that completed nothing in the
window while others did) are ringed, and client-bound ones boxed, as elsewhere.

* ``scale-throughput``: median msgs/s against connections (log axis);
* ``scale-p99``: p99 latency against connections (log axes);
* ``scale-fairness``: Jain's index of per-connection messages against connections;
* ``scale-memory``: the server's RSS per connection at the largest count, per backend;
* ``scale-connect``: the connection set-up rate at the largest count, per backend;
* ``scale-idle``: throughput of the busy connections with the idle ones held, as a share
  of the same busy connections alone (the C10K question).
"""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter, FixedLocator, NullLocator

from echobench.benchmarks.charts._base import COMPACT, add_legend, new_figure
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.compare._order import FAMILY_ORDER, family_key
from echobench.benchmarks.compare._runview import CaseView, Run

#: A run is a scale run when it reaches this many connections in one case.
SCALE_FROM = 1000
#: Below this many connections the RSS difference is a few pages: not drawn.
MEMORY_FROM = 100
GREY = "0.7"
STARVED_NOTE = "starved: some connections\ncompleted nothing (ringed)"
CLIENT_NOTE = "client saturated (boxed):\nmeasures the load client,\nnot (only) the server"


def is_scale_run(run: Run) -> bool:
    return any(c.connections + c.idle >= SCALE_FROM for c in run.cases)


def _swept(run: Run) -> list[CaseView]:
    """Closed-loop tcp cases without idle connections at the smallest size: the sweep."""
    closed = [c for c in run.cases if c.rate is None and c.transport == "tcp" and not c.idle]
    if not closed:
        return []
    size = min(c.size for c in closed)
    return [c for c in closed if c.size == size]


def _families(run: Run, cases: list[CaseView]) -> list[str]:
    present = {family_key(c.family) for c in cases}
    return [f for f in FAMILY_ORDER if f in present]


Value = Callable[[CaseView], float | None]


def _per_family(run: Run, title: str, ylabel: str, value: Value, *, logy: bool) -> Figure:
    cases = [c for c in _swept(run) if c.ok]
    families = _families(run, cases)
    size = cases[0].size if cases else 64
    figure, axes = new_figure(
        f"{title}\n({size} B, closed loop; one panel per family, the other backends in grey)",
        run.env_summary(),
        max(1, len(families)),
        ncols=3,
    )
    palette = colours(run.families())
    counts = sorted({c.connections for c in cases})
    seen = {"starved": False, "client": False}
    for ax, family in zip(axes, families, strict=False):
        for backend in run.backends():
            mine = sorted((c for c in cases if c.backend == backend), key=lambda c: c.connections)
            points = [(c, v) for c in mine if (v := value(c)) is not None]
            if not points:
                continue
            ours = family_key(mine[0].family) == family
            xs, ys = [c.connections for c, _ in points], [v for _, v in points]
            # gid: the report's hover values and highlight buttons find the line by it.
            gid = "connections:" + ",".join(c.id for c, _ in points)
            if not ours:
                # Dotted as well as grey: the baseline family's own colour is a grey.
                ax.plot(xs, ys, color=GREY, lw=1, ls=":", zorder=1, gid=gid)
                continue
            ax.plot(xs, ys, color=palette[backend], marker="o", ms=4, lw=1.8, label=backend,
                    zorder=3, gid=gid)  # fmt: skip
            for c, v in points:
                _marks(ax, c, v, seen)
        _axes(ax, counts, ylabel, logy)
        ax.set_title(family, fontsize=10)
        ax.legend(fontsize=8, frameon=False, loc="best")
    if not families:
        axes[0].text(0.5, 0.5, "no measured case", ha="center", transform=axes[0].transAxes)
    handles: list[Line2D] = [Line2D([], [], color=GREY, lw=1, ls=":", label="other backends")]
    if seen["starved"]:
        handles.append(Line2D([], [], ls="none", marker="o", ms=13, mfc="none", mec="red",
                              mew=1.5, label=STARVED_NOTE))  # fmt: skip
    if seen["client"]:
        handles.append(Line2D([], [], ls="none", marker="s", ms=12, mfc="none", mec="black",
                              label=CLIENT_NOTE))  # fmt: skip
    add_legend(figure, handles)
    return figure


def _marks(ax: Axes, case: CaseView, y: float, seen: dict[str, bool]) -> None:
    if case.summary.get("starved"):
        seen["starved"] = True
        ax.plot([case.connections], [y], ls="none", marker="o", ms=13, mfc="none", mec="red",
                mew=1.5, zorder=4, gid=f"starved:{case.id}")  # fmt: skip
    if case.client_bound:
        seen["client"] = True
        ax.plot([case.connections], [y], ls="none", marker="s", ms=12, mfc="none", mec="black",
                zorder=4, gid=f"client-bound:{case.id}")  # fmt: skip


def _axes(ax: Axes, counts: list[int], ylabel: str, logy: bool) -> None:
    ax.set_xscale("log")
    if counts:
        ax.xaxis.set_major_locator(FixedLocator(counts))
        ax.set_xlim(counts[0] / 1.5, counts[-1] * 1.5)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("concurrent connections [count, log scale]")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(COMPACT)
    ax.grid(alpha=0.3)


def scale_throughput(run: Run) -> Figure:
    return _per_family(
        run, "Throughput vs connections", "throughput [msg/s, median]",
        lambda c: c.throughput(), logy=False,
    )  # fmt: skip


def scale_p99(run: Run) -> Figure:
    def p99_ms(case: CaseView) -> float | None:
        value = case.p99()
        return None if value is None else value / 1000

    return _per_family(
        run, "p99 latency vs connections", "p99 latency [ms, log scale]", p99_ms, logy=True
    )


def scale_fairness(run: Run) -> Figure:
    def jain(case: CaseView) -> float | None:
        value = case.summary.get("jain")
        return None if value is None else float(value)

    figure = _per_family(
        run, "Fairness vs connections: Jain's index of messages per connection",
        "Jain's index [1 = even]", jain, logy=False,
    )  # fmt: skip
    for ax in figure.axes:
        if ax.get_visible():
            ax.set_ylim(0, 1.05)
    return figure


def _largest(run: Run, field: str, minimum: int = 1) -> dict[str, CaseView]:
    """Per backend, its case with the most connections that has ``field`` in its summary."""
    best: dict[str, CaseView] = {}
    for case in run.cases:
        total = case.connections + case.idle
        if case.summary.get(field) is None or total < minimum or case.rate is not None:
            continue
        held = best.get(case.backend)
        if held is None or total > held.connections + held.idle:
            best[case.backend] = case
    return best


def _bars(run: Run, title: str, xlabel: str, values: dict[str, tuple[CaseView, float]]) -> Figure:
    figure, (ax,) = new_figure(title, run.env_summary(), 1, ncols=1)
    figure.set_figheight(1.6 + 0.32 * max(4, len(values)))
    palette = colours(run.families())
    order = sorted(values, key=lambda b: values[b][1])
    ys = range(len(order))
    bars = ax.barh(list(ys), [values[b][1] for b in order], color=[palette[b] for b in order])
    for bar, backend in zip(bars, order, strict=True):
        bar.set_gid(f"bar:{values[backend][0].id}")
    ax.set_yticks(list(ys), [_bar_label(values[b][0]) for b in order], fontsize=9)
    for y, backend in zip(ys, order, strict=True):
        ax.text(values[backend][1], y, " " + _short(values[backend][1]), va="center",
                fontsize=8)  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_formatter(COMPACT)
    ax.grid(axis="x", alpha=0.3)
    families = sorted({family_key(values[b][0].family) for b in order}, key=FAMILY_ORDER.index)
    shown = {family_key(values[b][0].family): palette[b] for b in order}
    add_legend(figure, [Patch(color=shown[f], label=f) for f in families])
    return figure


def _short(value: float) -> str:
    return f"{value / 1000:,.1f}k" if value >= 1000 else f"{value:.3g}"


def _bar_label(case: CaseView) -> str:
    count = f"{case.connections:,}" + (f"+{case.idle:,} idle" if case.idle else "")
    return f"{case.backend} ({count})"


def scale_memory(run: Run) -> Figure:
    field = "server_rss_per_connection_bytes"
    values = {
        b: (c, float(c.summary[field]) / 1024) for b, c in _largest(run, field, MEMORY_FROM).items()
    }
    return _bars(
        run,
        "Server memory per connection: RSS of the whole process tree, idle connections open,\n"
        "before the load, minus RSS before connecting, divided by the connections",
        "memory per connection [KiB]",
        values,
    )


def scale_connect(run: Run) -> Figure:
    field = "connect_per_second"
    values = {b: (c, float(c.summary[field])) for b, c in _largest(run, field).items()}
    return _bars(
        run,
        "Connection set-up rate: connections opened per second (the accept storm), largest count",
        "connections opened [per second]",
        values,
    )


def _idle_shares(run: Run) -> dict[str, tuple[CaseView, float]]:
    shares = {}
    for case in run.cases:
        if not case.idle or case.rate is not None or not case.ok:
            continue
        alone = [
            c for c in run.cases
            if c.backend == case.backend and c.connections == case.connections and not c.idle
            and c.size == case.size and c.transport == case.transport and c.rate is None
        ]  # fmt: skip
        with_idle, without = case.throughput(), alone[0].throughput() if alone else None
        if with_idle is not None and without:
            shares[case.backend] = (case, with_idle / without * 100)
    return shares


def scale_idle(run: Run) -> Figure:
    return _bars(
        run,
        "Busy connections among idle ones: throughput with the idle connections held,\n"
        "as a share of the same busy connections alone (100% = unaffected)",
        "throughput with idle connections [% of without]",
        _idle_shares(run),
    )


def not_a_scale_run(run: Run) -> str | None:
    """Why a run has no scale charts: no case reaches ``SCALE_FROM`` connections."""
    return None if is_scale_run(run) else f"no case reaches {SCALE_FROM:,} connections"


def too_few_counts(run: Run) -> str | None:
    """Why a chart against connections cannot be drawn: fewer than two counts."""
    if len({c.connections for c in _swept(run) if c.ok}) < 2:
        return "fewer than two connection counts were measured"
    return None


def no_p99(run: Run) -> str | None:
    if (why := too_few_counts(run)) is not None:
        return why
    if any(c.p99() is not None for c in _swept(run) if c.ok):
        return None
    return "no latency was recorded"


def no_memory(run: Run) -> str | None:
    if _largest(run, "server_rss_per_connection_bytes", MEMORY_FROM):
        return None
    return (
        f"no server memory per connection at {MEMORY_FROM} connections or more "
        "(a --connect run, or an older results file)"
    )


def no_connect_rate(run: Run) -> str | None:
    if _largest(run, "connect_per_second"):
        return None
    return "no connection set-up rate (an older results file)"


def no_idle_pair(run: Run) -> str | None:
    if _idle_shares(run):
        return None
    return "no case held idle connections next to the same case without"
