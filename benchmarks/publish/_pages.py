"""Regenerating the published pages' measured numbers between their markers, never by hand.

A generated part sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in
README.md or in one page of ``docs/``; it is rendered with links relative to the
checkout's root, and written with them made relative to the page that holds it.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner._environment import HIGH_LOAD
from echobench.servers._errors import UserError


def replace_between(begin: str, end: str, body: str, path: Path) -> None:
    """Replace the text between the ``begin`` and ``end`` marker lines of ``path``."""
    text = path.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise UserError(f"{path} lacks the {begin} / {end} markers")
    path.write_text(text[: start + len(begin)] + "\n" + body.strip("\n") + "\n" + text[stop:])


def pages(root: Path) -> list[Path]:
    """The pages whose generated parts ``echobench publish`` rewrites."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def page_with(root: Path, begin: str) -> Path:
    """The one page that holds the ``begin`` marker."""
    holding = [page for page in pages(root) if begin in page.read_text()]
    if len(holding) != 1:
        where = ", ".join(str(p.relative_to(root)) for p in holding) or "no page"
        raise UserError(f"{begin} must be in exactly one of README.md and docs/*.md: {where}")
    return holding[0]


def _relink(body: str, up: str) -> str:
    """Links to ``results/...`` in ``body`` made relative to a page ``up`` from the root."""
    if up == ".":
        return body
    return re.sub(r"\]\((results/[^)]*)\)", lambda m: f"]({up}/{m.group(1)})", body)


def rewrite(root: Path, begin: str, end: str, body: str) -> Path:
    """Put ``body`` (links relative to ``root``) between the markers of the page holding
    them, its links made relative to that page; the page."""
    page = page_with(root, begin)
    replace_between(begin, end, _relink(body, os.path.relpath(root, page.parent)), page)
    return page


def published_block(root: Path, begin: str, end: str) -> str:
    """What is between the markers, stripped, with its links relative to ``root`` again:
    what the part's ``render`` gave, if nobody edited it by hand."""
    page = page_with(root, begin)
    text = page.read_text()
    body = text[text.index(begin) + len(begin) : text.index(end)].strip("\n")
    up = os.path.relpath(root, page.parent)
    return body if up == "." else body.replace(f"]({up}/results/", "](results/")


def header(
    env: dict[str, Any],
    shown: str,
    method: str,
    *,
    cpu_model: bool = False,
    cases: Sequence[dict[str, Any]] = (),
) -> str:
    """The line above a published table: the file, date, commit and machine it comes from.

    ``method`` says how the table was measured and comes right after the Python version,
    with its own leading separator; a run that started on a busy machine says so at the end,
    and so does one with disturbed ``cases``.
    """
    cpu = env.get("cpu") or {}
    model = f" ({cpu.get('model', '?')})" if cpu_model else ""
    return (
        f"Generated from `{shown}` ({str(env.get('started_at', '?'))[:19]}, commit "
        f"{str((env.get('git') or {}).get('commit', '?'))[:10]}): {cpu.get('count', '?')} CPUs"
        f"{model}, Python {(env.get('python') or {}).get('version', '?')}{method}"
        + interference_note(cases)
        + busy_note(env)
        + disturbed_note(cases)
    )


def interference_note(cases: Sequence[dict[str, Any]]) -> str:
    """What the hypervisor took while the table was measured: steal on the server's and
    the client's CPU over every repeat's window, and how many repeats were disturbed
    (each measured again, or its case marked (D)); "" for a file from before repeats
    recorded it. A reader comparing this table with another needs to know how quiet each
    host was."""
    steal: list[float] = []
    disturbed = repeats = 0
    for case in cases:
        for repeat in case.get("repeats") or ():
            figures = repeat.get("interference") or {}
            repeats += bool(figures)
            steal += [v for v in (figures.get("steal_pct") or {}).values() if v is not None]
            disturbed += bool(figures.get("disturbed"))
    if not steal:
        return ""
    return (
        f" Steal over the {repeats} repeats' windows, per CPU: median "
        f"{statistics.median(steal):.2g}%, max {max(steal):.2g}%; {disturbed} repeat(s) disturbed."
    )


def disturbed_note(cases: Sequence[dict[str, Any]]) -> str:
    """A sentence for a table some of whose cases were disturbed (``(D)``), else ""."""
    marked = [c for c in cases if (c.get("summary") or {}).get("disturbed")]
    if not marked:
        return ""
    return (
        f" **{len(marked)} of {len(cases)} case(s) were disturbed: the host took their CPUs "
        "in a repeat that could not be measured again, so they are marked (D) and are not "
        "to be compared.**"
    )


def busy_note(env: dict[str, Any]) -> str:
    """A sentence for a published table whose run started on a busy machine, else "".

    A run measures the host before its first case (``environment.host_check``); an older
    file has only its load average at the start. A table must not look as trustworthy as
    a quiet run's when it was not.
    """
    check = env.get("host_check")
    if isinstance(check, dict) and "quiet" in check:
        if check["quiet"]:
            return ""
        waited = check.get("waited") or {}
        busy = ", ".join(check.get("busy") or [])
        if waited.get("quiet"):
            return (
                f" The host was busy when this run started ({busy}); it waited "
                f"{waited.get('waited_s', 0):.0f} s for it to be quiet."
            )
        return (
            f" **The host was busy when this run started ({busy}) and did not become quiet: "
            "its numbers are noisy; compare within a column with care.**"
        )
    load = env.get("load_average") or []
    count = (env.get("cpu") or {}).get("count") or 1
    if not load or load[0] <= HIGH_LOAD * count:
        return ""
    return (
        f" **Other work was running when this run started (load average {load[0]:g} on "
        f"{count} CPUs): its numbers are noisy; compare within a column with care.**"
    )
