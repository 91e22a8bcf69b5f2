"""``echobench compare A.json B.json [...]``: ratios B/A with intervals, corrected tests, and
what the repeats could have detected; ``--self-check RUN.json``: the A/A false-flag rate."""

from __future__ import annotations

import argparse
import sys

HELP = "compare runs (B/A per matching case) or backends within one run (--baseline)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="*",
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
        help="significance level after correction, and 1 - the intervals' confidence "
        "(default 0.05)",
    )
    parser.add_argument(
        "--correction",
        choices=("bh", "holm", "none"),
        default="bh",
        help="over all the table's tests: bh (Benjamini-Hochberg false discovery rate, "
        "default), holm (family-wise error rate) or none",
    )
    parser.add_argument(
        "--threshold",
        default="2%",
        metavar="PCT",
        help="noise band: a change is called only when its interval lies outside +-PCT "
        "(default 2%%)",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the comparisons as JSON to PATH ('-': stdout, instead of the table)",
    )
    parser.add_argument(
        "--self-check",
        metavar="RUN.json",
        help="A/A calibration: split RUN's repeats at random into halves many times and "
        "report how often cases are flagged",
    )
    parser.add_argument(
        "--splits",
        type=int,
        default=200,
        help="random splits for --self-check (default 200)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of --self-check's splits (default 0)"
    )
    parser.add_argument("--chart", metavar="PATH", help="also draw the throughput ratios here")


def parse_percent(text: str, what: str) -> float:
    """``2%``, ``2`` (percent) or ``0.5%`` as a fraction."""
    from echobench.servers._errors import UserError

    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise UserError(f"--{what} takes a percentage such as 2%, not {text!r}") from None
    if not 0.0 <= value < 100.0:
        raise UserError(f"--{what} must be from 0% to under 100%, not {text!r}")
    return value / 100.0


def _write_json(target: str, doc: object) -> None:
    import json

    from echobench.servers._errors import UserError

    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    from pathlib import Path

    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    print(f"wrote {path}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from echobench.benchmarks.compare._comparison import (
        Criteria,
        compare_backends,
        compare_runs,
        judge,
    )
    from echobench.benchmarks.compare._runview import load_run
    from echobench.benchmarks.report._compare_table import render
    from echobench.servers._errors import UserError

    settings = Criteria(
        alpha=args.alpha,
        correction=args.correction,
        threshold=parse_percent(args.threshold, "threshold"),
    )
    if args.self_check is not None:
        from echobench.benchmarks.compare._selfcheck import self_check

        if args.files or args.baseline is not None or args.chart:
            raise UserError("--self-check takes one run and no other files, --baseline or --chart")
        if not 1 <= args.splits <= 100_000:
            raise UserError(f"--splits must be from 1 to 100000, not {args.splits}")
        check = self_check(load_run(args.self_check), settings, splits=args.splits, seed=args.seed)
        if args.json is not None:
            _write_json(args.json, check.as_json())
        if args.json != "-":
            print("\n".join(check.lines()))
        return 0
    if args.baseline is not None:
        if len(args.files) != 1:
            raise UserError("--baseline compares backends within ONE results file")
        base_run = load_run(args.files[0])
        table = compare_backends(base_run, args.baseline, settings)
        subtitle = f"backends of {args.files[0]} against {args.baseline}"
    else:
        if len(args.files) < 2:
            raise UserError("give two or more results files, or one with --baseline BACKEND")
        runs = [load_run(path) for path in args.files]
        comparisons = [
            c for other in runs[1:] for c in compare_runs(runs[0], other, settings).comparisons
        ]
        table = judge(comparisons, settings)
        subtitle = f"against {args.files[0]}"
    if args.json != "-":
        render(Console(), table)
    if args.json is not None:
        _write_json(args.json, table.as_json())
    if args.chart:
        from pathlib import Path

        from echobench.benchmarks.charts._ratio import ratio_chart

        path = Path(args.chart)
        fmt = path.suffix.lstrip(".").lower() or "png"
        if fmt not in ("png", "svg"):
            raise UserError(f"--chart must end in .png or .svg, not {path.name!r}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            ratio_chart(table.comparisons, subtitle).savefig(path, format=fmt)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path}", file=sys.stderr if args.json == "-" else sys.stdout)
    return 0
