"""``echobench doctor`` on this machine, and on a /proc that lacks what it reads."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import assert_one_line_error, run_echobench

#: What ``--json`` holds, at the top and per CPU of ``host``.
FIELDS = {
    "schema", "schema_version", "fit", "verdict", "seconds", "cpus", "threshold_pct",
    "checks", "host", "load_average", "cpu_count", "governor", "turbo", "isolated_cpus", "vm",
    "damon",
}  # fmt: skip
HOST_FIELDS = {
    "seconds", "steal_pct", "other_work_pct", "threshold_pct", "quiet", "busy", "wakeup_us",
    "wakeup_wait_us",
}  # fmt: skip
CHECKS = ["steal", "run delay", "load", "wake-up", "governor", "turbo", "isolation"]


def test_doctor_measures_this_host_and_its_json_has_every_field() -> None:
    result = run_echobench("doctor", "--seconds", "1", "--json", "-")
    # Fit or not depends on the host right now; either way the answer is complete.
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == FIELDS
    assert doc["schema"] == "echobench.doctor" and doc["threshold_pct"] == 5.0
    names = [c["name"] for c in doc["checks"]]
    assert names[: len(CHECKS)] == CHECKS
    assert all(c["status"] in ("ok", "warn", "fail", "info") and c["said"] for c in doc["checks"])
    failed = [c["name"] for c in doc["checks"] if c["status"] == "fail"]
    assert doc["fit"] is (result.returncode == 0) is (not failed)
    assert doc["verdict"] == (
        "fit to benchmark now" if doc["fit"] else f"not fit to benchmark now: {'; '.join(failed)}"
    )
    host = doc["host"]
    assert set(host) == HOST_FIELDS
    cpus = [str(c) for c in doc["cpus"]]
    for figure in ("steal_pct", "other_work_pct", "wakeup_us", "wakeup_wait_us"):
        assert sorted(host[figure]) == sorted(cpus), figure
    for cpu in cpus:
        wakeups = host["wakeup_us"][cpu]
        assert wakeups["samples"] >= 50  # 1-5 ms sleeps for a second
        assert 0 <= wakeups["p50"] <= wakeups["p99"] <= wakeups["max"]
        assert 0 <= host["steal_pct"][cpu] <= 100 and 0 <= host["other_work_pct"][cpu] <= 100
    # DAMON, where the kernel runs it, is named as what takes the CPU in bursts.
    assert ("reclaim" in names) is bool(doc["damon"])
    # The text is on stderr when the JSON takes stdout, and ends with the verdict.
    assert result.stderr.strip().splitlines()[-1] == doc["verdict"]


def _proc(tmp_path: Path, stat: str) -> Path:
    (tmp_path / "stat").write_text(stat)
    return tmp_path


def test_doctor_says_in_one_line_what_proc_lacks(tmp_path: Path) -> None:
    # A container's /proc/stat without the steal column.
    (tmp_path / "a").mkdir()
    no_steal = _proc(tmp_path / "a", "cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\n")
    result = run_echobench("doctor", "--seconds", "0.2", "--cpus", "0", "--proc", str(no_steal))
    assert result.returncode == 2
    assert_one_line_error(result, "cannot examine this host", "no steal column")
    # A kernel without schedstat: the stat is whole, the threads' figures are missing.
    (tmp_path / "b").mkdir()
    whole = _proc(tmp_path / "b", "cpu0 1 2 3 4 5 6 7 8 0 0\n")
    result = run_echobench("doctor", "--seconds", "0.2", "--cpus", "0", "--proc", str(whole))
    assert_one_line_error(result, "cannot examine this host", "schedstat")
    result = run_echobench("doctor", "--max-interference", "150%")
    assert_one_line_error(result, "--max-interference must be above 0% and under 100%")


def test_damon_is_read_from_its_sysfs_tree(tmp_path: Path) -> None:
    from echobench.benchmarks.runner._environment import damon, damon_said

    kdamond = tmp_path / "kdamonds" / "0"
    intervals = kdamond / "contexts" / "0" / "monitoring_attrs" / "intervals"
    intervals.mkdir(parents=True)
    (kdamond / "contexts" / "0" / "schemes" / "0").mkdir(parents=True)
    (kdamond / "contexts" / "0" / "schemes" / "0" / "action").write_text("pageout\n")
    (intervals / "sample_us").write_text("500000\n")
    (intervals / "aggr_us").write_text("5000000\n")
    (kdamond / "pid").write_text("78\n")
    (kdamond / "state").write_text("off\n")
    assert damon(tmp_path) == [] and damon(tmp_path / "absent") == []
    (kdamond / "state").write_text("on\n")
    running = damon(tmp_path)
    assert running == [
        {"pid": 78, "sample_ms": 500.0, "aggregation_ms": 5000.0, "actions": ["pageout"]}
    ]
    said = damon_said(running)
    assert "every 500 ms" in said and "every 5000 ms" in said and "pageout" in said
