"""``echobench list`` and ``echobench serve``: the registry as users see it, and clean errors."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import psutil
import pytest

from conftest import REQUIRED_BACKENDS, assert_one_line_error, clean_env, run_echobench
from echobench.servers._cbuild import missing_compiler_reason
from echobench.servers._launch import running_server
from echobench.servers._registry import available_backends, discover

MISSING_PACKAGE_BACKEND = """
from echobench.servers._backend import Backend

BACKEND = Backend(
    name="needs-missing",
    family="baseline",
    description="needs a package that is not installed",
    serve="echobench.servers.threads:serve",
    requires=("echobench_no_such_module",),
    install_hint="pip install echobench-no-such-module",
)
"""


def test_list_shows_every_required_backend() -> None:
    result = run_echobench("list", env=clean_env(COLUMNS="200"))
    assert result.returncode == 0, result.stderr
    for name in REQUIRED_BACKENDS:
        assert name in result.stdout


def test_list_json_has_required_backends_available() -> None:
    result = run_echobench("list", "--json", env=clean_env())
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for row in rows.values():
        assert {"name", "family", "available"} <= row.keys()
    for name in REQUIRED_BACKENDS:
        assert rows[name]["available"] is True, rows[name]
    assert rows["threads"]["family"] == rows["selectors"]["family"] == "baseline"


def test_serve_unknown_backend() -> None:
    assert_one_line_error(run_echobench("serve", "no-such-backend"), "unknown backend")


def test_serve_taken_port() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_echobench("serve", "selectors", "--port", str(port), timeout=30)
    assert_one_line_error(result, "already in use")


def test_serve_taken_port_is_refused_even_with_reuse_port() -> None:
    # uvloop-multiprocess binds with SO_REUSEPORT; a second instance on the same
    # fixed port must fail rather than silently share the first one's port.
    with running_server("uvloop-multiprocess", extra_args=["-o", "workers=1"]) as first:
        result = run_echobench(
            "serve", "uvloop-multiprocess", "--port", str(first.port), "-o", "workers=1", timeout=30
        )
    assert_one_line_error(result, "already in use")


def test_serve_refuses_non_loopback_without_allow_remote() -> None:
    result = run_echobench("serve", "selectors", "--host", "0.0.0.0", timeout=30)
    assert_one_line_error(result, "--allow-remote")


def test_list_shows_the_extra_an_install_hint_names(backend_dir: Path) -> None:
    # rich would take "[all]" for markup and print pip install 'echobench'.
    (backend_dir / "needs_extra.py").write_text(
        MISSING_PACKAGE_BACKEND.replace("needs-missing", "needs-extra").replace(
            "pip install echobench-no-such-module", "pip install 'echobench[all]'"
        )
    )
    listed = run_echobench("list", env={**os.environ, "COLUMNS": "400"})
    row = next(line for line in listed.stdout.splitlines() if "needs-extra" in line)
    assert "pip install 'echobench[all]'" in row


def test_serve_rejects_a_bad_port() -> None:
    assert_one_line_error(run_echobench("serve", "selectors", "--port", "70000"), "port")


def test_missing_package_is_unavailable_and_others_work(backend_dir: Path) -> None:
    (backend_dir / "needs_missing.py").write_text(MISSING_PACKAGE_BACKEND)
    (backend_dir / "fails_to_import.py").write_text("raise ImportError('no such framework')\n")
    listed = {backend.name: backend for backend in discover()}
    reason = listed["needs-missing"].unavailable_reason()
    assert reason is not None and "echobench_no_such_module" in reason
    assert "pip install" in reason
    assert listed["fails-to-import"].unavailable_reason() is not None
    available = {backend.name for backend in available_backends()}
    assert set(REQUIRED_BACKENDS) <= available

    result = run_echobench("list", "--json")  # the fixture's path reaches the subprocess
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["needs-missing"]["available"] is False
    assert "echobench_no_such_module" in rows["needs-missing"]["reason"]
    assert rows["fails-to-import"]["available"] is False
    assert rows["selectors"]["available"] is True

    assert_one_line_error(run_echobench("serve", "needs-missing"), "missing package")
    assert_one_line_error(run_echobench("serve", "fails-to-import"), "failed to load")
    with (
        running_server("selectors") as server,
        socket.create_connection((server.host, server.port), timeout=10) as sock,
    ):
        sock.sendall(b"still works")
        assert sock.recv(64) == b"still works"


@pytest.mark.parametrize(
    ("name", "extra_args"),
    [("native", ()), ("uvloop-multiprocess", ("-o", "workers=2"))],
)
def test_sigterm_to_the_serve_pid_alone_leaves_no_server_process(
    name: str, extra_args: tuple[str, ...]
) -> None:
    """A user who kills ``echobench serve`` by its pid, not its group, leaks nothing.

    The native backend execs its C binary in place of the launcher and
    uvloop-multiprocess stops the workers it forked; either way the port closes.
    """
    if name == "native" and missing_compiler_reason() is not None:
        pytest.skip(f"native backend not exercised: {missing_compiler_reason()}")
    # Generous: the first start of native compiles the server, on a shared machine.
    with running_server(name, extra_args=extra_args, timeout=60) as server:
        address = (server.host, server.port)
        socket.create_connection(address, timeout=5).close()
        launcher = psutil.Process(server.pid)
        tree = [launcher, *launcher.children(recursive=True)]
        if name == "native":
            assert "native_echo" in launcher.cmdline()[0]  # the launcher is the binary
        else:
            assert len(tree) == 3
        server.process.send_signal(signal.SIGTERM)  # the pid only, as `kill PID` does
        assert server.process.wait(5) == 0
        _, alive = psutil.wait_procs(tree, timeout=5)
        assert not alive, f"left running: {alive}"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=5).close()


def test_sigkill_of_the_multiprocess_launcher_leaves_no_worker() -> None:
    """SIGKILL runs no cleanup in the launcher: its workers must die with it (PDEATHSIG)."""
    with running_server("uvloop-multiprocess", extra_args=("-o", "workers=2")) as server:
        address = (server.host, server.port)
        socket.create_connection(address, timeout=5).close()
        launcher = psutil.Process(server.pid)
        workers = launcher.children(recursive=True)
        assert len(workers) == 2
        os.kill(server.pid, signal.SIGKILL)  # the launcher alone, not its group
        assert server.process.wait(5) == -signal.SIGKILL
        _, alive = psutil.wait_procs(workers, timeout=5)
        assert not alive, f"outlived their SIGKILLed launcher: {alive}"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address, timeout=5).close()
