"""The native C backend and the native C load client, against real sockets.

Everything that runs C is skipped, with the reason, when this machine has no C
compiler; the test that the backend is then listed as unavailable always runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from echobench.benchmarks.reference.native_client import run_native_client
from echobench.servers._cbuild import build, missing_compiler_reason
from echobench.servers._errors import UserError
from echobench.servers._launch import RunningServer, echobench_command, running_server

#: Generous: the first start compiles the server, on a shared machine.
START_TIMEOUT = 60.0

needs_compiler = pytest.mark.skipif(
    missing_compiler_reason() is not None,
    reason=f"native backend not exercised: {missing_compiler_reason()}",
)


def roundtrip(address: tuple[str, int] | str, payload: bytes, timeout: float = 10.0) -> bytes:
    """Send ``payload`` from a thread, half-close, and read the echo until EOF."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
        sender.join(timeout)
    return b"".join(chunks)


@pytest.fixture
def native() -> Iterator[RunningServer]:
    with running_server("native", timeout=START_TIMEOUT) as server:
        yield server


def test_listed_unavailable_without_a_compiler() -> None:
    env = {**os.environ, "CC": "/nonexistent/cc"}
    out = subprocess.run(
        [*echobench_command(), "list", "--json"], env=env, capture_output=True, check=True
    )
    row = next(r for r in json.loads(out.stdout) if r["name"] == "native")
    assert row["available"] is False
    assert "no C compiler" in row["reason"]
    served = subprocess.run(
        [*echobench_command(), "serve", "native"], env=env, capture_output=True, text=True
    )
    assert served.returncode != 0
    assert "no C compiler" in served.stderr
    assert "Traceback" not in served.stderr


def test_client_without_a_compiler_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(UserError, match="no C compiler"):
        run_native_client("127.0.0.1", 9, connections=1, size=1, duration=0.1, warmup=0)


@needs_compiler
def test_build_is_cached_by_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOBENCH_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "hello.c"
    source.write_text("int main(void) { return 3; }\n")
    first = build(source, "hello")
    built_at = first.stat().st_mtime_ns
    assert build(source, "hello") == first
    assert first.stat().st_mtime_ns == built_at  # not recompiled
    assert subprocess.run([first], check=False).returncode == 3
    source.write_text("int main(void) { return 4; }\n")
    second = build(source, "hello")
    assert second != first
    assert subprocess.run([second], check=False).returncode == 4
    source.write_text("int main(void) { syntax error }\n")
    with pytest.raises(UserError, match=r"failed to compile hello\.c"):
        build(source, "hello")


@needs_compiler
def test_echoes_and_closes_after_half_close(native: RunningServer) -> None:
    payload = os.urandom(3_000_000)
    assert roundtrip((native.host, native.port), payload) == payload
    assert roundtrip((native.host, native.port), b"") == b""
    assert native.stop() == 0


@needs_compiler
def test_stops_reading_a_peer_that_does_not_read(native: RunningServer) -> None:
    """Flow control: without it the server would swallow everything into memory."""
    total = 256 << 20
    with socket.create_connection((native.host, native.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.settimeout(2.0)
        block = b"x" * (1 << 20)
        sent = 0
        with pytest.raises(TimeoutError):
            while sent < total:
                sent += sock.send(block)
        assert sent < total
        # Reading again resumes the echo, with every byte intact.
        sock.settimeout(10.0)
        received = 0
        while received < sent:
            chunk = sock.recv(1 << 20)
            assert chunk and chunk.count(b"x") == len(chunk)
            received += len(chunk)
    assert native.alive()


@needs_compiler
def test_thousands_of_idle_connections_and_resets(native: RunningServer) -> None:
    idle = [socket.create_connection((native.host, native.port)) for _ in range(2000)]
    try:
        # Resets: an abortive close with unread echo pending must not hurt the server.
        for sock in idle[:100]:
            sock.sendall(b"reset me")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            sock.close()
        assert roundtrip((native.host, native.port), b"still here") == b"still here"
    finally:
        for sock in idle:
            sock.close()
    assert native.stop(signal.SIGINT) == 0


@needs_compiler
def test_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "native.sock")
    with running_server("native", extra_args=["--unix", path], timeout=START_TIMEOUT) as server:
        assert server.address == f"unix:{path}"
        payload = os.urandom(200_000)
        assert roundtrip(path, payload) == payload
        report = run_native_client(
            server.address, 0, connections=2, size=100, duration=0.3, warmup=0.1
        )
        assert report["messages"] > 0 and report["mismatched_bytes"] == 0
        assert server.stop() == 0
    assert not os.path.exists(path)  # the C server removes its socket file


@needs_compiler
def test_client_counts_verified_messages(native: RunningServer) -> None:
    report = run_native_client(
        native.host, native.port, connections=8, size=4096, duration=0.5, warmup=0.2, cpus=[0]
    )
    assert report["errors"] == 0
    assert report["mismatched_bytes"] == 0
    assert report["messages"] > 0
    assert report["elapsed_s"] == pytest.approx(0.5, abs=0.05)
    assert report["messages_per_second"] == pytest.approx(
        report["messages"] / report["elapsed_s"], rel=1e-3
    )


@needs_compiler
def test_client_catches_a_server_that_corrupts_bytes() -> None:
    """A deliberately wrong echo server: the client must report the bad bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def corrupt(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(bytes([data[0] ^ 0xFF]) + data[1:])

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=corrupt, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    try:
        port = listener.getsockname()[1]
        report = run_native_client(
            "127.0.0.1", port, connections=2, size=64, duration=0.3, warmup=0.0
        )
    finally:
        stop.set()
        acceptor.join()
        listener.close()
    assert report["messages"] > 0
    assert report["mismatched_bytes"] >= report["messages"]
