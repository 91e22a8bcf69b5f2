"""Which side limited a measurement: the server, the load client, both, the network, or
neither.

A case is only a measurement of the server when the server alone was the
bottleneck. When the load client's CPU was saturated the numbers describe the
client, entirely (``client``: the server had room to spare) or in part (``both``:
the server was saturated too, so its msgs/s is only a lower bound: a faster
client might have got more out of it). With no CPU saturated, a cluster's client link
that held packets back (``load --cluster``'s ``network_limited``) makes it ``network``:
the number is the link's. The runner says so in the table and the results file.

An open loop is judged differently on the client's side. Its client polls its
send schedule and keeps its core busy at any rate, so its CPU says nothing;
what says whether it kept up is how far its sends fell behind the schedule
(the load's ``max_send_lag_us``, see :func:`behind_schedule`). A client that
fell behind makes the case client-bound, whatever the server did.
"""

from __future__ import annotations

from typing import Any

#: Utilization (CPU-seconds per second over the cores a side can use) that counts
#: as saturated; scheduling and measurement noise keep a busy process a little below 1.
SATURATED = 0.9

VERDICTS = ("server", "client", "both", "network", "neither")

#: Verdicts whose msgs/s is limited by the load client: ``summary.client_bound``.
CLIENT_LIMITED = frozenset({"client", "both"})

# Ties between repeats go to the verdict that claims least about the server: a
# saturated client first, since then the number cannot be read as the server's.
_TIE_ORDER = ("both", "client", "network", "server", "neither")


#: Largest send lag, as a share of the measured window, that an open-loop client may
#: show and still count as having kept its schedule (see :func:`behind_schedule`).
LAG_WINDOW_SHARE = 0.01
#: Share of the reported p99 that the largest send lag must reach before the p99 could
#: be the client's rather than the server's (see :func:`behind_schedule`).
LAG_P99_SHARE = 0.5


def lag_limit_us(window_s: float, p99_us: float | None = None) -> float:
    """The send lag [µs] beyond which an open-loop client fell behind its schedule."""
    limit = LAG_WINDOW_SHARE * window_s * 1e6
    if p99_us is not None:
        limit = max(limit, LAG_P99_SHARE * p99_us)
    return limit


def behind_schedule(max_send_lag_us: float, window_s: float, p99_us: float | None = None) -> bool:
    """Whether an open-loop client fell behind its send schedule in a window.

    Open-loop latency counts from each message's scheduled send time, so a send
    that left L late carries L of the client's own delay, and the question is
    whether the client's delays could be what the reported latency shows. Two
    conditions, both needed:

    - L over 1% of the window. A stall of L delays the messages due during it,
      L / window of them; from 1% of the window one stall could by itself have set
      the p99 (the figure the latency target and the equal-load chart use), and a
      client that cannot hold its rate falls behind by a share of the window that
      grows with its shortfall, so it crosses this line. A shorter stall (the
      kernel running something else for a few ms) cannot have set the p99 alone.
    - L at least half the reported p99. A delay of L adds at most L to any message,
      so when the p99 is far above it (a server whose queue grew while the client
      kept to its schedule), at least half of the p99 is the server's whatever
      the client did; the client cannot have made it.

    A client that could not hold the rate at all meets both: its lag grows with
    the window, and so does every latency it measures.
    """
    return max_send_lag_us > lag_limit_us(window_s, p99_us)


def open_loop_verdict(
    server_utilization: float | None, behind: bool, network_limited: bool = False
) -> str:
    """:func:`verdict` for an open loop: the client side is the send lag, not CPU."""
    return verdict(server_utilization, 1.0 if behind else 0.0, network_limited=network_limited)


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
    network_limited: bool = False,
) -> str:
    """``both`` if server and client were saturated, ``server`` or ``client`` if only that
    side was, else ``network`` when a client link held packets back, else ``neither``. A
    side whose figure is unknown (``None``: a remote server) never counts as saturated,
    so a remote case can only be judged client, network or neither."""
    server = server_utilization is not None and server_utilization >= threshold
    client = client_utilization is not None and client_utilization >= threshold
    if server and client:
        return "both"
    if server:
        return "server"
    if client:
        return "client"
    return "network" if network_limited else "neither"


def client_limited(verdict: str | None) -> bool:
    """Whether a case's msgs/s is (also) the load client's ceiling rather than the server's."""
    return verdict in CLIENT_LIMITED


def overall(verdicts: list[str]) -> str:
    """The most common verdict of the repeats; ties go both, client, network, server,
    neither."""
    if not verdicts:
        return "neither"
    known = [v for v in _TIE_ORDER if v in verdicts] or ["neither"]
    return max(known, key=lambda v: (verdicts.count(v), -_TIE_ORDER.index(v)))


def let_idle(entry: dict[str, Any]) -> bool:
    """Whether a results file's case ran on a local server whose CPUs were let idle (not
    kept awake: ``placement.awake_cpus`` empty or, in files before it, absent)."""
    placements = [r.get("placement") or {} for r in entry.get("repeats") or ()]
    if not placements or any(p.get("server_cpus") is None for p in placements):
        return False  # a server elsewhere: its CPUs are not this run's to judge
    return not any(p.get("awake_cpus") for p in placements)


def wakeup_bound_case(entry: dict[str, Any]) -> bool:
    """:func:`wakeup_bound` of a results file's case."""
    verdict = (entry.get("summary") or {}).get("verdict")
    return wakeup_bound(verdict, entry.get("mode") or "closed", not let_idle(entry))


def wakeup_bound(verdict: str | None, mode: str | None, kept_awake: bool) -> bool:
    """A closed-loop case neither side saturated, whose server CPUs were let idle between
    messages: each round trip then waits for a halted CPU to wake, and in a VM that wake-up
    is most of it (at one connection on a 2-core VM, 40% of ``native``'s round trip: 12.8k
    msgs/s idle against 21.5k kept awake). ``echobench run --awake`` keeps them awake."""
    return verdict == "neither" and mode == "closed" and not kept_awake
