"""``echobench load`` as users run it: bad input, exit statuses, JSON, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from _fault_servers import fault_server

from echobench._cli import main
from echobench.servers._launch import echobench_command


def _free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "{free}", "-d", "0.5"], "connection refused by 127.0.0.1:{free}"),
        (["--port", "70000"], "port must be between 1 and 65535, not 70000"),
        (["-d", "1"], "no port given"),
        (["--port", "{free}", "--size", "0"], "--size must be at least 1 byte, not 0"),
        (["--port", "{free}", "--rate", "-5"], "--rate must be a positive number"),
        (
            ["--port", "{free}", "-c", "1000000", "--workers", "1"],
            "connections fit with --workers 1",
        ),
        (["--port", "{free}", "--rate", "10", "--pipeline", "4"], "closed loop only"),
        (["--port", "{free}", "--nice", "20"], "--nice must be between -20 and 19, not 20"),
    ],
    ids=[
        "refused",
        "bad-port",
        "no-port",
        "size-0",
        "negative-rate",
        "fd-limit",
        "pipeline-open",
        "nice-20",
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    free = str(_free_port())
    status = main(["load", *(a.replace("{free}", free) for a in argv)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("echobench load: error: ")
    assert message.replace("{free}", free) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_sizes_and_counts_read_as_run_reads_them(capsys: pytest.CaptureFixture[str]) -> None:
    # run --sizes 1K is 1024 bytes; load -s 1K is the same message.
    with fault_server("echo") as server:
        argv = ["--port", str(server.port), "-s", "1K", "-c", "2", "-d", "0.3", "--warmup", "0"]
        status = main(["load", *argv, "--json", "-"])
    result = json.loads(capsys.readouterr().out)
    assert status == 0 and result["messages"] > 0
    assert result["params"]["size"] == 1024 and result["params"]["connections"] == 2
    with pytest.raises(SystemExit) as refused:
        main(["load", "--port", "1", "-s", "1Q"])
    assert refused.value.code == 2
    assert "invalid whole_number value: '1Q'" in capsys.readouterr().err


def test_corruption_exits_3_and_is_in_the_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with fault_server("corrupt", 500) as server:
        status = main(
            [
                "load",
                "--port",
                str(server.port),
                *["-d", "0.5", "--warmup", "0", "-q", "--json"],
                str(out),
            ]
        )
    assert status == 3
    result = json.loads(out.read_text())
    assert result["corrupted"] and result["corrupted_bytes"] > 0


def test_server_death_exits_1_with_partial_json(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with fault_server("die", 0.6) as server:
        status = main(
            [
                "load",
                "--port",
                str(server.port),
                *["-d", "5", "--warmup", "0", "-q", "--json"],
                str(out),
            ]
        )
    assert status == 1
    result = json.loads(out.read_text())
    assert result["complete"] is False and result["messages"] > 0
    assert result["schema"] == "echobench.load" and result["schema_version"] == 2


def test_json_to_stdout_has_every_contract_key(capsys: pytest.CaptureFixture[str]) -> None:
    with fault_server("echo") as server:
        status = main(
            [
                "load",
                "--port",
                str(server.port),
                *["-d", "0.5", "--warmup", "0.1", "--rate", "200", "--json", "-"],
            ]
        )
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert status == 0
    assert "throughput" in captured.err  # the table goes to stderr when stdout holds JSON
    assert set(result["params"]) >= {
        "host", "port", "unix", "tls", "connections", "size", "duration", "warmup", "rate",
        "pipeline", "workers", "verify", "latency", "timeout", "idle",
    }  # fmt: skip
    for key in (
        "mode", "started_at", "finished_at", "complete", "stop_reason", "elapsed_s", "messages",
        "bytes", "messages_per_second", "mib_per_second", "latency_us", "latency_out_of_range",
        "histogram", "errors", "error_total", "corrupted_bytes", "corrupted", "per_second",
        "rate", "client_cpu", "connect", "fairness", "idle",
    ):  # fmt: skip
        assert key in result
    assert set(result["latency_us"]) >= {"p50", "p90", "p99", "p999", "max", "mean"}
    assert set(result["rate"]) == {
        "target",
        "achieved",
        "met",
        "in_flight_at_close",
        "unsent_at_close",
        "late_messages",
        "max_send_lag_us",
        "max_send_lag_per_second_us",
        "max_send_lag_per_second_at_ns",
        "lag_events",
        "lag_events_dropped",
    }
    assert result["mode"] == "open" and result["histogram"]["unit"] == "ns"
    assert set(result["connect"]) >= {"seconds", "per_second", "failed", "retries"}
    assert set(result["fairness"]) == {"jain", "min", "median", "max", "starved"}
    assert result["idle"] is None  # no --idle


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_workers_and_writes_partial_json(sig: int, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with fault_server("echo") as server:
        process = subprocess.Popen(
            [
                *echobench_command(),
                *f"load --port {server.port} --workers 2 -c 4 --rate 400".split(),
                *["-d", "60", "--warmup", "0.2", "-q", "--json"],
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            workers: list[psutil.Process] = []
            while time.monotonic() < deadline and len(workers) < 2:
                time.sleep(0.2)
                workers = psutil.Process(process.pid).children()
            assert len(workers) == 2
            time.sleep(1.5)  # into the measured window
            os.kill(process.pid, sig)
            _, stderr = process.communicate(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, "worker processes outlived echobench load"
    result = json.loads(out.read_text())
    assert result["complete"] is False
    assert result["interrupted"] == signal.Signals(sig).name
    assert result["messages"] > 0 and result["elapsed_s"] < 10
