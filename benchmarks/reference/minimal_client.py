"""The least a uvloop Protocol client can do per message: the ceiling of our approach.

No verification, no latency, no timers: ``data_received`` counts bytes and writes the
payload again once a whole message is back. ``echobench load`` is this plus
everything a benchmark needs, so the gap between the two is what that costs.

Run as ``python -m echobench.benchmarks.reference.minimal_client HOST PORT CONNECTIONS SIZE DURATION
WARMUP [CPUS]``; it prints one JSON object. ``CLIENT.run`` runs it as a
subprocess (its own process, like ``echobench load``'s workers).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from echobench.benchmarks.reference._client import ReferenceClient, Shape, run_reference_client


class _Echo(asyncio.Protocol):
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.size = len(payload)
        self.got = 0
        self.done = 0  # completed messages
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        while self.got >= self.size:
            self.got -= self.size
            self.done += 1
            self.transport.write(self.payload)  # type: ignore[union-attr]


async def _drive(
    host: str, port: int, connections: int, size: int, duration: float, warmup: float
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    payload = b"x" * size
    protocols = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(lambda: _Echo(payload), host, port)
        protocols.append(protocol)
    for protocol in protocols:
        protocol.transport.write(payload)  # type: ignore[union-attr]
    await asyncio.sleep(warmup)
    count0, t0, cpu0 = sum(p.done for p in protocols), time.monotonic(), os.times()
    await asyncio.sleep(duration)
    count1, t1, cpu1 = sum(p.done for p in protocols), time.monotonic(), os.times()
    for protocol in protocols:
        protocol.transport.abort()  # type: ignore[union-attr]
    messages = count1 - count0
    user, system = cpu1.user - cpu0.user, cpu1.system - cpu0.system
    return {
        "messages": messages,
        "elapsed_s": t1 - t0,
        "messages_per_second": messages / (t1 - t0),
        "user_s": user,
        "system_s": system,
        "cpu_us_per_message": (user + system) / messages * 1e6 if messages else None,
    }


def _run(host: str, port: int, shape: Shape, cpus: Sequence[int] | None) -> dict[str, Any]:
    """Run the minimal client in a subprocess (pinned to ``cpus``) and return its report."""
    command = [sys.executable, "-m", "echobench.benchmarks.reference.minimal_client"]
    return run_reference_client("minimal client", command, host, port, shape, cpus)


CLIENT = ReferenceClient(
    name="minimal",
    label="minimal uvloop Protocol client (no verification, no latency, no timers)",
    run=_run,
)


def main(argv: list[str]) -> int:
    import uvloop

    if len(argv) not in (6, 7):
        print(
            "usage: python -m echobench.benchmarks.reference.minimal_client "
            "HOST PORT CONNECTIONS SIZE DURATION WARMUP [CPUS]",
            file=sys.stderr,
        )
        return 2
    try:
        host, port, connections, size = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
        duration, warmup = float(argv[4]), float(argv[5])
        if len(argv) == 7:
            os.sched_setaffinity(0, {int(cpu) for cpu in argv[6].split(",")})
    except (ValueError, OSError) as exc:
        print(f"minimal client: bad argument: {exc}", file=sys.stderr)
        return 2
    try:
        report = uvloop.run(_drive(host, port, connections, size, duration, warmup))
    except OSError as exc:
        print(f"minimal client: cannot connect to {host}:{port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
