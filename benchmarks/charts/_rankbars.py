"""A ranking as inline SVG: one horizontal bar per backend, best at the top.

Bars carry the family colours of the charts (``_palette``), whiskers the range
over the repeats, and the charts' marks: hatched for a saturated load client,
"unstable", "starved" and "failed" written beside the bar. Every row has a
``<title>``, so hovering it shows the exact figures. With a comparison, a second
panel beside the bars shows each backend's ratio B/A on a log scale, with its
range and whether it is significant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from html import escape

from echobench.benchmarks.compare._comparison import (
    CHANGED,
    NO_DATA,
    NOT_ENOUGH,
    WITHIN_NOISE,
    Effect,
    Pair,
)
from echobench.benchmarks.compare._ranking import Ranking, compact, marks
from echobench.benchmarks.compare._runview import CaseView

ROW = 20
TOP = 8
LABEL_W = 130
BAR_W = 250
NOTE_W = 250
AXIS_H = 34
RATIO_W = 390
GREY = "#c8c8c8"


def _ticks(top: float) -> list[float]:
    """Round steps (1, 2 or 5 times a power of ten), about five up to ``top``."""
    if top <= 0:
        return [0.0]
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(top / step) + 1)]


def _hover(ranking: Ranking, case: CaseView) -> str:
    values = ranking.values(case)
    if values is None:
        if not case.ok:
            return f"{case.backend}: failed: {case.error or 'no measurement'}"
        return f"{case.backend}: {ranking.metric.missing(case)}"
    median, low, high = values
    unit = ranking.metric.unit
    text = f"{case.backend} ({case.family}): {ranking.metric.name} {median:,.1f} {unit}"
    if ranking.metric.spread:
        text += f", range {low:,.1f} to {high:,.1f} over {len(case.repeats)} repeat(s)"
    if ranking.metric.bounded(case):
        text += f"; a {ranking.metric.bound} for the server: {ranking.metric.why_bound}"
    cv = case.cv
    if cv is not None:
        text += f", CV {cv:.1%}"
    if case.verdict:
        text += f"; bottleneck: {case.verdict}"
    said = marks(case)
    return text + (f" ({', '.join(said)})" if said else "")


def _effect_of(ranking: Ranking, pair: Pair) -> Effect:
    """The change in what the ranking ranks: msg/s, or p99 for a latency ranking."""
    return pair.throughput if ranking.metric.unit == "msg/s" else pair.p99


#: A verdict of ``compare`` in a word that fits beside the ratio; hover says it all.
_WORD = {CHANGED: "changed", NOT_ENOUGH: "too few repeats", WITHIN_NOISE: "within noise"}


def effect_hover(effect: Effect) -> str:
    ratio, ci = effect.ratio, effect.interval
    text = f"B/A {ratio.text()} (median, [range over the repeats])"
    if ci.low is not None and ci.high is not None and ci.confidence is not None:
        text += f", {ci.confidence:.0%} CI {ci.low:.3f}-{ci.high:.3f}"
    return f"{text}: {effect.text()}"


def _ratio_panel(
    ranking: Ranking, x0: int, y: float, pair: Pair | None, lo: float, hi: float
) -> str:
    if pair is None:
        return f'<text x="{x0 + 4}" y="{y + 14}" class="note">not in A</text>'
    effect = _effect_of(ranking, pair)
    ratio, ci = effect.ratio, effect.interval

    def at(value: float) -> float:
        value = min(max(value, lo), hi)
        return x0 + 8 + (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo)) * 150

    if ratio.median is None:
        return f'<text x="{x0 + 4}" y="{y + 14}" class="note">n/a</text>'
    fill = "#222" if effect.significant else "white"
    parts = [f"<title>{escape(effect_hover(effect))}</title>"]
    if ci.low is not None and ci.high is not None:
        parts.append(
            f'<line x1="{at(ci.low):.1f}" x2="{at(ci.high):.1f}" y1="{y + 10}" '
            f'y2="{y + 10}" stroke="#999" stroke-width="4"/>'
        )
    if ratio.low is not None and ratio.high is not None:
        parts.append(
            f'<line x1="{at(ratio.low):.1f}" x2="{at(ratio.high):.1f}" y1="{y + 10}" '
            f'y2="{y + 10}" stroke="#222" stroke-width="1.2"/>'
        )
    word = _WORD.get(effect.verdict, effect.verdict if effect.verdict == NO_DATA else "no")
    parts.append(
        f'<circle cx="{at(ratio.median):.1f}" cy="{y + 10}" r="4" fill="{fill}" stroke="#222"/>'
        f'<text x="{x0 + 168}" y="{y + 14}" class="note">{escape(ratio.text())} '
        f"{escape(word)}</text>"
    )
    return f'<g class="ratio">{"".join(parts)}</g>'


def ranking_width(compared: bool) -> int:
    return LABEL_W + BAR_W + NOTE_W + (RATIO_W if compared else 0)


def ranking_svg(
    ranking: Ranking,
    palette: Mapping[str, str],
    pairs: Mapping[str, Pair] | None = None,
) -> str:
    """The ranking as an ``<svg>`` element; ``pairs`` (B's case id -> pair) adds B/A."""
    rows = ranking.cases
    height = TOP + ROW * len(rows) + AXIS_H
    width = ranking_width(pairs is not None)
    # A range open upward (a capacity that is a lower bound) reaches the axis's end.
    top = max(
        (
            max(v[0], v[2] if math.isfinite(v[2]) else v[0])
            for c in rows
            if (v := ranking.values(c)) is not None
        ),
        default=0.0,
    )
    ticks = _ticks(top)
    scale_top = max(top, ticks[-1]) or 1.0

    def x(value: float) -> float:
        return LABEL_W + value / scale_top * BAR_W

    hatch = f"hatch-{ranking.key}"
    out = [
        f'<svg class="ranking" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(ranking.title)}: {escape(ranking.metric.name)} by backend">'
        f'<defs><pattern id="{hatch}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="black" '
        'stroke-width="1.2"/></pattern></defs>'
    ]
    axis_y = TOP + ROW * len(rows)
    for tick in ticks:
        out.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP}" y2="{axis_y}" class="grid"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 13}" class="tick">{compact(tick)}</text>'
        )
    direction = "more is better" if ranking.metric.higher_is_better else "less is better"
    out.append(
        f'<text x="{LABEL_W}" y="{axis_y + 28}" class="axis">{escape(ranking.metric.name)} '
        f"[{escape(ranking.metric.unit)}], {direction}"
        f"{'; whiskers: ' + escape(_whiskers(ranking)) if ranking.metric.spread else ''}</text>"
    )
    if pairs is not None:
        lo, hi = _ratio_span(ranking, pairs)
        out.append(_ratio_axis(ranking, lo, hi, axis_y))
    for i, case in enumerate(rows):
        y = TOP + i * ROW
        colour = palette.get(case.backend, GREY)
        row = [
            f'<g class="row" data-backend="{escape(case.backend)}">'
            f"<title>{escape(_hover(ranking, case))}</title>"
            f'<rect x="0" y="{y}" width="{LABEL_W + BAR_W + NOTE_W}" height="{ROW}" '
            'class="band"/>'
            f'<text x="{LABEL_W - 6}" y="{y + 14}" class="name">{escape(case.backend)}</text>'
        ]
        row.append(_bar(ranking, case, y, colour, x, hatch, scale_top))
        if pairs is not None:
            row.append(
                _ratio_panel(ranking, LABEL_W + BAR_W + NOTE_W, y, pairs.get(case.id), lo, hi)
            )
        row.append("</g>")
        out.append("".join(row))
    out.append("</svg>")
    return "".join(out)


def _whiskers(ranking: Ranking) -> str:
    within = ranking.metric.within
    return "min to max over the repeats" if within == "the repeats' range" else within


def _ratio_span(ranking: Ranking, pairs: Mapping[str, Pair]) -> tuple[float, float]:
    """The B/A axis: symmetric around 1 on a log scale, at least 0.8 to 1.25."""
    ratios = [
        v
        for p in pairs.values()
        for r in [_effect_of(ranking, p).ratio]
        for v in (r.low, r.high, r.median)
        if v is not None and v > 0
    ]
    spread = max([abs(math.log(v)) for v in ratios] + [math.log(1.25)])
    return math.exp(-spread), math.exp(spread)


def _ratio_axis(ranking: Ranking, lo: float, hi: float, axis_y: int) -> str:
    x0 = LABEL_W + BAR_W + NOTE_W
    one = x0 + 8 + 75
    return (
        f'<line x1="{one}" x2="{one}" y1="{TOP}" y2="{axis_y}" class="one"/>'
        f'<text x="{x0 + 8}" y="{axis_y + 13}" class="tick" text-anchor="start">'
        f"{lo:.2f}</text>"
        f'<text x="{one}" y="{axis_y + 13}" class="tick">1</text>'
        f'<text x="{x0 + 158}" y="{axis_y + 13}" class="tick" text-anchor="end">'
        f"{hi:.2f}</text>"
        f'<text x="{x0 + 8}" y="{axis_y + 28}" class="axis">'
        f"{escape(ranking.metric.unit)} B/A: dot median, line range, grey bar CI; "
        "filled: changed</text>"
    )


def _bar(
    ranking: Ranking,
    case: CaseView,
    y: int,
    colour: str,
    x: Callable[[float], float],
    hatch: str,
    end: float,
) -> str:
    """One case's bar, hatched when its bound is the client's, with its whisker (to the
    axis's ``end`` when open upward) and its value and marks; or why it has none."""
    values = ranking.values(case)
    if values is None:
        why = ranking.metric.missing(case)
        short = why if len(why) <= 70 else why[:69] + "…"  # the whole of it on hover
        return f'<text x="{LABEL_W + 4}" y="{y + 14}" class="failed">{escape(short)}</text>'
    said = marks(case)
    median, low, high = values
    high = min(high, end)
    bar = x(median) - LABEL_W
    parts = [
        f'<rect x="{LABEL_W}" y="{y + 3}" width="{bar:.1f}" height="{ROW - 6}" fill="{colour}"/>'
    ]
    if ranking.metric.bounded(case):
        parts.append(
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{bar:.1f}" height="{ROW - 6}" '
            f'fill="url(#{hatch})" stroke="black" stroke-width="0.8"/>'
        )
    parts.append(
        f'<path d="M{x(low):.1f} {y + 10}H{x(high):.1f}M{x(low):.1f} {y + 6}V{y + 14}'
        f'M{x(high):.1f} {y + 6}V{y + 14}" class="whisker"/>'
        f'<text x="{x(high) + 5:.1f}" y="{y + 14}" class="value">{compact(median)}'
        f"{escape(' · ' + ', '.join(said)) if said else ''}</text>"
    )
    return "".join(parts)
