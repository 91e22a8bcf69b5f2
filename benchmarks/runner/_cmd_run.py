"""``echobench run``: the benchmark matrix, one results file per run."""

from __future__ import annotations

import argparse

from echobench.benchmarks.runner._scenarios import SCENARIOS

HELP = "run the benchmark matrix (backends x sizes x connections) into a results file"


def configure(parser: argparse.ArgumentParser) -> None:
    matrix = parser.add_argument_group("the matrix")
    matrix.add_argument(
        "--backends", metavar="A,B", help="backends to run (default: every available one)"
    )
    matrix.add_argument("--sizes", metavar="N,N", help="message sizes in bytes (default 64,4096)")
    matrix.add_argument(
        "--connections",
        metavar="N,N",
        help="concurrent connections (default 1,32); ACTIVE+IDLE, e.g. 10+10000, holds IDLE "
        "more open and silent while ACTIVE are busy",
    )
    matrix.add_argument(
        "--rate",
        dest="rates",
        metavar="R,R",
        help="open-loop rates in messages/s for latency runs; 'closed' is a closed loop "
        "(default: closed only)",
    )
    matrix.add_argument("--transports", metavar="T,T", help="tcp, unix and/or tls (default tcp)")
    matrix.add_argument(
        "--readline",
        type=int,
        metavar="LINES",
        help="also measure the backends that have vmbench's readline mode (the streams "
        "backends) in it: each message LINES newline-terminated lines of SIZE bytes, read "
        "with readline() (vmbench: 5; default 0, off)",
    )
    measure = parser.add_argument_group("measurement")
    measure.add_argument("--duration", type=float, help="seconds measured per repeat (default 2)")
    measure.add_argument("--warmup", type=float, help="seconds of warm-up per repeat (default 0.5)")
    measure.add_argument(
        "--repeat",
        metavar="N|auto",
        help="repeats of every case (default 3); 'auto': add interleaved rounds of repeats "
        "until each case's median is known to --target-ci (--min-repeat to --max-repeat)",
    )
    measure.add_argument(
        "--min-repeat",
        type=int,
        help="with --repeat auto: the fewest repeats any case gets (default and least: 6; "
        "8 lets a lone change survive compare's correction over a 144-test table)",
    )
    measure.add_argument(
        "--max-repeat",
        type=int,
        help="with --repeat auto: the most repeats any case gets (default 12)",
    )
    measure.add_argument(
        "--target-ci",
        metavar="PCT",
        help="with --repeat auto: stop a case once the 95%% CI of its median is within "
        "+-PCT of it (default 2%%)",
    )
    measure.add_argument(
        "--workers",
        type=int,
        help="load client processes (default: one per client CPU, each pinned to its own, "
        "at most one per connection; with --cluster: one per Dask worker process)",
    )
    measure.add_argument("--seed", type=int, help="seed of the per-repeat shuffle (default random)")
    measure.add_argument(
        "--order",
        choices=("shuffle", "fixed"),
        help="each repeat walks the cases in a fresh shuffled order (default) or matrix order",
    )
    measure.add_argument(
        "--scenario",
        metavar="NAME",
        help="the matrix to start from, overridden by the options given: "
        # argparse reads help as a %-format: a scenario's "10-100%" must not break --help.
        + "; ".join(f"{s.name}: {s.help}" for s in SCENARIOS.values()).replace("%", "%%")
        + " (default: default)",
    )
    measure.add_argument("--quick", action="store_true", help="shorthand for --scenario quick")
    latency = parser.add_argument_group(
        "the latency scenario",
        "per backend, a closed-loop probe finds its capacity (the median of its seconds), "
        "then open-loop runs offer fractions of it, and every backend runs at common "
        "absolute rates (--rate, or fractions of the slowest backend's capacity)",
    )
    latency.add_argument(
        "--load-fractions",
        metavar="P,P",
        help="percent of each backend's capacity to offer (default 10,25,50,70,80,90,95,100; "
        "up to 200)",
    )
    latency.add_argument(
        "--slo-p99",
        metavar="TIME",
        help="the p99 target of the capacity at a latency target, e.g. 1ms, 500us, or auto: "
        "4x the floor's p99 (the same client against native) at half its capacity "
        "(default 1ms)",
    )
    latency.add_argument(
        "--max-windows",
        type=int,
        metavar="N",
        help="the most windows a point whose p99 interval straddles the target gets (default 5)",
    )
    latency.add_argument(
        "--remeasure-budget",
        type=float,
        metavar="SECONDS",
        help="seconds the sweep may spend measuring undecided points again (default 120)",
    )
    latency.add_argument(
        "--probe-duration",
        type=float,
        metavar="SECONDS",
        help="seconds of the closed-loop capacity probe (default 3)",
    )
    measure.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the conformance check each backend passes before it is measured",
    )
    quiet = parser.add_argument_group(
        "interference",
        "every repeat records the steal and run delay its server's and client's CPUs saw "
        "over its window; a disturbed one is kept in the file but left out of the case's "
        "numbers, and measured again once the host is quiet",
    )
    quiet.add_argument(
        "--interference",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read /proc at each window's edges (default); --no-interference does not, so "
        "nothing is disturbed or measured again: to measure what the reading costs",
    )
    quiet.add_argument(
        "--max-interference",
        metavar="PCT",
        help="steal or run delay over this share of the window, on the server's or the "
        "client's CPUs, makes a repeat disturbed (default 5%%)",
    )
    quiet.add_argument(
        "--disturbed-retries",
        type=int,
        metavar="N",
        help="times a case's disturbed repeats are measured again (default 3 per case; 0: "
        "keep them as they came)",
    )
    quiet.add_argument(
        "--quiet-timeout",
        type=float,
        metavar="SECONDS",
        help="the most the whole run waits for a quiet host, before the first case and "
        "before measuring a disturbed repeat again (default 300; 0: never wait)",
    )
    quiet.add_argument(
        "--host-check",
        type=float,
        metavar="SECONDS",
        help="how long the host is measured before the first case (default 2; 0: not at all)",
    )
    _placement(parser.add_argument_group("placement"))
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out", metavar="PATH", help="results file (default results/run-YYYYmmdd-HHMMSS.json)"
    )
    output.add_argument(
        "--resume",
        metavar="PATH",
        help="continue an interrupted run from its results file, skipping finished cases",
    )
    remote = parser.add_argument_group("remote server")
    remote.add_argument(
        "--connect",
        metavar="HOST:PORT",
        help="measure a server already running elsewhere (started with echobench serve)",
    )
    remote.add_argument("--label", metavar="NAME", help="the name of the --connect server")
    remote.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="drive the --connect server from this Dask cluster's workers (echobench load "
        "--cluster)",
    )
    remote.add_argument(
        "--cluster-certs",
        metavar="DIR",
        help="the client certificate for a tls:// --cluster, from echobench cluster-certs DIR",
    )


def _on_off_auto(group: argparse._ArgumentGroup, flag: str, help: str) -> None:
    """A setting given as ``on`` (also the bare flag), ``off`` or ``auto``."""
    group.add_argument(
        flag, nargs="?", const="on", choices=("on", "off", "auto"), default=None, help=help
    )


def _placement(placement: argparse._ArgumentGroup) -> None:
    placement.add_argument("--server-cpus", metavar="LIST", help="CPUs for the server, e.g. 0")
    _on_off_auto(
        placement,
        "--awake",
        "keep the server's CPUs from idling while it is measured: idle vCPUs poll for up "
        "to 2 ms before they halt where the guest has the haltpoll governor, else an "
        "idle-priority busy loop on each, which yields to the server at once (in a VM a "
        "halted vCPU takes milliseconds to wake, which dominates a 1-connection round trip "
        "and p99 at low load). 'auto': for closed-loop cases at one connection and "
        "open-loop cases only (at more connections the server seldom idles and the loop "
        "cost a fast one up to 15%%). Default: on for --scenario latency, auto for the others",
    )
    placement.add_argument(
        "--no-awake", dest="awake", action="store_const", const="off", help="--awake off"
    )
    placement.add_argument(
        "--client-cpus", metavar="LIST", help="CPUs for the load client, e.g. 1-3"
    )
    _on_off_auto(
        placement,
        "--shield",
        "keep every other thread, steerable interrupt and the kernel's unbound work off "
        "the load client's CPUs for each repeat (as root; put back after): an open loop's "
        "send lag is a latency, and the host's other work held the client's CPU for "
        "milliseconds. 'auto': for open-loop cases only. Default: off",
    )
    placement.add_argument(
        "--server-option",
        dest="server_options",
        action="append",
        metavar="BACKEND:KEY=VALUE",
        help="a backend's -o option, e.g. uvloop-multiprocess:workers=4 (repeatable); a "
        "server gets as many CPUs as it has processes, the load client all the others",
    )


def run(args: argparse.Namespace) -> int:
    from echobench.benchmarks.runner._plan import execute

    return execute(args)
