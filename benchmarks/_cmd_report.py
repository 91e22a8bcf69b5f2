"""``echobench report RESULTS.json [B.json]``: one self-contained HTML page of a run,
or of run B against run A."""

from __future__ import annotations

import argparse

HELP = "write one self-contained HTML report of a results file (two files: B against A)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULTS.json",
        help="a results file; or two, A then B, for B's page with B/A beside its rankings",
    )
    parser.add_argument("--out", metavar="DIR", help="where to write (default: next to RESULTS)")
    parser.add_argument("--title", help="the page's name (default: the results file's name)")
    parser.add_argument(
        "--highlight",
        metavar="A,B",
        help="backends drawn in colour in the charts; every other backend is grey",
    )
    parser.add_argument(
        "--screenshot",
        metavar="PNG",
        help="also save what a reader sees on opening the page, its top (needs chromium and "
        "playwright: apt-get install chromium; pip install -e '.[dev]')",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="significance level of the comparison of two runs (default 0.05)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from benchmarks._report import render
    from benchmarks._runview import load_run
    from servers._errors import UserError

    if len(args.results) > 2:
        raise UserError("give one results file, or two (A then B) to compare B against A")
    if not 0.0 < args.alpha < 1.0:
        raise UserError(f"--alpha must be between 0 and 1, not {args.alpha:g}")
    highlight = [n.strip() for n in (args.highlight or "").split(",") if n.strip()]
    runs = [load_run(path) for path in args.results]
    *baseline, subject = runs
    html = render(
        subject,
        args.title,
        highlight=highlight,
        baseline=baseline[0] if baseline else None,
        alpha=args.alpha,
    )
    source = Path(args.results[-1])
    stem = source.stem if len(runs) == 1 else f"{source.stem}-vs-{Path(args.results[0]).stem}"
    out = Path(args.out) if args.out else source.parent
    path = out / f"{stem}.html"
    try:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {path}")
    if args.screenshot:
        from benchmarks._browser import screenshot

        try:
            screenshot(path, Path(args.screenshot))
        except OSError as exc:
            raise UserError(f"cannot write {args.screenshot}: {exc.strerror}") from None
        print(f"wrote {args.screenshot}")
    return 0
