"""Latency samples are histogrammed after the window, not while messages are in flight."""

from __future__ import annotations

from typing import Any

import pytest

import clients._worker
from clients import LoadConfig, run_load
from servers._launch import running_server


def _run(port: int, *, rate: float | None = None) -> dict[str, Any]:
    return run_load(
        LoadConfig(port=port, connections=4, size=256, duration=1.0, warmup=0.2, rate=rate)
    )


@pytest.mark.parametrize("rate", [None, 2000.0], ids=["closed", "open"])
def test_no_pause_inside_the_window_and_every_sample_kept(rate: float | None) -> None:
    with running_server("uvloop-protocol") as server:
        result = _run(server.port, rate=rate)
    assert result["complete"] and result["error_total"] == 0
    assert result["latency_drains_in_window"] == 0
    assert result["latency_us"]["count"] == result["messages"] > 0


@pytest.mark.parametrize("rate", [None, 2000.0], ids=["closed", "open"])
def test_a_worker_over_its_sample_limit_folds_samples_in_without_losing_any(
    monkeypatch: pytest.MonkeyPatch, rate: float | None
) -> None:
    # Workers are forked, so they inherit the lowered limit.
    monkeypatch.setattr(clients._worker, "PENDING_SAMPLES_LIMIT", 100)
    with running_server("uvloop-protocol") as server:
        result = _run(server.port, rate=rate)
    assert result["complete"] and result["error_total"] == 0
    assert result["latency_drains_in_window"] > 0
    assert result["latency_us"]["count"] == result["messages"] > 0
