"""``echobench compare A.json B.json [...]``: ratios B/A with their spread and significance."""

from __future__ import annotations

import argparse

HELP = "compare runs (B/A per matching case) or backends within one run (--baseline)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="RESULTS.json",
        help="results files; each after the first is compared with the first",
    )
    parser.add_argument(
        "--baseline", metavar="BACKEND", help="compare every backend of ONE run with this backend"
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="significance level of the Mann-Whitney U test (default 0.05)",
    )
    parser.add_argument("--chart", metavar="PATH", help="also draw the throughput ratios here")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from benchmarks._compare import compare_backends, compare_runs
    from benchmarks._compare_table import render
    from benchmarks._runview import load_run
    from servers._errors import UserError

    if not 0.0 < args.alpha < 1.0:
        raise UserError(f"--alpha must be between 0 and 1, not {args.alpha:g}")
    if args.baseline is not None:
        if len(args.files) != 1:
            raise UserError("--baseline compares backends within ONE results file")
        base_run = load_run(args.files[0])
        comparisons = compare_backends(base_run, args.baseline, args.alpha)
        subtitle = f"backends of {args.files[0]} against {args.baseline}"
    else:
        if len(args.files) < 2:
            raise UserError("give two or more results files, or one with --baseline BACKEND")
        runs = [load_run(path) for path in args.files]
        comparisons = [compare_runs(runs[0], other, args.alpha) for other in runs[1:]]
        subtitle = f"against {args.files[0]}"
    render(Console(), comparisons, args.alpha)
    if args.chart:
        from pathlib import Path

        from benchmarks._ratiochart import ratio_chart

        path = Path(args.chart)
        fmt = path.suffix.lstrip(".").lower() or "png"
        if fmt not in ("png", "svg"):
            raise UserError(f"--chart must end in .png or .svg, not {path.name!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ratio_chart(comparisons, subtitle).savefig(path, format=fmt)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path}")
    return 0
