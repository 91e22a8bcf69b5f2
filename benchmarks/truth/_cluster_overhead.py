"""Truth benchmark: what does driving the load through Dask cost?

Against one ``native`` server pinned to its CPU, it alternates, on the same client
CPUs, ``echobench load --workers 2`` (local workers, one pinned to each client CPU)
and ``echobench load --cluster`` over a 2-worker Dask cluster started on those same
CPUs (``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1``, with the
settings docs/cluster.md gives for a load cluster, ``clients._cluster.QUIET_DASK``; each
shard's load process pinned one to a CPU, as local workers are). The cluster's
processes are frozen (SIGSTOP) through the local repeats, so the baseline runs with no
engine beside it and every cycle the engine takes counts against the cluster. Same
connections, message size and window; the order alternates every repeat so drift
favours neither. The claim: the engine costs under 10% of the throughput (cluster /
local at least 0.90, medians).

The ``cluster`` step of ``echobench publish`` writes
``results/published/cluster_overhead.json`` and the table between the
``cluster-overhead`` markers (docs/cluster.md) from it (``STEP``). Run it on a quiet machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner import _environment, _isolation
from echobench.benchmarks.runner._prime import prime
from echobench.clients._cluster import QUIET_DASK
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command, start_server

FILE = "cluster_overhead.json"
BEGIN, END = "<!-- cluster-overhead:begin -->", "<!-- cluster-overhead:end -->"
#: The most throughput the engine may cost.
TOLERANCE = 0.10
WORKERS = 2
MODES = ("local", "cluster")


@dataclass(frozen=True)
class Params:
    size: int = 1024
    connections: int = 32
    duration: float = 5.0
    warmup: float = 1.0
    repeat: int = 5


#: ``echobench publish --quick``: proves the pipeline, publishes nothing true.
QUICK = Params(duration=1.0, warmup=0.3, repeat=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pinned(
    cpus: list[int], argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``argv`` in its own session, on ``cpus`` from its first instruction (so every
    process it starts inherits them), its output in ``log``."""
    launcher = "import os, sys; os.sched_setaffinity(0, {%s}); os.execv(sys.argv[1], sys.argv[1:])"
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", launcher % ",".join(map(str, cpus)), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


@dataclass
class DaskCluster:
    address: str
    processes: list[subprocess.Popen[bytes]]

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the cluster stopped (SIGSTOP) for the block: no CPU at all."""
        self._signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass


@contextmanager
def dask_cluster(cpus: list[int], scratch: Path) -> Iterator[DaskCluster]:
    """A scheduler and ``WORKERS`` single-threaded workers on ``cpus``, configured as the
    docs/cluster.md says a load cluster should be; killed on exit."""
    from distributed import Client

    env = {**os.environ, **QUIET_DASK}

    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    started = [
        _pinned(
            cpus,
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            scratch / "scheduler.log",
            env,
        )
    ]
    try:
        started.append(
            _pinned(
                cpus,
                [
                    *(dask, "worker", address, "--nworkers", str(WORKERS), "--nthreads", "1"),
                    *("--local-directory", str(scratch), *common),
                ],
                scratch / "workers.log",
                env,
            )
        )
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(WORKERS, timeout=120)
        yield DaskCluster(address, started)
    finally:
        for process in reversed(started):
            _kill(process)


def _load(port: int, args: Params, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "load.json"
        argv = [
            *echobench_command(),
            "load",
            *("--port", str(port), "-c", str(args.connections), "-s", str(args.size)),
            *("-d", str(args.duration), "--warmup", str(args.warmup)),
            *extra,
            *("--json", str(out), "-q"),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            raise UserError(f"echobench load {' '.join(extra)} failed: {done.stderr[-300:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    return {
        "messages_per_second": result["messages_per_second"],
        "cpu_us_per_message": result["cpu_us_per_message"],
        "p99_us": (result["latency_us"] or {}).get("p99"),
        "start_spread_us": (result.get("cluster") or {}).get("start_spread_us"),
    }


def _alternate(port: int, client_cpus: list[int], args: Params) -> dict[str, Any]:
    repeats: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    cpus = ",".join(map(str, client_cpus))
    with (
        tempfile.TemporaryDirectory(prefix="echobench-dask-") as scratch,
        dask_cluster(client_cpus, Path(scratch)) as cluster,
    ):
        extra = {
            "local": ["--workers", str(WORKERS), "--cpus", cpus],
            "cluster": ["--cluster", cluster.address, "--workers", str(WORKERS)],
        }
        for repeat in range(args.repeat):
            for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
                with cluster.frozen() if mode == "local" else nullcontext():
                    repeats[mode].append(_load(port, args, extra[mode]))
                rate = repeats[mode][-1]["messages_per_second"]
                print(f"repeat {repeat + 1} {mode}: {rate:,.0f} msg/s", file=sys.stderr)
    return repeats


def summarize(repeats: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per mode, the cluster / local ratio and whether the claim holds."""
    rows = {}
    for mode, runs in repeats.items():
        rates = [r["messages_per_second"] for r in runs]
        row = {
            "messages_per_second": statistics.median(rates),
            "min": min(rates),
            "max": max(rates),
            "cpu_us_per_message": statistics.median(r["cpu_us_per_message"] for r in runs),
        }
        spreads = [r["start_spread_us"] for r in runs if r["start_spread_us"] is not None]
        row["start_spread_us"] = statistics.median(spreads) if spreads else None
        rows[mode] = row
    ratio = rows["cluster"]["messages_per_second"] / rows["local"]["messages_per_second"]
    return {"rows": rows, "ratio": ratio, "overhead": 1 - ratio, "within": 1 - ratio < TOLERANCE}


def render_table(doc: dict[str, Any]) -> str:
    params, summary = doc["params"], doc["summary"]
    pinning = doc["environment"]["pinning"]
    lines = [
        f"Measured {doc['environment']['started_at'][:10]} against `native` on CPUs "
        f"{pinning['server_cpus']}, both clients on CPUs {pinning['client_cpus']} "
        f"({doc['environment']['cpu']['model']}): {params['connections']} connections x "
        f"{params['size']} B, closed loop, {params['duration']:g} s measured x "
        f"{params['repeat']} alternating repeats. Median (min-max).",
        "",
        "| load client | msgs/s | client CPU us/msg | start spread |",
        "| --- | ---: | ---: | ---: |",
    ]
    names = {
        "local": f"`echobench load --workers {WORKERS}` (local workers)",
        "cluster": f"`echobench load --cluster` ({WORKERS} Dask workers, one shard each)",
    }
    for mode in MODES:
        row = summary["rows"][mode]
        spread = row["start_spread_us"]
        lines.append(
            f"| {names[mode]} | {row['messages_per_second']:,.0f} ({row['min']:,.0f}-"
            f"{row['max']:,.0f}) | {row['cpu_us_per_message']:.2f} | "
            + (f"{spread / 1000:.2f} ms |" if spread is not None else "- |")
        )
    overhead = summary["overhead"]
    cost = (
        f"the engine costs {overhead * 100:.1f}% of the throughput"
        if overhead >= 0
        else f"no cost measured (the cluster was {-overhead * 100:.1f}% faster: noise)"
    )
    verdict = "within" if summary["within"] else "NOT within"
    lines += [
        "",
        f"Cluster / local: **{summary['ratio']:.3f}**: {cost}; {verdict} the "
        f"{TOLERANCE * 100:.0f}% claimed.",
    ]
    return "\n".join(lines)


def overhead(args: Params) -> dict[str, Any]:
    """Measure: the ``echobench.cluster_overhead`` document."""
    placement = _isolation.plan(_isolation.usable_cpus())
    client_cpus = list(placement.client_cpus)
    environment = _environment.collect(
        command_line=sys.argv, pinning=placement.as_dict(), placement_warnings=placement.warnings
    )
    server = start_server("native", cpus=placement.server_cpus)
    try:
        prime(server.host, server.port, None, tls=False)
        repeats = _alternate(server.port, client_cpus, args)
    finally:
        server.close()
        if server.process.stdout is not None:
            server.process.stdout.close()
    environment["finished_at"] = _environment.now()
    return {
        "schema": "echobench.cluster_overhead",
        "schema_version": 1,
        "tolerance": TOLERANCE,
        "params": {**asdict(args), "workers": WORKERS},
        "environment": environment,
        "repeats": repeats,
        "summary": summarize(repeats),
    }
