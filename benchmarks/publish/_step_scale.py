"""docs/scale.md's published part: a table, three sentences and charts from a scale run.

The ``scale`` step of ``echobench publish`` runs ``echobench run --scenario scale``
into ``results/published/scale.json``; from that file alone it draws the scale
charts into ``results/published/scale-charts/`` and rewrites docs/scale.md between the
``scale`` markers: per backend, the median msgs/s at each connection count and with
idle connections held, then at the largest count p99, Jain's index, starved
connections, memory per connection and the connection rate; and three sentences
whose every figure is read from the file.
"""

from __future__ import annotations

import statistics
from typing import Any

from echobench.benchmarks.charts._catalog import SCALE, charts_of
from echobench.benchmarks.compare._runview import run_from_doc
from echobench.benchmarks.publish._pages import header
from echobench.benchmarks.publish._step import Context, Step, closing, draw, not_yet, run_into

FILE = "scale.json"
SHOWN = f"results/published/{FILE}"
CHARTS = "scale-charts"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"


def _closed(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in doc["cases"] if c.get("rate") is None]


def _summary(case: dict[str, Any] | None) -> dict[str, Any]:
    return (case or {}).get("summary") or {}


def _rate(case: dict[str, Any] | None) -> float | None:
    rate = _summary(case).get("messages_per_second")
    return None if rate is None else float(rate["median"])


def _cell(case: dict[str, Any] | None) -> str:
    if case is None:
        return "-"
    if case.get("status") != "ok" and not case.get("repeats"):
        return "failed"
    summary = _summary(case)
    rate = _rate(case)
    text = "-" if rate is None else f"{rate / 1000:,.1f}k"
    if summary.get("starved"):
        text += f" S{summary['starved']:g}"
    if summary.get("idle_dropped"):
        text += f" D{summary['idle_dropped']:g}"
    if summary.get("client_bound"):
        text += " (C)"
    return text


def _count(case: dict[str, Any]) -> str:
    idle = case.get("idle") or 0
    return f"{case['connections']:,}" + (f" + {idle:,} idle" if idle else "")


def _columns(doc: dict[str, Any]) -> list[tuple[int, int]]:
    keys = {(c["connections"], c.get("idle") or 0) for c in _closed(doc)}
    return sorted(keys, key=lambda k: (k[1] > 0, k[0], k[1]))


def _table(doc: dict[str, Any]) -> tuple[list[str], dict[str, dict[tuple[int, int], Any]]]:
    by_backend: dict[str, dict[tuple[int, int], Any]] = {}
    for case in _closed(doc):
        key = (case["connections"], case.get("idle") or 0)
        by_backend.setdefault(case["backend"], {})[key] = case
    return list(by_backend), by_backend


def _largest_plain(cases: dict[tuple[int, int], Any]) -> dict[str, Any] | None:
    plain = [k for k in cases if not k[1]]
    return cases[max(plain)] if plain else None


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def render(doc: dict[str, Any], shown: str, charts: list[str] | None = None) -> str:
    columns = _columns(doc)
    backends, cases = _table(doc)
    env = doc["environment"]
    config = doc["config"]
    top = max((k[0] for k in columns if not k[1]), default=0)
    head = [f"{a:,}" + (f"+{i:,} idle" if i else "") for a, i in columns]
    lines = [
        header(
            env,
            shown,
            f"; {', '.join(map(str, config.get('sizes') or []))} B messages, closed loop, "
            f"{config.get('repeat')} repeat(s) of {config.get('duration')} s after "
            f"{config.get('warmup')} s warm-up. Throughput: median msgs/s per connection "
            f"count; the last five columns at {top:,} connections (memory per connection: "
            "over every connection open and idle, before the load).",
            cases=doc["cases"],
        ),
        "",
        "| backend | " + " | ".join(head) + " | p99 | Jain | starved | KiB/conn | connects/s |",
        "| --- | " + " | ".join("---:" for _ in head) + " | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in backends:
        mine = cases[backend]
        big = _summary(_largest_plain(mine))
        p99 = (big.get("p99_us") or {}).get("median")
        memory = big.get("server_rss_per_connection_bytes")
        cells = [_cell(mine.get(key)) for key in columns]
        cells += [
            _fmt(None if p99 is None else p99 / 1000, ",.1f", " ms"),
            _fmt(big.get("jain"), ".3f"),
            _fmt(big.get("starved"), ",.0f"),
            _fmt(None if memory is None else memory / 1024, ",.1f"),
            _fmt(big.get("connect_per_second"), ",.0f"),
        ]
        lines.append(f"| `{backend}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Marks: S*n*: *n* connections completed no echo in the window while the others did "
        "(a measured result: the server served some and starved the rest); D*n*: *n* idle "
        "connections were not held to the end (closed, or no echo of a probe within 10 s); "
        "(C): the load client was saturated, so the number measures it at least as much as "
        "the server.",
    ]
    lines += closing(takeaways(doc), charts or (), CHARTS)
    return "\n".join(lines)


def takeaways(doc: dict[str, Any]) -> list[str]:
    """Three sentences, each figure read from ``doc``: who leads at the largest count and
    who starves there, the spread of memory per connection, and the busy-among-idle test."""
    backends, cases = _table(doc)
    sentences = []
    at_top = {b: _largest_plain(cases[b]) for b in backends}
    measured = {b: c for b, c in at_top.items() if c is not None and _rate(c) is not None}
    if measured:
        count = max(c["connections"] for c in measured.values())
        ranked = sorted(
            (b for b, c in measured.items() if c["connections"] == count),
            key=lambda b: -(_rate(measured[b]) or 0),
        )
        best, worst = ranked[0], ranked[-1]
        sentence = (
            f"At {count:,} connections `{best}` led with "
            f"{(_rate(measured[best]) or 0) / 1000:,.1f}k msgs/s and `{worst}` trailed with "
            f"{(_rate(measured[worst]) or 0) / 1000:,.1f}k"
        )
        starving = [b for b in ranked if _summary(measured[b]).get("starved")]
        if starving:
            named = ", ".join(
                f"`{b}` left {_summary(measured[b])['starved']:,.0f} without an echo "
                f"(Jain {_summary(measured[b]).get('jain') or 0:.2f})"
                for b in starving[:3]
            )
            sentence += f"; {named}"
        else:
            sentence += "; no backend starved a connection"
        sentences.append(sentence + ".")
    memory = {
        b: float(_summary(c)["server_rss_per_connection_bytes"])
        for b, c in measured.items()
        if _summary(c).get("server_rss_per_connection_bytes") is not None
    }
    if len(memory) >= 2:
        low, high = min(memory, key=memory.__getitem__), max(memory, key=memory.__getitem__)
        sentences.append(
            f"Memory per open connection ran from {memory[low] / 1024:,.1f} KiB (`{low}`) to "
            f"{memory[high] / 1024:,.1f} KiB (`{high}`), median "
            f"{statistics.median(memory.values()) / 1024:,.1f} KiB."
        )
    shares = {}
    for backend in backends:
        for (active, idle), case in cases[backend].items():
            alone = cases[backend].get((active, 0))
            if idle and _rate(case) is not None and _rate(alone):
                shares[backend] = ((_rate(case) or 0) / (_rate(alone) or 1), active, idle)
    if shares:
        low = min(shares, key=lambda b: shares[b][0])
        _, active, idle = shares[low]
        kept = statistics.median(s[0] for s in shares.values())
        sentences.append(
            f"With {idle:,} idle connections held open, {active:,} busy "
            f"connection{'s' if active != 1 else ''} kept a median "
            f"{kept * 100:.0f}% of their throughput alone; `{low}` kept the least, "
            f"{shares[low][0] * 100:.0f}%."
        )
    return sentences


def _measure(ctx: Context) -> list[str]:
    if ctx.quick:
        # The pipeline end to end, scale charts included, in about a minute.
        return run_into(
            ctx, FILE, "--scenario", "scale", "--backends", "asyncio-protocol,threads",
            "--connections", "1,10,100,1000,10+1000", "--duration", "0.5", "--warmup", "0.3",
        )  # fmt: skip
    return run_into(ctx, FILE, "--scenario", "scale")


def _render(ctx: Context) -> None:
    if not ctx.exists(FILE):
        ctx.rewrite(BEGIN, END, not_yet("scale", FILE))
        return
    doc = ctx.read(FILE, "scale")
    figures, skipped = charts_of(run_from_doc(doc, SHOWN), SCALE)
    draw(ctx, figures, CHARTS, skipped)
    ctx.rewrite(BEGIN, END, render(doc, SHOWN, list(figures)))


STEP = Step(
    name="scale",
    help="echobench run --scenario scale: 1 to 10,000 connections, 10 busy among 10,000 "
    "idle; docs/scale.md's table and charts",
    files=(FILE, f"{CHARTS}/*.png"),
    measure=_measure,
    render=_render,
)
