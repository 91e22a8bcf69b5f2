"""The io_uring backends where the kernel refuses io_uring, and every new backend under
``echobench verify``.

The conformance suite (``test_conformance.py``) runs every check, the slow reader
(``flood``) and the half-close among them, against both io_uring servers wherever they
are available; here a seccomp filter (``tests/_no_io_uring.py``) makes the kernel
refuse ``io_uring_setup``, as a container's profile does, and both must then be
unavailable with that reason, never a crash.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CliResult, assert_one_line_error, clean_env, run_echobench
from echobench.servers._launch import echobench_command
from echobench.servers._registry import get_backend

NO_IO_URING = Path(__file__).with_name("_no_io_uring.py")
URING_BACKENDS = ("uring-python", "uring-native")
NEW_BACKENDS = (*URING_BACKENDS, "rloop-protocol", "rloop-streams", "rloop-sockets")


def without_io_uring(*args: str) -> CliResult:
    done = subprocess.run(
        [sys.executable, str(NO_IO_URING), *echobench_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_both_are_unavailable_with_the_reason_when_the_kernel_refuses() -> None:
    listed = without_io_uring("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    for name in URING_BACKENDS:
        assert rows[name]["available"] is False
        reason = rows[name]["reason"]
        if "missing package" in reason or "liburing" in reason or "compiler" in reason:
            continue  # unavailable for a reason found before the kernel is asked
        assert "the kernel refuses io_uring to this process (io_uring_setup: EPERM" in reason
    assert rows["threads"]["available"] is True  # the filter refuses only io_uring
    for command in ("serve", "verify"):
        result = without_io_uring(command, "uring-native")
        assert result.returncode == 2, result
        assert_one_line_error(result, "backend 'uring-native' cannot run here")


@pytest.mark.parametrize("name", NEW_BACKENDS)
def test_verify_runs_each_new_backend(name: str) -> None:
    reason = get_backend(name).unavailable_reason()
    if reason is not None:
        pytest.skip(f"{name} unavailable here: {reason}")
    result = run_echobench("verify", name, "--check", "payloads", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["backend"] == name and report["passed"] is True
