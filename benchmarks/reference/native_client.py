"""Drive an echo server with the native C load client (``native_client.c``).

The truth benchmarks use it so that the instrument costs as little CPU as
possible and cannot be the bottleneck a Python client would be. It is compiled
on first use, like the native backend (``echobench.servers._cbuild``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from echobench.benchmarks.reference._client import ReferenceClient, Shape, run_reference_client
from echobench.servers._cbuild import build
from echobench.servers._errors import UserError

SOURCE = Path(__file__).with_name("native_client.c")


def binary() -> Path:
    """The compiled client, building it on first use (UserError when no compiler)."""
    return build(SOURCE, "native_client")


def run_native_client(
    host: str,
    port: int,
    *,
    connections: int,
    size: int,
    duration: float,
    warmup: float,
    cpus: Iterable[int] | None = None,
) -> dict[str, Any]:
    """Closed loop, pipeline 1: returns the client's JSON result.

    Keys: ``messages_per_second``, ``messages``, ``elapsed_s`` (the measured
    window), ``mismatched_bytes``, ``bytes``, ``warmup_messages``,
    ``connections``, ``size``, ``errors`` (connections that died),
    ``max_latency_us`` (the slowest echo in the window) and ``max_gap_us`` (the
    longest time between two passes of its event loop in the window: the machine's
    own stalls, which the soak benchmark reports as its noise floor). ``host`` may
    be ``unix:/path`` for a Unix socket server.
    """
    return _run(host, port, Shape(connections, size, duration, warmup), cpus)


def _run(host: str, port: int, shape: Shape, cpus: Iterable[int] | None = None) -> dict[str, Any]:
    if shape.connections < 1 or shape.size < 1 or shape.duration <= 0 or shape.warmup < 0:
        raise UserError(
            "native client needs connections >= 1, size >= 1, duration > 0 and warmup >= 0"
        )
    return run_reference_client("native client", [str(binary())], host, port, shape, cpus)


def _unavailable() -> str | None:
    try:
        binary()
    except UserError as exc:
        return str(exc)
    return None


CLIENT = ReferenceClient(
    name="native", label="native C client (1 thread)", run=_run, unavailable=_unavailable
)
