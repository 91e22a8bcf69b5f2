"""Running a reference load client (native C, minimal uvloop) as a pinned subprocess.

Both take ``HOST PORT CONNECTIONS SIZE DURATION WARMUP [CPUS]`` and print one
JSON report on stdout; this is the one place that runs them and reads it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from echobench.servers._errors import UserError


def run_reference_client(
    name: str,
    command: Sequence[str],
    host: str,
    port: int,
    *,
    connections: int,
    size: int,
    duration: float,
    warmup: float,
    cpus: Iterable[int] | None = None,
) -> dict[str, Any]:
    argv = [*command, host, str(port), str(connections), str(size)]
    argv += [repr(float(duration)), repr(float(warmup))]
    if cpus is not None:
        cpu_list = sorted(set(cpus))
        if not cpu_list:
            raise UserError(f"{name}: the CPU list is empty")
        argv.append(",".join(map(str, cpu_list)))
    limit = warmup + duration + 60
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"{name} did not finish within {limit:g}s") from None
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise UserError(f"{name} failed: {last[0]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report
