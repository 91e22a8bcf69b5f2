"""``echobench ceiling``: how fast the load generator drives the fastest server, beside the
native, minimal and vmbench clients (``_ceiling`` says how)."""

from __future__ import annotations

import argparse

HELP = "measure the load generator's own ceiling beside the native, minimal and vmbench clients"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="2 rounds of 1.5 s instead of 3 rounds of 3 s"
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the measurement as JSON to PATH ('-': stdout, instead of the table)",
    )


def run(args: argparse.Namespace) -> int:
    from echobench.benchmarks.runner._results_schema import emit_json
    from echobench.benchmarks.truth._ceiling import measure, render_table

    data = measure(args.quick)
    if args.json != "-":
        print(render_table(data))
    if args.json is not None:
        emit_json(args.json, data)
    return 0
