"""SIGTERM to an orchestrating command stops what it started, as Ctrl-C does.

``echobench soak`` starts a server and load clients as subprocesses; terminated halfway,
it must exit by itself and leave none of them running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil

from echobench.servers._launch import echobench_command


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_sigterm_to_soak_leaves_no_server_or_client_behind() -> None:
    argv = [*echobench_command(), "soak", "--duration", "30", "--noise", "30"]
    argv += ["--short", "1", "--rate", "2000", "-c", "2", "--segment", "5"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        seen: list[psutil.Process] = []
        deadline = time.monotonic() + 30
        # Wait until both the server and the native noise-floor client are running.
        while time.monotonic() < deadline and len(seen) < 2:
            seen = _descendants(process.pid)
            time.sleep(0.2)
        assert len(seen) >= 2, "soak started no subprocesses"
        time.sleep(1.0)
        seen = _descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 128 + signal.SIGINT, err.decode()
        assert "interrupted" in err.decode()
        assert "Traceback" not in err.decode()
        time.sleep(0.5)
        alive = [p for p in seen if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    finally:
        # Whatever the outcome, nothing of this test's process group may outlive it.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
