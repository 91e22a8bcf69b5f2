"""The terminal table of ``echobench compare``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable

from echobench.benchmarks.compare._comparison import (
    CHANGED,
    NOT_ENOUGH,
    Effect,
    Table,
    case_text,
    ratio_lines,
    short_text,
)


def _escaped(text: str) -> str:
    return text.replace("[", r"\[")


def _ratio(effect: Effect, confidence: float) -> str:
    return _escaped("\n".join(ratio_lines(effect, confidence)))


def _verdict(effect: Effect) -> str:
    text = _escaped(f"{effect.short()}\n{effect.could_see()}")
    if effect.verdict == CHANGED:
        return f"[bold]{text}[/bold]"
    if effect.verdict == NOT_ENOUGH:
        return f"[yellow]{text}[/yellow]"
    return text


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def render(console: Console, table: Table) -> None:
    confidence = table.settings.confidence
    for comparison in table.comparisons:
        title = f"B = {comparison.b_name}   vs   A = {comparison.a_name}"
        out = RichTable(title=title, title_justify="left", show_lines=True)
        # Wrap, never cut: a verdict cut to "not enou…" is worse than a taller table.
        out.add_column("case (of B)", min_width=18, overflow="fold")
        out.add_column("A msg/s", justify="right", overflow="fold")
        out.add_column("B msg/s", justify="right", overflow="fold")
        out.add_column("msg/s B/A", justify="right", overflow="fold")
        out.add_column("changed?", overflow="fold")
        out.add_column("p99 B/A", justify="right", overflow="fold")
        out.add_column("changed?", overflow="fold")
        for pair in comparison.pairs:
            notes = []
            if pair.a.both_saturated or pair.b.both_saturated:
                notes.append("client saturated")
            elif pair.a.client_bound or pair.b.client_bound:
                notes.append("client-bound")
            if pair.a.unstable or pair.b.unstable:
                notes.append("unstable")
            if pair.a.disturbed or pair.b.disturbed:
                notes.append("disturbed")
            label = short_text(pair.b) + (f" ({', '.join(notes)})" if notes else "")
            out.add_row(
                _escaped(label),
                _rate(pair.a.throughput()),
                _rate(pair.b.throughput()),
                _ratio(pair.throughput, confidence),
                _verdict(pair.throughput),
                _ratio(pair.p99, confidence),
                _verdict(pair.p99),
            )
        console.print(out)
        for a, b in comparison.failed:
            which = " and ".join(name for name, case in (("A", a), ("B", b)) if not case.ok)
            console.print(f"  not compared, failed in {which}: {case_text(b)}", markup=False)
        for case in comparison.only_a:
            console.print(f"  only in A ({comparison.a_name}): {case_text(case)}", markup=False)
        for case in comparison.only_b:
            console.print(f"  only in B ({comparison.b_name}): {case_text(case)}", markup=False)
    s = table.settings
    console.print(
        f"Ratios are of medians. CI: exact {confidence * 100:g}% Hodges-Lehmann interval of the "
        f"ratio; [range]: min(B)/max(A) to max(B)/min(A) over the repeats. p: two-sided exact "
        f"Mann-Whitney U over the repeats; adj: adjusted over all {table.tests} tests. A change "
        f"is called ('yes') when adj < {s.alpha:g} and the CI lies outside "
        f"+-{s.threshold * 100:g}%. 'could detect > X%': the smallest change these repeats "
        f"would call in 80% of runs, if it were the table's only one.",
        markup=False,
    )
    console.print(table.summary(), markup=False)
