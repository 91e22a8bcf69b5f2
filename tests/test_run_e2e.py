"""``echobench run`` end to end: real backends as subprocesses, the real load client,
a real SIGINT to the runner, and backends that crash (test-only files exposed with
``ECHOBENCH_BACKEND_PATH``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import AS_MEASURED
from echobench.benchmarks.runner import _shield
from echobench.benchmarks.runner._results_schema import load_results
from echobench.servers._launch import echobench_command, start_server

pytestmark = pytest.mark.slow

#: Tiny measurements: these tests check the pipeline, not speed.
FAST = [
    *("--duration", "0.5", "--warmup", "0.2"),
    *("--sizes", "64", "--connections", "2", "--repeat", "1"),
]

CRASH_AT_START = """
import sys

from echobench.servers._backend import Backend


def serve(ctx):
    sys.stderr.write("crash-at-start: cannot open the frobnicator (test backend)\\n")
    raise SystemExit(3)


BACKEND = Backend(name="crash-at-start", family="baseline", description="test", serve=serve)
"""

DIES_MID_CASE = """
import os
import sys
import threading
import time

from echobench.servers._backend import Backend


def _echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def _die_soon():
    time.sleep(0.4)
    sys.stderr.write("dies-mid-case: simulated crash under load (test backend)\\n")
    sys.stderr.flush()
    os._exit(7)


def serve(ctx):
    ctx.listener.setblocking(True)
    ctx.ready()
    started = False
    while True:
        conn, _ = ctx.listener.accept()
        if not started:
            started = True
            threading.Thread(target=_die_soon, daemon=True).start()
        threading.Thread(target=_echo, args=(conn,), daemon=True).start()


BACKEND = Backend(name="dies-mid-case", family="baseline", description="test", serve=serve)
"""


def run_cli(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*echobench_command(), "run", *AS_MEASURED, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["id"]: case for case in doc["cases"]}


def _sysctls() -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in _shield.SYSCTLS:
        try:
            values[name] = (_shield.SYSCTL / name).read_text().strip()
        except OSError:
            values[name] = None
    return values


def test_small_matrix_on_two_real_backends(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    settings = _sysctls()
    done = run_cli(
        [
            "--backends",
            "asyncio-protocol,uvloop-protocol",
            *FAST,
            "--repeat",
            "2",
            "--seed",
            "11",
            "--out",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr
    doc = load_results(out)
    assert doc["complete"] is True and doc["not_run"] == []
    assert doc["config"]["seed"] == 11 and doc["config"]["repeat"] == 2
    cases = by_id(doc)
    assert set(cases) == {"asyncio-protocol/tcp/64B/2c/closed", "uvloop-protocol/tcp/64B/2c/closed"}
    for case in cases.values():
        assert case["status"] == "ok", case["error"]
        assert [r["repeat"] for r in case["repeats"]] == [0, 1]
        for repeat in case["repeats"]:
            load = repeat["load"]
            assert load["schema"] == "echobench.load" and load["complete"] is True
            assert load["messages"] > 0 and not load["corrupted"]
            assert repeat["messages_per_second"] == load["messages_per_second"] > 0
            assert repeat["server_cpu"]["seconds"] > 0  # the server really worked
            assert repeat["server_rss_peak_bytes"] > 1 << 20
            assert repeat["verdict"] in ("server", "client", "both", "neither")
            assert repeat["placement"]["awake_cpus"] == []  # auto: awake at one connection only
            # The kernel's bound periodic work made short for each repeat, where root may.
            quieted = repeat["placement"]["kernel_quieted"]
            assert set(quieted) <= set(_shield.SYSCTLS)
            for name, (before, during) in quieted.items():
                assert str(before) == settings[name] and during == _shield.SYSCTLS[name]
    assert _sysctls() == settings  # all put back after
    quieted_any = any(
        r["placement"]["kernel_quieted"] for c in cases.values() for r in c["repeats"]
    )
    assert ("periodic work was made short" in done.stdout + done.stderr) is quieted_any
    if os.geteuid() == 0 and settings["vm/stat_interval"] == "1":
        assert quieted_any  # as root, at the kernel's default vm statistics interval
        summary = case["summary"]
        assert summary["messages_per_second"]["min"] <= summary["messages_per_second"]["median"]
        assert summary["client_bound"] == (summary["verdict"] in ("client", "both"))
    env = doc["environment"]
    assert env["pinning"]["server_cpus"] and env["pinning"]["client_cpus"]
    if len(os.sched_getaffinity(0)) >= 2:
        assert set(env["pinning"]["server_cpus"]).isdisjoint(env["pinning"]["client_cpus"])
    assert env["finished_at"] and env["command_line"][-2:] == ["--out", str(out)]
    # the table names every case and its bottleneck
    assert "asyncio-protocol" in done.stdout and "uvloop-protocol" in done.stdout
    assert "bottleneck" in done.stdout


def _descendants(pid: int) -> set[psutil.Process]:
    try:
        return set(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return set()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigint_leaves_nothing_behind_and_resume_completes(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    args = [
        "--backends",
        "asyncio-protocol,uvloop-protocol",
        *FAST,
        "--sizes",
        "64,128",
        "--no-verify",
        "--awake",  # its spinners are among what must not survive the interrupt
        "--order",
        "fixed",
        "--out",
        str(out),
    ]
    runner = subprocess.Popen(
        [*echobench_command(), "run", *AS_MEASURED, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen: set[psutil.Process] = set()
    deadline = time.monotonic() + 60
    try:
        # wait until one case is on disk and the next one is under way
        while time.monotonic() < deadline:
            seen |= _descendants(runner.pid)
            if out.exists():
                doc = load_results(out)
                if any(c["repeats"] for c in doc["cases"]) and len(_descendants(runner.pid)) >= 2:
                    break
            assert runner.poll() is None, runner.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the runner never finished a case")
        seen |= _descendants(runner.pid)
        runner.send_signal(signal.SIGINT)
        _stdout, stderr = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
    assert runner.returncode == 128 + signal.SIGINT, stderr
    assert "--resume" in stderr
    time.sleep(0.2)
    assert seen, "the runner started no server or client?"
    survivors = [p for p in seen if _alive(p)]
    assert survivors == [], f"left behind: {survivors}"

    partial = load_results(out)
    assert partial["complete"] is False
    finished = [c["id"] for c in partial["cases"] if c["status"] == "ok"]
    assert finished and partial["not_run"]
    assert set(finished).isdisjoint(partial["not_run"])
    first_records = {c["id"]: c["repeats"] for c in partial["cases"] if c["status"] == "ok"}

    done = run_cli(["--resume", str(out)])
    assert done.returncode == 0, done.stderr
    doc = load_results(out)
    assert doc["complete"] is True and doc["not_run"] == []
    assert len(doc["cases"]) == 4 and all(c["status"] == "ok" for c in doc["cases"])
    for case_id, repeats in first_records.items():
        assert by_id(doc)[case_id]["repeats"] == repeats  # kept, not measured again
    for case in doc["cases"]:  # --awake holds for the resumed run too
        for repeat in case["repeats"]:
            assert repeat["placement"]["awake_cpus"] == repeat["placement"]["server_cpus"]
    assert doc["environment"]["resumed"]

    refused = run_cli(["--resume", str(out)])
    assert refused.returncode != 0 and "already complete" in refused.stderr


def test_backends_that_crash_are_reported_and_the_run_completes(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "crash_at_start.py").write_text(textwrap.dedent(CRASH_AT_START))
    (plugins / "dies_mid_case.py").write_text(textwrap.dedent(DIES_MID_CASE))
    env = {**os.environ, "ECHOBENCH_BACKEND_PATH": str(plugins)}
    out = tmp_path / "run.json"
    done = run_cli(
        [
            "--backends",
            "crash-at-start,dies-mid-case,asyncio-protocol",
            *FAST,
            "--duration",
            "1.5",
            "--no-verify",
            "--out",
            str(out),
        ],
        env=env,
    )
    assert done.returncode == 0, done.stderr
    doc = load_results(out)
    assert doc["complete"] is True
    cases = by_id(doc)
    crashed = cases["crash-at-start/tcp/64B/2c/closed"]
    assert crashed["status"] == "failed"
    assert "failed to start" in crashed["error"]
    assert "frobnicator" in crashed["stderr_tail"]
    died = cases["dies-mid-case/tcp/64B/2c/closed"]
    assert died["status"] == "failed"
    assert "died mid-case" in died["error"] and "exit status 7" in died["error"]
    assert "simulated crash" in died["stderr_tail"]
    assert cases["asyncio-protocol/tcp/64B/2c/closed"]["status"] == "ok"
    assert "failed" in done.stdout and "2 of 3 case(s) failed" in done.stderr


def test_connect_measures_a_running_server_from_the_client_side(tmp_path: Path) -> None:
    server = start_server("asyncio-protocol")
    try:
        out = tmp_path / "remote.json"
        done = run_cli(
            ["--connect", server.address, "--label", "over-there", *FAST, "--out", str(out)]
        )
        assert server.alive()  # measured, not stopped
    finally:
        server.close()
        if server.process.stdout is not None:
            server.process.stdout.close()
    assert done.returncode == 0, done.stderr
    doc = load_results(out)
    (case,) = doc["cases"]
    assert case["id"] == "over-there/tcp/64B/2c/closed" and case["status"] == "ok"
    (repeat,) = case["repeats"]
    assert repeat["server_cpu"] is None and repeat["verdict"] in ("client", "neither")
    assert case["summary"]["messages_per_server_cpu_second"] is None
    assert "client side only" in done.stdout


FLIPS_BYTES = """
import threading

from echobench.servers._backend import Backend


def _echo(conn):
    with conn:
        while data := conn.recv(65536):
            conn.sendall(bytes(b ^ 0x20 for b in data))


def serve(ctx):
    ctx.listener.setblocking(True)
    ctx.ready()
    while True:
        conn, _ = ctx.listener.accept()
        threading.Thread(target=_echo, args=(conn,), daemon=True).start()


BACKEND = Backend(name="flips-bytes", family="baseline", description="test", serve=serve)
"""


def test_a_backend_that_fails_verification_is_not_measured(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "flips_bytes.py").write_text(textwrap.dedent(FLIPS_BYTES))
    env = {**os.environ, "ECHOBENCH_BACKEND_PATH": str(plugins)}
    out = tmp_path / "run.json"
    done = run_cli(["--backends", "flips-bytes", *FAST, "--out", str(out)], env=env)
    assert done.returncode == 1, done.stderr  # nothing could be measured
    doc = load_results(out)
    (case,) = doc["cases"]
    assert case["status"] == "failed" and case["repeats"] == []
    assert case["error"].startswith("failed verification: payloads")
    verification = doc["verification"]["flips-bytes"]
    assert verification["passed"] is False
    assert any(not check["passed"] for check in verification["checks"])
    assert doc["complete"] is True


def test_scale_scenario_on_two_backends(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    done = run_cli(
        [
            *("--scenario", "scale", "--backends", "asyncio-protocol,threads"),
            # Reduced counts and times, and no conformance gate (tested elsewhere): the
            # pipeline, not the numbers, is under test.
            *("--connections", "100,5+150", "--duration", "0.3", "--warmup", "0.2"),
            "--no-verify",
            *("--out", str(out)),
        ]
    )
    assert done.returncode == 0, done.stderr
    doc = load_results(out)
    assert doc["config"]["scenario"] == "scale" and doc["config"]["sizes"] == [64]
    cases = by_id(doc)
    assert set(cases) == {
        f"{backend}/tcp/64B/{count}/closed"
        for backend in ("asyncio-protocol", "threads")
        for count in ("100c", "5c+150idle")
    }
    for case in cases.values():
        assert case["status"] == "ok", case["error"]
        summary = case["summary"]
        assert summary["connect_per_second"] > 0 and 0 < summary["jain"] <= 1
        assert summary["starved"] == 0
        (repeat,) = case["repeats"]
        assert repeat["server_rss_connected_bytes"] >= repeat["server_rss_before_bytes"] > 0
        assert repeat["server_accepted_all"]
    for backend in ("asyncio-protocol", "threads"):
        idle = cases[f"{backend}/tcp/64B/5c+150idle/closed"]
        assert idle["summary"]["idle_dropped"] == 0
        assert idle["repeats"][0]["load"]["idle"]["held"] == 150
    # A thread and its stack per connection: more memory per connection than an event loop.
    threads = cases["threads/tcp/64B/100c/closed"]["summary"]["server_rss_per_connection_bytes"]
    loop = cases["asyncio-protocol/tcp/64B/100c/closed"]["summary"][
        "server_rss_per_connection_bytes"
    ]
    assert threads > loop
    assert "10c+10000idle" not in done.stderr  # the scenario's own counts were overridden


@pytest.mark.skipif(_shield.unavailable() is not None, reason=str(_shield.unavailable()))
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_shield_auto_clears_the_clients_cpu_for_open_loop_cases_only(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    affinity = os.sched_getaffinity(1)  # init's: a stranger to the run, moved off and back
    args = ["--backends", "native", *FAST, "--rate", "closed,2000", "--shield", "auto"]
    done = run_cli([*args, "--out", str(out)])
    assert done.returncode == 0, done.stderr
    cases = {case["mode"]: case for case in load_results(out)["cases"]}
    (opened,) = cases["open"]["repeats"]
    shielded = opened["placement"]["shield"]
    assert shielded["cpus"] == opened["placement"]["client_cpus"]
    assert shielded["threads"] >= 1 and shielded["warning"] is None
    assert "shield" not in cases["closed"]["repeats"][0]["placement"]
    assert os.sched_getaffinity(1) == affinity


#: Another run's way of holding a machine-wide setting (here a harmless file), in the
#: real journal, until its stdin closes.
ANOTHER_RUN = """
import sys
from pathlib import Path
from echobench.benchmarks.runner._journal import held
with held() as changes:
    changes.write(Path(sys.argv[1]), "1")
    print("holding", flush=True)
    sys.stdin.readline()
"""


def test_a_run_beside_another_says_so(tmp_path: Path) -> None:
    knob = tmp_path / "knob"
    knob.write_text("0")
    other = subprocess.Popen(
        [sys.executable, "-c", ANOTHER_RUN, str(knob)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().startswith("holding")
        out = tmp_path / "run.json"
        done = run_cli(["--backends", "native", *FAST, "--out", str(out)])
        assert done.returncode == 0, done.stderr
        warnings = load_results(out)["environment"]["warnings"]
        assert [w for w in warnings if "another run was measuring" in w and str(other.pid) in w]
    finally:
        other.communicate("leave\n", timeout=10)
    assert knob.read_text() == "0"
