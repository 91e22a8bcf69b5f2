"""pytest at the repository root: ``benchmarks/`` is collected as plain folders.

``benchmarks/`` is the package ``echobench.benchmarks``. Collected as a pytest
Package, its ``__init__.py`` would be imported a second time, as a top-level
``benchmarks``, whenever ``pytest benchmarks/`` runs the suites in
``benchmarks/suites/`` (which pytest imports as top-level ``bench_*`` modules).
"""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"


def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if path == BENCHMARKS or BENCHMARKS in path.parents:
        return pytest.Dir.from_parent(parent, path=path)
    return None
