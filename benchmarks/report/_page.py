"""One self-contained HTML page for a run: the answer first, then charts, then every case.

The page opens with a ranking per group of comparable cases (``_ranking``), each
with a sentence computed from the data; then the charts as inline SVG with hover
values; then the full table, which a small inline script makes sortable and
filterable; then the notes and the environment. Given a baseline run, the page
also shows ``compare``'s ratios B/A beside the rankings and in a table.

Nothing is fetched: styles, script and charts are in the page, so it works
offline and as one mailed file. Every piece of text from a results file goes
through ``_text``: backend names, errors and stderr tails are data, not markup,
and absolute paths of the machine that made the file are cut to their last part.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from echobench.benchmarks.charts._catalog import BY_NAME
from echobench.benchmarks.charts._figures import run_figures
from echobench.benchmarks.charts._palette import colours
from echobench.benchmarks.charts._rankbars import ranking_svg, ranking_width
from echobench.benchmarks.charts._svg import highlight as grey_out
from echobench.benchmarks.charts._svg import inline_svg
from echobench.benchmarks.compare._comparison import (
    Criteria,
    Effect,
    Pair,
    Table,
    compare_runs,
    ratio_lines,
    short_text,
)
from echobench.benchmarks.compare._ranking import marks, rankings, starved
from echobench.benchmarks.compare._runview import CaseView, Run
from echobench.benchmarks.report._assets import SCRIPT, STYLE
from echobench.benchmarks.runner._awake import awake_words
from echobench.servers._errors import UserError

# An absolute path: a slash not inside a word, a URL or a relative path, then directories.
_ABSOLUTE = re.compile(r"(?<![\w.~:/-])/(?:[^\s/\"'<>:;,()\[\]]+/)+")


def public(text: str) -> str:
    """``text`` without the directories of absolute paths: ``/home/me/x/run.json`` is
    ``…/run.json``. A page may travel; the layout of the machine that made it should not."""
    return _ABSOLUTE.sub("…/", text)


def _text(value: object) -> str:
    return escape(public(str(value)))


def _known(value: object) -> str:
    """An environment value as words; what the runner could not find out is "unknown"."""
    if value is None or value == "" or value == []:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def run_name(run: Run) -> str:
    """The file name, never the path it was read from."""
    return Path(run.path).name or "results"


def machine(env: dict[str, Any]) -> str:
    cpu = env.get("cpu") or {}
    os_info = env.get("os") or {}
    words = f"{cpu.get('model') or 'unknown CPU'}, {_known(cpu.get('count'))} CPUs"
    if os_info.get("system"):
        words += f", {os_info['system']} {os_info.get('release') or ''}".rstrip()
    if env.get("vm"):
        words += " (virtual machine)"
    return words


def identity(run: Run) -> str:
    """Date, machine and commit: what tells one run's page from another's."""
    env = run.environment
    git = env.get("git") or {}
    started = str(env.get("started_at") or "")[:10] or "unknown date"
    commit = str(git.get("commit") or "")[:8]
    commit = (
        f"commit {commit}{' (dirty)' if git.get('dirty') else ''}" if commit else ("unknown commit")
    )
    return f"{started} · {machine(env)} · {commit}"


def _command_line(env: dict[str, Any]) -> str:
    argv = [str(a) for a in env.get("command_line") or []]
    if argv:
        argv[0] = Path(argv[0]).name  # the installed script's place is the machine's business
    return " ".join(argv)


def _environment(run: Run) -> str:
    env = run.environment
    python = env.get("python") or {}
    os_info = env.get("os") or {}
    git = env.get("git") or {}
    pinning = env.get("pinning") or {}
    frameworks = env.get("frameworks") or {}
    commit = _known(git.get("commit"))
    rows: list[tuple[str, str]] = [
        ("run", run_name(run)),
        (
            "Python",
            f"{python.get('implementation') or 'unknown'} {python.get('version') or 'unknown'}",
        ),
        ("machine", machine(env)),
        ("kernel", _known(os_info.get("kernel"))),
        ("governor", _known(env.get("governor"))),
        ("turbo", _known(env.get("turbo"))),
        ("virtual machine", _known(env.get("vm"))),
        ("isolated CPUs", _known(env.get("isolated_cpus"))),
        ("load average at start", _known(env.get("load_average"))),
        (
            "pinning",
            f"server {_known(pinning.get('server_cpus'))}, "
            f"client {_known(pinning.get('client_cpus'))}",
        ),
        ("commit", commit + (" (dirty)" if git.get("dirty") else "")),
        ("started", _known(env.get("started_at"))),
        ("finished", _known(env.get("finished_at"))),
        ("command line", _known(_command_line(env))),
        (
            "frameworks",
            _known(", ".join(f"{k} {v or 'not installed'}" for k, v in frameworks.items())),
        ),
        ("complete", "yes" if run.complete else "no: the run was interrupted"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_text(v)}</td></tr>" for k, v in rows)
    warnings = "".join(f"<li>{_text(w)}</li>" for w in env.get("warnings") or [])
    return f"<table>{body}</table>" + (f"<p>Warnings:</p><ul>{warnings}</ul>" if warnings else "")


_COLUMNS = (
    "backend",
    "family",
    "size [B]",
    "connections",
    "loop",
    "transport",
    "status",
    "median msg/s",
    "min to max msg/s",
    "CV",
    "p99 [µs]",
    "msg per server CPU-s",
    "bottleneck",
    "marks",
)


def _cell(text: str, sort: object = None, css: str = "") -> str:
    value = "" if sort is None else f' data-v="{escape(str(sort))}"'
    klass = f' class="{css}"' if css else ""
    return f"<td{klass}{value}>{text}</td>"


def _case_row(case: CaseView) -> str:
    loop = "closed" if case.rate is None else f"open {case.rate:g} msg/s"
    cells = [
        _cell(_text(case.backend)),
        _cell(_text(case.family)),
        _cell(str(case.size), case.size, "num"),
        _cell(str(case.connections), case.connections, "num"),
        _cell(escape(loop), -1 if case.rate is None else case.rate),
        _cell(_text(case.transport)),
        _cell(_text(case.status)),
    ]
    if case.ok:
        low, high, cv = case.throughput("min"), case.throughput("max"), case.cv
        cells += [
            _cell(_number(case.throughput()), case.throughput(), "num"),
            _cell(f"{_number(low)} to {_number(high)}", low, "num"),
            _cell("-" if cv is None else f"{cv:.1%}", cv, "num cv"),
            _cell(_number(case.p99(), 1), case.p99(), "num"),
            _cell(_number(case.efficiency), case.efficiency, "num"),
            _cell(_text(case.verdict or "-")),
        ]
    else:
        cells += [_cell("-", "", "num") for _ in range(5)] + [_cell("-")]
    cells.append(_cell(escape(", ".join(marks(case)))))
    classes = [
        name
        for name, on in (
            ("failed", not case.ok),
            ("client", case.ok and case.client_bound),
            ("unstable", case.ok and case.unstable),
            ("disturbed", case.ok and case.disturbed),
        )
        if on
    ]
    return (
        f'<tr class="{" ".join(classes)}" data-case="{_text(case.id)}" '
        f'data-family="{_text(case.family)}" data-backend="{_text(case.backend)}">'
        f"{''.join(cells)}</tr>"
    )


def _options(label: str, ident: str, names: Sequence[str]) -> str:
    options = "".join(f'<option value="{_text(n)}">{_text(n)}</option>' for n in names)
    return (
        f'<label>{label} <select id="{ident}"><option value="">all</option>{options}'
        "</select></label>"
    )


def _cases(run: Run) -> str:
    order = {name: i for i, name in enumerate(run.backends())}
    cases = sorted(
        run.cases,
        key=lambda c: (order.get(c.backend, 0), c.slice_key[3] or 0, c.size, c.connections),
    )
    families = list(dict.fromkeys(run.families()[b] for b in run.backends()))
    controls = (
        '<div id="case-controls" hidden>'
        + _options("family", "filter-family", families)
        + _options("backend", "filter-backend", run.backends())
        + '<label><input type="checkbox" id="hide-unstable"> hide unstable</label>'
        '<label><input type="checkbox" id="hide-client"> hide client-bound</label>'
        '<span id="shown-count"></span> <span>(click a column head to sort)</span></div>'
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in _COLUMNS)
    body = "".join(_case_row(c) for c in cases)
    return (
        f'{controls}<table id="cases-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def notes(run: Run) -> list[str]:
    """Plain sentences (not yet escaped) about what a reader must not over-read."""
    measured = [c for c in run.cases if c.ok]
    groups = (
        (
            [c for c in measured if c.client_bound and not c.both_saturated],
            "were client-bound: the load client's CPU was saturated (closed loop) or it fell "
            "behind its send schedule (open loop) while the server's CPU was not saturated, "
            "so these numbers measure the client, not the server, and the server may be "
            "faster than shown",
            lambda c: c.label,
        ),
        (
            [c for c in measured if c.overloaded],
            "were overloaded: the open-loop rate asked for was not met; the rate achieved is "
            "the server's (or the client's, where it fell behind), and their latency is still "
            "recorded from the scheduled send times, so it shows the queue that built up",
            lambda c: f"{c.label}, {c.summary.get('achieved_share') or 0:.0%} achieved",
        ),
        (
            [c for c in measured if c.both_saturated],
            "saturated both the server's and the load client's CPU: these numbers measure the "
            "load client as much as the server, so they are only a lower bound for the server "
            "(a faster client might get more)",
            lambda c: c.label,
        ),
        (
            [c for c in measured if c.unstable],
            "were unstable: their repeats varied by more than 5% (coefficient of variation), "
            "so a difference smaller than their spread means nothing",
            lambda c: f"{c.label}, CV {c.cv or 0:.1%}",
        ),
        (
            [c for c in measured if c.disturbed],
            "were disturbed: the host took their CPUs (steal or run delay over "
            f"{run.config.get('max_interference', 5.0):g}% of a window) in a repeat that "
            "could not be measured again cleanly, so their figures are not to be compared "
            "(they come from the clean repeats, or, where none was clean, the disturbed ones)",
            lambda c: f"{c.label}, {c.disturbed_repeats} repeat(s) left out",
        ),
    )
    said = [
        f"{len(cases)} case(s) {what}: "
        + "; ".join(f"{c.backend} ({detail(c)})" for c in cases)
        + "."
        for cases, what, detail in groups
        if cases
    ]
    if any(c.unstable for c in measured):
        said[-1] += " The stability chart shows where the throughput moved."
    if measured and all(len(c.repeats) == 1 for c in measured):
        said.append(
            "Each case ran once (1 repeat): there is no spread, so no case can be judged "
            "stable or unstable and a small difference may be noise; run with --repeat 3 or more."
        )
    for case in run.cases:
        if not case.ok:
            said.append(
                f"{case.backend} ({case.label}) failed and has no measurement: "
                f"{case.error or 'no error recorded'}."
            )
        elif case.status == "partial":
            said.append(
                f"{case.backend} ({case.label}) is partial: {len(case.repeats)} repeat(s) "
                f"measured, the others failed or did not run ({case.error or 'no error'})."
            )
    said += sweep_notes(run)
    if run.not_run:
        said.append(f"{len(run.not_run)} case(s) were not run: {', '.join(run.not_run)}.")
    if not said:
        said.append("Every case ran, no load client was saturated and none was unstable.")
    return said + _awake_note(run)


def _awake_note(run: Run) -> list[str]:
    awake = run.config.get("awake")
    if not awake or run.config.get("connect"):
        return []
    which = (
        "for the cases at one connection and in an open loop (--awake auto)"
        if awake == "auto"
        else "(--awake)"
    )
    return [
        f"The server's CPUs were kept awake {awake_words(run.awake_hows)} {which}: in a "
        "virtual machine a halted vCPU takes milliseconds to wake, which otherwise "
        "dominates a 1-connection round trip and p99 at low load."
    ]


def sweep_notes(run: Run) -> list[str]:
    """A latency sweep's capacities, caps and capacity at the target, in words."""
    latency = run.latency
    if not latency.get("sweeps"):
        return []
    target = float(latency["slo_p99_us"])
    said = [
        f"Latency sweep: each backend's capacity is the median second of a "
        f"{latency['probe_duration']:g} s closed-loop probe; open-loop points offer "
        + ", ".join(f"{f:.0%}" for f in latency["load_fractions"])
        + " of it and the common rates; capacity at the target is the highest offered rate "
        f"whose p99 stayed under {target / 1000:g} ms with the rate met, interpolated linearly "
        "in p99 toward the next point where marked, among points whose client kept its "
        "schedule."
    ]
    for sweep in latency["sweeps"]:
        name = sweep["backend"]
        cap = sweep.get("capacity")
        if cap is None:
            said.append(f"{name}: no sweep, its probe failed ({sweep.get('error')}).")
            continue
        base = sweep.get("base") or {}
        if base.get("capped"):
            said.append(
                f"{name}: its capacity ({cap['messages_per_second']:,.0f} msg/s) is the load "
                "client's, and the open-loop client held only "
                f"{base['client_ceiling']:,.0f} msg/s, so its sweep stops there: the server's "
                "own curve goes further than shown."
            )
        elif cap.get("client_bound"):
            said.append(
                f"{name}: its capacity ({cap['messages_per_second']:,.0f} msg/s) is the load "
                "client's: the server's is at least that."
            )
        slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
        if slo.get("messages_per_second") is None and slo.get("reason"):
            said.append(f"{name}: no capacity at the target: {slo['reason']}.")
    return said


def _summary(run: Run) -> str:
    """One line at the top: how many cases, and how many must be read with care."""
    measured = [c for c in run.cases if c.ok]
    counts = [
        (
            sum(c.client_bound for c in measured),
            "client-limited (hatched: a bound, not the server's figure)",
        ),
        (sum(c.overloaded for c in measured), "overloaded (open-loop rate not met)"),
        (sum(c.unstable for c in measured), "unstable"),
        (sum(c.disturbed for c in measured), "disturbed by the host"),
        (sum(starved(c) > 0 for c in measured), "with starved connections"),
        (len(run.cases) - len(measured), "failed"),
        (len(run.not_run), "not run"),
    ]
    said = ", ".join(f"{n} {what}" for n, what in counts if n)
    repeats = sorted({len(c.repeats) for c in measured})
    spread = "/".join(str(r) for r in repeats) or "0"
    return (
        f"{len(run.cases)} cases, {len(run.backends())} backends, {spread} repeat(s) each"
        + (f"; {said}" if said else "; every case measured, none client-limited or unstable")
        + ". Marked in every ranking, chart and row; the notes below say what each means."
    )


_MARKS = (
    '<p class="marks"><span class="hatch"></span> hatched: the load client was saturated '
    "(client-bound, or client+server saturated), so the figure is a bound for the server, "
    "not its measurement · unstable N%: the repeats' coefficient of variation is over 5% · "
    "disturbed: the host took the CPUs in a repeat that could not be measured again · "
    "starved N: N connections completed no echo (median over the repeats) · "
    "overloaded: an open-loop rate that was not met · "
    "failed: no measurement. Hover a bar for its figures.</p>"
)


def _rankings(run: Run, table: Table | None) -> str:
    palette = colours(run.families())
    pairs: dict[str, Pair] | None = None
    if table is not None:
        pairs = {p.b.id: p for c in table.comparisons for p in c.pairs}
    figures = []
    found = rankings(run)
    ranked = {c.id for ranking in found for c in ranking.cases}
    unranked = sum(c.id not in ranked for c in run.cases)
    for ranking in found:
        figures.append(
            f'<figure class="ranking" id="ranking-{_text(ranking.key)}" '
            f'style="max-width: {ranking_width(pairs is not None)}px">'
            f"<figcaption><h3>{_text(ranking.title)}</h3>"
            f'<p class="takeaway">{_text(ranking.takeaway)}</p></figcaption>'
            f"{ranking_svg(ranking, palette, pairs)}</figure>"
        )
    if not figures:
        return "<p>No case in this file.</p>"
    controls = _highlight_controls(run, palette)
    rest = (
        f"<p>{unranked} case(s) are not ranked: no other backend ran their parameters. "
        'They are in <a href="#cases">the table</a>.</p>'
        if unranked
        else ""
    )
    return _MARKS + controls + f'<div class="rankings">{"".join(figures)}</div>{rest}'


def _effect_cell(effect: Effect, confidence: float) -> str:
    lines = "<br>".join(escape(line) for line in ratio_lines(effect, confidence))
    strong = ' class="changed"' if effect.significant else ""
    return (
        f'<td class="num">{lines}</td>'
        f"<td{strong}>{escape(effect.short())}<br>{escape(effect.could_see())}</td>"
    )


def _comparison(table: Table) -> str:
    head = (
        "<tr><th>case (of B)</th><th>A msg/s</th><th>B msg/s</th><th>msg/s B/A</th>"
        "<th>changed?</th><th>p99 B/A</th><th>changed?</th></tr>"
    )
    rows = []
    lines = []
    confidence = table.settings.confidence
    for comparison in table.comparisons:
        for pair in comparison.pairs:
            said = sorted(set(marks(pair.a)) | set(marks(pair.b)))
            label = short_text(pair.b) + (f" ({', '.join(said)})" if said else "")
            rows.append(
                f'<tr><td>{_text(label)}</td><td class="num">{_number(pair.a.throughput())}</td>'
                f'<td class="num">{_number(pair.b.throughput())}</td>'
                + _effect_cell(pair.throughput, confidence)
                + _effect_cell(pair.p99, confidence)
                + "</tr>"
            )
        for a, b in comparison.failed:
            which = " and ".join(name for name, case in (("A", a), ("B", b)) if not case.ok)
            lines.append(f"not compared, failed in {which}: {short_text(b)}")
        lines += [f"only in A: {short_text(c)}" for c in comparison.only_a]
        lines += [f"only in B: {short_text(c)}" for c in comparison.only_b]
    extra = "".join(f"<li>{_text(line)}</li>" for line in lines)
    return (
        f"<p>{_text(table.summary())}. Ratios are of medians, with the "
        f"{table.settings.confidence:.0%} confidence interval (CI) of the ratio and, in "
        "[brackets], the range over the repeats: min(B)/max(A) to max(B)/min(A). Judged as "
        "<code>echobench compare</code> judges them.</p>"
        f"<table>{head}{''.join(rows)}</table>" + (f"<ul>{extra}</ul>" if extra else "")
    )


def _highlight_controls(run: Run, palette: dict[str, str]) -> str:
    buttons = "".join(
        f'<button type="button" data-backend="{_text(name)}" aria-pressed="false">'
        f'<span style="background: {palette[name]}"></span>{_text(name)}</button>'
        for name in run.backends()
    )
    return (
        '<div id="highlight-controls" hidden>Highlight in the charts and rankings (or click a '
        f'ranking\'s row): {buttons}<button type="button" id="highlight-clear">show all</button>'
        "</div>"
    )


def _charts(run: Run, highlight: Sequence[str]) -> str:
    figures, skipped = run_figures(run)
    palette = colours(run.families())
    parts = []
    if highlight:
        parts.append(
            f"<p>Highlighted: {_text(', '.join(highlight))}; every other backend is grey.</p>"
        )
    for name in dict.fromkeys([*BY_NAME, *figures, *skipped]):  # the run charts first
        if name not in figures and name not in skipped:
            continue
        if name in figures:
            if highlight:
                grey_out(figures[name], palette, highlight)
            parts.append(f"<h3>{escape(name)}</h3>{inline_svg(figures[name], name, run)}")
        else:
            why = skipped.get(name, "not drawn")
            parts.append(
                f'<h3>{escape(name)}</h3><p class="skipped">skipped {escape(name)}: '
                f"{_text(why)}</p>"
            )
    return "".join(parts)


def _failures(run: Run) -> str:
    blocks = [
        f"<h3>{_text(case.id)}</h3><pre>{_text(case.stderr_tail)}</pre>"
        for case in run.cases
        if case.stderr_tail
    ]
    return (
        '<section id="failures"><h2>Server stderr of failures</h2>' + "".join(blocks) + "</section>"
        if blocks
        else ""
    )


def _sub(run: Run, baseline: Run | None) -> str:
    if baseline is None:
        return _text(identity(run))
    return (
        f"B = {_text(run_name(run))}: {_text(identity(run))}<br>"
        f"A = {_text(run_name(baseline))}: {_text(identity(baseline))}"
    )


def render(
    run: Run,
    title: str | None = None,
    *,
    highlight: Sequence[str] = (),
    baseline: Run | None = None,
    settings: Criteria | None = None,
) -> str:
    """The page of ``run``; with ``baseline``, also ``run`` against it (B/A)."""
    unknown = [name for name in highlight if name not in run.backends()]
    if unknown:
        raise UserError(
            f"--highlight: {', '.join(unknown)} not in {run_name(run)} "
            f"(it has: {', '.join(run.backends())})"
        )
    table = compare_runs(baseline, run, settings) if baseline is not None else None
    if title is None:
        title = run_name(run) if baseline is None else f"{run_name(run)} vs {run_name(baseline)}"
    said = "".join(f"<li>{_text(s)}</li>" for s in notes(run))
    sections = [
        (
            "rankings",
            "Rankings" if baseline is None else "Rankings of B, with B/A beside",
            _rankings(run, table),
        ),
    ]
    if table is not None:
        sections.append(("compare", "B against A, case by case", _comparison(table)))
    sections += [
        ("charts", "Charts", _charts(run, highlight)),
        ("cases", "Every case", _cases(run)),
        ("notes", "Notes", f"<ul>{said}</ul>"),
        ("environment", "Environment", _environment(run)),
    ]
    if baseline is not None:
        sections.append(("environment-a", "Environment of A", _environment(baseline)))
    nav = " ".join(f'<a href="#{ident}">{escape(head)}</a>' for ident, head, _ in sections)
    body = "".join(
        f'<section id="{ident}"><h2>{escape(head)}</h2>{html}</section>'
        for ident, head, html in sections
    )
    full_title = f"{title} · {identity(run)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_text(full_title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{_text(title)}</h1><p class="sub">{_sub(run, baseline)}</p>'
        f'<p class="summary">{_text(_summary(run))}</p><nav>{nav}</nav></header>'
        f"{body}{_failures(run)}"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
