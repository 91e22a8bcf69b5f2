"""One self-contained HTML page for a run: environment, charts, every case, plain notes.

Charts are embedded as base64 PNGs, so the page can be mailed or archived as
one file. Every piece of text from the results file goes through ``escape``:
backend names, errors and stderr tails are data, not markup.
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

from matplotlib.figure import Figure

from benchmarks._charts import CHARTS, DPI, run_charts, skipped_charts
from benchmarks._runview import Case, Run

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #b00020; }
tr.client td { background: #fff6e0; }
p.skipped { color: #555; font-style: italic; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.85em; }
"""


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _environment(run: Run) -> str:
    env = run.environment
    python = env.get("python") or {}
    cpu = env.get("cpu") or {}
    os_info = env.get("os") or {}
    git = env.get("git") or {}
    pinning = env.get("pinning") or {}
    frameworks = env.get("frameworks") or {}
    rows: list[tuple[str, Any]] = [
        ("Python", f"{python.get('implementation', '')} {python.get('version', '')}"),
        ("CPU", f"{cpu.get('model', '')} ({cpu.get('count', '?')} CPUs)"),
        ("OS", f"{os_info.get('system', '')} {os_info.get('release', '')}"),
        ("governor", env.get("governor")),
        ("virtual machine", env.get("vm")),
        ("load average at start", env.get("load_average")),
        ("pinning", f"server {pinning.get('server_cpus')}, client {pinning.get('client_cpus')}"),
        ("commit", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"),
        ("started / finished", f"{env.get('started_at')} / {env.get('finished_at')}"),
        ("command line", " ".join(str(a) for a in env.get("command_line") or [])),
        ("frameworks", ", ".join(f"{k} {v or 'not installed'}" for k, v in frameworks.items())),
        ("complete", "yes" if run.complete else "no: the run was interrupted"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    warnings = env.get("warnings") or []
    notes = "".join(f"<li>{escape(str(w))}</li>" for w in warnings)
    return f"<table>{body}</table>" + (f"<p>Warnings:</p><ul>{notes}</ul>" if notes else "")


def _case_row(case: Case) -> str:
    cells = [escape(case.backend), escape(case.family), escape(case.label)]
    classes = []
    if not case.ok:
        classes.append("failed")
        cells += [escape(case.status), "", "", "", "", "", ""]
    else:
        cv = case.cv
        cells += [
            escape(case.status),
            _number(case.throughput()),
            f"{_number(case.throughput('min'))} to {_number(case.throughput('max'))}",
            "-" if cv is None else f"{cv:.1%}",
            _number(case.p99(), 1),
            _number(case.efficiency),
            escape(case.verdict or "-")
            + (
                " (client saturated: a lower bound for the server)"
                if case.both_saturated
                else " (client-bound)"
                if case.client_bound
                else ""
            )
            + (" (unstable)" if case.unstable else ""),
        ]
        if case.client_bound:
            classes.append("client")
    numeric = {4, 5, 6, 7, 8}
    tds = "".join(
        f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
        for i, c in enumerate(cells)
    )
    return f'<tr class="{" ".join(classes)}" data-case="{escape(case.id)}">{tds}</tr>'


def _cases(run: Run) -> str:
    head = (
        "<tr><th>backend</th><th>family</th><th>case</th><th>status</th>"
        "<th>median msg/s</th><th>min to max msg/s</th><th>CV</th><th>p99 [µs]</th>"
        "<th>msg per server CPU-s</th><th>bottleneck</th></tr>"
    )
    order = {name: i for i, name in enumerate(run.backends())}
    cases = sorted(
        run.cases,
        key=lambda c: (order.get(c.backend, 0), c.slice_key[3] or 0, c.size, c.connections),
    )
    return f"<table>{head}{''.join(_case_row(c) for c in cases)}</table>"


def notes(run: Run) -> list[str]:
    """Plain sentences (not yet escaped) about what a reader must not over-read."""
    measured = [c for c in run.cases if c.ok]
    groups = (
        (
            [c for c in measured if c.client_bound and not c.both_saturated],
            "were client-bound: the load client's CPU was saturated while the server's was "
            "not, so these numbers measure the client, not the server, and the server may be "
            "faster than shown",
            lambda c: c.label,
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
    if run.not_run:
        said.append(f"{len(run.not_run)} case(s) were not run: {', '.join(run.not_run)}.")
    if not said:
        said.append("Every case ran, no load client was saturated and none was unstable.")
    return said


def _failures(run: Run) -> str:
    blocks = []
    for case in run.cases:
        if case.stderr_tail:
            blocks.append(f"<h3>{escape(case.id)}</h3><pre>{escape(case.stderr_tail)}</pre>")
    return "<h2>Server stderr of failures</h2>" + "".join(blocks) if blocks else ""


def render(run: Run, title: str | None = None) -> str:
    title = title or f"echobench report: {run.path}"
    figures, skipped = run_charts(run), skipped_charts(run)
    charts = "".join(
        f'<h3>{escape(name)}</h3><img alt="{escape(name)}" '
        f'src="data:image/png;base64,{_png(figures[name])}">'
        if name in figures
        else f'<h3>{escape(name)}</h3><p class="skipped">skipped {escape(name)}: '
        f"{escape(skipped.get(name, 'not drawn'))}</p>"
        for name in CHARTS
    )
    said = "".join(f"<li>{escape(s)}</li>" for s in notes(run))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<h2>Notes</h2><ul>{said}</ul>"
        f"<h2>Environment</h2>{_environment(run)}"
        f"<h2>Cases</h2>{_cases(run)}"
        f"<h2>Charts</h2>{charts}"
        f"{_failures(run)}"
        "</body></html>\n"
    )
