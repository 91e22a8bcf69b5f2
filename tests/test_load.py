"""The load generator against real misbehaving servers (subprocesses, loopback)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from _fault_servers import fault_server

from echobench.benchmarks.runner._interference import Interference, Side, Window
from echobench.clients import LoadConfig, run_load
from echobench.clients._histogram import (
    encode,
    merge_encoded,
    new_histogram,
    record_batch,
    summarize,
)
from echobench.clients._pacer import Pacer
from echobench.servers._launch import RunningServer, start_server


@contextmanager
def running_server(name: str, **kwargs: Any) -> Iterator[RunningServer]:
    server = start_server(name, **kwargs)
    try:
        yield server
    finally:
        server.close()
        # RunningServer.close leaves the READY pipe open; close it so no ResourceWarning.
        if server.process.stdout is not None:
            server.process.stdout.close()


def _load(port: int, **kwargs: object) -> dict:
    settings: dict = {"port": port, "connections": 4, "size": 64, "duration": 1.0, "warmup": 0.2}
    settings.update(kwargs)
    return run_load(LoadConfig(**settings))


@pytest.mark.parametrize("pipeline", [1, 3])
def test_fixed_delay_shows_as_p50(pipeline: int) -> None:
    delay = 0.02
    with fault_server("delay", delay) as server:
        result = _load(server.port, pipeline=pipeline)
    latency = result["latency_us"]
    assert result["complete"] and result["error_total"] == 0
    # The server holds every byte for the delay, so no echo can be faster than it.
    assert latency["min"] >= delay * 1e6 * 0.999
    assert delay * 1e6 <= latency["p50"] <= delay * 1e6 + 15_000
    assert latency["count"] == result["messages"] > 0


def test_messages_in_flight_at_the_close_are_recorded_at_their_age() -> None:
    # Echoed 0.3 s late: the last 0.3 s of the window's messages are still out when it
    # closes. They count at their age then (a lower bound, as wrk2 does), never dropped.
    delay, rate, duration = 0.3, 400.0, 1.0
    with fault_server("delay", delay) as server:
        result = _load(server.port, rate=rate, duration=duration, warmup=0.4)
    out = result["rate"]["in_flight_at_close"] + result["rate"]["unsent_at_close"]
    assert rate * delay * 0.8 <= out <= rate * delay * 1.2, result["rate"]
    latency = result["latency_us"]
    assert latency["count"] == result["messages"] + out
    # The echoes took the delay; those cut off by the close are younger, from 0 up.
    assert latency["min"] < delay * 1e6 / 2 and latency["p50"] >= delay * 1e6 * 0.999
    # A server that echoes every message, only late, kept up with the rate.
    assert result["rate"]["met"], result["rate"]


@pytest.mark.slow
def test_open_loop_sees_freezes_closed_loop_hides_them() -> None:
    period, freeze = 1.0, 0.25
    with fault_server("freeze", period, freeze) as server:
        closed = _load(server.port, connections=1, duration=2.0, warmup=0.3)
    with fault_server("freeze", period, freeze) as server:
        opened = _load(server.port, rate=400, duration=2.0, warmup=0.3)
    freeze_us = freeze * 1e6
    # Open loop: a quarter of the schedule falls inside freezes and waits them out,
    # measured from the scheduled send time, so the tail shows the freeze.
    assert opened["latency_us"]["p99"] >= 0.6 * freeze_us
    assert opened["latency_us"]["max"] >= 0.8 * freeze_us
    assert opened["latency_us"]["p90"] >= 0.2 * freeze_us
    # Closed loop: the one message in flight waits (max sees it), but the client sends
    # nothing while it waits, so the freeze is a handful of samples and p99 stays low.
    assert closed["latency_us"]["max"] >= 0.5 * freeze_us
    assert closed["latency_us"]["p99"] < 0.2 * freeze_us
    assert closed["messages"] > 200


def test_corruption_is_counted_byte_by_byte() -> None:
    with fault_server("corrupt", 1000) as server:
        result = _load(server.port, size=100)
    assert result["corrupted"]
    # One flipped byte per 1000 and 100-byte messages: one corrupted byte per bad message.
    assert result["corrupted_bytes"] == result["errors"]["mismatch"] > 0
    assert result["errors"]["eof"] == result["errors"]["reset"] == 0


def test_crossed_connections_are_caught() -> None:
    with fault_server("swap") as server:
        result = _load(server.port, connections=2)
    assert result["corrupted"] and result["errors"]["mismatch"] > 0


@pytest.mark.parametrize(
    ("piece", "extra"),
    [(1, {"pipeline": 3}), (7, {"rate": 300})],
    ids=["1-byte-closed-pipelined", "7-byte-open"],
)
def test_split_echoes_are_reassembled(piece: int, extra: dict) -> None:
    with fault_server("pieces", piece) as server:
        result = _load(server.port, connections=2, size=50, **extra)
    assert not result["corrupted"], result["corrupted_bytes"]
    assert result["complete"] and result["error_total"] == 0
    assert result["messages"] > 50
    rate = result["rate"] or {"in_flight_at_close": 0, "unsent_at_close": 0}
    ended = rate["in_flight_at_close"] + rate["unsent_at_close"]
    assert result["latency_us"]["count"] == result["messages"] + ended


def test_throughput_uses_the_measured_window() -> None:
    """The server echoes nothing for 1.5 s, then drains its backlog, all during warmup.

    Counting the warmup burst would inflate the rate; dividing by the whole run
    would deflate it. Only the window gives the target rate.
    """
    rate = 300
    with fault_server("pause", 1.5) as server:
        result = _load(server.port, connections=3, rate=rate, warmup=2.0, duration=1.5)
    assert 1.4 <= result["elapsed_s"] <= 1.7
    assert 0.85 * rate <= result["messages_per_second"] <= 1.15 * rate
    assert result["messages_per_second"] == pytest.approx(
        result["messages"] / result["elapsed_s"], rel=1e-3
    )
    assert result["per_second"] and sum(result["per_second"]) <= result["messages"]
    assert result["rate"]["target"] == rate


def test_worker_histograms_merge_to_one_histogram_of_all_values() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [rng.integers(1, 5_000, 20_000), rng.lognormal(12, 2, 20_000).astype(np.int64)]
    )
    single = new_histogram()
    for value in values.tolist():
        single.record_value(value)
    parts = []
    for chunk in np.array_split(rng.permutation(values), 3):
        histogram = new_histogram()
        assert record_batch(histogram, chunk) == 0
        parts.append(encode(histogram))
    merged = merge_encoded(parts)
    assert list(merged.counts) == list(single.counts)
    assert summarize(merged) == summarize(single)


def test_out_of_range_values_are_counted_not_dropped() -> None:
    histogram = new_histogram()
    assert record_batch(histogram, np.array([10, -1, 10**15, 20], dtype=np.int64)) == 2
    assert histogram.get_total_count() == 2


def test_real_backend_with_two_workers() -> None:
    with running_server("uvloop-protocol") as server:
        result = _load(server.port, workers=2, size=1024, duration=1.0)
    assert result["complete"] and result["error_total"] == 0 and not result["corrupted"]
    assert result["params"]["workers"] == 2 and result["loop"] == "uvloop"
    assert result["latency_us"]["count"] == result["messages"] > 1000
    assert 0.9 <= result["elapsed_s"] <= 1.3
    assert result["client_cpu"]["seconds"] > 0


def _load_watched(**kwargs: object) -> tuple[dict, Interference | None]:
    """A load against uvloop-protocol, and the interference the host put on the server
    and on this process over it (steal on every CPU, the server's run-queue wait)."""
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    with running_server("uvloop-protocol") as server:
        # A tenth without an echo is a stall of 100 ms, over 3% of a 1.5 s watch on 2 CPUs.
        watch = Window({"host": Side(cpus, (server.pid,), (os.getpid(),))}, threshold_pct=2.0)
        watch.edge()
        result = _load(server.port, **kwargs)
        watch.edge()
    return result, watch.result()


@pytest.mark.parametrize(("duration", "workers"), [(1.25, 1), (1.0, 2)])
def test_series_counts_each_tenth_of_a_second(duration: float, workers: int) -> None:
    # A tenth with no echo, or a tail far busier than the average tenth, is a bug unless
    # the host took the CPUs away for that long (a steal burst, another task): such a run
    # is measured again, at most three times, and the interference each one saw is said.
    disturbed: list[list[str]] = []
    for _ in range(3):
        result, host = _load_watched(workers=workers, duration=duration, warmup=0.1)
        assert result["complete"] and result["error_total"] == 0
        series = result["series"]
        assert series["interval_s"] == 0.1
        counts = series["counts"]
        # Whole intervals of the window only: 12 of 1.25 s, 10 of 1 s.
        assert len(counts) == int(duration * 10)
        assert all(isinstance(n, int) and n >= 0 for n in counts)
        missing = result["messages"] - sum(counts)
        if duration == int(duration):
            assert missing == 0  # the last interval ends with the window
        # Each whole second is its ten intervals, counted from the same readings.
        assert result["per_second"] == [
            sum(counts[k : k + 10]) for k in range(0, len(counts) - 9, 10)
        ]
        one_interval = result["messages_per_second"] * series["interval_s"]
        steady = all(n > 0 for n in counts) and 0 <= missing <= 1.5 * one_interval
        if steady or host is None or not host.disturbed:
            break
        disturbed.append(host.reasons())
    said = f" (runs the host disturbed: {disturbed})" if disturbed else ""
    assert all(n > 0 for n in counts), f"an empty tenth: {counts}{said}"
    assert 0 <= missing <= 1.5 * one_interval, f"a tail of {missing} messages{said}"


def test_series_of_a_run_stopped_early_is_shorter() -> None:
    with fault_server("die", 0.8) as server:
        result = _load(server.port, duration=5.0, warmup=0.0)
    assert not result["complete"]
    counts = result["series"]["counts"]
    assert 5 <= len(counts) <= 10 and result["per_second"] == []
    # The tail after the last whole interval is under one interval, plus however late
    # that interval's mark fired (a vCPU this host stopped for 7 ms, a loop mid-batch):
    # a CI run saw 1.05 intervals. Two would mean a mark lost.
    assert 0 <= result["messages"] - sum(counts) <= 1.5 * max(counts)


@pytest.mark.parametrize("transport", ["tls", "unix"])
def test_tls_and_unix_transports(transport: str, tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    extra = ["--tls"] if transport == "tls" else ["--unix", str(tmp_path / "echo.sock")]
    with running_server("uvloop-protocol", extra_args=extra) as server:
        if transport == "tls":
            result = _load(server.port, tls=True, duration=0.5)
        else:
            result = _load(None, unix=server.unix_path, duration=0.5)  # type: ignore[arg-type]
    assert result["complete"] and result["error_total"] == 0 and not result["corrupted"]
    assert result["messages"] > 100


def test_server_dying_mid_run_leaves_a_partial_result() -> None:
    with fault_server("die", 0.8) as server:
        result = _load(server.port, duration=5.0, warmup=0.0)
    assert not result["complete"]
    assert result["errors"]["eof"] + result["errors"]["reset"] == 4
    assert "ended early" in result["stop_reason"]
    assert result["messages"] > 0 and result["elapsed_s"] < 3.0


def test_stalled_connections_time_out() -> None:
    with fault_server("silent") as server:
        result = _load(server.port, duration=5.0, warmup=0.0, timeout=0.5)
    assert result["errors"]["timeout"] == 4
    assert not result["complete"] and result["messages"] == 0
    assert result["elapsed_s"] < 2.5


class _Sink:
    """A connection as the pacer sees it: alive, and sends go nowhere."""

    def __init__(self) -> None:
        self.alive = True
        self.sent: list[int] = []

    def send(self, due: int) -> None:
        self.sent.append(due)


def test_the_pacer_counts_how_late_each_message_left() -> None:
    loop = asyncio.new_event_loop()
    try:
        sinks = [_Sink(), _Sink()]
        pacer = Pacer(loop, sinks, base=0, step=1000.0)  # type: ignore[arg-type]
        pacer.measuring = True
        # 200 µs behind a 1M msgs/s schedule: messages 0..200 are due, message i is
        # 200 - i µs late; 0..136 are 64 µs late or more, 0..72 128 µs or more.
        pacer.send_due(200_000)
        assert pacer.sent == 201 == len(sinks[0].sent) + len(sinks[1].sent)
        late = pacer.late_counts()
        assert (late["64"], late["90"], late["128"], late["181"], late["256"]) == (
            137,
            110,  # 90.5 µs or more late: 0..109
            73,
            19,  # 181 µs or more: 0..18
            0,
        )
        assert pacer.max_lag >= 200_000
        # Due at the close and never sent: late as well.
        pacer.count_unsent(300_000)
        assert pacer.late_counts()["64"] == 137 + (300 - 64 - 201 + 1)
    finally:
        loop.close()
