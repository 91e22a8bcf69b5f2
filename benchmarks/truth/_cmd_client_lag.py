"""``echobench client-lag``: does the open-loop client keep its schedule at half its
capacity (``_client_lag`` says how)?"""

from __future__ import annotations

import argparse

from echobench.benchmarks.truth._cmdout import json_option, report

HELP = (
    "the open-loop client's max send lag and longest own pause at half its capacity against "
    "native, median of 5 runs, against the host's own stalls, seen beside each and after it "
    "(about 6 minutes)"
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=5, help="runs (5)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a run (10)")
    parser.add_argument("--quick", action="store_true", help="two runs of 2 s")
    parser.add_argument(
        "--no-shield",
        dest="shield",
        action="store_false",
        help="leave other threads, interrupts and workqueues free to use the client's CPU",
    )
    parser.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="run no real-time probe beside the client to see the host stop its CPU",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=180.0,
        help="seconds to wait in all for quiet stretches of the host before the runs "
        "(180; 0: start each run at once)",
    )
    json_option(parser)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from echobench.benchmarks.truth._client_lag import QUICK, LagSettings, measure, missed, render

    base = QUICK if args.quick else LagSettings(runs=args.runs, duration=args.duration)
    settings = replace(
        base,
        shield=args.shield,
        probe=args.probe,
        quiet_timeout=0.0 if args.quick else args.quiet_timeout,
    )
    data = measure(settings)
    return report(args, data, render, missed)
