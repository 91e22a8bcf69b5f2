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


def _marked(case: dict[str, Any] | None) -> str:
    """A point's p99 with what a reader must know about it."""
    if case is None:
        return "-"
    if not case.get("repeats"):
        return "failed"
    summary = case.get("summary") or {}
    text = _us(_p99(case))
    if summary.get("overloaded"):
        text += " (O)"
    if summary.get("client_bound"):
        text += " (C)"
    return text


def _slo(sweep: dict[str, Any]) -> str:
    slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
    value = slo.get("messages_per_second")
    if value is None:
        return "none" if sweep.get("capacity") else "probe failed"
    text = f"{'≥ ' if slo.get('at_least') else ''}{value / 1000:,.1f}k"
    if slo.get("interpolated"):
        text += " ~"
    if slo.get("client_bound"):
        text += " (C)"
    return text


def _point(sweep: dict[str, Any], rate: float) -> str:
    for point in sweep.get("points") or ():
        if point["rate"] == rate:
            return str(point["case"])
    return ""


def render(doc: dict[str, Any], shown: str, charts: list[str] | None = None) -> str:
    latency = doc["latency"]
    env = doc["environment"]
    config = doc["config"]
    cases = _cases(doc)
    common = latency["common"][0] if latency.get("common") else {"rates": []}
    rates = [float(r) for r in common["rates"]]
    target = float(latency["slo_p99_us"])
    lines = [
        header(
            env,
            shown,
            f"; {', '.join(map(str, config.get('sizes') or []))} B messages on "
            f"{', '.join(map(str, config.get('connections') or []))} connections; a "
            f"{latency['probe_duration']:g} s closed-loop probe, then open-loop points of "
            f"{config['duration']:g} s after {config['warmup']:g} s warm-up at "
            + ", ".join(f"{f:.0%}" for f in latency["load_fractions"])
            + " of each backend's capacity and at the common rates "
            + (
                f"({', '.join(f'{f:.0%}' for f in latency['common_fractions'])} of the slowest "
                f"backend's, `{common.get('from_backend')}`)"
                if common.get("from_backend")
                else "(given with --rate)"
            )
            + f", {config['repeat']} repeat(s) each"
            # A file from before ``--awake`` ran with the server's CPUs idling.
            + (
                "; the server's CPUs kept awake by an idle-priority busy loop (a halted vCPU's "
                "wake-up otherwise dominates p99 at low load)"
                + (", the open-loop points only." if config.get("awake") == "auto" else ".")
                if config.get("awake")
                else "."
            ),
            cases=doc["cases"],
        ),
        "",
        "| backend | capacity msgs/s | "
        + " | ".join(f"p99 at {r:,.0f}/s" for r in rates)
        + f" | msgs/s with p99 under {_target(target)} |",
        "| --- | ---: | " + " | ".join("---:" for _ in rates) + " | ---: |",
    ]
    for sweep in latency["sweeps"]:
        cap = sweep.get("capacity")
        capacity = "failed" if cap is None else f"{cap['messages_per_second'] / 1000:,.1f}k"
        if cap is not None and cap.get("client_bound"):
            capacity += " (C)"
        cells = [_marked(cases.get(_point(sweep, rate))) for rate in rates]
        lines.append(
            f"| `{sweep['backend']}` | {capacity} | " + " | ".join(cells) + f" | {_slo(sweep)} |"
        )
    lines += [
        "",
        "Marks: (C) client-bound: a capacity the load client set (the server's is at least "
        "that; its sweep may be capped at what the open-loop client held), or a point whose "
        "client fell behind its schedule (that latency is not the server's); (O) overloaded: "
        "the rate asked for was not met; ~ interpolated between two measured points; ≥ every "
        "point met the target, so a lower bound.",
    ]
    lines += closing(takeaways(doc), charts or (), CHARTS)
    return "\n".join(lines)


def takeaways(doc: dict[str, Any]) -> list[str]:
    """Two sentences, every figure read from ``doc``: the p99 spread at the highest common
    rate, and who sustains the most and the least load under the latency target."""
    latency = doc["latency"]
    cases = _cases(doc)
    sentences = []
    common = latency["common"][0] if latency.get("common") else None
    if common and common["rates"]:
        rate = float(max(common["rates"]))
        at = {
            s["backend"]: cases[case]
            for s in latency["sweeps"]
            if (case := _point(s, rate)) and cases.get(case, {}).get("repeats")
        }
        honest = {b: c for b, c in at.items() if not (c.get("summary") or {}).get("client_bound")}
        if len(honest) >= 2:
            ranked = sorted(honest, key=lambda b: _p99(honest[b]) or 0.0)
            best, worst = ranked[0], ranked[-1]
            low, high = _p99(honest[best]) or 0.0, _p99(honest[worst]) or 0.0
            overloaded = [b for b in ranked if (honest[b].get("summary") or {}).get("overloaded")]
            sentence = (
                f"Offered the same {rate:,.0f} msgs/s, p99 ran from {_us(low)} (`{best}`) to "
                f"{_us(high)} (`{worst}`), {high / low:,.1f}x apart"
            )
            if overloaded:
                sentence += f", and {', '.join(f'`{b}`' for b in overloaded)} could not keep up"
            sentences.append(sentence + ".")
    target = float(latency["slo_p99_us"])
    slos = {
        s["backend"]: (s["summary"]["slo_capacity"], s["capacity"])
        for s in latency["sweeps"]
        if s.get("summary") and s.get("capacity")
    }
    held = {b: v for b, v in slos.items() if v[0].get("messages_per_second") is not None}
    if held:
        top = max(held, key=lambda b: held[b][0]["messages_per_second"])
        bottom = min(held, key=lambda b: held[b][0]["messages_per_second"])
        slo, cap = held[top]
        value = float(slo["messages_per_second"])
        sentence = (
            f"Holding p99 under {_target(target)}, `{top}` sustained "
            f"{'at least ' if slo.get('at_least') else ''}{value:,.0f} msgs/s "
            f"({value / float(cap['messages_per_second']):.0%} of its capacity)"
        )
        if bottom != top:
            low = float(held[bottom][0]["messages_per_second"])
            sentence += f", `{bottom}` the least, {low:,.0f}"
        never = [b for b, v in slos.items() if v[0].get("messages_per_second") is None]
        if never:
            sentence += f"; {', '.join(f'`{b}`' for b in never)} missed it at every rate measured"
        sentences.append(sentence + ".")
    return sentences


def _measure(ctx: Context) -> list[str]:
    options = QUICK if ctx.quick else ("--backends", ",".join(BACKENDS))
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
    help="echobench run --scenario latency over one backend per family (about 7 minutes): "
    "docs/latency.md's table and charts",
    files=(FILE, f"{CHARTS}/*.png"),
    measure=_measure,
    render=_render,
)
