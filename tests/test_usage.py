"""Server CPU over the load client's own measured window (echobench.benchmarks.runner._usage)."""

from __future__ import annotations

import os

import pytest

from echobench.benchmarks.runner import _usage
from echobench.benchmarks.runner._usage import TreeSampler, _Sample


def _sampler(rates: list[tuple[float, float]]) -> TreeSampler:
    """Samples every 0.1 s; ``rates`` gives (until_second, cores busy) segments."""
    sampler = TreeSampler(pid=os.getpid())
    cpu = 0.0
    t = 0.0
    sampler.samples.append(_Sample(at=t, user=0.0, system=0.0, wall=1000.0 + t))
    for until, busy in rates:
        while t < until - 1e-9:
            t += 0.1
            cpu += 0.1 * busy
            sampler.samples.append(_Sample(at=t, user=cpu * 0.6, system=cpu * 0.4, wall=1000.0 + t))
    return sampler


def test_between_takes_exactly_the_client_window() -> None:
    # Idle start-up, a busy warm-up at 0.5 cores, then the measured window at 0.9.
    sampler = _sampler([(1.0, 0.0), (2.0, 0.5), (5.0, 0.9), (6.0, 0.1)])
    window = sampler.between(1002.05, 1004.95)  # edges between samples: interpolated
    assert window is not None
    assert window["window_s"] == pytest.approx(2.9)
    assert window["cores_used"] == pytest.approx(0.9)
    assert window["user_s"] == pytest.approx(0.9 * 2.9 * 0.6)
    assert window["system_s"] == pytest.approx(0.9 * 2.9 * 0.4)


def test_between_sees_a_quieter_window_than_the_busiest() -> None:
    # The busiest-window fallback would report the burst; the client's window does not.
    sampler = _sampler([(1.0, 1.0), (3.0, 0.4)])
    window = sampler.between(1001.0, 1003.0)
    assert window is not None
    assert window["cores_used"] == pytest.approx(0.4)
    assert sampler.busiest(2.0)["cores_used"] > 0.6


def test_between_refuses_a_window_the_samples_do_not_cover() -> None:
    sampler = _sampler([(2.0, 1.0)])
    assert sampler.between(999.0, 1001.0) is None  # starts before the first sample
    assert sampler.between(1001.0, 1003.0) is None  # ends after the last
    assert sampler.between(1001.5, 1001.0) is None  # empty


def test_the_tree_is_walked_once_every_tree_every_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    """A walk reads every process of the tree, on the load client's CPU: not ten a second."""
    walks = []
    walk = _usage.tree_pids

    def counted(pid: int) -> list[int] | None:
        walks.append(pid)
        return walk(pid)

    monkeypatch.setattr(_usage, "tree_pids", counted)
    sampler = TreeSampler(os.getpid())
    for _ in range(2 * _usage.TREE_EVERY + 1):
        sampler.sample()
    assert len(walks) == 3
    assert len(sampler.samples) == 2 * _usage.TREE_EVERY + 1
