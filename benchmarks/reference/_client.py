"""What a reference client is, where they are found, and how a subprocess one is run.

A reference client is a load client independent of ``echobench load``: a module of
this folder (its name not starting with ``_``) exporting ``CLIENT``, a
``ReferenceClient``. It drives a server closed loop, one message in flight per
connection, at a ``Shape``, pinned to the CPUs it is given, and returns at least
``messages_per_second`` and ``cpu_us_per_message`` (``None`` where it cannot tell).

The subprocess ones (native C, minimal uvloop) take ``HOST PORT CONNECTIONS SIZE
DURATION WARMUP [CPUS]`` and print one JSON report on stdout; ``run_reference_client``
is the one place that runs them and reads it.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echobench.servers._errors import UserError


@dataclass(frozen=True)
class Shape:
    """The load a reference client is asked for: closed loop, one message in flight."""

    connections: int
    size: int
    duration: float
    warmup: float = 0.5


#: Drives the server at host, port with the shape, pinned to the CPUs (None: unpinned).
Run = Callable[[str, int, Shape, Sequence[int] | None], dict[str, Any]]


def _always() -> str | None:
    return None


@dataclass(frozen=True)
class ReferenceClient:
    #: Its key in the client ceiling's results (``results/published/client_ceiling.json``).
    name: str
    #: Its row in the published table.
    label: str
    run: Run
    #: Why it cannot run here, else None (a missing compiler, say); asked before measuring.
    unavailable: Callable[[], str | None] = _always
    #: Whether it can hold the ceiling's 10,000 connections (one process per connection
    #: cannot).
    at_scale: bool = True


def reference_clients() -> list[ReferenceClient]:
    """Every reference client in this folder, by module name."""
    found = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{__package__}.{info.name}")
            found.append(module.CLIENT)
    return found


def run_reference_client(
    name: str,
    command: Sequence[str],
    host: str,
    port: int,
    shape: Shape,
    cpus: Iterable[int] | None = None,
) -> dict[str, Any]:
    """Run a subprocess reference client at ``shape``, pinned to ``cpus``; its report."""
    argv = [*command, host, str(port), str(shape.connections), str(shape.size)]
    argv += [repr(float(shape.duration)), repr(float(shape.warmup))]
    if cpus is not None:
        cpu_list = sorted(set(cpus))
        if not cpu_list:
            raise UserError(f"{name}: the CPU list is empty")
        argv.append(",".join(map(str, cpu_list)))
    limit = shape.warmup + shape.duration + 60
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"{name} did not finish within {limit:g}s") from None
    if result.returncode != 0:
        last = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
        raise UserError(f"{name} failed: {last[0]}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report
