"""Truth benchmark: does ``echobench run`` report what an independent client measures?

For each backend it alternates, on the same pinned server CPUs, a repeat of the
real runner (``echobench run``, as users invoke it, with the Python load client)
and a repeat of the native C load client (``_native_client``) against a freshly
started server, then compares the medians. The claim holds for a server-bound
case (the runner's verdict ``server``: the server saturated and the load client
not): there both clients must see the server's ceiling, within about 10%. A case
where the load client was saturated too (``both``) or instead (``client``)
measures the client, so it is reported as such rather than counted.

``echobench agreement [--backends a,b] [--repeat 5]`` prints the table;
``echobench publish`` writes ``results/published/runner_agreement.json`` and the
table between the ``runner-agreement`` markers (docs/running.md; ``STEP``). Run it on
a quiet machine; numbers from a busy one say little.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from echobench.benchmarks.reference.native_client import run_native_client
from echobench.benchmarks.runner import _environment, _isolation, _verdict
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._results_schema import load_results
from echobench.benchmarks.runner._terminal import RunProgress
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command, start_server

FILE = "runner_agreement.json"
BEGIN, END = "<!-- runner-agreement:begin -->", "<!-- runner-agreement:end -->"
TOLERANCE = 0.10


@dataclass(frozen=True)
class Params:
    backends: tuple[str, ...] = ("asyncio-streams", "asyncio-protocol", "uvloop-protocol")
    size: int = 1024
    connections: int = 10
    duration: float = 3.0
    warmup: float = 1.0
    repeat: int = 5


#: ``echobench publish --quick``: proves the pipeline in seconds, publishes nothing true.
QUICK = Params(backends=("asyncio-protocol",), duration=1.0, warmup=0.3, repeat=2)


def _runner_repeat(backend: str, args: Params, placement: Any) -> dict[str, Any]:
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
            # It alternates with the native client: the publish step watches the host over
            # both (``_hostcheck.watched``); a repeat here is never waited for or repeated.
            *("--host-check", "0", "--quiet-timeout", "0", "--disturbed-retries", "0"),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise UserError(f"echobench run failed for {backend}: {done.stderr.strip()[-300:]}")
        (case,) = load_results(out)["cases"]
        (repeat,) = case["repeats"]
        return {
            "messages_per_second": repeat["messages_per_second"],
            "verdict": repeat["verdict"],
            "server_utilization": repeat["server_cpu"]["utilization"],
            "client_utilization": repeat["client_cpu"]["utilization"],
        }


def _native_repeat(backend: str, args: Params, placement: Any) -> float:
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
        raise UserError(f"native client saw errors against {backend}: {report}")
    return float(report["messages_per_second"])


def is_server_bound(verdicts: list[str]) -> bool:
    """Most repeats had the server, and not the client, saturated. ``both`` does not count:
    with the client saturated too, the runner's number is the client's ceiling as much as
    the server's, and two clients agreeing on it would prove nothing."""
    return verdicts.count("server") > len(verdicts) / 2


def measure(
    backend: str, args: Params, placement: Any, progress: RunProgress | None = None
) -> dict[str, Any]:
    runner: list[dict[str, Any]] = []
    native: list[float] = []

    def by_runner(label: str) -> None:
        if progress is not None:
            progress.starting(f"{label}: echobench run")
        runner.append(_runner_repeat(backend, args, placement))
        if progress is not None:
            result = runner[-1]
            outcome = f"{result['messages_per_second']:,.0f} msg/s ({result['verdict']})"
            progress.finished(f"{label}: echobench run", outcome)

    def by_native(label: str) -> None:
        if progress is not None:
            progress.starting(f"{label}: native client")
        native.append(_native_repeat(backend, args, placement))
        if progress is not None:
            progress.finished(f"{label}: native client", f"{native[-1]:,.0f} msg/s")

    for repeat in range(args.repeat):
        label = f"{backend} repeat {repeat + 1}/{args.repeat}"
        # alternate which goes first, so drift does not favour one instrument
        first, second = (by_runner, by_native) if repeat % 2 == 0 else (by_native, by_runner)
        first(label)
        second(label)
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


def agreement(params: Params) -> dict[str, Any]:
    """Measure every backend of ``params``: the ``echobench.runner_agreement`` document."""
    placement = _isolation.plan(_isolation.usable_cpus())
    environment = _environment.collect(
        command_line=sys.argv, pinning=placement.as_dict(), placement_warnings=placement.warnings
    )
    with RunProgress(len(params.backends) * params.repeat * 2, noun="run") as progress:
        rows = [measure(backend, params, placement, progress) for backend in params.backends]
    environment["finished_at"] = _environment.now()
    return {
        "schema": "echobench.runner_agreement",
        "schema_version": 1,
        "tolerance": TOLERANCE,
        "params": {k: v for k, v in asdict(params).items() if k != "backends"},
        "environment": environment,
        "rows": rows,
    }


def contradictions(doc: dict[str, Any]) -> list[str]:
    """Where the claim fails: a server-bound backend outside the tolerance, or none bound."""
    bound = [row for row in doc["rows"] if row["server_bound"]]
    if not bound:
        return ["no backend was server-bound, so the runner's agreement was not tested"]
    return [
        f"{row['backend']}: the runner measured {row['ratio']:.3f} of the native client's "
        f"msgs/s, outside +-{doc['tolerance']:.0%}"
        for row in bound
        if not row["agrees"]
    ]
