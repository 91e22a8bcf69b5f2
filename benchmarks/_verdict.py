"""Which side limited a measurement: the server, the load client, or neither.

A case is only a measurement of the server when the server was the bottleneck.
When the load client's CPU was saturated and the server's was not, the numbers
describe the client; the runner says so in the table and the results file.
"""

from __future__ import annotations

#: Utilization (CPU-seconds per second over the cores a side can use) that counts
#: as saturated; scheduling and measurement noise keep a busy process a little below 1.
SATURATED = 0.9

VERDICTS = ("server", "client", "neither")


def capacity(pinned_cpus: int, processes: int) -> int:
    """Cores a side can keep busy: its pinned CPUs, and no more than one per process.

    Python processes are held to about one core each by the GIL, and so are the
    single-threaded native servers; a server that forks workers gets one per worker.
    """
    return max(1, min(pinned_cpus, max(1, processes)))


def utilization(cpu_seconds: float, wall_seconds: float, cores: int) -> float:
    if wall_seconds <= 0 or cores <= 0:
        return 0.0
    return cpu_seconds / wall_seconds / cores


def verdict(
    server_utilization: float | None,
    client_utilization: float | None,
    *,
    threshold: float = SATURATED,
) -> str:
    """``server`` if the server was saturated, ``client`` if only the client was, else
    ``neither``. A side whose figure is unknown (``None``: a remote server) never counts
    as saturated, so a remote case can only be judged client-bound or neither."""
    if server_utilization is not None and server_utilization >= threshold:
        return "server"
    if client_utilization is not None and client_utilization >= threshold:
        return "client"
    return "neither"


def overall(verdicts: list[str]) -> str:
    """The most common verdict of the repeats; ties go server, then client, then neither."""
    if not verdicts:
        return "neither"
    return max(VERDICTS, key=lambda v: (verdicts.count(v), -VERDICTS.index(v)))
