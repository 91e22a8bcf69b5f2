"""The runner's priming echo (runner._prime) before a fresh server is measured."""

from __future__ import annotations

import socket
import threading

import pytest

from echobench.benchmarks.runner._prime import prime
from echobench.servers import UserError
from echobench.servers._launch import running_server


def test_prime_echoes_on_a_real_server() -> None:
    with running_server("asyncio-protocol") as server:
        prime(server.host, server.port, None, tls=False)
        assert server.alive()


def _one_shot_server(reply: bytes) -> tuple[socket.socket, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


@pytest.mark.parametrize("reply", [b"", b"wrong" * 20], ids=["closes", "corrupts"])
def test_prime_refuses_a_server_that_does_not_echo(reply: bytes) -> None:
    listener, thread = _one_shot_server(reply)
    with listener, pytest.raises(UserError, match="priming echo"):
        prime("127.0.0.1", listener.getsockname()[1], None, tls=False)
    thread.join(5)
