"""Stalls that keep to one phase of the host's 100 ms cycle, told from stalls at random
times: the scan over phase windows and its chance bound."""

from __future__ import annotations

import random

from echobench.benchmarks.truth import _cycle

MS = 1_000_000


def periodic(rng: random.Random, phase_ms: float, count: int) -> list[int]:
    """``count`` stalls at ``phase_ms`` of the cycle, 0-0.4 ms late, in cycles seconds apart."""
    return [
        round(rng.randrange(10, 5_000) * _cycle.CYCLE_NS + phase_ms * MS + rng.uniform(0, 0.4) * MS)
        for _ in range(count)
    ]


def scattered(rng: random.Random, count: int) -> list[int]:
    return [rng.randrange(0, 600 * 10**9) for _ in range(count)]


def test_stalls_at_one_phase_recur_among_random_ones() -> None:
    rng = random.Random(7)
    host = periodic(rng, 83.4, 6)
    starts = scattered(rng, 12) + host
    found = _cycle.recurring(starts)
    assert found["recurs"] and found["in_window"] >= 6 and found["chance"] < 1e-4
    assert set(found["members"]) >= set(range(12, 18))
    assert 83.4 <= found["phase_ms"] <= 83.8
    assert all(_cycle.within(s, found["phase_ns"]) for s in host)


def test_a_phase_window_wraps_round_the_cycles_end() -> None:
    rng = random.Random(3)
    starts = periodic(rng, 99.8, 5) + scattered(rng, 5)
    found = _cycle.recurring(starts)
    assert found["recurs"] and set(range(5)) <= set(found["members"])
    late = [s for s in starts[:5] if s % _cycle.CYCLE_NS < MS]
    assert late and all(_cycle.within(s, found["phase_ns"]) for s in late)


def test_stalls_at_random_times_rarely_recur() -> None:
    rng = random.Random(11)
    trials = 400
    false = sum(
        _cycle.recurring(scattered(rng, rng.randrange(3, 40)))["recurs"] for _ in range(trials)
    )
    # The bound is conservative: at CHANCE = 0.001, not one trial in a hundred.
    assert false <= trials // 100


def test_too_few_stalls_never_recur() -> None:
    assert _cycle.recurring([]) == {
        "stalls": 0,
        "in_window": 0,
        "phase_ms": None,
        "chance": 1.0,
        "recurs": False,
    }
    two = _cycle.recurring([5 * MS, _cycle.CYCLE_NS + 5 * MS])
    assert two["in_window"] == 2 and not two["recurs"]
