"""Regenerating the README's measured numbers between their markers, never by hand."""

from __future__ import annotations

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


def header(env: dict[str, Any], shown: str, method: str, *, cpu_model: bool = False) -> str:
    """The line above a published table: the file, date, commit and machine it comes from.

    ``method`` says how the table was measured and comes right after the Python version,
    with its own leading separator; a run that started on a busy machine says so at the end.
    """
    cpu = env.get("cpu") or {}
    model = f" ({cpu.get('model', '?')})" if cpu_model else ""
    return (
        f"Generated from `{shown}` ({str(env.get('started_at', '?'))[:19]}, commit "
        f"{str((env.get('git') or {}).get('commit', '?'))[:10]}): {cpu.get('count', '?')} CPUs"
        f"{model}, Python {(env.get('python') or {}).get('version', '?')}{method}" + busy_note(env)
    )


def busy_note(env: dict[str, Any]) -> str:
    """A sentence for a published table whose run started on a busy machine, else "".

    The environment keeps the load average at the run's start; a table must not look as
    trustworthy as a quiet run's when it was not.
    """
    load = env.get("load_average") or []
    count = (env.get("cpu") or {}).get("count") or 1
    if not load or load[0] <= HIGH_LOAD * count:
        return ""
    return (
        f" **Other work was running when this run started (load average {load[0]:g} on "
        f"{count} CPUs): its numbers are noisy; compare within a column with care.**"
    )
