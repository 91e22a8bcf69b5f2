"""vmbench's readline mode: newline-framed messages, ``readline()`` on the server.

Real servers (``echobench serve NAME --readline``) and plain blocking sockets: a line
split across many reads comes back whole and exact, several lines in one read all come
back, a line's first part is not echoed before its newline, and the load client's
readline payloads are lines.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import assert_one_line_error, run_echobench
from echobench.clients._config import LoadConfig
from echobench.clients._worker import make_payloads
from echobench.servers._launch import RunningServer, running_server
from echobench.servers._registry import get_backend

#: asyncio's streams on its own loop and on uvloop's; rloop's share the code.
READLINE_BACKENDS = ("asyncio-streams", "uvloop-streams")


@pytest.fixture(params=READLINE_BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with running_server(request.param, extra_args=["--readline"]) as running:
        yield running


def _connect(server: RunningServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _read(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        assert chunk, f"server closed after {len(got)} of {size} bytes"
        got += chunk
    return bytes(got)


def _silent(sock: socket.socket, seconds: float = 0.2) -> bool:
    sock.settimeout(seconds)
    try:
        return not sock.recv(1)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(10)


def test_a_line_split_across_reads_comes_back_whole(server: RunningServer) -> None:
    line = bytes(range(11, 256)) * 500 + b"\n"  # 122 KiB: past a 64 KiB read, no inner newline
    with _connect(server) as sock:
        for start in range(0, len(line) - 1, 40_000):
            sock.sendall(line[start : min(start + 40_000, len(line) - 1)])
            time.sleep(0.02)  # separate reads on the server
        assert _silent(sock), "the server echoed part of a line before its newline"
        sock.sendall(b"\n")
        assert _read(sock, len(line)) == line


def test_several_lines_in_one_read_all_come_back_exactly(server: RunningServer) -> None:
    lines = [b"x" * 1023 + b"\n", b"\n", b"short\n", bytes(range(11, 200)) + b"\n"]
    with _connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"".join(lines))  # one send: one read on the server
            assert _read(sock, sum(map(len, lines))) == b"".join(lines)
        sock.sendall(b"tail without newline")
        sock.shutdown(socket.SHUT_WR)  # at EOF the partial line is echoed, then EOF
        assert _read(sock, 20) == b"tail without newline"
        assert sock.recv(1) == b""


def test_readline_is_refused_by_a_backend_without_it() -> None:
    assert not get_backend("asyncio-protocol").readline
    result = run_echobench("serve", "asyncio-protocol", "--readline")
    assert_one_line_error(result, "has no readline mode")


def test_the_load_clients_readline_messages_are_lines() -> None:
    config = LoadConfig(port=1, connections=3, size=100, readline=5)
    payloads = make_payloads(config, range(3))
    assert len(set(payloads)) == 3  # distinct per connection, as in plain mode
    for payload in payloads:
        assert len(payload) == config.message_bytes == 500
        assert [i for i, byte in enumerate(payload) if byte == 10] == [99, 199, 299, 399, 499]


def test_the_load_client_drives_a_readline_server(server: RunningServer, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    args = ["--host", server.host, "--port", str(server.port), "--readline", "5"]
    args += ["--size", "10240", "--connections", "4", "--duration", "0.5", "--warmup", "0.1"]
    result = run_echobench("load", *args, "--workers", "1", "--json", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["params"]["readline"] == 5 and report["complete"] is True
    assert report["messages"] > 0 and report["errors"]["mismatch"] == 0
    assert report["bytes"] == report["messages"] * 5 * 10240
