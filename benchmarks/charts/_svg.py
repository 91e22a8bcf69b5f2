"""A run's charts made fit for a page: inline SVG with hover values, optional highlight.

The charts tag what they draw for a case with ``gid="<kind>:<case id>"``; here
each such group gets a ``<title>`` with the case's figures, which a browser shows
on hover, and a ``data-backend`` for the page's highlight buttons. Ids are
prefixed per chart, so several charts live in one page without clashing.
``highlight`` greys out every backend but the chosen ones, in place, so that a
few lines can be read among eighteen.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from html import escape, unescape

import matplotlib
from matplotlib.artist import Artist
from matplotlib.collections import Collection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from echobench.benchmarks.compare._ranking import marks
from echobench.benchmarks.compare._runview import CaseView, Run

DIMMED = "#d3d3d3"


def case_hover(case: CaseView) -> str:
    """Everything a reader hovering one case's mark wants, in one line."""
    if not case.ok:
        return f"{case.backend}, {case.label}: failed: {case.error or 'no measurement'}"
    words = [f"{case.backend}, {case.label}: {case.throughput() or 0:,.0f} msg/s"]
    low, high = case.throughput("min"), case.throughput("max")
    if low is not None and high is not None and len(case.repeats) > 1:
        words[0] += f" (range {low:,.0f} to {high:,.0f})"
    if (p99 := case.p99()) is not None:
        words.append(f"p99 {p99:,.1f} µs")
    if case.efficiency is not None:
        words.append(f"{case.efficiency:,.0f} msg per server CPU-s")
    said = marks(case)
    return ", ".join(words) + (f" ({', '.join(said)})" if said else "")


def _hex(colour: object) -> str | None:
    try:
        return to_hex(colour, keep_alpha=False)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def _colours_of(artist: Artist) -> set[str]:
    found: list[object] = []
    if isinstance(artist, Line2D):
        found += [artist.get_color(), artist.get_markerfacecolor(), artist.get_markeredgecolor()]
    elif isinstance(artist, Patch):
        found += [artist.get_facecolor()]
    elif isinstance(artist, Collection):
        found += list(artist.get_edgecolor()) + list(artist.get_facecolor())
    return {h for h in map(_hex, found) if h is not None}


def highlight(figure: Figure, palette: Mapping[str, str], keep: Iterable[str]) -> None:
    """Grey every mark drawn in the colour of a backend not in ``keep``, legend included,
    and lift the kept backends' marks above the grey ones."""
    kept = set(keep)
    dim = {to_hex(c) for name, c in palette.items() if name not in kept}
    lift = {to_hex(c) for name, c in palette.items() if name in kept}
    for artist in figure.findobj():
        colours = _colours_of(artist)
        if colours & dim:
            if isinstance(artist, Line2D):
                artist.set_color(DIMMED)
                artist.set_markerfacecolor(DIMMED)
                artist.set_markeredgecolor(DIMMED)
            elif isinstance(artist, Patch):
                artist.set_facecolor(DIMMED)
                artist.set_edgecolor(DIMMED)
            elif isinstance(artist, Collection):
                artist.set_color(DIMMED)
            artist.set_zorder(artist.get_zorder() - 0.5)
        elif colours & lift:
            artist.set_zorder(artist.get_zorder() + 1)


def inline_svg(figure: Figure, prefix: str, run: Run) -> str:
    """``figure`` as an ``<svg>`` element for an HTML page: ids prefixed, titles added."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    text = text.replace("<svg ", '<svg class="chart" ', 1)
    cases = {c.id: c for c in run.cases}

    def titled(match: re.Match[str]) -> str:
        found = [cases[i] for i in unescape(match.group(3)).split(",") if i in cases]
        if not found:
            return match.group(0)
        hover = "; ".join(case_hover(c) for c in found)
        # data-backend: what the page's highlight buttons pick out (one backend per mark).
        return (
            f'{match.group(0)[:-1]} data-backend="{escape(found[0].backend)}">'
            f"<title>{escape(hover)}</title>"
        )

    return re.sub(rf'<g id="{re.escape(prefix)}-(([a-z-]+):([^"]+))">', titled, text)
