"""Which side limited a measurement: the server, the load client, both, or neither.

A case is only a measurement of the server when the server alone was the
bottleneck. When the load client's CPU was saturated the numbers describe the
client, entirely (``client``: the server had room to spare) or in part (``both``:
the server was saturated too, so its msgs/s is only a lower bound: a faster
client might have got more out of it). The runner says so in the table and the
results file.
"""

from __future__ import annotations

#: Utilization (CPU-seconds per second over the cores a side can use) that counts
#: as saturated; scheduling and measurement noise keep a busy process a little below 1.
SATURATED = 0.9

VERDICTS = ("server", "client", "both", "neither")

#: Verdicts whose msgs/s is limited by the load client: ``summary.client_bound``.
CLIENT_LIMITED = frozenset({"client", "both"})

# Ties between repeats go to the verdict that claims least about the server: a
# saturated client first, since then the number cannot be read as the server's.
_TIE_ORDER = ("both", "client", "server", "neither")


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
    """``both`` if server and client were saturated, ``server`` or ``client`` if only that
    side was, else ``neither``. A side whose figure is unknown (``None``: a remote server)
    never counts as saturated, so a remote case can only be judged client or neither."""
    server = server_utilization is not None and server_utilization >= threshold
    client = client_utilization is not None and client_utilization >= threshold
    if server and client:
        return "both"
    if server:
        return "server"
    return "client" if client else "neither"


def client_limited(verdict: str | None) -> bool:
    """Whether a case's msgs/s is (also) the load client's ceiling rather than the server's."""
    return verdict in CLIENT_LIMITED


def overall(verdicts: list[str]) -> str:
    """The most common verdict of the repeats; ties go both, client, server, neither."""
    if not verdicts:
        return "neither"
    known = [v for v in _TIE_ORDER if v in verdicts] or ["neither"]
    return max(known, key=lambda v: (verdicts.count(v), -_TIE_ORDER.index(v)))
