"""The latency sweep's summary: each point decided against the target, the floor, and the
capacity at the target by the first crossing. Pure functions of the results document.

**A point** is an open-loop case and its windows (repeats). A window is left out of it
when the host disturbed it (``_interference``) or when its client could have made the
latency: when its client's lag at the target's own percentile reached a quarter of the
target (``LATE_SHARE``, 1% of its messages, left that late or later:
``rate.late_messages``), or when one of the client's own pauses (a recorder step, a
collection, its parent's interval work) lasted a quarter of the target. The lag is
judged at the percentile the target is on, not by its single longest stall: on a 2-core
VM a C loop alone on its CPU sees gaps of 6-8 ms in 8 s, which delay a few dozen
messages of a window, far fewer than the 1% a p99 is made of; a client whose p99 lag
is a quarter of the target could have made a quarter of the p99. A point with no window
left is **client-bound**, whatever its p99. Its p50, p99 and p99.9 come from the windows
kept, each with a 95% interval (``_quantiles``).

**Against the target** a point *meets* when its p99's interval lies at or under it,
*fails* when the interval lies above it or the rate was not met (overloaded), and is
*undecided* when the interval straddles it or there is none; the sweep measures
undecided points again, window by window, within a budget (``_sweep``).

**The floor** is the same client against the ``native`` server (a C epoll loop) at the
same rates: the latency the instrument and the host add by themselves. Every sweep has
it (``native``'s own sweep, measured even when not asked for). A point whose p99
interval overlaps the floor's at its rate, interpolated between the floor's rates, is
*at the floor*: the instrument cannot tell it from the fastest server there, and no
ranking puts one point at the floor above another. ``--slo-p99 auto`` sets the target at
``AUTO_FACTOR`` times the floor's p99 at half native's capacity, so the instrument and
host account for at most a quarter of it, the share the client-bound rule allows.

**Capacity at the target** (``slo_capacity``, rule ``first-crossing``) is the load up
to which every point met the target: ``range`` runs from the highest rate under which
every point surely met it to the lowest rate that surely failed it; points above the
first failure do not count, so one lucky window high up cannot win. The value inside
is interpolated linearly in p99 between the last point under the target and the first
over it (point estimates: the conservative choice on a curve that bends upward).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from echobench.benchmarks.runner import _interference
from echobench.benchmarks.runner._quantiles import point_intervals, windows_of

#: The share of the target the client may take: its lag and its own pauses.
CLIENT_SHARE = 0.25
#: The share of a window's messages that may leave that late: the p99 target's tail.
LATE_SHARE = 0.01
#: ``--slo-p99 auto``: the target is this many times the floor's p99 at half load.
AUTO_FACTOR = 4.0
#: The server that is the floor, and the fraction of its capacity ``auto`` reads.
FLOOR_BACKEND = "native"
AUTO_FRACTION = 0.5

MEETS, FAILS, UNDECIDED, CLIENT = "meets", "fails", "undecided", "client-bound"


def _slice(item: Mapping[str, Any]) -> tuple[str, int, int]:
    return (str(item["transport"]), int(item["size"]), int(item["connections"]))


def client_lag_us(open_loop: Mapping[str, Any]) -> float | None:
    """The send lag that more than ``LATE_SHARE`` of the window's messages reached: the
    largest ``late_messages`` threshold over that share (0 when none is), or null
    without the counts (an older file)."""
    late = open_loop.get("late_messages")
    messages = int(open_loop.get("messages") or 0)
    if not late or not messages:
        return None
    over = [float(t) for t, n in late.items() if n > LATE_SHARE * messages]
    return max(over, default=0.0)


def client_made(open_loop: Mapping[str, Any], target_us: float) -> bool:
    """Whether the client could have made a window's latency, at a target of ``target_us``."""
    limit = CLIENT_SHARE * target_us
    if float(open_loop.get("max_pause_us") or 0.0) > limit:
        return True
    lag = client_lag_us(open_loop)
    if lag is None:
        return float(open_loop.get("max_send_lag_us") or 0.0) > limit
    # The threshold at or under the limit (never looser than it; they are a square root
    # of 2 apart).
    return lag >= _threshold_under(open_loop, limit)


def _threshold_under(open_loop: Mapping[str, Any], limit: float) -> float:
    thresholds = sorted(float(t) for t in open_loop.get("late_messages") or ())
    under = [t for t in thresholds if t <= limit]
    return under[-1] if under else thresholds[0]


@dataclass(frozen=True)
class Point:
    """One sweep point as the summary judges it."""

    case: str
    rate: float
    windows: int
    p99_us: float | None
    p99_ci_us: list[float | None] | None
    overloaded: bool
    client_bound: bool
    decision: str | None

    def over(self, target_us: float) -> bool:
        """Over the target by its point estimate (or overloaded)."""
        return self.overloaded or (self.p99_us is not None and self.p99_us > target_us)


def point_stats(entry: Mapping[str, Any] | None, target_us: float | None) -> dict[str, Any] | None:
    """A point's figures: percentiles and their intervals over the windows kept, why
    windows were left out, and (with a target) its decision. None when not measured."""
    if entry is None or not entry.get("repeats"):
        return None
    repeats = _interference.counted(entry["repeats"])
    lags = [client_lag_us(r["open_loop"]) for r in repeats if r.get("open_loop")]
    opened = [r["open_loop"] for r in repeats if r.get("open_loop")]
    stats: dict[str, Any] = {
        "windows_measured": len(entry["repeats"]),
        "disturbed_windows": len(entry["repeats"]) - len(repeats),
        "client_lag_us": max((lag for lag in lags if lag is not None), default=None),
        "max_send_lag_us": max((float(o["max_send_lag_us"]) for o in opened), default=None),
        "max_pause_us": max((float(o.get("max_pause_us") or 0.0) for o in opened), default=None),
    }
    kept = list(repeats)
    if target_us is not None:
        kept = [
            r
            for r in repeats
            if not (r.get("open_loop") and client_made(r["open_loop"], target_us))
        ]
    stats["client_windows"] = len(repeats) - len(kept)
    stats["client_bound"] = not kept
    if not kept:  # judged on what there is, marked
        kept = list(repeats)
    intervals = point_intervals(windows_of(kept))
    opens = [r["open_loop"] for r in kept if r.get("open_loop")]
    missed = sum(1 for o in opens if not o["met"])
    stats.update(intervals)
    stats["overloaded"] = bool(opens) and 2 * missed >= len(opens)
    stats["achieved_share"] = (
        float(statistics.median(o["achieved"] / o["target"] for o in opens)) if opens else None
    )
    stats["decision"] = None if target_us is None else decide(stats, target_us)
    return stats


def decide(stats: Mapping[str, Any], target_us: float) -> str:
    if stats["client_bound"]:
        return CLIENT
    if stats["overloaded"]:
        return FAILS
    ci = stats.get("p99_ci_us")
    if not ci or ci[0] is None:
        return UNDECIDED
    if ci[0] > target_us:
        return FAILS
    if ci[1] is not None and ci[1] <= target_us:
        return MEETS
    return UNDECIDED


def as_point(point: Mapping[str, Any]) -> Point:
    stats = point.get("stats") or {}
    return Point(
        case=str(point["case"]),
        rate=float(point["rate"]),
        windows=int(stats.get("windows") or 0),
        p99_us=stats.get("p99_us"),
        p99_ci_us=stats.get("p99_ci_us"),
        overloaded=bool(stats.get("overloaded")),
        client_bound=bool(stats.get("client_bound")),
        decision=stats.get("decision"),
    )


def slo_capacity(points: Sequence[Point], target_us: float, capped: bool) -> dict[str, Any]:
    """The first-crossing capacity at ``target_us`` of a sweep's measured points (see the
    module's docstring); ``messages_per_second`` null with a ``reason`` when there is none."""
    result: dict[str, Any] = {
        "rule": "first-crossing",
        "p99_us": target_us,
        "messages_per_second": None,
        "range": [None, None],
        "interpolated": False,
        "at_least": False,
        "client_bound": False,
        "between": None,
        "undecided": [],
        "reason": None,
    }
    ordered = sorted(points, key=lambda p: p.rate)
    server = [p for p in ordered if not p.client_bound]
    if not server:
        result["reason"] = (
            "no point measured the server: the client could have made every point's latency"
            if ordered
            else "no point was measured"
        )
        result["client_bound"] = bool(ordered)
        return result
    low: Point | None = None
    high: Point | None = None
    doubt = False
    for p in server:
        if p.decision == FAILS:
            high = p
            break
        if p.decision == MEETS and not doubt:
            low = p
        elif p.decision != MEETS:
            doubt = True
    considered = [p for p in server if high is None or p.rate <= high.rate]
    result["range"] = [low.rate if low else None, high.rate if high else None]
    result["undecided"] = [p.case for p in considered if p.decision == UNDECIDED]
    first = considered[0]
    if first.over(target_us):
        result["reason"] = (
            f"p99 was over the target already at the lowest rate measured "
            f"({first.rate:,.0f} msg/s: p99 {first.p99_us or 0:,.0f} µs"
            + (", overloaded" if first.overloaded else "")
            + ")"
        )
        return result
    crossing = next((i for i, p in enumerate(considered) if p.over(target_us)), None)
    if crossing is None:
        best = considered[-1]
        result.update(
            messages_per_second=best.rate,
            at_least=True,
            between=[best.case, None],
            client_bound=capped or any(p.client_bound and p.rate > best.rate for p in ordered),
        )
        return result
    before, after = considered[crossing - 1], considered[crossing]
    estimate = before.rate
    if after.p99_us is not None and before.p99_us is not None and after.p99_us > target_us:
        share = (target_us - before.p99_us) / (after.p99_us - before.p99_us)
        estimate = before.rate + share * (after.rate - before.rate)
        result["interpolated"] = True
    if low is not None:
        estimate = max(estimate, low.rate)
    if high is not None:
        estimate = min(estimate, high.rate)
    blind = any(p.client_bound and before.rate < p.rate < after.rate for p in ordered)
    result.update(
        messages_per_second=estimate, between=[before.case, after.case], client_bound=blind
    )
    return result


# --- the floor ------------------------------------------------------------------------


def floor_sweeps(latency: Mapping[str, Any]) -> dict[tuple[str, int, int], Mapping[str, Any]]:
    """Each slice's floor: its ``native`` sweep."""
    return {_slice(s): s for s in latency.get("sweeps") or () if s["backend"] == FLOOR_BACKEND}


def floor_at(floor: Mapping[str, Any], rate: float) -> list[float | None] | None:
    """The floor's p99 interval at ``rate``: a floor point's own, or interpolated linearly
    in rate between the two around it; None outside the floor's rates or without one."""
    known = sorted(
        (float(p["rate"]), p["stats"]["p99_ci_us"])
        for p in floor.get("points") or ()
        if (p.get("stats") or {}).get("p99_ci_us")
    )
    for (r0, c0), (r1, c1) in pairwise(known):
        if r0 <= rate <= r1:
            share = 0.0 if r1 == r0 else (rate - r0) / (r1 - r0)
            return [_mix(c0[0], c1[0], share), _mix(c0[1], c1[1], share)]
    if known and rate == known[0][0]:
        return list(known[0][1])
    return None


def _mix(a: float | None, b: float | None, share: float) -> float | None:
    return None if a is None or b is None else a + share * (b - a)


def overlaps(a: Sequence[float | None], b: Sequence[float | None]) -> bool:
    """Whether two intervals [low, high] (high None: open upward) share a value."""
    a_low, a_high = a[0] or 0.0, a[1]
    b_low, b_high = b[0] or 0.0, b[1]
    return (b_high is None or a_low <= b_high) and (a_high is None or b_low <= a_high)


def auto_target(latency: Mapping[str, Any]) -> dict[str, Any] | None:
    """``--slo-p99 auto``: ``AUTO_FACTOR`` times the floor's p99 at the point nearest half
    native's capacity, in the first slice that has one; None until it is measured."""
    for floor in floor_sweeps(latency).values():
        measured = [
            p
            for p in floor.get("points") or ()
            if p.get("fraction") and (p.get("stats") or {}).get("p99_us")
        ]
        if not measured:
            continue
        half = min(measured, key=lambda p: abs(float(p["fraction"]) - AUTO_FRACTION))
        p99 = float(half["stats"]["p99_us"])
        return {
            "factor": AUTO_FACTOR,
            "floor_case": half["case"],
            "floor_fraction": half["fraction"],
            "floor_p99_us": p99,
            "floor_p99_ci_us": half["stats"].get("p99_ci_us"),
            "p99_us": round(AUTO_FACTOR * p99, 3),
        }
    return None


# --- the whole summary ----------------------------------------------------------------


def annotate(doc: dict[str, Any]) -> None:
    """Bring every sweep's points and summary up to date with the cases measured so far."""
    latency = doc.get("latency")
    if not latency:
        return
    entries = {entry["id"]: entry for entry in doc["cases"]}
    if latency.get("slo_auto_requested"):
        # The floor's half-load point first, without a target: it sets the target.
        for sweep in floor_sweeps(latency).values():
            for point in sweep.get("points") or ():
                point["stats"] = point_stats(entries.get(point["case"]), None)
        latency["slo_auto"] = auto_target(latency)
        auto = latency["slo_auto"]
        latency["slo_p99_us"] = auto["p99_us"] if auto else None
    target = latency.get("slo_p99_us")
    target_us = float(target) if target is not None else None
    for sweep in latency.get("sweeps") or ():
        for point in sweep.get("points") or ():
            point["stats"] = point_stats(entries.get(point["case"]), target_us)
    floors = floor_sweeps(latency)
    for sweep in latency.get("sweeps") or ():
        floor = floors.get(_slice(sweep))
        for point in sweep.get("points") or ():
            _mark_floor(point, sweep, floor)
        sweep["summary"] = _summary(sweep, target_us)


def _mark_floor(
    point: dict[str, Any], sweep: Mapping[str, Any], floor: Mapping[str, Any] | None
) -> None:
    stats = point.get("stats")
    if stats is None:
        return
    if sweep["backend"] == FLOOR_BACKEND:
        stats["floor_p99_ci_us"] = stats.get("p99_ci_us")
        stats["at_floor"] = True
        return
    at = floor_at(floor, float(point["rate"])) if floor is not None else None
    stats["floor_p99_ci_us"] = at
    ci = stats.get("p99_ci_us")
    stats["at_floor"] = None if at is None or not ci else overlaps(ci, at)


def _summary(sweep: Mapping[str, Any], target_us: float | None) -> dict[str, Any]:
    measured = [p for p in sweep.get("points") or () if p.get("stats")]
    stats = [p["stats"] for p in measured]
    capped = bool((sweep.get("base") or {}).get("capped"))
    return {
        "points": len(sweep.get("points") or ()),
        "measured": len(measured),
        "overloaded": sum(1 for s in stats if s["overloaded"]),
        "client_bound": sum(1 for s in stats if s["client_bound"]),
        "undecided": sum(1 for s in stats if s.get("decision") == UNDECIDED),
        "at_floor": sum(1 for s in stats if s.get("at_floor")),
        "slo_capacity": (
            slo_capacity([as_point(p) for p in measured], target_us, capped)
            if target_us is not None
            else {"rule": "first-crossing", "messages_per_second": None, "reason": "no target yet"}
        ),
    }


def undecided(latency: Mapping[str, Any]) -> list[str]:
    """The points another window could decide: undecided or client-bound ones, of every
    sweep that is ranked, at or under its first point that surely fails; then the floor's
    points without an interval, which every other point is compared with."""
    found: list[str] = []
    floors: list[str] = []
    for sweep in latency.get("sweeps") or ():
        if sweep.get("floor_only"):
            floors += [
                str(p["case"])
                for p in sweep.get("points") or ()
                if p.get("stats") and not p["stats"].get("p99_ci_us")
            ]
            continue
        ordered = sorted(
            (p for p in sweep.get("points") or () if p.get("stats")), key=lambda p: p["rate"]
        )
        for point in ordered:
            decision = point["stats"].get("decision")
            if decision == FAILS:
                break
            if decision in (UNDECIDED, CLIENT):
                found.append(str(point["case"]))
    return list(dict.fromkeys(found + floors))
