"""docs/latency.md's published part: a table, two sentences and charts from a published sweep.

The ``latency`` step of ``echobench publish`` runs ``echobench run --scenario latency``
over one backend per family (``BACKENDS``) into ``results/published/latency.json``;
with the scenario's defaults that takes about 7 minutes on a quiet 2-core machine.
From that file alone it draws the latency charts into
``results/published/latency-charts/`` and rewrites docs/latency.md between the
``latency`` markers: per backend its capacity, p99 at each common rate and capacity
at the p99 target, then two sentences whose every figure is read from the file.
"""

from __future__ import annotations

from typing import Any

from echobench.benchmarks.charts._catalog import charts_of
from echobench.benchmarks.compare._runview import run_from_doc
from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, closing, draw, not_yet, run_into
from echobench.benchmarks.runner._awake import awake_words
from echobench.benchmarks.runner._sweepsummary import auto_target, overlaps

FILE = "latency.json"
SHOWN = f"results/published/{FILE}"
CHARTS = "latency-charts"
BEGIN, END = "<!-- latency:begin -->", "<!-- latency:end -->"
#: One backend per family: the sweep compares paradigms, not variants within one.
BACKENDS = (
    "asyncio-streams",
    "uvloop-protocol",
    "twisted",
    "tornado",
    "gevent",
    "trio",
    "anyio-asyncio",
    "selectors",
    "native",
)
#: The published sweep's budget for undecided points: windows of 1.5 s leave many p99
#: intervals straddling the target on a 2-core VM, and the first crossing needs them.
REMEASURE_BUDGET_S = 300
#: ``--quick``: two backends, four points each, short windows: the pipeline in a minute.
QUICK = (
    *("--backends", "asyncio-streams,selectors", "--load-fractions", "25,50,90,100"),
    *("--probe-duration", "1", "--duration", "0.5", "--warmup", "0.2"),
)
DRAWN = ("latency-at-equal-load", "latency-vs-load", "slo-capacity")


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:,.2f} ms" if value >= 1000 else f"{value:,.0f} µs"


def _target(value: float) -> str:
    return f"{value / 1000:g} ms" if value >= 1000 else f"{value:g} µs"


def _cases(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["cases"]}


def _p99(case: dict[str, Any] | None) -> float | None:
    value = (((case or {}).get("summary") or {}).get("p99_us") or {}).get("median")
    return None if value is None else float(value)


def _stats(sweep: dict[str, Any], rate: float) -> dict[str, Any]:
    """A sweep point's figures at ``rate`` (``runner._sweepsummary``), {} without them."""
    for point in sweep.get("points") or ():
        if point["rate"] == rate:
            return point.get("stats") or {}
    return {}


def _marked(case: dict[str, Any] | None, stats: dict[str, Any]) -> str:
    """A point's p99 with its 95% interval and what a reader must know about it."""
    if case is None:
        return "-"
    if not case.get("repeats"):
        return "failed"
    summary = case.get("summary") or {}
    text = _us(stats.get("p99_us", _p99(case)))
    ci = stats.get("p99_ci_us")
    if ci:
        text += f" [{_us(ci[0])}-{'open' if ci[1] is None else _us(ci[1])}]"
    if stats.get("overloaded", summary.get("overloaded")):
        text += " (O)"
    if stats.get("client_bound", summary.get("client_bound")):
        text += " (C)"
    if stats.get("at_floor"):
        text += " (F)"
    if stats.get("decision") == "undecided":
        text += " (?)"
    return text


def _k(value: float | None) -> str:
    return "open" if value is None else f"{value / 1000:,.1f}k"


def slo_text(slo: dict[str, Any], measured: bool = True) -> str:
    """A sweep's capacity at the target as the table shows it: value [range] and marks."""
    value = slo.get("messages_per_second")
    if value is None:
        return "none" if measured else "probe failed"
    text = f"{'≥ ' if slo.get('at_least') else ''}{value / 1000:,.1f}k"
    if "range" in slo:
        low, high = slo["range"]
        text += f" [{'none' if low is None else _k(low)}, {_k(high)}]"
    if slo.get("interpolated"):
        text += " ~"
    if slo.get("client_bound"):
        text += " (C)"
    if slo.get("undecided"):
        text += f" ({len(slo['undecided'])}?)"
    return text


def _slo(sweep: dict[str, Any]) -> str:
    if sweep.get("floor_only"):
        return "the floor"
    slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
    return slo_text(slo, bool(sweep.get("capacity")))


def _point(sweep: dict[str, Any], rate: float) -> str:
    for point in sweep.get("points") or ():
        if point["rate"] == rate:
            return str(point["case"])
    return ""


def _method(doc: dict[str, Any], common: dict[str, Any]) -> str:
    """How the sweep was measured, for the line above its table."""
    latency, config = doc["latency"], doc["config"]
    probe = f"a {latency['probe_duration']:g} s closed-loop probe"
    if "probe_ci" in latency:
        probe += f" repeated until its median second was known within {latency['probe_ci']:.0%}"
    text = (
        f"; {', '.join(map(str, config.get('sizes') or []))} B messages on "
        f"{', '.join(map(str, config.get('connections') or []))} connections; {probe}, then "
        f"open-loop points of {config['duration']:g} s after {config['warmup']:g} s warm-up at "
        + ", ".join(f"{f:.0%}" for f in latency["load_fractions"])
        + " of each backend's capacity and at the common rates "
        + (
            f"({', '.join(f'{f:.0%}' for f in latency['common_fractions'])} of the slowest "
            f"backend's, `{common.get('from_backend')}`)"
            if common.get("from_backend")
            else "(given with --rate)"
        )
        + f", {config['repeat']} window(s) each"
    )
    again = latency.get("remeasure")
    if again:
        text += (
            f", then {again['windows_added']} more window(s) for points whose p99 interval "
            f"straddled the target (budget {again['budget_s']:g} s, at most "
            f"{again['max_windows']} a point)"
        )
    nices = sorted(_client_nices(doc))
    if nices:  # a file from before the client's nice value was recorded says nothing
        text += f"; the open-loop client at nice {', '.join(map(str, nices))}"
    # A file from before ``--awake`` ran with the server's CPUs idling.
    if config.get("awake"):
        hows = [
            (rep.get("placement") or {}).get("awake_how")
            for case in doc.get("cases") or ()
            for rep in case.get("repeats") or ()
            if (rep.get("placement") or {}).get("awake_cpus")
        ]
        text += (
            f"; the server's CPUs kept awake {awake_words(hows)} (a halted vCPU's "
            "wake-up otherwise dominates p99 at low load)"
        )
        if config.get("awake") == "auto":
            return text + ", the open-loop points only."
    return text + "."


def _client_nices(doc: dict[str, Any]) -> set[int]:
    return {
        nice
        for case in doc.get("cases") or ()
        if case.get("rate") is not None
        for rep in case.get("repeats") or ()
        if (nice := ((rep.get("load") or {}).get("client_pauses") or {}).get("nice")) is not None
    }


MARKS = (
    "Marks: (C) client-bound: a capacity the load client set (the server's is at least "
    "that; its sweep may be capped at what the open-loop client held), or a point whose "
    "client could have made its latency (its p99 send lag, the lag 1% of its messages "
    "reached, or one of its own pauses, was a quarter of the target); (O) overloaded: the rate "
    "asked for was not met; (F) at the floor: its p99 interval overlaps the floor's (the same "
    "client against `native`) at that rate; (?) undecided: its p99 interval straddles the "
    "target; [low-high] a 95% interval (open: no upper bound from these samples); ~ "
    "interpolated between two measured points; ≥ every point met the target, so a lower "
    "bound. The capacity at the target is the first crossing: [the last rate under which every "
    "point surely met it, the first that surely failed it] (none: no point surely met it; "
    "open: none surely failed)."
)


def render(doc: dict[str, Any], shown: str, charts: list[str] | None = None) -> str:
    latency = doc["latency"]
    cases = _cases(doc)
    common = latency["common"][0] if latency.get("common") else {"rates": []}
    rates = [float(r) for r in common["rates"]]
    target = float(latency["slo_p99_us"])
    rule = " (first crossing)" if latency.get("slo_rule") else ""
    lines = [
        header(doc["environment"], shown, _method(doc, common), cases=doc["cases"]),
        "",
        "| backend | capacity msgs/s | "
        + " | ".join(f"p99 at {r:,.0f}/s" for r in rates)
        + f" | msgs/s with p99 under {_target(target)}{rule} |",
        "| --- | ---: | " + " | ".join("---:" for _ in rates) + " | ---: |",
    ]
    for sweep in latency["sweeps"]:
        cap = sweep.get("capacity")
        capacity = "failed" if cap is None else _k(cap["messages_per_second"])
        if cap is not None and cap.get("ci"):
            capacity += f" [{_k(cap['ci'][0])}-{_k(cap['ci'][1])}]"
        if cap is not None and cap.get("client_bound"):
            capacity += " (C)"
        cells = [_marked(cases.get(_point(sweep, rate)), _stats(sweep, rate)) for rate in rates]
        name = f"`{sweep['backend']}`" + (" (the floor)" if sweep.get("floor_only") else "")
        lines.append(f"| {name} | {capacity} | " + " | ".join(cells) + f" | {_slo(sweep)} |")
    lines += ["", MARKS]
    lines += closing(takeaways(doc), charts or (), CHARTS)
    return "\n".join(lines)


def takeaways(doc: dict[str, Any]) -> list[str]:
    """The sentences, every figure read from ``doc``: the p99 spread at the highest common
    rate (backends at the floor named as such, never ranked), who sustains the most and
    the least load under the latency target (ranges that overlap are level), the floor."""
    latency = doc["latency"]
    sentences = [s for s in (_spread(doc), _capacity(latency), _floor(latency)) if s]
    return sentences


def _spread(doc: dict[str, Any]) -> str | None:
    latency = doc["latency"]
    cases = _cases(doc)
    common = latency["common"][0] if latency.get("common") else None
    if not common or not common["rates"]:
        return None
    rate = float(max(common["rates"]))
    ranked = [s for s in latency["sweeps"] if not s.get("floor_only")]
    at = {
        s["backend"]: (cases[case], _stats(s, rate))
        for s in ranked
        if (case := _point(s, rate)) and cases.get(case, {}).get("repeats")
    }
    honest = {
        b: (c, st)
        for b, (c, st) in at.items()
        if not st.get("client_bound", (c.get("summary") or {}).get("client_bound"))
    }
    if len(honest) < 2:
        return None

    def p99(backend: str) -> float:
        case, stats = honest[backend]
        return float(stats.get("p99_us") or _p99(case) or 0.0)

    order = sorted(honest, key=p99)
    floor = [b for b in order if honest[b][1].get("at_floor")]
    above = [b for b in order if b not in floor]
    named = ", ".join(f"`{b}`" for b in floor)
    sentence = f"Offered the same {rate:,.0f} msgs/s, "
    # A spread needs two backends told apart from the floor; one, or none, is said as such.
    if len(above) >= 2:
        best, worst = above[0], order[-1]
        sentence += f"p99 ran from {_us(p99(best))} (`{best}`)"
        sentence += f" to {_us(p99(worst))} (`{worst}`), {p99(worst) / p99(best):,.1f}x apart"
    elif above:
        sentence += f"only `{above[0]}` stood above the floor, at p99 {_us(p99(above[0]))}"
    else:
        sentence += (
            f"every backend's p99 was at the floor ({named}): none was told apart from the "
            "instrument's own latency there"
        )
    if floor and above:
        sentence += (
            f"; {named} {'was' if len(floor) == 1 else 'were'} at the floor, not told apart "
            "from the instrument's own latency there"
        )
    overloaded = [b for b in order if (honest[b][0].get("summary") or {}).get("overloaded")]
    if overloaded:
        sentence += f", and {', '.join(f'`{b}`' for b in overloaded)} could not keep up"
    return sentence + "."


def _capacity(latency: dict[str, Any]) -> str | None:
    target = float(latency["slo_p99_us"])
    slos = {
        s["backend"]: (s["summary"]["slo_capacity"], s["capacity"])
        for s in latency["sweeps"]
        if s.get("summary") and s.get("capacity") and not s.get("floor_only")
    }
    held = {b: v for b, v in slos.items() if v[0].get("messages_per_second") is not None}
    if not held:
        return None
    top = max(held, key=lambda b: held[b][0]["messages_per_second"])
    bottom = min(held, key=lambda b: held[b][0]["messages_per_second"])
    slo, cap = held[top]
    value = float(slo["messages_per_second"])
    rule = " (first crossing)" if slo.get("rule") else ""
    sentence = (
        f"Holding p99 under {_target(target)}{rule}, `{top}` sustained "
        f"{'at least ' if slo.get('at_least') else ''}{value:,.0f} msgs/s "
        f"({value / float(cap['messages_per_second']):.0%} of its capacity)"
    )
    level = [b for b in held if b != top and _overlap(held[b][0], slo)]
    if level:
        sentence += f", level with {', '.join(f'`{b}`' for b in level)} (their ranges overlap)"
    if bottom != top:
        low = float(held[bottom][0]["messages_per_second"])
        sentence += f", `{bottom}` the least, {low:,.0f}"
    never = [b for b, v in slos.items() if v[0].get("messages_per_second") is None]
    if never:
        sentence += f"; {', '.join(f'`{b}`' for b in never)} missed it at every rate measured"
    return sentence + "."


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return "range" in a and "range" in b and overlaps(a["range"], b["range"])


def _floor(latency: dict[str, Any]) -> str | None:
    auto = latency.get("slo_auto") or _auto(latency)
    if not auto:
        return None
    ci = auto.get("floor_p99_ci_us")
    interval = f" [{_us(ci[0])}-{'open' if ci[1] is None else _us(ci[1])}]" if ci else ""
    verb = "set" if latency.get("slo_auto_requested") else "would set"
    return (
        f"The instrument's floor, the same client against `native`, had a p99 of "
        f"{_us(auto['floor_p99_us'])}{interval} at {auto['floor_fraction']:.0%} of native's "
        f"capacity; `--slo-p99 auto` {verb} the target at {auto['factor']:g}x that, "
        f"{_us(auto['p99_us'])}."
    )


def _auto(latency: dict[str, Any]) -> dict[str, Any] | None:
    return auto_target(latency) if latency.get("slo_rule") else None


def published_options(backends: tuple[str, ...]) -> tuple[str, ...]:
    """A published sweep's options: its backends, and the budget for undecided points."""
    return ("--backends", ",".join(backends), "--remeasure-budget", str(REMEASURE_BUDGET_S))


def _measure(ctx: Context) -> list[str]:
    options = QUICK if ctx.quick else published_options(BACKENDS)
    return run_into(ctx, FILE, "--scenario", "latency", *options)


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("latency", FILE))
        return
    doc = ctx.read(FILE, "latency")
    run = run_from_doc(doc, SHOWN)
    figures, skipped = charts_of(run, DRAWN)
    draw(ctx, figures, CHARTS, skipped)
    ctx.rewrite(BEGIN, END, render(doc, SHOWN, list(figures)))


STEP = Step(
    name="latency",
    help="echobench run --scenario latency over one backend per family (about 13 minutes): "
    "docs/latency.md's table and charts",
    files=(FILE, f"{CHARTS}/*.png"),
    measure=_measure,
    render=_render,
)
