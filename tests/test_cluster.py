"""The load spread over a real Dask cluster: a scheduler and two workers as subprocesses.

One cluster serves the whole module (starting one costs seconds); every process of it
runs in its own session and is killed, group and all, when the module ends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from conftest import AS_MEASURED, assert_one_line_error, run_echobench
from echobench.clients import LoadConfig
from echobench.clients._cluster import QUIET_DASK, run_cluster_load
from echobench.clients._cmd_load import exit_status
from echobench.clients._display import cluster_line
from echobench.clients._load_schema import EXIT_ERRORS
from echobench.servers._launch import RunningServer, start_server

distributed = pytest.importorskip("distributed")

WORKERS = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("dask")), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # As the README says to run a load cluster (and lighter on a busy test machine).
            env={**os.environ, **QUIET_DASK},
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


class Cluster:
    def __init__(self, address: str) -> None:
        self.address = address
        self.client = distributed.Client(address, timeout=30, set_as_default=False)

    def ready(self) -> str:
        """The address, once ``WORKERS`` workers are up (after a test killed one)."""
        self.client.wait_for_workers(WORKERS, timeout=60)
        deadline = time.monotonic() + 60
        while len(self.client.scheduler_info(n_workers=-1)["workers"]) != WORKERS:
            assert time.monotonic() < deadline, "the cluster did not settle"
            time.sleep(0.2)
        return self.address

    def worker_pids(self) -> dict[str, int]:
        pids: dict[str, int] = self.client.run(os.getpid)
        return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    scratch = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    common = ["--no-dashboard"]
    scheduler = _dask(
        "scheduler", "--host", "127.0.0.1", "--port", port, *common, log=scratch / "s.log"
    )
    workers = None
    handle = None
    try:
        workers = _dask(
            "worker",
            address,
            "--nworkers",
            str(WORKERS),
            "--nthreads",
            "1",
            "--local-directory",
            str(scratch),
            *common,
            log=scratch / "w.log",
        )
        handle = Cluster(address)
        handle.ready()
        yield handle
    finally:
        if handle is not None:
            handle.client.close()
        for process in (workers, scheduler):
            if process is not None:
                _kill(process)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = start_server("asyncio-protocol")
    try:
        yield running
    finally:
        running.close()
        if running.process.stdout is not None:
            running.process.stdout.close()


def _config(server: RunningServer, **kwargs: Any) -> LoadConfig:
    settings: dict[str, Any] = {
        "port": server.port,
        "connections": 6,
        "size": 64,
        "duration": 1.0,
        "warmup": 0.3,
    }
    settings.update(kwargs)
    return LoadConfig(**settings)


def test_the_merged_result_is_the_sum_of_the_shards(
    cluster: Cluster, server: RunningServer
) -> None:
    result = run_cluster_load(_config(server), cluster.ready())
    shards = result["shards"]
    assert result["complete"] and result["error_total"] == 0, result["stop_reason"]
    assert result["cluster"]["shards"] == len(shards) == WORKERS == result["params"]["workers"]
    assert {s["worker"] for s in shards} == set(cluster.worker_pids())
    assert [s["connections"] for s in shards] == [3, 3]
    assert all(s["messages"] > 0 and not s["lost"] for s in shards)
    assert result["messages"] == sum(s["messages"] for s in shards)
    # What scale and soak add to a worker's report flows through the same merge.
    assert result["connect"]["connections"] == 6 and result["fairness"] is not None
    for key in ("user_s", "system_s"):
        total = sum(s["client_cpu"][key] for s in shards)
        assert result["client_cpu"][key] == pytest.approx(total, abs=1e-5)
    # One machine, one monotonic clock: offsets are exact and the start was agreed on.
    assert result["cluster"]["hosts"] == 1 and result["cluster"]["clock_uncertainty_us"] == 0
    assert min(s["start_offset_us"] for s in shards) == 0
    assert result["cluster"]["start_spread_us"] == max(s["start_offset_us"] for s in shards)
    assert result["cluster"]["start_spread_us"] < 0.5 * 1e6
    # The window spans the shards' windows, each about the asked duration.
    # Shards on one clock now open theirs at one instant, so the span is one window; an
    # event loop may run its closing timer up to its clock's resolution (1 ms) early.
    assert 1.0 - 0.001 <= result["elapsed_s"] < 1.0 + 0.5

    # The histogram merge is exact: re-merging the shards' own histograms independently
    # gives the same counts at every value, hence the same percentiles.
    merged = HdrHistogram(1, result["histogram"]["highest"], 3)
    merged.decode_and_add(result["histogram"]["data"])
    again = HdrHistogram(1, result["histogram"]["highest"], 3)
    for shard in shards:
        again.decode_and_add(shard["histogram"]["data"])
        assert shard["latency_us"]["count"] == shard["messages"]
    assert merged.get_total_count() == again.get_total_count() == result["messages"]
    assert [
        (v.value_iterated_to, v.count_at_value_iterated_to) for v in merged.get_recorded_iterator()
    ] == [
        (v.value_iterated_to, v.count_at_value_iterated_to) for v in again.get_recorded_iterator()
    ]
    assert result["latency_us"]["count"] == result["messages"]
    assert f"{WORKERS} shard(s)" in cluster_line(result) and "LOST" not in cluster_line(result)
    # Started with the README's quiet settings: no housekeeping warning.
    assert result["cluster"]["warnings"] == []


def test_unreachable_scheduler_is_one_line(server: RunningServer) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = run_echobench("load", "--port", str(server.port), "--cluster", address, timeout=60)
    assert_one_line_error(result, "cannot reach the Dask scheduler", address)
    assert result.returncode == 2


def test_a_cluster_without_workers_is_one_line(tmp_path: Path, server: RunningServer) -> None:
    port = _free_port()
    scheduler = _dask(
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-dashboard",
        log=tmp_path / "s.log",
    )
    try:
        address = f"tcp://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the scheduler did not start"
                time.sleep(0.1)
        result = run_echobench(
            "load",
            "--port",
            str(server.port),
            "--cluster",
            address,
            "--json",
            str(tmp_path / "r.json"),
            timeout=60,
        )
    finally:
        _kill(scheduler)
    assert_one_line_error(result, "has no workers", "dask worker")
    assert result.returncode == 2
    assert not (tmp_path / "r.json").exists()


def test_run_drives_a_remote_server_from_the_cluster(
    cluster: Cluster, server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    result = run_echobench(
        *("run", "--connect", f"127.0.0.1:{server.port}", "--label", "far"),
        *("--cluster", cluster.ready(), "--sizes", "64", "--connections", "4"),
        *("--duration", "0.5", "--warmup", "0.1", "--repeat", "1", "--out", str(out)),
        *AS_MEASURED,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["config"]["cluster"] == cluster.address
    (case,) = doc["cases"]
    (repeat,) = case["repeats"]
    load = repeat["load"]
    assert case["status"] == "ok" and load["complete"]
    assert [s["connections"] for s in load["shards"]] == [2, 2]
    assert repeat["placement"]["load_workers"] == WORKERS
    assert repeat["placement"]["cluster"] == cluster.address
    # The server's CPU is not measured from here: the verdict can only speak of the client.
    assert repeat["server_cpu"] is None and repeat["verdict"] in ("client", "neither")
    # ... and the report says what is missing, and how to get it.
    said = " ".join((result.stdout + result.stderr).split())
    assert "Missing: the server's CPU, RSS, memory per connection and interference" in said
    assert "--resources server=1" in said and repeat["server_host"] is None
    assert repeat["client_cpu"]["capacity"] == load["cluster"]["client_capacity"] >= 1


def test_run_cluster_without_a_server_host_worker_says_what_is_missing(
    cluster: Cluster,
) -> None:
    result = run_echobench("run", "--cluster", cluster.ready(), "--backends", "native")
    assert_one_line_error(
        result, "no worker on the server's host", "--resources server=1", "--connect"
    )


def test_a_worker_lost_mid_run_is_named_and_the_rest_merged(
    cluster: Cluster, server: RunningServer
) -> None:
    address = cluster.ready()
    pids = cluster.worker_pids()
    victim = sorted(pids)[1]

    class KillInWindow:
        """Kills one worker once the first whole second of the window was counted."""

        killed = False

        def started(self, t0_ns: int, warmup: float, duration: float) -> None:
            pass

        def second(self, index: int, messages: int) -> None:
            if not self.killed:
                os.kill(pids[victim], signal.SIGKILL)
                self.killed = True

        def interval(self, index: int, seconds: float, latency: dict[str, Any] | None) -> None:
            pass

        def refresh(self) -> None:
            pass

        def finished(self) -> None:
            pass

    killer = KillInWindow()
    result = run_cluster_load(_config(server, duration=1.6), address, killer)
    assert killer.killed
    assert not result["complete"]
    assert exit_status(result) == EXIT_ERRORS
    assert victim in result["stop_reason"] and "lost mid-run" in result["stop_reason"]
    lost = [s for s in result["shards"] if s["lost"]]
    kept = [s for s in result["shards"] if not s["lost"]]
    assert [s["worker"] for s in lost] == [victim] and lost[0]["messages"] is None
    assert result["cluster"]["lost"] == [lost[0]["shard"]]
    # The survivor ran its whole window and is what the result reports.
    assert kept[0]["complete"] and kept[0]["messages"] > 0
    assert result["messages"] == kept[0]["messages"]
    assert result["latency_us"]["count"] == kept[0]["messages"]
    assert f"LOST {victim}" in cluster_line(result)
