"""``echobench verify`` and the checks themselves: a check that cannot fail proves nothing,
so each is shown failing against a deliberately broken backend (``tests/broken_backends``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import assert_one_line_error, clean_env, run_echobench
from echobench.servers._conformance import (
    CHECKS,
    QUICK_CHECKS,
    ConformanceError,
    factory_for,
    run_checks,
)


def test_verify_passing_backend_exits_zero() -> None:
    result = run_echobench("verify", "selectors", "--quick", env=clean_env(COLUMNS="200"))
    assert result.returncode == 0, result.stdout + result.stderr
    for name in QUICK_CHECKS:
        assert name in result.stdout
    assert "FAIL" not in result.stdout


def test_verify_json_lists_each_check() -> None:
    result = run_echobench(
        "verify",
        "threads",
        "--check",
        "payloads",
        "--check",
        "half-close",
        "--json",
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert [check["name"] for check in report["checks"]] == ["payloads", "half-close"]


def test_verify_broken_backend_exits_non_zero(broken_backends: Path) -> None:
    result = run_echobench(
        "verify", "broken-corrupts", "--check", "payloads", "--check", "sigint", "--json"
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    outcome = {check["name"]: check for check in report["checks"]}
    assert report["passed"] is False
    assert outcome["payloads"]["passed"] is False
    assert "echoed byte" in outcome["payloads"]["detail"]
    assert outcome["sigint"]["passed"] is True  # only the broken property fails


def test_verify_table_marks_failure(broken_backends: Path) -> None:
    result = run_echobench("verify", "broken-term-traceback", "--check", "sigterm")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "RuntimeError" in result.stdout


def test_verify_unknown_backend() -> None:
    assert_one_line_error(run_echobench("verify", "no-such-backend"), "unknown backend")


def test_verify_unknown_check() -> None:
    assert_one_line_error(run_echobench("verify", "threads", "--check", "nope"), "unknown check")


def test_verify_unavailable_backend(backend_dir: Path) -> None:
    (backend_dir / "needs_missing.py").write_text(
        "from echobench.servers._backend import Backend\n"
        "BACKEND = Backend(name='needs-missing', family='baseline', description='x',\n"
        "                  serve='echobench.servers.threads:serve',\n"
        "                  requires=('echobench_no_such',))\n"
    )
    assert_one_line_error(run_echobench("verify", "needs-missing"), "cannot run here")


@pytest.mark.parametrize(
    ("backend", "check", "reason"),
    [
        ("broken-corrupts", "payloads", "echoed byte"),
        ("broken-no-flow-control", "flood", "no flow control"),
        ("broken-eof-drops", "half-close", "then EOF"),
        ("broken-dies-on-reset", "resets", "server died"),
        ("broken-small-backlog", "backlog", "only 17 connections queue"),
        ("broken-term-traceback", "sigterm", "traceback on stderr"),
        ("broken-slow-stop", "sigint", "to exit after SIGINT"),
    ],
)
def test_check_fails_broken_backend(
    backend: str, check: str, reason: str, broken_backends: Path
) -> None:
    with pytest.raises(ConformanceError, match=reason):
        CHECKS[check](factory_for(backend))


def test_run_checks_reports_results(broken_backends: Path) -> None:
    results = run_checks(factory_for("broken-term-traceback"), ["half-close", "sigterm", "sigint"])
    assert [(r.name, r.passed) for r in results] == [
        ("half-close", True),
        ("sigterm", False),
        ("sigint", True),
    ]
    assert "RuntimeError" in results[1].detail
    assert "\n" not in results[1].detail


def test_quick_checks_are_checks() -> None:
    assert set(QUICK_CHECKS) <= set(CHECKS)
