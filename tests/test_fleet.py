"""The load cluster across hosts: network namespaces, each with its own address and clock.

One fleet serves the module (``echobench.benchmarks.truth._fleet``): a server host, a
scheduler host (where ``echobench`` runs) and two client hosts with a Dask worker each,
addresses from 198.18.0.0/15, every host's monotonic clock hours apart from the others'.
Everything is torn down when the module ends or fails. The test that loses a client
host runs last, since the host does not come back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from conftest import run_echobench
from echobench.benchmarks.charts._hlogs import histograms
from echobench.benchmarks.runner import _verdict
from echobench.benchmarks.truth import _netns
from echobench.benchmarks.truth._fleet import (
    CLIENT_HOSTS,
    CLOCK_STEP_S,
    HOSTS,
    DaskFleet,
    dask_fleet,
)
from echobench.clients._histogram import new_histogram
from echobench.servers._launch import RunningServer

pytest.importorskip("distributed")
WHY_NOT = _netns.why_not()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))]

PORT = 9000


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskFleet]:
    with dask_fleet(tmp_path_factory.mktemp("fleet"), server_worker=True) as made:
        yield made


@pytest.fixture(scope="module")
def server(fleet: DaskFleet) -> Iterator[RunningServer]:
    with fleet.serving("asyncio-protocol", PORT) as running:
        yield running


def _load(fleet: DaskFleet, tmp_path: Path, *args: str, timeout: float = 60) -> dict[str, Any]:
    out = tmp_path / "load.json"
    done = fleet.echobench(
        [
            *("load", "--host", fleet.host("server"), "--port", str(PORT)),
            *fleet.cluster_args(),
            *args,
            *("--json", str(out), "-q"),
        ],
        timeout,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _read_log(path: Path) -> list[HdrHistogram]:
    return [histogram for _, _, histogram in histograms(path)]


def _recorded(histogram: HdrHistogram) -> list[tuple[int, int]]:
    return [
        (v.value_iterated_to, v.count_at_value_iterated_to)
        for v in histogram.get_recorded_iterator()
    ]


def test_shards_run_on_both_client_hosts_from_one_start(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    hlog = tmp_path / "fleet.hlog"
    result = _load(
        fleet,
        tmp_path,
        "-c",
        "6",
        "-d",
        "1.5",
        "--warmup",
        "0.2",
        "--hlog",
        str(hlog),
        "--hlog-interval",
        "0.5",
    )
    assert result["complete"] and result["error_total"] == 0, result["stop_reason"]
    shards = result["shards"]
    # Each shard ran on its own host, known to the scheduler by that host's address.
    assert sorted(s["host"] for s in shards) == sorted(fleet.host(h) for h in CLIENT_HOSTS)
    assert all(s["messages"] > 0 and not s["lost"] for s in shards)
    cluster = result["cluster"]
    assert cluster["shards"] == 2 and cluster["lost"] == []
    # Two monotonic clocks an hour apart: the windows were put on one time base by Dask's
    # estimate of each host's offset, and the estimate's error bound is recorded.
    assert cluster["hosts"] == 2
    assert 0 < cluster["clock_uncertainty_us"] < 1e6
    shifts = {s["host"]: s["clock_shift_ns"] for s in shards}
    hours = {fleet.host(h): HOSTS.index(h) * CLOCK_STEP_S for h in CLIENT_HOSTS}
    first, second = sorted(shifts)
    # The shifts undo the clocks' offsets, to within the recorded uncertainty (both
    # hosts' wall clocks are this machine's, so the truth is known here).
    assert (shifts[second] - shifts[first]) / 1e9 == pytest.approx(
        hours[first] - hours[second], abs=2 * cluster["clock_uncertainty_us"] / 1e6
    )
    assert cluster["start_spread_us"] == max(s["start_offset_us"] for s in shards)
    assert min(s["start_offset_us"] for s in shards) == 0
    # Loose here (a shared 2-core test machine); the fleet publish step measures it.
    assert cluster["start_spread_us"] < 100_000

    # The merged histogram is the sum of the shards': the same count at every value.
    merged = HdrHistogram(1, result["histogram"]["highest"], 3)
    merged.decode_and_add(result["histogram"]["data"])
    summed = HdrHistogram(1, result["histogram"]["highest"], 3)
    for shard in shards:
        summed.decode_and_add(shard["histogram"]["data"])
    assert _recorded(merged) == _recorded(summed)
    assert merged.get_total_count() == result["messages"] == sum(s["messages"] for s in shards)

    # One interval log, merged across the shards per interval: its intervals add up to
    # the merged histogram, and its times are the window's, on the scheduler's clock.
    intervals = _read_log(hlog)
    assert len(intervals) == result["latency_intervals"]["count"] == 3
    logged = new_histogram()
    for interval in intervals:
        logged.add(interval)
    assert _recorded(logged) == _recorded(merged)
    started = datetime.fromisoformat(result["started_at"]).timestamp()
    assert intervals[0].get_start_time_stamp() / 1e3 == pytest.approx(started, abs=0.05)
    assert (
        intervals[-1].get_end_time_stamp() - intervals[0].get_start_time_stamp()
    ) / 1e3 == pytest.approx(result["elapsed_s"], abs=0.05)


def _run(tmp_path: Path, name: str, argv: list[str], fleet: DaskFleet | None = None) -> Any:
    out = tmp_path / f"{name}.json"
    common = ["--backends", "asyncio-protocol", "--sizes", "64", "--connections", "8"]
    common += ["--duration", "1", "--warmup", "0.2", "--repeat", "1", "--out", str(out)]
    if fleet is not None:
        done = fleet.echobench(["run", *argv, *common], 120)
        status, stderr = done.returncode, done.stderr
    else:
        local = run_echobench("run", *argv, *common, timeout=120)
        status, stderr = local.returncode, local.stderr
    assert status == 0, stderr
    (case,) = json.loads(out.read_text())["cases"]
    assert case["status"] == "ok", case
    return case["repeats"][0]


def test_the_server_host_worker_measures_the_server_as_a_local_run_does(
    fleet: DaskFleet, tmp_path: Path
) -> None:
    far = _run(tmp_path, "far", [*fleet.cluster_args(), "--max-interference", "7%"], fleet)
    near = _run(tmp_path, "near", [])
    # The server was started on its own host, by the worker there, and measured there:
    # its CPU over the load's window, its memory, its memory per connection and the
    # interference its CPUs saw; so the verdict is not the client side's alone.
    assert far["server_address"].startswith(fleet.host("server") + ":")
    assert far["server_host"]["started"] and far["server_host"]["host"] == fleet.host("server")
    assert far["server_cpu"]["window_source"] == "client-window"
    assert far["placement"]["server_cpus"] and far["verdict"] in _verdict.VERDICTS
    interference = far["server_host"]["interference"]
    assert set(interference["steal_pct"]) == {"server"}
    # Judged there by the run's own threshold, as a local repeat is.
    assert interference["threshold_pct"] == pytest.approx(7.0)
    # Against a local run of the same backend on the same machine: the same kinds of
    # figure, of the same size. Loose bounds: a bridge between namespaces is not
    # loopback, and a shared 2-core machine moves every figure by tens of percent.
    for repeat in (far, near):
        assert repeat["server_cpu"]["seconds"] > 0
        assert repeat["server_rss_per_connection_bytes"] is not None
    per_message = [
        r["server_cpu"]["seconds"] / (r["messages_per_second"] * r["server_cpu"]["window_s"])
        for r in (far, near)
    ]
    assert 0.33 < per_message[0] / per_message[1] < 3, per_message
    rss = [r["server_rss_peak_bytes"] for r in (far, near)]
    assert 0.67 < rss[0] / rss[1] < 1.5, rss


def test_a_shaped_client_link_is_named_as_the_limit(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    mbit = 20.0
    fleet.net.shape("client1", mbit)
    try:
        out = tmp_path / "shaped.json"
        done = fleet.echobench(
            [
                *("load", "--host", fleet.host("server"), "--port", str(PORT)),
                *fleet.cluster_args(),
                *("-c", "8", "-s", "4096", "-d", "1", "--warmup", "0.2"),
                *("--json", str(out), "-q"),
            ],
            60,
        )
    finally:
        fleet.net.unshape("client1")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    shaped, free = sorted(result["shards"], key=lambda s: s["host"] != fleet.host("client1"))
    assert shaped["host"] == fleet.host("client1")
    # The echoes' payload alone stays under the link's rate each way (headers come on top)...
    assert 0 < shaped["messages_per_second"] * 4096 * 8 <= mbit * 1e6
    # ... while the unshaped host, on the same server, went several times faster.
    assert free["messages_per_second"] > 3 * shaped["messages_per_second"]
    link = shaped["link"]
    assert link["interface"] == "eth0" and link["qdisc"] == "tbf" and link["limited"]
    assert link["held_back"] > 0 and link["out_mbit_per_s"] <= mbit * 1.05
    assert not free["link"]["limited"]
    assert result["cluster"]["network_limited"] == [shaped["shard"]]
    (line,) = [line for line in done.stderr.splitlines() if "NETWORK-BOUND" in line]
    assert "the client's link, not the server, was the limit" in line
    assert fleet.host("client1") in line and fleet.host("client2") not in line


def test_netem_delays_a_link_where_the_kernel_has_it(fleet: DaskFleet) -> None:
    try:
        fleet.net.delay("client2", 5)
    except _netns.NoNetem as exc:
        pytest.skip(f"this kernel cannot delay a link: {exc}")
    try:
        done = fleet.net.run(
            "client2",
            [sys.executable, "-c", RTT_PROBE, fleet.host("server"), str(PORT)],
            30,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        fleet.net.unshape("client2")
    # 5 ms each way, on the link's both ends: a round trip of at least 20 ms.
    assert float(done.stdout) >= 0.02, done.stderr


#: Prints the shortest of ten echo round trips to the server, in seconds.
RTT_PROBE = """
import socket, sys, time
with socket.create_connection((sys.argv[1], int(sys.argv[2])), 5) as sock:
    best = 1e9
    for _ in range(10):
        start = time.perf_counter()
        sock.sendall(b"x")
        sock.recv(1)
        best = min(best, time.perf_counter() - start)
print(best)
"""


def test_a_client_host_lost_mid_run(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "lost.json"
    load = fleet.popen(
        [
            *("load", "--host", fleet.host("server"), "--port", str(PORT), "-c", "4"),
            *("-d", "2.5", "--warmup", "0.2", *fleet.cluster_args(), "--hold"),
            *("--hlog", str(tmp_path / "lost.hlog")),
            *("--json", str(out), "-q"),
        ]
    )
    try:
        assert load.stdout is not None and load.stdin is not None
        assert load.stdout.readline().startswith("connected 4")
        load.stdin.write("go\n")
        load.stdin.close()
        time.sleep(1.0)  # into the measured window
        fleet.net.lose("client2")
        status = load.wait(60)
    finally:
        if load.poll() is None:
            load.kill()
        if load.stdout is not None:
            load.stdout.close()
    assert status == 1
    result = json.loads(out.read_text())
    assert not result["complete"]
    lost = [s for s in result["shards"] if s["lost"]]
    kept = [s for s in result["shards"] if not s["lost"]]
    assert [s["host"] for s in lost] == [fleet.host("client2")]
    assert "client2" not in fleet.net.hosts or fleet.host("client2") in result["stop_reason"]
    assert [s["host"] for s in kept] == [fleet.host("client1")]
    assert kept[0]["complete"] and kept[0]["messages"] > 0
    assert result["messages"] == kept[0]["messages"] == result["latency_us"]["count"]
    # The log goes on without the lost shard, to the end of the survivor's window.
    intervals = _read_log(tmp_path / "lost.hlog")
    assert len(intervals) == 3
    assert sum(i.get_total_count() for i in intervals) >= kept[0]["messages"]
