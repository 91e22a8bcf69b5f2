"""``echobench latency-check``: does the latency scenario find a capacity it is told
(``_latency_check`` says how)?"""

from __future__ import annotations

import argparse

from echobench.benchmarks.truth._cmdout import json_option, report

HELP = (
    "sweep a server of known capacity (a rate-limited C echo) with --scenario latency and "
    "check its capacity at the target lands within 10% (about a minute)"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--capacity", type=float, default=20_000.0, help="the server's msgs/s (20000)"
    )
    parser.add_argument("--delay", type=float, default=200.0, help="µs after service (200)")
    parser.add_argument("--slo-p99", default="2ms", help="the p99 target (2ms)")
    parser.add_argument("--quick", action="store_true", help="three points, short windows")
    json_option(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from echobench.benchmarks.truth._latency_check import (
        QUICK,
        CheckSettings,
        measure,
        missed,
        render,
    )

    base = QUICK if args.quick else CheckSettings()
    settings = replace(base, capacity=args.capacity, delay_us=args.delay, target=args.slo_p99)
    data = measure(settings)
    return report(args, data, render, missed)
