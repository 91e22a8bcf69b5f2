"""``echobench report RESULTS.json``: one self-contained HTML page of a run."""

from __future__ import annotations

import argparse

HELP = "write one self-contained HTML report of a results file"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS.json")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: next to RESULTS)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks._report import render
    from benchmarks._runview import load_run
    from servers._errors import UserError

    source = Path(args.results)
    html = render(load_run(source))
    out = Path(args.out) if args.out else source.parent
    path = out / f"{source.stem}.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {path}")
    return 0
