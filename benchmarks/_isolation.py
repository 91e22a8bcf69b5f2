"""Keeping the server and the load client off each other's CPUs.

With two or more CPUs the server gets the first half and the load client (with
the runner, whose sampling is light) the rest, so neither steals the other's
cycles; on a single CPU they share it, and the results file says so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from servers._errors import UserError


@dataclass(frozen=True)
class Placement:
    server_cpus: tuple[int, ...]
    client_cpus: tuple[int, ...]
    warnings: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, list[int]]:
        return {"server_cpus": list(self.server_cpus), "client_cpus": list(self.client_cpus)}


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def plan(
    cpus: Sequence[int],
    *,
    server_cpus: Sequence[int] | None = None,
    client_cpus: Sequence[int] | None = None,
) -> Placement:
    """Disjoint server and client CPU sets drawn from ``cpus`` (or the ones asked for)."""
    available = sorted(set(cpus))
    if not available:
        raise UserError("no CPUs are available to this process")
    for asked, what in ((server_cpus, "server"), (client_cpus, "client")):
        if asked is not None:
            outside = sorted(set(asked) - set(available))
            if outside:
                raise UserError(
                    f"--{what}-cpus: CPU {outside[0]} is not available (usable: "
                    f"{','.join(map(str, available))})"
                )
    warnings: list[str] = []
    if server_cpus is not None or client_cpus is not None:
        server = sorted(set(server_cpus or [c for c in available if c not in (client_cpus or [])]))
        client = sorted(set(client_cpus or [c for c in available if c not in server]))
        if not server or not client:
            raise UserError("the server and the client each need at least one CPU")
        if set(server) & set(client):
            warnings.append("server and client CPUs overlap, so they compete for cycles")
        return Placement(tuple(server), tuple(client), tuple(warnings))
    if len(available) == 1:
        warnings.append(
            "only one CPU: the server and the load client share it, so every case is "
            "partly a measurement of the client"
        )
        return Placement(tuple(available), tuple(available), tuple(warnings))
    half = len(available) // 2
    return Placement(tuple(available[:half]), tuple(available[half:]), ())


def pin_self(cpus: Sequence[int]) -> bool:
    """Pin this process (and so the load clients it starts) to ``cpus``."""
    try:
        os.sched_setaffinity(0, set(cpus))
        return True
    except (AttributeError, OSError):
        return False


def parse_cpu_list(text: str, what: str) -> list[int]:
    """``0,2-3`` -> ``[0, 2, 3]``."""
    cpus: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, sep, high = part.partition("-")
            cpus.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise UserError(f"--{what}: {text!r} is not a CPU list like 0,2-3") from None
    if not cpus:
        raise UserError(f"--{what} needs at least one CPU")
    return sorted(set(cpus))
