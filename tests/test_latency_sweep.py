"""The latency scenario's passes over synthetic measurements: probes that repeat, the floor,
undecided points measured again within a budget.

The measurement is a stand-in (``Runner.measure``) whose latencies come from a known
queue: each backend's point at rate r draws exponential latencies with mean
``50 µs / (1 - r / capacity)``, so its p99 crosses a 1 ms target at a known rate; a
``twin`` of ``native`` has native's latencies exactly. Everything else is the real
scenario: the plan, the runner's passes, the intervals, the summary.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from echobench.benchmarks.runner import _environment, _results, _sweep, _sweepsummary
from echobench.benchmarks.runner._isolation import Placement
from echobench.benchmarks.runner._matrix import Case
from echobench.benchmarks.runner._measure import OVERHEAD_SECONDS, MeasureSettings
from echobench.benchmarks.runner._quantiles import point_intervals, windows_of
from echobench.benchmarks.runner._runner import Runner
from echobench.clients._dependence import dependence
from echobench.clients._histogram import encode, new_histogram, record_batch

CAPACITY = {"native": 20_000.0, "twin": 20_000.0, "slow": 5_000.0}
MEAN_US = 50.0
TARGET_US = 1000.0
DURATION = 0.2
FRACTIONS = [0.5, 0.7, 0.75, 0.77, 0.8, 0.9]


def true_crossing(capacity: float) -> float:
    """The rate at which the exponential's p99 (mean x ln 100) reaches the target."""
    return capacity * (1 - MEAN_US * math.log(100) / TARGET_US)


class Synthetic:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, case: Case, repeat: int, settings: Any, **_: Any) -> dict[str, Any]:
        self.calls.append((case.id, repeat))
        capacity = CAPACITY[case.backend]
        # The twin draws what native draws: the same stream for the same rate and window.
        seed = f"{'native' if case.backend == 'twin' else case.backend}:{case.rate}:{repeat}"
        rng = np.random.default_rng(random.Random(seed).getrandbits(64))
        record: dict[str, Any] = {"repeat": repeat, "server_cpu": None, "verdict": "server"}
        if case.rate is None:
            seconds = [capacity * (1 + 0.01 * rng.standard_normal()) for _ in range(3)]
            return {
                **record,
                "messages_per_second": float(np.median(seconds)),
                "p99_us": 100.0,
                "load": {"per_second": seconds},
            }
        rate = float(case.rate)
        n = int(rate * settings.duration)
        share = min(rate / capacity, 0.98)
        samples = (rng.exponential(MEAN_US * 1e3 / (1 - share), n) + 1).astype(np.int64)
        histogram = new_histogram()
        record_batch(histogram, samples)
        met = rate < capacity
        return {
            **record,
            "messages_per_second": rate if met else capacity,
            "p99_us": float(np.quantile(samples, 0.99)) / 1e3,
            "open_loop": {
                "target": rate,
                "achieved": rate if met else capacity,
                "met": met,
                "max_send_lag_us": 30.0,
                "max_pause_us": 20.0,
                "late_messages": {"64": 0},
                "messages": n,
            },
            "load": {
                "histogram": {"data": encode(histogram)},
                "latency_dependence": dependence(samples),
            },
        }


def scenario(tmp_path: Path, budget: float, **config: Any) -> dict[str, Any]:
    settings = {
        "scenario": "latency",
        "load_fractions": FRACTIONS,
        "slo_p99_us": TARGET_US,
        "probe_duration": 1.0,
        "duration": DURATION,
        "warmup": 0.0,
        "repeat": 1,
        "rates": [],
        "seed": 3,
        "max_windows": 4,
        "remeasure_budget": budget,
        **config,
    }
    env = _environment.collect(
        command_line=["test"], pinning={"server_cpus": [0], "client_cpus": [1]}
    )
    doc = _results.new_document(settings, env, [])
    measure = Synthetic()
    probes = [Case(name, "baseline", "tcp", 64, 32, None) for name in ("native", "twin", "slow")]
    runner = Runner(
        doc=doc,
        cases=probes,
        settings=MeasureSettings(
            duration=DURATION, warmup=0.0, workers=None, placement=Placement((0,), (1,))
        ),
        out=tmp_path / "latency.json",
        repeats=1,
        seed=3,
        order="shuffle",
        verify=False,
        measure=measure,
    )
    stopped, _ = _sweep.run_scenario(runner, [])
    assert stopped is None
    return doc


def sweeps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["backend"]: s for s in doc["latency"]["sweeps"]}


def windows(doc: dict[str, Any]) -> dict[str, int]:
    return {e["id"]: len(e["repeats"]) for e in doc["cases"] if e["rate"] is not None}


def test_undecided_points_are_measured_again_within_the_budget(tmp_path: Path) -> None:
    nominal = DURATION + OVERHEAD_SECONDS
    budget = 6 * nominal  # room for six more windows, not for all the doubt
    doc = scenario(tmp_path / "some", budget)
    again = doc["latency"]["remeasure"]
    assert again["windows_added"] >= 1 and again["spent_s"] <= budget
    assert again["windows_added"] * nominal <= budget
    counts = windows(doc)
    assert max(counts.values()) <= 4  # --max-windows
    # Only points whose first window left them in doubt got more windows.
    entries = {e["id"]: e for e in doc["cases"]}
    for cid, count in counts.items():
        first = point_intervals(windows_of(entries[cid]["repeats"][:1]))
        stats = {"client_bound": False, "overloaded": False, **first}
        doubt = _sweepsummary.decide(stats, TARGET_US) == "undecided"
        assert count == 1 or doubt, (cid, first["p99_ci_us"])
    slow = sweeps(doc)["slow"]["summary"]["slo_capacity"]
    low, high = slow["range"]
    assert slow["rule"] == "first-crossing"
    assert (low or 0.0) <= true_crossing(CAPACITY["slow"]) <= (high or math.inf)
    assert slow["messages_per_second"] == pytest.approx(true_crossing(CAPACITY["slow"]), rel=0.1)


def test_the_floor_is_measured_and_a_backend_at_it_is_reported_so(tmp_path: Path) -> None:
    doc = scenario(tmp_path, 0.0)
    latency = doc["latency"]
    assert latency["floor"] == [{"transport": "tcp", "size": 64, "connections": 32, "reason": None}]
    by = sweeps(doc)
    native = by["native"]
    assert not native["floor_only"]  # asked for: ranked too, and the floor
    assert all(p["stats"]["p99_ci_us"] for p in native["points"])
    # The twin draws native's latencies: at the floor at every rate they share.
    twin = [p for p in by["twin"]["points"] if p["stats"]["floor_p99_ci_us"] is not None]
    assert twin and all(p["stats"]["at_floor"] for p in twin)
    assert by["twin"]["summary"]["at_floor"] == len(twin)
    # Near its capacity the slow server queues at rates native takes in its stride.
    near = [p["stats"]["at_floor"] for p in by["slow"]["points"] if (p["fraction"] or 0.0) >= 0.7]
    assert near and not any(near)
    # No budget: nothing measured again, and the doubt it leaves is reported.
    again = latency["remeasure"]
    assert again["windows_added"] == 0 and max(windows(doc).values()) == 1
    assert again["undecided"] and again["stopped"] == "budget"
    # Probes repeat until their capacity is known within 5%: three seconds cannot say.
    probes = [e for e in doc["cases"] if e["rate"] is None]
    assert all(len(e["repeats"]) >= 2 for e in probes)
    assert all(s["capacity"]["within_target"] for s in by.values())
    # The common rates come from the slowest backend's interval.
    (common,) = latency["common"]
    assert common["from_backend"] == "slow"
    assert common["from_rate"] == by["slow"]["capacity"]["ci"][0]


def test_auto_target_is_set_from_the_floor(tmp_path: Path) -> None:
    doc = scenario(tmp_path, 0.0, slo_p99_us="auto")
    latency = doc["latency"]
    auto = latency["slo_auto"]
    floor_half = next(p for p in sweeps(doc)["native"]["points"] if p["case"] == auto["floor_case"])
    assert floor_half["fraction"] == 0.5
    assert latency["slo_p99_us"] == pytest.approx(4 * floor_half["stats"]["p99_us"], rel=1e-3)
    assert sweeps(doc)["slow"]["summary"]["slo_capacity"]["p99_us"] == latency["slo_p99_us"]
