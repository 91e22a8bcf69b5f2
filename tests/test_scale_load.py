"""The load client's honesty at scale: nothing measured is a failure, starved connections
and fairness, idle connections that the server drops, and the fd limit's one line."""

from __future__ import annotations

import json
import re
import resource
import subprocess
from pathlib import Path

from _fault_servers import fault_server

from conftest import AS_MEASURED
from echobench.benchmarks.runner._results_schema import load_results
from echobench.clients import LoadConfig, run_load
from echobench.servers._launch import echobench_command

#: A hard fd limit low enough to reach in a test, high enough to import everything.
LOW_HARD_LIMIT = 200


def _load_cli(*argv: str, hard_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def lower_limit() -> None:
        if hard_limit is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard_limit, hard_limit))

    return subprocess.run(
        [*echobench_command(), "load", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lower_limit,
    )


def test_a_server_that_never_echoes_is_nothing_measured(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    with fault_server("silent") as server:
        done = _load_cli(
            *("--port", str(server.port), "-c", "4", "-d", "0.5", "--warmup", "0.1"),
            *("--json", str(out), "--quiet"),
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "echobench load: nothing measured: 4 connection(s) were open and none completed an "
        "echo in the 0.5 s window"
    ]
    result = json.loads(out.read_text())
    assert result["messages"] == 0 and result["fairness"]["starved"] == 4
    assert result["fairness"]["jain"] is None


def test_the_runner_fails_a_case_that_measured_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    with fault_server("silent") as server:
        done = subprocess.run(
            [
                *echobench_command(),
                "run",
                *("--connect", f"127.0.0.1:{server.port}", "--label", "silent"),
                *("--sizes", "64", "--connections", "2", "--repeat", "1"),
                *("--duration", "0.5", "--warmup", "0", "--out", str(out)),
                *AS_MEASURED,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    (case,) = load_results(out)["cases"]
    assert case["status"] == "failed" and not case["repeats"]
    assert "nothing measured: 2 connection(s) were open" in case["failures"][0]["error"]


def test_starved_counts_exactly_the_ignored_connections() -> None:
    served, total = 3, 8
    with fault_server("serve_first", served) as server:
        result = run_load(
            LoadConfig(port=server.port, connections=total, size=64, duration=0.6, warmup=0.2)
        )
    measured = result["fairness"]
    assert measured["starved"] == total - served
    assert measured["min"] == 0 and measured["max"] > 0
    # k of n served: Jain's index is at most k/n (equal only if the k shared exactly evenly).
    assert 0.8 * served / total < measured["jain"] <= served / total + 1e-9
    assert result["messages"] > 0


def test_idle_connections_the_server_closes_are_dropped() -> None:
    with fault_server("idle_close", 0.5) as server:
        result = run_load(
            LoadConfig(port=server.port, connections=2, idle=6, size=64, duration=1.0, warmup=0.1)
        )
    assert result["idle"] == {"requested": 6, "held": 0, "dropped": 6, "closed": 6}
    # The busy connections never went quiet, so they were kept and measured.
    assert result["complete"] and result["fairness"]["starved"] == 0
    assert result["connect"]["connections"] == 8 and result["connect"]["failed"] == 0


def test_a_full_backlog_shows_as_syn_retransmits_and_a_slow_connect() -> None:
    # A backlog of 1 and nothing accepted for 0.5 s: most SYNs are dropped and sent again
    # by the kernel a second later, which the connect figures must show.
    with fault_server("slow_accept", 0.5) as server:
        result = run_load(
            LoadConfig(port=server.port, connections=8, size=64, duration=0.2, warmup=0,
                       workers=1)
        )  # fmt: skip
    connect = result["connect"]
    assert connect["connections"] == 8 and connect["failed"] == 0
    assert connect["syn_retransmits"] >= 1
    assert connect["seconds"] >= 0.9  # the kernel's first SYN retransmission is after 1 s
    assert result["messages"] > 0


def test_the_fd_limit_error_names_the_number_that_fits() -> None:
    with fault_server("echo") as server:
        # One worker, whatever the machine's CPU count (the default is one per CPU).
        target = ("--port", str(server.port), "--workers", "1")
        refused = _load_cli(*target, "-c", "1000", hard_limit=LOW_HARD_LIMIT)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        found = re.search(r"at most (\d+) connections fit with --workers 1", refused.stderr)
        assert found, refused.stderr
        fit = int(found.group(1))
        assert 0 < fit < LOW_HARD_LIMIT
        # The number is honest: that many connect and run, one more is refused up front.
        quick = ("-d", "0.2", "--warmup", "0", "--quiet")
        one_more = _load_cli(
            *target, "-c", str(fit - 2), "--idle", "3", *quick, hard_limit=LOW_HARD_LIMIT
        )
        assert one_more.returncode == 2 and f"at most {fit} connections" in one_more.stderr
        exact = _load_cli(
            *target, "-c", str(fit - 2), "--idle", "2", *quick, hard_limit=LOW_HARD_LIMIT
        )
        assert exact.returncode == 0, exact.stderr
