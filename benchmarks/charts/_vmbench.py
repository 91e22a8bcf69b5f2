"""vmbench's chart as uvloop's README draws it: requests/s per server, a bar per message size.

The upper panel is uvloop's chart: one group of bars per server, one bar per message
size (1, 10 and 100 KiB: uvloop's colours), requests per second with the min-max of the
repeats. Every backend of the run is a group, in the suite's order (family, then
registry), with a strip of its family's colour under it, so a new family needs nothing
here but its palette entry. A streams server measured in vmbench's readline mode is
its own group (vmbench's "streams" benchmark: a request is 5 lines of the size, read
with ``readline()``), beside its plain-bytes one.

The lower panel answers uvloop's "2-4x faster": each server's requests/s over asyncio's
on the same API (``<loop>-sockets``, ``-streams``, ``-protocol``, and ``API@MODULE:
FACTORY``, against ``asyncio-<API>`` in the same mode), and the servers that are not an
asyncio API (io_uring, native) over asyncio's protocol server, at each size, with the
2-4x band shaded.

Marks, on the bar: C client-bound and B client and server both saturated (the number
measures the load client at least as much as the server), ~ unstable (CV over 5%); a
failed case says so where its bar would be, and a group whose backend fails a
conformance check known to its framework carries a dagger.
"""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from echobench.benchmarks.charts._base import (
    COMPACT,
    DPI,
    TITLE_HEIGHT_IN,
    WIDTH_IN,
    add_legend,
    spread_bar,
)
from echobench.benchmarks.charts._palette import FAMILY_COLOURS
from echobench.benchmarks.compare._order import backend_order, family_key
from echobench.benchmarks.compare._runview import CaseView, Run

SCENARIO = "vmbench"
#: uvloop's chart: slate for 1 KiB, plum for 10 KiB, orange for 100 KiB.
SIZE_COLOURS = ("#98adc6", "#6b4669", "#ff8c0a", "#5a8f5a", "#8c8c8c")
#: The band uvloop's README claims: "uvloop makes asyncio 2-4x faster".
CLAIM = (2.0, 4.0)
Group = tuple[str, int]  # (backend, readline lines; 0: plain bytes)
RATIO_TICKS = (1 / 16, 1 / 8, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def not_a_vmbench_run(run: Run) -> str | None:
    if run.config.get("scenario") == SCENARIO:
        return None
    return "not a vmbench run (echobench run --scenario vmbench)"


def no_case(run: Run) -> str | None:
    if any(c.ok for c in _cases(run)):
        return None
    return "no closed-loop case of this run was measured"


def _cases(run: Run) -> list[CaseView]:
    return [c for c in run.cases if c.rate is None and not c.idle and c.transport == "tcp"]


def groups(run: Run) -> list[Group]:
    """(backend, readline) pairs in chart order: the suite's backend order, plain first."""
    cases = _cases(run)
    order = backend_order({c.backend: c.family for c in cases})
    return sorted({(c.backend, c.readline) for c in cases}, key=lambda g: (order.index(g[0]), g[1]))


def api_of(backend: str) -> str | None:
    """The asyncio API of a backend that runs one on some loop: its name's last word."""
    base = backend.split("@", 1)[0]
    loop, dash, api = base.rpartition("-")
    return api if dash and loop and api in ("sockets", "streams", "protocol") else None


def baseline(group: Group, run: Run) -> Group | None:
    """What a group is divided by in the lower panel: asyncio's server on the same API and
    mode, else asyncio's protocol server."""
    backend, lines = group
    loops = run.environment.get("loops") or {}
    api = api_of(backend) if backend in loops or "@" in backend else None
    candidate = (f"asyncio-{api}", lines) if api else ("asyncio-protocol", 0)
    return candidate if candidate in groups(run) else None


def label(group: Group, run: Run) -> str:
    """``asyncio-streams`` as uvloop's "asyncio / streams"; a loop given by name below."""
    backend, lines = group
    base, at, loop = backend.partition("@")
    name = base.replace("-", "\n", 1) if api_of(base) else base
    if at:
        name += f"\n@{loop}"
    if lines:
        name += f"\nreadline x{lines}"
    return name + (" †" if run.known_failures(backend) else "")


def vmbench_chart(run: Run) -> Figure:
    chosen = groups(run)
    sizes = sorted({c.size for c in _cases(run)})
    by_key = {(c.backend, c.readline, c.size): c for c in _cases(run)}
    figure = Figure(
        figsize=(max(WIDTH_IN, 1.15 * len(chosen) + 2.5), TITLE_HEIGHT_IN + 7.4),
        dpi=DPI,
        layout="constrained",
    )
    upper, lower = figure.subplots(2, 1, height_ratios=(3, 2), sharex=True)
    figure.suptitle(
        "vmbench's echo benchmark, drawn as uvloop's README draws it: requests/s per server "
        f"at concurrency {_concurrency(run)}, one bar per message size\n{run.env_summary()}",
        fontsize=12,
        x=0.01,
        ha="left",
    )
    width = 0.8 / max(1, len(sizes))
    colour = {size: SIZE_COLOURS[i % len(SIZE_COLOURS)] for i, size in enumerate(sizes)}
    marks_seen: set[str] = set()
    for g, group in enumerate(chosen):
        for i, size in enumerate(sizes):
            case = by_key.get((*group, size))
            if case is None:
                continue
            x = g + (i - (len(sizes) - 1) / 2) * width
            marks_seen |= _bar(upper, case, x, width, colour[size])
            _ratio_bar(lower, case, by_key, baseline(group, run), x, width, colour[size])
    _family_strips(upper, run, chosen)
    _decorate(upper, lower, run, chosen)
    handles: list[object] = [
        Patch(color=colour[size], label=f"{size / 1024:g} KiB" if size % 1024 == 0 else f"{size} B")
        for size in sizes
    ]
    handles += _family_handles(run, chosen)
    handles += [_mark_handle(mark) for mark in ("C", "B", "~", "failed") if mark in marks_seen]
    handles.append(Line2D([], [], color="black", marker="_", lw=0, label="min-max of repeats"))
    add_legend(figure, handles)  # type: ignore[arg-type]
    notes = _notes(run, chosen)
    if notes:
        figure.supxlabel("\n".join(notes), fontsize=8.5, x=0.01, ha="left", color="0.25")
    return figure


def _concurrency(run: Run) -> str:
    counts = sorted({c.connections for c in _cases(run)})
    return ", ".join(map(str, counts))


def _bar(ax: Axes, case: CaseView, x: float, width: float, colour: str) -> set[str]:
    median = case.throughput() if case.ok else None
    if median is None:
        ax.text(x, 0, " failed", rotation=90, ha="center", va="bottom", fontsize=7, color="#b00020")
        return {"failed"}
    low, high = case.throughput("min") or median, case.throughput("max") or median
    ax.bar(x, median, width * 0.92, color=colour, gid=f"vmbench:{case.id}")
    spread_bar(ax, x, median, low, high, thin=True)
    marks = []
    if case.client_bound:
        marks.append("B" if case.both_saturated else "C")
    if case.unstable:
        marks.append("~")
    if marks:
        ax.text(x, high, "".join(marks), ha="center", va="bottom", fontsize=7.5, weight="bold")
    return set(marks)


def _ratio_bar(
    ax: Axes,
    case: CaseView,
    by_key: dict[tuple[str, int, int], CaseView],
    base: Group | None,
    x: float,
    width: float,
    colour: str,
) -> None:
    if base is None or base == (case.backend, case.readline) or not case.ok:
        return  # asyncio's own servers are the 1x line
    reference = by_key.get((*base, case.size))
    ours, theirs = case.throughput(), reference.throughput() if reference else None
    if not ours or not theirs:
        return
    ratio = ours / theirs
    ax.bar(x, ratio, width * 0.92, color=colour, gid=f"vmbench-ratio:{case.id}")
    ax.text(x, ratio, f"{ratio:.2g}", ha="center", va="bottom", fontsize=6.5, rotation=90)


def _family_strips(ax: Axes, run: Run, chosen: list[Group]) -> None:
    families = run.families()
    for g, (backend, _) in enumerate(chosen):
        colour = FAMILY_COLOURS[family_key(families.get(backend, "external"))]
        ax.plot(
            [g - 0.42, g + 0.42],
            [0, 0],
            color=colour,
            lw=5,
            solid_capstyle="butt",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            gid=f"family:{backend}",
        )


def _decorate(upper: Axes, lower: Axes, run: Run, chosen: list[Group]) -> None:
    upper.set_ylabel("throughput [requests/s]")
    upper.yaxis.set_major_formatter(COMPACT)
    upper.grid(axis="y", color="0.9")
    upper.set_axisbelow(True)
    upper.set_ylim(bottom=0)
    lower.axhspan(*CLAIM, color="#ffe9c2", zorder=0, label="uvloop README's 2-4x")
    lower.axhline(1.0, color="0.3", lw=0.8)
    lower.text(
        len(chosen) - 0.5,
        (CLAIM[0] * CLAIM[1]) ** 0.5,
        'uvloop\'s README: "2-4x faster"',
        ha="right",
        va="center",
        fontsize=8,
        color="#a06000",
    )
    lower.set_yscale("log")
    lower.yaxis.set_major_locator(FixedLocator(RATIO_TICKS))
    lower.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    lower.yaxis.set_minor_locator(NullLocator())
    lower.set_ylabel("over asyncio, same API\n[times, log scale]")
    lower.set_xlabel(
        "server [a group each: asyncio's APIs on each loop, then io_uring and native, "
        "whose ratio is over asyncio-protocol]"
    )
    lower.set_xticks(range(len(chosen)), [label(g, run) for g in chosen], fontsize=8)
    lower.set_xlim(-0.6, len(chosen) - 0.4)


def _family_handles(run: Run, chosen: Iterable[Group]) -> list[object]:
    families = run.families()
    present = {family_key(families.get(backend, "external")) for backend, _ in chosen}
    return [
        Line2D([], [], color=FAMILY_COLOURS[f], lw=5, label=f"family: {f}")
        for f in FAMILY_COLOURS
        if f in present
    ]


MARK_TEXT = {
    "C": "C: client-bound",
    "B": "B: client and server\nboth saturated",
    "~": "~: unstable (CV > 5%)",
    "failed": "failed: no measurement",
}


def _mark_handle(mark: str) -> Line2D:
    return Line2D([], [], lw=0, label=MARK_TEXT[mark])


def _notes(run: Run, chosen: list[Group]) -> list[str]:
    notes = []
    for backend in dict.fromkeys(b for b, _ in chosen):
        known = run.known_failures(backend)
        if known:
            notes.append(
                f"† {backend} fails conformance ({', '.join(map(str, known))}: a known "
                "defect of its framework), measured anyway."
            )
    if any(lines for _, lines in chosen):
        notes.append(
            "readline xN: vmbench's streams benchmark; a request is N lines of the size, "
            "read by the server with readline() and echoed a line at a time."
        )
    return notes
