"""``echobench repeatability``: A/A agreement, injected contention and the measurement's
overhead (``_repeatability`` says how each is measured and what it claims)."""

from __future__ import annotations

import argparse

HELP = (
    "check that two runs of the same code agree, that injected contention is caught, and "
    "what measuring interference costs"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parts",
        metavar="P,P",
        help="aa, contention, overhead and/or awake (the 1-connection study; default all four)",
    )
    parser.add_argument("--backends", metavar="A,B", help="the A/A matrix's backends")
    parser.add_argument("--repeat", type=int, help="repeats per case (default 6; at least 6)")
    parser.add_argument("--duration", type=float, help="seconds measured per repeat (default 1)")
    parser.add_argument("--pairs", type=int, help="overhead: runs with and without (default 20)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one backend, short windows, 3 overhead pairs: proves the instrument in about "
        "two minutes, settles nothing",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the runs' files in DIR (default: removed)"
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the measurement as JSON to PATH ('-': stdout, instead of the table)",
    )


def run(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace
    from pathlib import Path

    from echobench.benchmarks.runner._matrix import parse_names
    from echobench.benchmarks.runner._results_schema import emit_json
    from echobench.benchmarks.truth._repeatability import (
        PARTS,
        QUICK,
        Params,
        render_table,
        repeatability,
        verdicts,
    )
    from echobench.servers._errors import UserError

    params = QUICK if args.quick else Params()
    if args.parts is not None:
        params = replace(params, parts=tuple(parse_names(args.parts, "parts", PARTS)))
    if args.backends is not None:
        params = replace(params, backends=tuple(parse_names(args.backends, "backends")))
    if args.repeat is not None:
        if args.repeat < 6:
            raise UserError(f"--repeat must be at least 6 (an A/A needs them), not {args.repeat}")
        params = replace(params, repeat=args.repeat)
    if args.duration is not None:
        if not args.duration >= 0.1:
            raise UserError(f"--duration must be at least 0.1 seconds, not {args.duration:g}")
        params = replace(params, duration=args.duration)
    if args.pairs is not None:
        if args.pairs < 1:
            raise UserError(f"--pairs must be at least 1, not {args.pairs}")
        params = replace(params, pairs=args.pairs)
    doc = repeatability(params, Path(args.keep) if args.keep else None)
    said = verdicts(doc)
    if args.json is not None:
        emit_json(args.json, doc)
    if args.json != "-":
        print(render_table(doc))
    for line in said:
        print(f"echobench repeatability: {line}", file=sys.stderr)
    return 1 if said else 0
