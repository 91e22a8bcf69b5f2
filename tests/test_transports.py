"""Echo integrity over Unix sockets and TLS, for every backend that declares them.

Parametrized over the registry, so a new backend (or plugin) that declares a
transport is tested here with no edit. The peer is plain blocking sockets in
threads (``ssl`` for TLS), never an event loop.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from echobench.servers._launch import echobench_command, running_server
from echobench.servers._registry import discover
from echobench.servers._tls import client_context

CONNECTIONS = 3
PAYLOAD = 1 << 20
TLS_CHUNK = 64 * 1024
TIMEOUT = 20.0
#: Generous: the native backend compiles on its first start, on a shared machine.
START_TIMEOUT = 60.0


def _backends(transport: str, *, declared: bool = True) -> list[object]:
    params = []
    for backend in discover():
        if (transport in backend.transports) != declared:
            continue
        reason = backend.unavailable_reason()
        marks = [pytest.mark.skip(reason=f"{backend.name} cannot run here: {reason}")]
        params.append(pytest.param(backend.name, id=backend.name, marks=marks if reason else []))
    return params


@pytest.fixture
def socket_path() -> Iterator[str]:
    # A short directory: a Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="eb-") as directory:
        yield os.path.join(directory, "echo.sock")


def _in_parallel(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` for each connection in its own thread; re-raise the first failure."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("name", _backends("unix"))
def test_unix_echo(name: str, socket_path: str) -> None:
    with running_server(name, extra_args=["--unix", socket_path], timeout=START_TIMEOUT) as server:
        assert server.address == f"unix:{socket_path}"

        def client(i: int) -> None:
            payload = os.urandom(PAYLOAD)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(TIMEOUT)
                sock.connect(socket_path)

                # Send and read at once: a flow-controlled server stops reading
                # from a peer that does not read its echo.
                sender = threading.Thread(target=sock.sendall, args=(payload,))
                sender.start()
                received = bytearray()
                while len(received) < PAYLOAD:
                    chunk = sock.recv(1 << 16)
                    assert chunk, f"connection {i}: closed after {len(received)} bytes"
                    received += chunk
                sender.join(TIMEOUT)
                assert received == payload, f"connection {i}: echo differs"
                # Then a half-close, once everything is echoed: EOF and nothing more.
                sock.shutdown(socket.SHUT_WR)
                assert sock.recv(1) == b"", f"connection {i}: no EOF after half-close"

        _in_parallel(client)
        assert server.stop() == 0, server.stderr_tail()
    assert not os.path.exists(socket_path), "the socket file outlived the server"


@pytest.mark.parametrize("name", _backends("tls"))
def test_tls_echo(name: str) -> None:
    with running_server(name, extra_args=["--tls"], timeout=START_TIMEOUT) as server:

        def client(i: int) -> None:
            payload = os.urandom(PAYLOAD)
            raw = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
            with client_context().wrap_socket(raw, server_hostname="localhost") as sock:
                # One SSL object must not be read and written from two threads
                # at once, so this client sends a chunk and reads its echo.
                for start in range(0, PAYLOAD, TLS_CHUNK):
                    chunk = payload[start : start + TLS_CHUNK]
                    sock.sendall(chunk)
                    echoed = bytearray()
                    while len(echoed) < len(chunk):
                        part = sock.recv(len(chunk) - len(echoed))
                        assert part, f"connection {i}: closed after {start + len(echoed)} bytes"
                        echoed += part
                    assert echoed == chunk, f"connection {i}: echo differs at offset {start}"

        _in_parallel(client)

        # Plain bytes to the TLS port are a failed handshake, never an echo.
        probe = b"this is not a TLS ClientHello\r\n" * 4
        with socket.create_connection((server.host, server.port), timeout=1.0) as plain:
            plain.sendall(probe)
            try:
                answer = plain.recv(len(probe))
            except (TimeoutError, ConnectionResetError):
                answer = b""
        assert probe[:16] not in answer, "the server echoed plaintext: TLS is not on"
        assert server.alive(), "a failed handshake took the server down"
        assert server.stop() == 0, server.stderr_tail()


TCP_ONLY_BACKEND = """
from echobench.servers import Backend
from echobench.servers.asyncio_protocol import serve

BACKEND = Backend(name="tcp-only", family="asyncio", description="test", serve=serve)
"""


@pytest.mark.parametrize(
    "flag", [["--unix", "/tmp/eb-unused.sock"], ["--tls"]], ids=["unix", "tls"]
)
def test_undeclared_transport_is_refused_in_one_line(flag: list[str], tmp_path: Path) -> None:
    (tmp_path / "tcp_only.py").write_text(TCP_ONLY_BACKEND)
    env = {**os.environ, "ECHOBENCH_BACKEND_PATH": str(tmp_path)}
    result = subprocess.run(
        [*echobench_command(), "serve", "tcp-only", *flag],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )
    transport = flag[0].lstrip("-")
    assert result.returncode != 0
    assert f"does not support {transport} (it supports: tcp)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not os.path.exists("/tmp/eb-unused.sock")
