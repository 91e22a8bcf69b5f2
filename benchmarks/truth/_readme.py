"""Regenerating the README's measured numbers between their markers, never by hand."""

from __future__ import annotations

from pathlib import Path

from echobench.servers._errors import UserError


def replace_between(begin: str, end: str, body: str, path: Path) -> None:
    """Replace the text between the ``begin`` and ``end`` marker lines of ``path``."""
    text = path.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise UserError(f"{path} lacks the {begin} / {end} markers")
    path.write_text(text[: start + len(begin)] + "\n" + body.strip("\n") + "\n" + text[stop:])
