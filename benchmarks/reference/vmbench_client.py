"""A faithful re-implementation of vmbench's ``echo_client``, as a baseline to beat.

vmbench (MagicStack/vmbench, itself from curio) runs one process per connection
(``ProcessPoolExecutor``), each a blocking-socket loop: ``sendall`` one message,
``recv`` until that many bytes are back, round the latency to 10 us and count it
in a numpy array. It verifies nothing. Two deliberate differences, both in its
favour: the rate divides by each process's own measured loop time instead of the
nominal duration (vmbench counts pool start-up against itself), and client CPU is
measured from the pool's rusage so its cost per message can be compared.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import numpy as np

from echobench.benchmarks.reference._client import ReferenceClient, Shape


def _run_connection(
    address: tuple[str, int], size: int, start: float, duration: float
) -> tuple[int, float]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(15)
    sock.connect(address)
    msg = b"x" * size
    timeout_ms = 2 * 1000
    latency_stats = np.zeros((timeout_ms * 100,))
    min_latency = float("inf")
    max_latency = 0.0
    n = 0
    while time.monotonic() < start:
        time.sleep(0.001)
    began = time.monotonic()
    while time.monotonic() - start < duration:
        req_start = time.monotonic()
        sock.sendall(msg)
        nrecv = 0
        while nrecv < size:
            resp = sock.recv(size)
            if not resp:
                raise SystemExit()
            nrecv += len(resp)
        req_time = round((time.monotonic() - req_start) * 100000)
        if req_time > max_latency:
            max_latency = req_time
        if req_time < min_latency:
            min_latency = req_time
        latency_stats[req_time] += 1
        n += 1
    elapsed = time.monotonic() - began
    sock.close()
    return n, elapsed


def run_vmbench_client(
    host: str, port: int, *, connections: int, size: int, duration: float
) -> dict[str, Any]:
    """Run it; ``messages_per_second`` sums each connection's messages over its own time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with futures.ProcessPoolExecutor(max_workers=connections) as pool:
        # Start every connection's loop at one instant, after the pool is up.
        pool.submit(time.sleep, 0).result()
        start = time.monotonic() + 0.5 + 0.02 * connections
        jobs = [
            pool.submit(_run_connection, (host, port), size, start, duration)
            for _ in range(connections)
        ]
        parts = [job.result() for job in jobs]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    messages = sum(n for n, _ in parts)
    rate = sum(n / elapsed for n, elapsed in parts if elapsed > 0)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "messages": messages,
        "messages_per_second": rate,
        "elapsed_s": max(elapsed for _, elapsed in parts),
        # Includes pool start-up and the wait for the start instant: an upper bound.
        "cpu_us_per_message": cpu / messages * 1e6 if messages else None,
    }


def _run(host: str, port: int, shape: Shape, cpus: Sequence[int] | None) -> dict[str, Any]:
    """Pinned to the first of ``cpus``: the pool's processes inherit it (vmbench's own
    client pins nothing; one CPU keeps it beside the others' single process)."""
    previous = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, list(cpus)[:1])
    try:
        return run_vmbench_client(
            host, port, connections=shape.connections, size=shape.size, duration=shape.duration
        )
    finally:
        os.sched_setaffinity(0, previous)


CLIENT = ReferenceClient(
    name="vmbench",
    label="vmbench echo_client (a blocking process per connection)",
    run=_run,
    at_scale=False,  # a process per connection: 10,000 processes
)
