"""pytest-benchmark: one round trip of a small message, per registered backend.

Each backend runs as a real subprocess (``echobench serve``), started once per
backend by a module-scoped fixture; the client is one plain blocking socket, so
the number is the server's request-to-reply latency plus loopback, nothing of
an event loop on the client side.

    pytest benchmarks/suites/bench_roundtrip.py --benchmark-json out.json
    echobench plot out.json
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from echobench.servers._launch import RunningServer, ServerStartError, start_server
from echobench.servers._registry import discover, get_backend

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

MESSAGE = b"x" * 64


def _params() -> list[object]:
    params: list[object] = []
    for backend in discover():
        reason = backend.unavailable_reason()
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(backend.name, marks=marks, id=backend.name))
    return params


@pytest.fixture(scope="module", params=_params())
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    try:
        running = start_server(request.param)
    except ServerStartError as exc:
        pytest.fail(f"{request.param} did not start: {exc}")
    try:
        yield running
    finally:
        running.close()
        if running.process.stdout is not None:
            running.process.stdout.close()  # the READY pipe; close() leaves it to its owner


def _round_trip(sock: socket.socket) -> Callable[[], None]:
    size = len(MESSAGE)

    def once() -> None:
        sock.sendall(MESSAGE)
        received = 0
        while received < size:  # TCP may split the echo; a short read is not the end
            chunk = sock.recv(size - received)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-echo")
            received += len(chunk)

    return once


def test_round_trip(benchmark: BenchmarkFixture, server: RunningServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        once = _round_trip(sock)
        once()  # the first echo proves the server works before anything is timed
        benchmark.group = "round trip: 64 B, one connection"
        benchmark.extra_info.update(
            backend=server.name,
            family=get_backend(server.name).family,
            message_bytes=len(MESSAGE),
            operations_per_round=1,
        )
        benchmark(once)
