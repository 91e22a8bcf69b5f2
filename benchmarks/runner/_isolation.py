"""Keeping the server and the load client off each other's CPUs, and using all of them.

The server gets as many CPUs as it has processes: one for a single-process backend, N
for one that forks N workers (``Backend.processes``), half the machine for one that
forks a worker per CPU it is given. The load client (with the runner, whose sampling
is light) gets every other CPU and runs one worker pinned to each, so neither side
steals the other's cycles and the client has every core left to keep up. The client
always keeps at least one CPU; on a single CPU they share it, and the results file
says so. On two CPUs this is one each, as it always was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from echobench.servers._errors import UserError


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
    server_processes: int | None = 1,
) -> Placement:
    """Disjoint server and client CPU sets drawn from ``cpus`` (or the ones asked for).

    ``server_processes`` is how many processes the server runs (``None``: one per CPU
    it is given); the server gets that many of the first CPUs, the client the rest.
    """
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
    if server_processes is None:
        count = len(available) // 2
    else:
        count = max(1, min(server_processes, len(available) - 1))
        if server_processes > count:
            warnings.append(
                f"the server's {server_processes} processes share {count} CPU(s), leaving the "
                "load client one"
            )
    return Placement(tuple(available[:count]), tuple(available[count:]), tuple(warnings))


def plan_run(
    cpus: Sequence[int],
    *,
    server_cpus: Sequence[int] | None = None,
    client_cpus: Sequence[int] | None = None,
    processes: Mapping[str, int | None],
) -> tuple[Placement, dict[str, Placement]]:
    """A run's placement for a one-process server, and each backend's that differs from it
    (``processes``: backend name to its process count). CPUs asked for apply to every
    backend alike."""
    default = plan(cpus, server_cpus=server_cpus, client_cpus=client_cpus)
    if server_cpus is not None or client_cpus is not None:
        return default, {}
    per_backend = {}
    for name, count in processes.items():
        placement = plan(cpus, server_processes=count)
        if placement.as_dict() != default.as_dict():
            per_backend[name] = placement
        else:
            default = Placement(
                default.server_cpus,
                default.client_cpus,
                tuple(dict.fromkeys((*default.warnings, *placement.warnings))),
            )
    return default, per_backend


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
