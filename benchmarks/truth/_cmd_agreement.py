"""``echobench agreement``: does ``echobench run`` report what an independent native C client
measures on the same server? (``_agreement`` says how, and when the claim applies.)"""

from __future__ import annotations

import argparse

HELP = "check the runner's msgs/s against an independent native C client on the same server"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        metavar="A,B",
        help="backends to check (default asyncio-streams,asyncio-protocol,uvloop-protocol)",
    )
    parser.add_argument("--size", type=int, help="message size in bytes (default 1024)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 10)")
    parser.add_argument("--duration", type=float, help="seconds measured per repeat (default 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per repeat (default 1)")
    parser.add_argument("--repeat", type=int, help="alternating repeats per backend (default 5)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="asyncio-protocol only, 2 repeats of 1 s: proves the instrument, settles nothing",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the measurement as JSON to PATH ('-': stdout, instead of the table)",
    )


def run(args: argparse.Namespace) -> int:
    import sys
    from dataclasses import replace

    from echobench.benchmarks.runner._matrix import parse_names
    from echobench.benchmarks.runner._results_schema import emit_json
    from echobench.benchmarks.truth._agreement import (
        QUICK,
        Params,
        agreement,
        contradictions,
        render_table,
    )
    from echobench.servers._errors import UserError
    from echobench.servers._registry import require_available

    params = QUICK if args.quick else Params()
    if args.backends is not None:
        params = replace(params, backends=tuple(parse_names(args.backends, "backends")))
    for name in ("size", "connections", "repeat"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise UserError(f"--{name} must be at least 1, not {value}")
            params = replace(params, **{name: value})
    for name, minimum in (("duration", 0.1), ("warmup", 0.0)):
        value = getattr(args, name)
        if value is not None:
            if not value >= minimum:
                raise UserError(f"--{name} must be at least {minimum:g} seconds, not {value:g}")
            params = replace(params, **{name: value})
    for backend in params.backends:
        require_available(backend)
    doc = agreement(params)
    if args.json != "-":
        print(render_table(doc))
    if args.json is not None:
        emit_json(args.json, doc)
    failed = contradictions(doc)
    for line in failed:
        print(f"echobench agreement: {line}", file=sys.stderr)
    return 1 if failed else 0
