"""The README's cluster tables come from files, never typed: client cores and engine cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echobench.benchmarks.publish._pages import published_block
from echobench.benchmarks.truth import _client_cores as client_cores
from echobench.benchmarks.truth import _cluster_overhead as cluster_overhead

ROOT = Path(__file__).parent.parent
PUBLISHED = ROOT / "results" / "published"
CLUSTER_PAGE = ROOT / "docs" / "cluster.md"


def _between(begin: str, end: str) -> str:
    return published_block(ROOT, begin, end)


def test_client_cores_are_derived_from_the_published_run() -> None:
    run = json.loads((PUBLISHED / client_cores.RUN).read_text())
    assert _between(client_cores.BEGIN, client_cores.END) == client_cores.render(run)
    native = next(
        c for c in run["cases"] if c["id"] == "native/tcp/64B/32c/closed" and c["summary"]
    )
    need = client_cores.cores_needed(native)
    assert need is not None
    # M server messages per CPU-second times c client CPU-seconds per message.
    assert need["cores"] == pytest.approx(
        native["summary"]["messages_per_server_cpu_second"] * need["client_us"] / 1e6
    )
    assert f"**{need['cores']:.2f}**" in client_cores.render(run)


def test_cluster_overhead_is_the_published_file_or_says_it_is_missing() -> None:
    block = _between(cluster_overhead.BEGIN, cluster_overhead.END)
    if not (PUBLISHED / cluster_overhead.FILE).exists():
        assert block.startswith("Not measured yet")
        return
    doc = json.loads((PUBLISHED / cluster_overhead.FILE).read_text())
    assert block == cluster_overhead.render_table(doc)


def _repeats(local: list[float], cluster: list[float]) -> dict[str, list[dict[str, float | None]]]:
    def runs(rates: list[float], spread: float | None) -> list[dict[str, float | None]]:
        return [
            {"messages_per_second": r, "cpu_us_per_message": 5.0, "start_spread_us": spread}
            for r in rates
        ]

    return {"local": runs(local, None), "cluster": runs(cluster, 900.0)}


def test_the_overhead_claim_compares_medians_and_can_fail() -> None:
    held = cluster_overhead.summarize(_repeats([100, 104, 90], [97, 95, 99]))
    assert held["ratio"] == pytest.approx(97 / 100) and held["within"]
    assert held["rows"]["cluster"]["start_spread_us"] == 900.0
    failed = cluster_overhead.summarize(_repeats([100, 100, 100], [89, 88, 95]))
    assert failed["overhead"] == pytest.approx(0.11) and not failed["within"]


def test_the_cluster_page_gives_the_quiet_dask_settings_the_benchmark_uses() -> None:
    from echobench.clients._cluster import QUIET_DASK

    text = CLUSTER_PAGE.read_text()
    for name, value in QUIET_DASK.items():
        assert f"{name}={value}" in text


def test_workers_with_dask_default_housekeeping_are_pointed_out() -> None:
    from echobench.clients._cluster import _housekeeping

    assert _housekeeping({0: {"dask_profiler": False}, 1: {"dask_profiler": False}}) == []
    (warning,) = _housekeeping({0: {"dask_profiler": True}, 1: {"dask_profiler": False}})
    assert warning.startswith("1 of 2 Dask worker(s)") and "docs/cluster.md" in warning
