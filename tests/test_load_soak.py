"""Long runs stay true: samples folded in small steps with none lost, interval logs, flat memory.

Scaled down: a test-only fold slice of a few dozen samples makes a short run take
hundreds of steps, as a long run at a high rate does with the real slice.
"""

from __future__ import annotations

import gc
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from echobench._cli import main
from echobench.clients import LoadConfig, _histogram, _recorder, run_load
from echobench.clients._display import RichProgress
from echobench.clients._gcwatch import GcWatch
from echobench.clients._histogram import new_histogram
from echobench.clients._intervals import Intervals
from echobench.servers._launch import echobench_command, running_server

SLICE = 48


def _recorded(histogram: HdrHistogram) -> list[tuple[int, int]]:
    return [
        (int(item.value_iterated_to), int(item.count_at_value_iterated_to))
        for item in histogram.get_recorded_iterator()
    ]


def _read_log(path: Path) -> list[HdrHistogram]:
    reader = HistogramLogReader(str(path), new_histogram())
    intervals = []
    while (interval := reader.get_next_interval_histogram()) is not None:
        intervals.append(interval)
    reader.close()
    return intervals


@pytest.mark.parametrize(
    ("load", "budget"),
    [({"pipeline": 2}, None), ({"rate": 3000.0}, 200), ({"rate": 3000.0}, None)],
    ids=["closed", "open-past-the-budget", "open-recorded-whole"],
)
def test_every_sample_folded_in_bounded_steps_and_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, load: dict[str, Any], budget: int | None
) -> None:
    # Workers are forked: they inherit the small slice and the tap that keeps every raw
    # sample the recorder folds, to rebuild the histogram one record_value at a time.
    monkeypatch.setattr(_recorder, "FOLD_SLICE", SLICE)
    monkeypatch.setattr(_recorder, "GATHER_CONNECTIONS", 2)
    if budget is not None:
        # A long run's window outgrows what may be held raw: counted as it goes from then on.
        monkeypatch.setattr(_recorder, "RAW_BUDGET", budget)
    tap = tmp_path / "samples.bin"
    add = _histogram.SampleCounts.add

    def tapped(self: Any, samples: Any) -> None:
        with tap.open("ab") as out:
            out.write(np.asarray(samples, dtype=np.int64).tobytes())
        add(self, samples)

    monkeypatch.setattr(_histogram.SampleCounts, "add", tapped)
    hlog = tmp_path / "run.hlog"
    with running_server("uvloop-protocol") as server:
        config = LoadConfig(
            port=server.port,
            connections=6,
            workers=2,
            size=128,
            duration=1.5,
            warmup=0.2,
            interval=0.5,
            hlog=str(hlog),
            **load,
        )
        result = run_load(config)
    assert result["complete"] and result["error_total"] == 0

    pauses = result["client_pauses"]
    whole = result["rate"] is not None and budget is None
    assert pauses["deferred"] is whole and pauses["gc_disabled"] is whole
    dependence = result["latency_dependence"]
    if whole:
        # Nothing counted in the window: its steps only moved the raw samples aside.
        assert pauses["max_fold_samples"] == 0 and pauses["gc_collections"] == [0, 0, 0]
        assert pauses["counted_after_ms"] > 0
        # Held whole, the samples in their order say how dependent they were.
        assert dependence["samples"] == result["latency_us"]["count"]
        assert dependence["independent"] in (True, False)
    else:
        assert dependence is None
        assert 0 < pauses["max_fold_samples"] <= SLICE
        assert pauses["folds"] > 100
    in_flight = 0
    if result["rate"] is not None:
        # The old in-window drain of every pending sample stalled sends for most of a
        # second at scale; bounded steps leave nothing near that.
        assert result["rate"]["max_send_lag_us"] < 500_000
        in_flight = result["rate"]["in_flight_at_close"] + result["rate"]["unsent_at_close"]

    every = np.frombuffer(tap.read_bytes(), dtype=np.int64)
    # Every echo of the window, and every message it ended without, at its age then.
    assert every.size == result["messages"] + in_flight == result["latency_us"]["count"] > 0
    expected = new_histogram()
    for value in every.tolist():
        expected.record_value(value)
    run = new_histogram()
    run.decode_and_add(result["histogram"]["data"])
    assert _recorded(run) == _recorded(expected)

    intervals = _read_log(hlog)
    assert len(intervals) == result["latency_intervals"]["count"] == 3
    merged = new_histogram()
    for interval in intervals:
        merged.add(interval)
    assert _recorded(merged) == _recorded(run)
    starts = [interval.get_start_time_stamp() for interval in intervals]
    assert starts == sorted(starts)
    for interval in intervals:
        length = (interval.get_end_time_stamp() - interval.get_start_time_stamp()) / 1e3
        assert 0.4 < length < 0.6 or interval is intervals[-1]


def test_load_cli_writes_a_standard_interval_log(tmp_path: Path) -> None:
    hlog = tmp_path / "logs" / "load.hlog"
    with running_server("uvloop-protocol") as server:
        argv = [*echobench_command(), "load", "--port", str(server.port), "-c", "4"]
        argv += ["-d", "1", "--warmup", "0.2", "--rate", "2000", "--hlog", str(hlog)]
        argv += ["--hlog-interval", "0.5"]
        done = subprocess.run([*argv, "--json", "-", "-q"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    lines = hlog.read_text().splitlines()
    assert lines[0].startswith("#echobench load 127.0.0.1:")
    assert "#[Histogram log format version 1.2]" in lines
    assert any(line.startswith("#[StartTime: ") for line in lines)
    assert any(line.startswith("#[BaseTime: ") for line in lines)
    assert (
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"' in lines
    )
    intervals = _read_log(hlog)
    assert len(intervals) == 2 == result["latency_intervals"]["count"]
    merged = new_histogram()
    for interval in intervals:
        merged.add(interval)
    run = new_histogram()
    run.decode_and_add(result["histogram"]["data"])
    assert _recorded(merged) == _recorded(run)
    ended = result["rate"]["in_flight_at_close"] + result["rate"]["unsent_at_close"]
    assert merged.get_total_count() == result["messages"] + ended > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hlog-interval", "0"], "--hlog-interval must be a positive multiple of 0.1 s"),
        (["--hlog-interval", "0.25"], "--hlog-interval must be a positive multiple of 0.1 s"),
        (["--hlog", "x.hlog", "--no-latency"], "--hlog needs latency recorded"),
        (["--hlog", "/proc/nope/x.hlog", "-d", "0.2"], "cannot write --hlog /proc/nope/x.hlog"),
    ],
    ids=["zero", "not-a-multiple", "no-latency", "unwritable"],
)
def test_bad_interval_options_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--hlog" in argv and "--no-latency" not in argv:
        with running_server("uvloop-protocol") as server:  # refused only once it runs
            status = main(["load", "--port", str(server.port), "-q", *argv])
    else:
        status = main(["load", "--port", "9", "-q", *argv])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_peak_memory_does_not_grow_with_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A window is recorded whole up to a budget of raw samples (8 bytes each), then
    # counted as it goes: past the budget, 6 s at 20k msgs/s must cost no more memory than
    # 1 s (held raw, the extra 100,000 samples would add 0.8 MiB, counted at the close
    # ~37 bytes each).
    monkeypatch.setattr(_recorder, "RAW_BUDGET", 2000)
    peaks = {}
    with running_server("uvloop-protocol") as server:
        for duration in (1.0, 6.0):
            config = LoadConfig(
                port=server.port,
                connections=8,
                size=64,
                rate=20000,
                duration=duration,
                warmup=0.3,
                workers=1,
            )
            result = run_load(config)
            assert result["messages"] > 0 and not result["client_pauses"]["deferred"]
            peaks[duration] = result["client_rss_peak_bytes"]
    assert peaks[6.0] - peaks[1.0] < 0.5 * 2**20, peaks


def test_gc_watch_times_collections() -> None:
    watch = GcWatch()
    watch.start()
    try:
        gc.collect()
    finally:
        watch.stop()
        gc.unfreeze()
    stats = watch.stats()
    assert stats["collections"][2] >= 1 and stats["max_pause_ns"] > 0
    assert stats["frozen_objects"] > 0


def test_live_progress_shows_the_last_interval_rate_and_tail() -> None:
    progress = RichProgress(io.StringIO())
    progress.second(3, 140_123)
    progress.interval(3, 1.0, {"p99": 512.0, "max": 12_345.0})
    shown = progress.progress.tasks[0].fields["rate"]
    assert shown == "140,123 msg/s  p99 512.0 us, max 12.3 ms (last 1 s)"
    progress.interval(4, 1.0, None)
    assert "no echo in the last 1 s" in progress.progress.tasks[0].fields["rate"]


JAR = Path("/usr/share/java/hdrhistogram.jar")  # Debian's libhdrhistogram-java (.ci/run)


@pytest.mark.skipif(
    shutil.which("java") is None or not JAR.exists(),
    reason="HdrHistogram's Java tools are not installed (apt-get install libhdrhistogram-java)",
)
def test_hdrhistogram_s_own_log_processor_reads_the_log(tmp_path: Path) -> None:
    hlog = tmp_path / "load.hlog"
    intervals = Intervals(2, 0, path=str(hlog), header="echobench load test")
    rng = np.random.default_rng(7)
    whole = new_histogram()
    for index in range(5):
        for _ in range(2):  # two workers, merged per interval
            values = (rng.exponential(200_000, 3_000) + 20_000).astype(np.int64)
            counts = _histogram.SampleCounts()
            counts.add(values)
            for value in values.tolist():
                whole.record_value(value)
            intervals.add(index, counts.take(), index * 10**9, (index + 1) * 10**9)
    intervals.finish(0)
    done = subprocess.run(
        ["java", "-cp", str(JAR), "org.HdrHistogram.HistogramLogProcessor", "-i", str(hlog)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Its summary of the whole log: values in ms (its default ratio), counts exact.
    total = next(line for line in done.stdout.splitlines() if "Total count" in line)
    assert int(total.rsplit("=", 1)[1].strip().rstrip("]")) == whole.get_total_count() == 30_000
    top = float(total.split("=")[1].split(",")[0])
    assert top == pytest.approx(whole.get_max_value() / 1e6, abs=1e-3)
