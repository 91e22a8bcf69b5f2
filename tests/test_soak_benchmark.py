"""The soak benchmark's arithmetic, on a log written as the load client writes it; its README."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from echobench.benchmarks.publish._pages import published_block
from echobench.benchmarks.publish._step import not_yet
from echobench.benchmarks.truth import _soak as soak
from echobench.clients._histogram import SampleCounts
from echobench.clients._intervals import Intervals

ROOT = Path(__file__).parent.parent


def _log(path: Path, seconds: int, slow_from: int) -> None:
    """One interval a second: 980 echoes at 100 µs and 20 at 1 ms (5 ms from ``slow_from``
    on), so each second's p99 is the slow ones'."""
    intervals = Intervals(1, 0, path=str(path))
    for k in range(seconds):
        counts = SampleCounts()
        tail = 5_000_000 if k >= slow_from else 1_000_000
        counts.add(np.array([100_000] * 980 + [tail] * 20, dtype=np.int64))
        intervals.add(k, counts.take(), k * 1_000_000_000, (k + 1) * 1_000_000_000)
    intervals.finish(0)


def _data(tmp_path: Path, slow_from: int, lag_us: float, noise_us: float) -> dict[str, Any]:
    hlog = tmp_path / "soak.hlog"
    _log(hlog, 6, slow_from)
    pauses = {"folds": 60, "max_fold_us": 300.0, "max_fold_cpu_us": 250.0}
    load = {
        "rate": {"max_send_lag_us": lag_us, "max_send_lag_per_second_us": [10.0] * 5 + [lag_us]},
        "client_pauses": {**pauses, "gc_collections": [0, 0, 0]},
        "client_rss_peak_bytes": 40 * 2**20,
    }
    rss = [(t + soak.WARMUP_S, 50 * 2**20 + t) for t in range(6)]
    data: dict[str, Any] = {
        "measured_at": "2026-11-26T15:00:00+00:00",
        "machine": {"cpus": 2, "python": "3.11.7"},
        "server_cpus": [0],
        "client_cpus": [1],
        "rate": 10_000.0,
        "connections": 32,
        "size": 64,
        "duration_s": 6.0,
        "segment_s": 3.0,
        "hlog": hlog.name,
        "noise_floor": {"duration_s": 6.0, "max_gap_us": noise_us, "max_latency_us": noise_us},
        "short": {"duration_s": 2.0, "client_rss_peak_bytes": 39 * 2**20},
        "soak": load,
        "segments": soak.segments(hlog, load, rss, 3.0),
        "warnings": [],
    }
    data["verdicts"] = soak.verdicts(data)
    return data


def test_segments_merge_the_seconds_exactly(tmp_path: Path) -> None:
    data = _data(tmp_path, slow_from=6, lag_us=800.0, noise_us=300.0)
    first, second = data["segments"]
    assert (first["start_s"], second["start_s"]) == (0.0, 3.0)
    assert first["messages"] == second["messages"] == 3000
    assert first["seconds"] == 3.0 and first["messages_per_second"] == 1000.0
    assert first["latency_us"]["p50"] == pytest.approx(100, rel=1e-3)
    assert first["latency_us"]["p99"] == pytest.approx(1000, rel=1e-3)
    assert second["max_send_lag_us"] == 800.0 and first["max_send_lag_us"] == 10.0
    assert first["client_rss_bytes"] == 50 * 2**20 + 2
    verdicts = data["verdicts"]
    assert verdicts["p99_within_2x"] and verdicts["lag_under_20ms"] and verdicts["rss_flat"]


def test_a_drifting_tail_and_a_late_client_fail_their_goals(tmp_path: Path) -> None:
    data = _data(tmp_path, slow_from=3, lag_us=30_000.0, noise_us=45_000.0)
    verdicts = data["verdicts"]
    assert verdicts["p99_drift"] == [1.0, pytest.approx(5.0, rel=1e-2)]
    assert not verdicts["p99_within_2x"]
    assert not verdicts["lag_under_20ms"] and verdicts["lag_within_noise"]
    table = soak.render_table(data)
    assert "within 2x of the first's: **not met**" in table
    assert "goal under 20 ms: **not met**" in table and "noise floor" in table
    assert table.count("\n| 0 s |") == 1 and table.count("\n| 3 s |") == 1
    assert "kept awake" not in table  # a file from before the key ran with idling CPUs


def test_readme_block_is_the_published_soak_or_says_how_to_make_it() -> None:
    block = published_block(ROOT, soak.BEGIN, soak.END)
    published = ROOT / "results" / "published" / soak.FILE
    if published.exists():
        assert block == soak.render_table(json.loads(published.read_text())).strip("\n")
    else:
        assert block == not_yet("soak", soak.FILE)


def test_a_short_soak_offers_half_the_clients_measured_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole soak, scaled down: real native server, real clients, its own log."""
    monkeypatch.setattr(soak, "CAPACITY_S", 1.5)
    hlog = tmp_path / "soak.hlog"
    data = soak.measure(soak.SoakSettings(duration=3.0, segment=1.0, short=1.5, noise=1.0), hlog)
    basis = data["rate_basis"]
    capacity = basis["closed_loop_messages_per_second"]
    assert basis["share"] == soak.RATE_SHARE and capacity > 0
    assert data["rate"] == max(100.0, round(soak.RATE_SHARE * capacity, -2))
    assert data["soak"]["rate"]["target"] == data["rate"]
    assert [row["start_s"] for row in data["segments"]] == [0.0, 1.0, 2.0]
    assert sum(row["messages"] for row in data["segments"]) == data["soak"]["latency_us"]["count"]
    assert hlog.exists() and data["noise_floor"]["messages_per_second"] > 0
    table = soak.render_table(data)
    assert f"{soak.RATE_SHARE:.0%} of the client's closed-loop capacity" in table
    assert f"{capacity:,.0f} msgs/s" in table
    assert data["server_cpus_kept_awake"] is True and "server CPUs kept awake" in table
    assert set(data["kernel_quieted"]) <= {"net/netfilter/nf_conntrack_buckets", "vm/stat_interval"}
    assert ("put back after" in table) is bool(data["kernel_quieted"])
