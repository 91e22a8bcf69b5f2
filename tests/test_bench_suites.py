"""The pytest-benchmark suites run (with a minimal time), write JSON that ``echobench plot``
draws, and support ``--benchmark-compare``. Nothing here judges speed."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from _chartcheck import png_size

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--benchmark-min-rounds=1", "--benchmark-max-time=0.01", "-p", "no:cacheprovider"]
# Two backends are enough to prove the round-trip suite; every loop of the primitives suite.
SELECT = "not round_trip or asyncio-protocol or uvloop-protocol"

pytestmark = pytest.mark.slow


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/suites", *QUICK, "-k", SELECT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    storage = out / "storage"
    result = _pytest(
        "--benchmark-json",
        str(out / "bench.json"),
        "--benchmark-save=first",
        f"--benchmark-storage=file://{storage}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Rooted in benchmarks/suites (its pytest.ini), pytest never collects benchmarks/ as a
    # package, which would import its __init__.py a second time as top-level ``benchmarks``.
    assert f"rootdir: {ROOT / 'benchmarks' / 'suites'}" in result.stdout
    return out, json.loads((out / "bench.json").read_text())


def test_suites_produce_grouped_results(bench_json: tuple[Path, dict[str, Any]]) -> None:
    _, doc = bench_json
    benches = doc["benchmarks"]
    groups = {b["group"] for b in benches}
    assert {"loop: asyncio", "loop: uvloop", "loop: twisted", "loop: tornado"} <= groups
    assert "round trip: 64 B, one connection" in groups
    round_trips = {b["extra_info"]["backend"] for b in benches if "round trip" in b["group"]}
    assert round_trips == {"asyncio-protocol", "uvloop-protocol"}
    for loop in ("asyncio", "uvloop"):
        names = {b["name"] for b in benches if b["group"] == f"loop: {loop}"}
        assert names == {
            f"test_{op}[{loop}]" for op in ("call_soon", "future", "task_switch", "socket_io")
        }
    for bench in benches:
        assert bench["extra_info"]["operations_per_round"] >= 1
        assert bench["stats"]["rounds"] >= 1 and bench["stats"]["min"] > 0


def test_plot_draws_the_benchmark_json(bench_json: tuple[Path, dict[str, Any]]) -> None:
    out, _ = bench_json
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "echobench",
            "plot",
            str(out / "bench.json"),
            "--out",
            str(out / "charts"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    width, height = png_size(out / "charts" / "pytest-benchmark.png")
    assert width == 1300 and height > 500


def test_benchmark_compare_against_a_saved_run(bench_json: tuple[Path, dict[str, Any]]) -> None:
    out, _ = bench_json
    storage = out / "storage"
    assert list(storage.rglob("*first.json")), "the first run was not saved"
    result = _pytest(
        "--benchmark-compare=0001",
        f"--benchmark-storage=file://{storage}",
        "-k",
        "asyncio and call_soon",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0001_first" in result.stdout  # the saved run appears beside the new one


def test_plain_pytest_does_not_run_the_benchmarks() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert config["testpaths"] == ["tests"]
    assert config["python_files"] == ["test_*.py"]
    suites = configparser.ConfigParser()
    suites.read(ROOT / "benchmarks" / "suites" / "pytest.ini")
    assert suites["pytest"]["python_files"] == "bench_*.py"
    assert suites["pytest"]["filterwarnings"] == "error"
