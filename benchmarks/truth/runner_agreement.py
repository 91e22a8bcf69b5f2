"""Truth benchmark: does ``echobench run`` report what an independent client measures?

For each backend it alternates, on the same pinned server CPUs, a repeat of the
real runner (``echobench run``, as users invoke it, with the Python load client)
and a repeat of the native C load client (``echobench.benchmarks.truth._native_client``) against
a freshly started server, then compares the medians. The claim holds for a
server-bound case (the runner's verdict ``server``: the server saturated and the
load client not): there both clients must see the server's ceiling, within about
10%. A case where the load client was saturated too (``both``) or instead
(``client``) measures the client, so it is reported as such rather than counted.

    python -m echobench.benchmarks.truth.runner_agreement [--backends a,b] [--repeat 5] [--readme]

It writes ``results/published/runner_agreement.json`` and, with ``--readme``, the
table between the ``runner-agreement`` markers of README.md. Run it on a quiet
machine; numbers from a busy one say little.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner import _environment, _isolation, _verdict
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._schema import load_results, write_results
from echobench.benchmarks.truth._native_client import run_native_client
from echobench.benchmarks.truth._readme import replace_between
from echobench.servers._launch import echobench_command, start_server

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "results" / "published" / "runner_agreement.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- runner-agreement:begin -->", "<!-- runner-agreement:end -->"
TOLERANCE = 0.10


def _runner_repeat(backend: str, args: argparse.Namespace, placement: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run.json"
        argv = [
            *echobench_command(),
            "run",
            *("--backends", backend, "--sizes", str(args.size)),
            *("--connections", str(args.connections), "--repeat", "1"),
            *("--duration", str(args.duration), "--warmup", str(args.warmup)),
            *("--server-cpus", ",".join(map(str, placement.server_cpus))),
            *("--client-cpus", ",".join(map(str, placement.client_cpus))),
            *("--no-verify", "--out", str(out)),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"echobench run failed for {backend}: {done.stderr.strip()[-300:]}")
        (case,) = load_results(out)["cases"]
        (repeat,) = case["repeats"]
        return {
            "messages_per_second": repeat["messages_per_second"],
            "verdict": repeat["verdict"],
            "server_utilization": repeat["server_cpu"]["utilization"],
            "client_utilization": repeat["client_cpu"]["utilization"],
        }


def _native_repeat(backend: str, args: argparse.Namespace, placement: Any) -> float:
    server = start_server(backend, cpus=placement.server_cpus)
    try:
        prime(server.host, server.port, None, tls=False)  # as the runner does
        report = run_native_client(
            server.host,
            server.port,
            connections=args.connections,
            size=args.size,
            duration=args.duration,
            warmup=args.warmup,
            cpus=placement.client_cpus,
        )
    finally:
        server.close()
        if server.process.stdout is not None:
            server.process.stdout.close()
    if report.get("mismatched_bytes") or report.get("errors"):
        raise SystemExit(f"native client saw errors against {backend}: {report}")
    return float(report["messages_per_second"])


def is_server_bound(verdicts: list[str]) -> bool:
    """Most repeats had the server, and not the client, saturated. ``both`` does not count:
    with the client saturated too, the runner's number is the client's ceiling as much as
    the server's, and two clients agreeing on it would prove nothing."""
    return verdicts.count("server") > len(verdicts) / 2


def measure(backend: str, args: argparse.Namespace, placement: Any) -> dict[str, Any]:
    runner: list[dict[str, Any]] = []
    native: list[float] = []
    for repeat in range(args.repeat):
        # alternate which goes first, so drift does not favour one instrument
        if repeat % 2 == 0:
            runner.append(_runner_repeat(backend, args, placement))
            native.append(_native_repeat(backend, args, placement))
        else:
            native.append(_native_repeat(backend, args, placement))
            runner.append(_runner_repeat(backend, args, placement))
        print(
            f"{backend} repeat {repeat + 1}: runner {runner[-1]['messages_per_second']:,.0f} "
            f"({runner[-1]['verdict']}), native {native[-1]:,.0f} msg/s",
            file=sys.stderr,
        )
    runner_median = statistics.median(r["messages_per_second"] for r in runner)
    native_median = statistics.median(native)
    verdicts = [r["verdict"] for r in runner]
    server_bound = is_server_bound(verdicts)
    ratio = runner_median / native_median if native_median else None
    return {
        "backend": backend,
        "runner_messages_per_second": runner_median,
        "native_messages_per_second": native_median,
        "ratio": ratio,
        "server_bound": server_bound,
        "verdict": _verdict.overall(verdicts),
        "agrees": bool(ratio is not None and abs(ratio - 1) <= TOLERANCE),
        "runner_repeats": runner,
        "native_repeats": native,
    }


def render_table(doc: dict[str, Any]) -> str:
    params = doc["params"]
    lines = [
        f"{params['size']} B messages, {params['connections']} connections, "
        f"{params['duration']} s measured x {params['repeat']} alternating repeats, "
        f"server on CPUs {doc['environment']['pinning']['server_cpus']}, clients on "
        f"{doc['environment']['pinning']['client_cpus']} "
        f"({doc['environment']['cpu']['model']}, {doc['environment']['started_at'][:10]}).",
        "",
        "| backend | runner msgs/s | native client msgs/s | runner / native | server-bound | "
        "within 10% |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in doc["rows"]:
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "-"
        bound = "yes" if row["server_bound"] else f"no: {_why_not(row)} (claim does not apply)"
        lines.append(
            f"| {row['backend']} | {row['runner_messages_per_second']:,.0f} | "
            f"{row['native_messages_per_second']:,.0f} | {ratio} | {bound} | "
            f"{'yes' if row['agrees'] else 'NO'} |"
        )
    return "\n".join(lines)


def _why_not(row: dict[str, Any]) -> str:
    verdict = row.get("verdict") or _verdict.overall(
        [r["verdict"] for r in row.get("runner_repeats") or ()]
    )
    return {
        "both": "client saturated too",
        "client": "client-bound",
        "neither": "neither saturated",
    }.get(verdict, f"repeats disagree ({verdict})")


def update_readme(doc: dict[str, Any], path: Path = README) -> None:
    replace_between(BEGIN, END, render_table(doc), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="asyncio-streams,asyncio-protocol,uvloop-protocol")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--readme", action="store_true", help="rewrite the README table")
    args = parser.parse_args(argv)
    placement = _isolation.plan(_isolation.usable_cpus())
    environment = _environment.collect(
        command_line=sys.argv, pinning=placement.as_dict(), placement_warnings=placement.warnings
    )
    rows = [measure(b.strip(), args, placement) for b in args.backends.split(",") if b.strip()]
    environment["finished_at"] = _environment.now()
    doc = {
        "schema": "echobench.runner_agreement",
        "schema_version": 1,
        "tolerance": TOLERANCE,
        "params": {
            "size": args.size,
            "connections": args.connections,
            "duration": args.duration,
            "warmup": args.warmup,
            "repeat": args.repeat,
        },
        "environment": environment,
        "rows": rows,
    }
    write_results(args.out, doc)
    print(render_table(doc))
    if args.readme:
        update_readme(doc)
    print(f"wrote {args.out}", file=sys.stderr)
    bound = [r for r in rows if r["server_bound"]]
    return 0 if bound and all(r["agrees"] for r in bound) else 1


if __name__ == "__main__":
    sys.exit(main())
