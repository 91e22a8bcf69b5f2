"""``echobench plot RESULTS.json``: the charts of a run (or of a pytest-benchmark file)."""

from __future__ import annotations

import argparse

HELP = "draw the charts of a results file (or of a pytest-benchmark JSON file)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS.json")
    parser.add_argument("--out", metavar="DIR", help="where to write (default: RESULTS-charts/)")
    parser.add_argument("--format", choices=("png", "svg"), default="png")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from echobench.benchmarks.charts._figures import charts_for, save

    figures, skipped = charts_for(args.results)
    source = Path(args.results)
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}-charts")
    for path in save(figures, out, args.format):
        print(f"wrote {path}")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    return 0
