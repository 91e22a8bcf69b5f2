"""Drive an echo server with the native C load client (``native_client.c``).

The truth benchmarks use it so that the instrument costs as little CPU as
possible and cannot be the bottleneck a Python client would be. It is compiled
on first use, like the native backend (``servers._cbuild``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from servers._cbuild import build
from servers._errors import UserError

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
    ``connections``, ``size``, ``errors`` (connections that died). ``host`` may
    be ``unix:/path`` for a Unix socket server.
    """
    if connections < 1 or size < 1 or duration <= 0 or warmup < 0:
        raise UserError(
            "native client needs connections >= 1, size >= 1, duration > 0 and warmup >= 0"
        )
    argv = [
        str(binary()),
        host,
        str(port),
        str(connections),
        str(size),
        repr(float(duration)),
        repr(float(warmup)),
    ]
    if cpus is not None:
        cpu_list = sorted(set(cpus))
        if not cpu_list:
            raise UserError("native client: the CPU list is empty")
        argv.append(",".join(map(str, cpu_list)))
    limit = warmup + duration + 60
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"native client did not finish within {limit:g}s") from None
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise UserError(f"native client failed: {last[0]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report
