"""docs/latency.md's repeat: two back-to-back latency sweeps of the same code, compared.

A capacity at a latency target is only worth ranking if a second sweep of the same code
gives the same answer. The ``latency-repeat`` step of ``echobench publish`` runs
``echobench run --scenario latency`` twice, back to back, over ``native``,
``asyncio-streams``, ``uvloop-protocol`` and ``tornado`` at the default target, into
``results/published/latency-a.json`` and ``latency-b.json`` (about 8 minutes each on a
quiet 2-core machine, 5 of them measuring undecided points again), and checks the two
measures of success of issue 20: every
backend's ``slo_capacity.range`` overlaps between the runs, and the ranking differs
only where ranges overlap (two backends that swap places are level, within one run or
the other). The table and its sentences are rendered from the two files alone.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, not_yet, run_into
from echobench.benchmarks.publish._step_latency import published_options, slo_text
from echobench.benchmarks.runner._sweepsummary import overlaps

FILES = ("latency-a.json", "latency-b.json")
BEGIN, END = "<!-- latency-repeat:begin -->", "<!-- latency-repeat:end -->"
BACKENDS = ("native", "asyncio-streams", "uvloop-protocol", "tornado")
#: ``--quick``: two backends, short windows, no second windows: the pipeline in minutes.
QUICK = (
    *("--backends", "native,asyncio-streams", "--load-fractions", "25,50,90,100"),
    *("--probe-duration", "1", "--duration", "0.5", "--warmup", "0.2"),
    *("--remeasure-budget", "10"),
)


def capacities(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each ranked backend's ``slo_capacity`` (the floor measured only as the floor is not)."""
    return {
        str(s["backend"]): (s.get("summary") or {}).get("slo_capacity") or {}
        for s in doc["latency"]["sweeps"]
        if not s.get("floor_only")
    }


def _range(slo: dict[str, Any]) -> list[float | None] | None:
    """A capacity's range; none where there is no capacity (nothing met the target)."""
    if slo.get("messages_per_second") is None:
        return None
    return list(slo.get("range") or [slo["messages_per_second"]] * 2)


def _level(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two capacities that cannot be told apart: their ranges overlap, or neither exists."""
    ra, rb = _range(a), _range(b)
    if ra is None or rb is None:
        return ra is None and rb is None
    return overlaps(ra, rb)


def _above(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether capacity ``a`` ranks above ``b`` by value (none ranks last)."""
    va, vb = a.get("messages_per_second"), b.get("messages_per_second")
    if va is None:
        return False
    return vb is None or float(va) > float(vb)


def agreement(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """How two sweeps of the same code agree: per backend, whether its capacity's ranges
    overlap; the pairs that swapped places, and those of them level in neither run."""
    a, b = capacities(first), capacities(second)
    backends = [name for name in a if name in b]
    rows = []
    for name in backends:
        ra, rb = _range(a[name]), _range(b[name])
        same = (ra is None and rb is None) or (
            ra is not None and rb is not None and overlaps(ra, rb)
        )
        va, vb = a[name].get("messages_per_second"), b[name].get("messages_per_second")
        ratio = float(vb) / float(va) if va and vb else None
        rows.append({"backend": name, "a": a[name], "b": b[name], "overlap": same, "ratio": ratio})
    swapped, unexplained = [], []
    for x, y in combinations(backends, 2):
        if _above(a[x], a[y]) != _above(b[x], b[y]):
            swapped.append([x, y])
            if not (_level(a[x], a[y]) or _level(b[x], b[y])):
                unexplained.append([x, y])
    return {
        "rows": rows,
        "all_overlap": all(r["overlap"] for r in rows),
        "swapped": swapped,
        "unexplained": unexplained,
        "ranking_holds": not unexplained,
    }


def missed(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """The measures of success the two sweeps miss, one line each."""
    found = agreement(first, second)
    lines = [
        f"latency-repeat: {r['backend']}'s capacity ranges do not overlap between the runs"
        for r in found["rows"]
        if not r["overlap"]
    ]
    lines += [
        f"latency-repeat: {x} and {y} swapped places though their ranges part in both runs"
        for x, y in found["unexplained"]
    ]
    return lines


def render(first: dict[str, Any], second: dict[str, Any]) -> str:
    found = agreement(first, second)
    target = first["latency"]["slo_p99_us"]
    unit = f"{target / 1000:g} ms" if target >= 1000 else f"{target:g} µs"
    lines = [
        header(
            first["environment"],
            f"results/published/{FILES[0]}",
            f"; then `results/published/{FILES[1]}` "
            f"({str(second['environment'].get('started_at', '?'))[:19]}), the same sweep of "
            "the same code right after it.",
            cases=[*first["cases"], *second["cases"]],
        ),
        "",
        f"| backend | run A: msgs/s with p99 under {unit} | run B | ranges overlap | B/A |",
        "| --- | ---: | ---: | :---: | ---: |",
    ]
    for row in found["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        lines.append(
            f"| `{row['backend']}` | {slo_text(row['a'])} | {slo_text(row['b'])} | "
            f"{'yes' if row['overlap'] else '**no**'} | {ratio} |"
        )
    ratios = [r["ratio"] for r in found["rows"] if r["ratio"] is not None]
    spread = max((abs(r - 1) for r in ratios), default=None)
    said = [
        "Every backend's capacity range overlapped between the two runs: "
        + ("**met**" if found["all_overlap"] else "**not met**")
        + (f" (the values at most {spread:.0%} apart)." if spread is not None else ".")
    ]
    if not found["swapped"]:
        said.append("The ranking was the same in both.")
    else:
        pairs = ", ".join(f"`{x}` and `{y}`" for x, y in found["swapped"])
        said.append(
            f"The ranking differed for {pairs}; only where their ranges overlap: "
            + ("**met**." if found["ranking_holds"] else "**not met**.")
        )
    return "\n".join([*lines, "", " ".join(said)])


def _measure(ctx: Context) -> list[str]:
    options = QUICK if ctx.quick else published_options(BACKENDS)
    noisy = []
    for name in FILES:
        noisy += run_into(ctx, name, "--scenario", "latency", *options)
    first, second = (ctx.read(name, "latency-repeat") for name in FILES)
    return noisy + missed(first, second)


def _render(ctx: Context) -> None:
    if not all(ctx.exists(name) for name in FILES):
        ctx.rewrite(BEGIN, END, not_yet("latency-repeat", FILES[1]))
        return
    first, second = (ctx.read(name, "latency-repeat") for name in FILES)
    ctx.rewrite(BEGIN, END, render(first, second))


STEP = Step(
    name="latency-repeat",
    help="two back-to-back latency sweeps of the same code over native, asyncio-streams, "
    "uvloop-protocol and tornado (about 17 minutes): do their capacity ranges overlap?",
    files=FILES,
    measure=_measure,
    render=_render,
)
