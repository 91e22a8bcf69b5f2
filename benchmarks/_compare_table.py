"""The terminal table of ``echobench compare``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from benchmarks._compare import NOT_ENOUGH, Comparison, Significance, case_text, short_text


def _styled(mark: Significance) -> str:
    text = mark.short().replace("[", r"\[")
    if mark.significant:
        return f"[bold]{text}[/bold]"
    if mark.verdict == NOT_ENOUGH:
        return f"[yellow]{text}[/yellow]"
    return text


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def render(console: Console, comparisons: list[Comparison], alpha: float) -> None:
    for comparison in comparisons:
        title = f"B = {comparison.b_name}   vs   A = {comparison.a_name}"
        table = Table(title=title, title_justify="left", show_lines=False)
        # Wrap, never cut: a verdict cut to "not enou…" is worse than a taller table.
        table.add_column("case (of B)", min_width=18, overflow="fold")
        table.add_column("A msg/s", justify="right", overflow="fold")
        table.add_column("B msg/s", justify="right", overflow="fold")
        table.add_column("msg/s B/A [range]", justify="right", overflow="fold")
        table.add_column("significant?", overflow="fold")
        table.add_column("p99 B/A [range]", justify="right", overflow="fold")
        table.add_column("significant?", overflow="fold")
        for pair in comparison.pairs:
            notes = []
            if pair.a.both_saturated or pair.b.both_saturated:
                notes.append("client saturated")
            elif pair.a.client_bound or pair.b.client_bound:
                notes.append("client-bound")
            if pair.a.unstable or pair.b.unstable:
                notes.append("unstable")
            label = short_text(pair.b) + (f" ({', '.join(notes)})" if notes else "")
            table.add_row(
                label.replace("[", r"\["),
                _rate(pair.a.throughput()),
                _rate(pair.b.throughput()),
                pair.throughput.text("\n").replace("[", r"\["),
                _styled(pair.throughput_significance),
                pair.p99.text("\n").replace("[", r"\["),
                _styled(pair.p99_significance),
            )
        console.print(table)
        for a, b in comparison.failed:
            which = " and ".join(name for name, case in (("A", a), ("B", b)) if not case.ok)
            console.print(f"  not compared, failed in {which}: {case_text(b)}", markup=False)
        for case in comparison.only_a:
            console.print(f"  only in A ({comparison.a_name}): {case_text(case)}", markup=False)
        for case in comparison.only_b:
            console.print(f"  only in B ({comparison.b_name}): {case_text(case)}", markup=False)
    console.print(
        f"Ratios are of medians; [range] is min(B)/max(A) to max(B)/min(A) over the repeats. "
        f"Significant: two-sided Mann-Whitney U over the repeats, p < {alpha:g}; "
        f"'{NOT_ENOUGH}': too few repeats for any p to fall below {alpha:g}.",
        markup=False,
    )
