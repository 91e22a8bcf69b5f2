"""Stalls that recur at one phase of a fixed cycle: periodic work of the host's.

A vCPU the hypervisor stops between two scheduler ticks leaves no mark in the guest's
trace (``_schedtrace`` sees a stop only by a tick it delays). Some such stops still
give themselves away by when they come: on this VM, with both vCPUs busy, stops of
about 1.9 ms came at one phase of a 100 ms cycle, in the client's lags and in the bare
C loop's gaps alike, across runs minutes apart (a host's 10 Hz work, or its CPU
bandwidth period, which defaults to 100 ms), while the guest's own periodic work runs
on its own clocks: the client's 100 ms marks start afresh with each run's window, and
the loop has none. ``recurring`` finds the one window of phase that holds the most
stalls, and the chance that stalls at random times would fill some window as full.
May import only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: The cycle looked for, and how wide a window of its phase counts as one phase.
CYCLE_NS = 100_000_000
WINDOW_NS = 1_000_000
#: Below this chance that stalls at random times would fill some window as full, the
#: ones in the window count as recurring.
CHANCE = 0.001
#: Fewer stalls than this in the window never count: a coincidence of two is cheap.
LEAST = 3


def _tail(n: int, k: int, p: float) -> float:
    """P(Binomial(n, p) >= k)."""
    if k <= 0:
        return 1.0
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def recurring(
    starts_ns: Sequence[int], cycle_ns: int = CYCLE_NS, window_ns: int = WINDOW_NS
) -> dict[str, Any]:
    """The phase window (``window_ns`` wide, of a ``cycle_ns`` cycle) that holds the most
    of the stalls that began at ``starts_ns``: how many it holds, where it starts (ms
    into the cycle), which stalls (by index), and ``chance``, a bound on the chance that
    as many stalls at uniformly random times would fall into some one window (the scan
    over each stall's window as a start, by the union bound). ``recurs`` when that
    chance is under ``CHANCE`` with at least ``LEAST`` stalls in it."""
    n = len(starts_ns)
    if n == 0:
        return {"stalls": 0, "in_window": 0, "phase_ms": None, "chance": 1.0, "recurs": False}
    phases = sorted((s % cycle_ns, i) for i, s in enumerate(starts_ns))
    # The cycle wraps: each phase again one cycle on, so a window may straddle the end.
    ext = phases + [(p + cycle_ns, i) for p, i in phases]
    best, first, j = 0, 0, 0
    for i in range(n):
        j = max(j, i)
        while j < i + n and ext[j][0] - ext[i][0] <= window_ns:
            j += 1
        if j - i > best:
            best, first = j - i, i
    members = sorted(ext[k][1] for k in range(first, first + best))
    chance = min(1.0, n * _tail(n - 1, best - 1, window_ns / cycle_ns))
    return {
        "stalls": n,
        "in_window": best,
        "phase_ms": round(phases[first][0] / 1e6, 2),
        "phase_ns": phases[first][0],
        "members": members,
        "chance": chance,
        "recurs": best >= LEAST and chance < CHANCE,
    }


def within(
    start_ns: int, phase_ns: int, cycle_ns: int = CYCLE_NS, window_ns: int = WINDOW_NS
) -> bool:
    """Whether a stall that began at ``start_ns`` falls in the window from ``phase_ns``."""
    return (start_ns - phase_ns) % cycle_ns <= window_ns
