"""The README's vmbench part: uvloop's chart measured again, a table and two sentences.

The ``vmbench`` step of ``echobench publish`` runs ``echobench run --scenario vmbench``
into ``results/published/vmbench.json``; from that file alone it draws the vmbench
chart into ``results/published/vmbench-charts/`` and rewrites the README between the
``vmbench`` markers: requests/s per server and size with the marks, each server over
asyncio's on the same API, and two sentences whose every figure is read from the file,
the first saying plainly where the answer differs from uvloop's "2-4x".
"""

from __future__ import annotations

from typing import Any

from echobench.benchmarks.charts._catalog import charts_of
from echobench.benchmarks.charts._vmbench import CLAIM, Group, api_of, baseline, groups
from echobench.benchmarks.compare._runview import CaseView, Run, run_from_doc
from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, closing, draw, not_yet, run_into

FILE = "vmbench.json"
SHOWN = f"results/published/{FILE}"
CHARTS = "vmbench-charts"
BEGIN, END = "<!-- vmbench:begin -->", "<!-- vmbench:end -->"


def _kib(size: int) -> str:
    return f"{size / 1024:g} KiB" if size % 1024 == 0 else f"{size} B"


def mark(case: CaseView) -> str:
    """A published cell's marks: (C) client-bound, (B) both saturated, ~ unstable."""
    mark = ""
    if case.client_bound:
        mark += " (B)" if case.both_saturated else " (C)"
    if case.unstable:
        mark += " ~"
    if case.summary.get("disturbed"):
        mark += " (D)"
    return mark


def _cell(case: CaseView | None) -> str:
    if case is None:
        return "-"
    median = case.throughput() if case.ok else None
    if median is None:
        return "failed"
    low, high = case.throughput("min") or median, case.throughput("max") or median
    return f"{median / 1000:,.1f}k ({low / 1000:,.1f}-{high / 1000:,.1f}){mark(case)}"


def ratio(run: Run, group: Group, size: int) -> tuple[float, bool] | None:
    """``group``'s median over its baseline's at ``size``, and whether either side's
    number measured the load client (then the ratio is not the servers' alone)."""
    base = baseline(group, run)
    cases = _by_key(run)
    ours, theirs = cases.get((*group, size)), cases.get((*base, size)) if base else None
    if ours is None or theirs is None or not ours.ok or not theirs.ok:
        return None
    a, b = ours.throughput(), theirs.throughput()
    if not a or not b:
        return None
    return a / b, ours.client_bound or theirs.client_bound


def _by_key(run: Run) -> dict[tuple[str, int, int], CaseView]:
    return {
        (c.backend, c.readline, c.size): c
        for c in run.cases
        if c.rate is None and not c.idle and c.transport == "tcp"
    }


def _name(group: Group) -> str:
    backend, lines = group
    return f"`{backend}`" + (f" readline x{lines}" if lines else "")


def render(doc: dict[str, Any], shown: str, charts: list[str] | None = None) -> str:
    run = run_from_doc(doc, shown)
    config = doc["config"]
    sizes = sorted({c.size for c in run.cases})
    cases = _by_key(run)
    counts = sorted({c.connections for c in run.cases})
    lines = [
        header(
            doc["environment"],
            shown,
            f"; vmbench's matrix: {', '.join(_kib(s) for s in sizes)} messages at "
            f"concurrency {', '.join(map(str, counts))}, closed loop, "
            f"{config.get('repeat')} interleaved repeat(s) of {config.get('duration')} s after "
            f"{config.get('warmup')} s warm-up. Each cell: median requests/s (min-max); a "
            "readline request is that many lines of the size. The last column: requests/s over "
            "asyncio's on the same API and mode (io_uring and native: over asyncio-protocol).",
            cases=doc["cases"],
        ),
        "",
        "| server | " + " | ".join(_kib(s) for s in sizes) + " | x asyncio |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " | ---: |",
    ]
    for group in groups(run):
        cells = [_cell(cases.get((*group, size))) for size in sizes]
        if baseline(group, run) == group:
            shown_ratios = "(the base)"
        else:
            ratios = [ratio(run, group, size) for size in sizes]
            shown_ratios = " / ".join("-" if r is None else f"{r[0]:.2f}" for r in ratios)
        known = run.known_failures(group[0])
        name = _name(group) + (f" †{', '.join(known)}" if known else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {shown_ratios} |")
    lines += [
        "",
        "Marks: (C) client-bound, (B) the server and the load client both saturated: the "
        "number measures the load client at least as much as the server; ~ unstable (CV over "
        "5%); (D) disturbed: the host took the CPUs in a repeat that could not be measured "
        "again; †check: fails that conformance check through a known defect of its framework "
        "(docs/backends.md), measured anyway.",
    ]
    lines += closing(takeaways(run), charts or (), CHARTS)
    return "\n".join(lines)


def _span(values: list[tuple[float, bool]]) -> str:
    low, high = min(v for v, _ in values), max(v for v, _ in values)
    text = f"{low:.2f}x" if abs(high - low) < 0.005 else f"{low:.2f}-{high:.2f}x"
    return text


def takeaways(run: Run) -> list[str]:
    """Two sentences, each figure read from the run: uvloop against asyncio on the same API
    and against uvloop's README's "2-4x"; then the other loops, io_uring and native."""
    sizes = sorted({c.size for c in run.cases})
    families = run.families()
    by_family: dict[str, list[tuple[Group, int, tuple[float, bool]]]] = {}
    for group in groups(run):
        family = families.get(group[0], "external")
        if family == "asyncio":
            continue
        # Another loop under asyncio's API is compared family by family; any other server
        # (io_uring, native, several processes) alone, against asyncio's protocol server.
        key = family if api_of(group[0]) else _name(group)
        for size in sizes:
            found = ratio(run, group, size)
            if found is not None:
                by_family.setdefault(key, []).append((group, size, found))
    sentences = []
    uvloop = by_family.pop("uvloop", [])
    if uvloop:
        inside = [x for x in uvloop if CLAIM[0] <= x[2][0] <= CLAIM[1]]
        bound = [x for x in uvloop if x[2][1]]
        per_size = "; ".join(
            f"{_kib(size)}: {_span([r for _, s, r in uvloop if s == size])}"
            for size in sizes
            if any(s == size for _, s, _ in uvloop)
        )
        verdict = (
            "not the 2-4x of uvloop's README in any of them"
            if not inside
            else f"within the README's 2-4x in {len(inside)} of them"
        )
        sentence = (
            f"On vmbench's matrix uvloop ran asyncio's own servers at "
            f"{_span([r for *_, r in uvloop])} asyncio's requests/s ({per_size}; "
            f"{len(uvloop)} server-size pairs), {verdict}"
        )
        if bound:
            sentence += (
                f"; {len(bound)} of those ratios involve a client-bound case, where the load "
                "client, not the loop, set the ceiling"
            )
        sentences.append(sentence + ".")
    others = [
        f"{key if key.startswith('`') else key + ' on the same API'} "
        f"{_span([r for *_, r in values])}"
        + (
            " (client-bound: a bound, not the server's ratio)"
            if any(r[1] for *_, r in values)
            else ""
        )
        for key, values in by_family.items()
    ]
    if others:
        sentences.append(
            "Over asyncio across the sizes (io_uring and native: over its protocol server): "
            + "; ".join(others)
            + "."
        )
    return sentences


def _measure(ctx: Context) -> list[str]:
    if ctx.quick:
        return run_into(
            ctx, FILE, "--scenario", "vmbench", "--backends",
            "asyncio-sockets,asyncio-streams,uvloop-sockets,uvloop-streams,uring-native,native",
            "--duration", "0.5", "--warmup", "0.2", "--repeat", "1",
        )  # fmt: skip
    return run_into(ctx, FILE, "--scenario", "vmbench")


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("vmbench", FILE))
        return
    doc = ctx.read(FILE, "vmbench")
    figures, skipped = charts_of(run_from_doc(doc, SHOWN), ["vmbench"])
    draw(ctx, figures, CHARTS, skipped)
    ctx.rewrite(BEGIN, END, render(doc, SHOWN, list(figures)))


STEP = Step(
    name="vmbench",
    help="echobench run --scenario vmbench: uvloop's chart measured again (1, 10, 100 KiB at "
    "concurrency 10, asyncio/uvloop/rloop, io_uring, native); the README's table, chart and "
    "two sentences",
    files=(FILE, f"{CHARTS}/*.png"),
    measure=_measure,
    render=_render,
)
