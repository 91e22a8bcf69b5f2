"""``echobench soak``: does the load client stay true over a long open-loop run
(``_soak`` says how)?"""

from __future__ import annotations

import argparse

HELP = "soak the native server open loop and check the load client stays true (default 10 min)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=600.0, help="soak seconds (600)")
    parser.add_argument(
        "--rate",
        type=float,
        help="msgs/s (default: half the load client's closed-loop capacity, measured first)",
    )
    parser.add_argument("-c", "--connections", type=int, default=32, help="(32)")
    parser.add_argument("-s", "--size", type=int, default=64, help="bytes per message (64)")
    parser.add_argument("--segment", type=float, default=60.0, help="seconds per row (60)")
    parser.add_argument("--short", type=float, default=10.0, help="baseline run seconds (10)")
    parser.add_argument(
        "--noise", type=float, help="seconds of the native client's noise floor (the duration)"
    )
    parser.add_argument(
        "--hlog", metavar="PATH", default="soak.hlog", help="the soak's interval log (soak.hlog)"
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the measurement as JSON to PATH ('-': stdout, instead of the table)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from echobench.benchmarks.runner._results_schema import emit_json
    from echobench.benchmarks.truth._soak import SoakSettings, measure, missed, render_table

    settings = SoakSettings(
        duration=args.duration,
        rate=args.rate,
        connections=args.connections,
        size=args.size,
        segment=args.segment,
        short=args.short,
        noise=args.noise,
    )
    data = measure(settings, Path(args.hlog))
    if args.json != "-":
        print(render_table(data))
    if args.json is not None:
        emit_json(args.json, data)
    return 1 if missed(data) else 0
