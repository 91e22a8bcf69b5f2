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
        help="with two runs: as for echobench compare (default 0.05)",
    )
    parser.add_argument(
        "--correction",
        choices=("bh", "holm", "none"),
        default="bh",
        help="with two runs: as for echobench compare (default bh)",
    )
    parser.add_argument(
        "--threshold",
        default="2%",
        metavar="PCT",
        help="with two runs: noise band, as for echobench compare (default 2%%)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from echobench.benchmarks.compare._comparison import Criteria
    from echobench.benchmarks.compare._runview import load_run
    from echobench.benchmarks.report._cmd_compare import parse_percent
    from echobench.benchmarks.report._page import render
    from echobench.servers._errors import UserError

    if len(args.results) > 2:
        raise UserError("give one results file, or two (A then B) to compare B against A")
    settings = Criteria(
        alpha=args.alpha,
        correction=args.correction,
        threshold=parse_percent(args.threshold, "threshold"),
    )
    highlight = [n.strip() for n in (args.highlight or "").split(",") if n.strip()]
    runs = [load_run(path) for path in args.results]
    *baseline, subject = runs
    html = render(
        subject,
        args.title,
        highlight=highlight,
        baseline=baseline[0] if baseline else None,
        settings=settings,
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
        from echobench.benchmarks.report._browser import screenshot

        try:
            screenshot(path, Path(args.screenshot))
        except OSError as exc:
            raise UserError(f"cannot write {args.screenshot}: {exc.strerror}") from None
        print(f"wrote {args.screenshot}")
    return 0
