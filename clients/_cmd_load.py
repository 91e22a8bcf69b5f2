"""``echobench load``: drive an echo server, verify every byte, report throughput and latency.

Exit status: 0 complete without errors; 1 incomplete or with errors (the partial result is
still written); 2 bad input, or nothing measured (no echo completed in the window; the
result is still written); 3 corrupted echoes; 130/143 interrupted (the partial result is
still written).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from echobench.clients._config import number, whole_number
from echobench.clients._load_schema import EXIT_CORRUPTED, EXIT_ERRORS, EXIT_OK, EXIT_USAGE

HELP = "drive an echo server with a verifying load and report throughput and latency"


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("target")
    where.add_argument("--host", default="127.0.0.1", help="server host (default 127.0.0.1)")
    where.add_argument("--port", type=int, default=None, help="server port")
    where.add_argument("--unix", metavar="PATH", help="connect to a Unix socket instead")
    where.add_argument("--tls", action="store_true", help="TLS (the certificate is not checked)")
    load = parser.add_argument_group("load")
    load.add_argument("-c", "--connections", type=whole_number, default=10, help="default 10")
    load.add_argument(
        "--idle",
        type=whole_number,
        default=0,
        help="extra connections held open and silent through the window, checked at the end",
    )
    load.add_argument(
        "-s", "--size", type=whole_number, default=1024, help="bytes per message (1024; 1K is 1024)"
    )
    load.add_argument("-d", "--duration", type=float, default=10.0, help="seconds measured (10)")
    load.add_argument("--warmup", type=float, default=1.0, help="seconds run first, not counted")
    load.add_argument(
        "--rate", type=number, default=None, help="open loop: total messages/s on a fixed schedule"
    )
    load.add_argument(
        "--pipeline", type=int, default=1, help="closed loop: messages in flight per connection"
    )
    load.add_argument(
        "--readline",
        type=int,
        default=0,
        metavar="LINES",
        help="vmbench's readline mode (for a server run with serve --readline): each message "
        "is LINES newline-terminated lines of --size bytes, sent at once (vmbench: 5)",
    )
    load.add_argument(
        "--workers",
        type=int,
        default=None,
        help="client processes (default: one per CPU it may run on, or per --cpus, each "
        "pinned to its own, at most one per connection)",
    )
    load.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds without progress that count as a timeout",
    )
    load.add_argument("--no-verify", action="store_true", help="do not compare echoed bytes")
    load.add_argument("--no-latency", action="store_true", help="do not record latency")
    load.add_argument(
        "--cpus", help="pin workers to these CPUs, e.g. 2,3 (default: every CPU it may run on)"
    )
    load.add_argument(
        "--nice",
        type=int,
        default=None,
        help="run the workers at this nice value, e.g. -20 for an open loop whose sends "
        "other tasks on its CPUs should not delay (needs CAP_SYS_NICE; default: unchanged)",
    )
    load.add_argument(
        "--cluster",
        metavar="tls://HOST:PORT",
        help="spread the connections over the workers of this Dask scheduler, one shard "
        "per worker process (--workers: how many of them; default all but the server host's)",
    )
    load.add_argument(
        "--cluster-certs",
        metavar="DIR",
        help="the client certificate for a tls:// --cluster, from echobench cluster-certs DIR "
        "(default: Dask's configuration, distributed.comm.tls.*)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="PATH", help="write the result as JSON ('-': stdout)")
    out.add_argument(
        "--hlog",
        metavar="PATH",
        help="write latency per interval as an HdrHistogram interval log (values in ns)",
    )
    out.add_argument(
        "--hlog-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="length of a latency interval, a multiple of 0.1 (default 1)",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress and no table")
    out.add_argument(
        "--hold",
        action="store_true",
        help="once connected, print 'connected N' and wait for a line on stdin before the "
        "clock starts (for an orchestrator that measures the server meanwhile); then print "
        "'window START END', the measured window's nominal edges on the host's monotonic "
        "clock in ns (local workers only)",
    )


def _parse_cpus(text: str | None) -> tuple[int, ...] | None:
    from echobench.servers._errors import UserError

    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UserError(
            f"--cpus takes a comma-separated list of CPU numbers, not {text!r}"
        ) from None


def _own_cpus() -> tuple[int, ...]:
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return tuple(range(os.cpu_count() or 1))


def write_json(result: dict[str, Any], path: str) -> None:
    text = json.dumps(result, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".load-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def exit_status(result: dict[str, Any]) -> int:
    from echobench.clients._display import nothing_measured

    if result["corrupted"]:
        return EXIT_CORRUPTED
    if result["interrupted"] is not None:
        return 128 + signal.Signals[result["interrupted"]].value
    if nothing_measured(result) is not None:
        return EXIT_USAGE
    if not result["complete"] or result["error_total"]:
        return EXIT_ERRORS
    return EXIT_OK


def hold_on_stdin(connect: dict[str, Any], stopping: Callable[[], bool]) -> None:
    """``--hold``: say the connections are open, then wait for the go line."""
    from echobench.servers._errors import UserError

    print(f"connected {connect['connections']}", flush=True)
    while not stopping():
        if select.select([sys.stdin], [], [], 0.2)[0]:
            if not sys.stdin.readline():
                raise UserError("--hold: stdin closed before the line that starts the run")
            return


def announce_window(start_ns: int, end_ns: int) -> None:
    """``--hold``: when the measured window opens and closes, so that the orchestrator can
    read the host at its edges."""
    print(f"window {start_ns} {end_ns}", flush=True)


def run(args: argparse.Namespace) -> int:
    from echobench.clients._config import LoadConfig, default_workers
    from echobench.clients._display import RichProgress, print_summary, summary_lines
    from echobench.clients._run import run_load
    from echobench.servers._errors import UserError

    cpus = _parse_cpus(args.cpus)
    if cpus is None and args.cluster is None:
        cpus = _own_cpus()
    config = LoadConfig(
        host=args.host,
        port=args.port,
        unix=args.unix,
        tls=args.tls,
        connections=args.connections,
        idle=args.idle,
        size=args.size,
        duration=args.duration,
        warmup=args.warmup,
        rate=args.rate,
        pipeline=args.pipeline,
        workers=default_workers(args.workers, len(cpus or ()), args.connections),
        verify=not args.no_verify,
        latency=not args.no_latency,
        timeout=args.timeout,
        cpus=cpus,
        interval=args.hlog_interval,
        hlog=args.hlog,
        readline=args.readline,
        nice=args.nice,
    )
    progress = (
        RichProgress() if RichProgress.wanted(config.warmup + config.duration, args.quiet) else None
    )
    if args.cluster is not None:
        from echobench.clients._cluster import run_cluster_load

        if args.cpus is not None:
            raise UserError(
                "--cpus pins local workers; pin Dask workers where they start (taskset)"
            )
        if args.workers is not None and args.workers < 1:
            raise UserError(f"--workers must be at least 1, not {args.workers}")
        result = run_cluster_load(
            config,
            args.cluster,
            progress,
            shards=args.workers,
            certs=args.cluster_certs,
            on_connected=hold_on_stdin if args.hold else None,
        )
    else:
        if args.cluster_certs is not None:
            raise UserError("--cluster-certs secures a --cluster; give one")
        result = run_load(
            config,
            progress,
            hold_on_stdin if args.hold else None,
            announce_window if args.hold else None,
        )
    if args.json:
        write_json(result, args.json)
    if not args.quiet:
        print_summary(result, sys.stderr if args.json == "-" else sys.stdout)
    for line in summary_lines(result):
        print(f"echobench load: {line}", file=sys.stderr)
    return exit_status(result)
