"""The latency sweep's plan and summary: pure functions of the results document.

Per backend and slice (transport, size, connections) the sweep starts from a
closed-loop probe whose capacity C is the median of its per-second throughputs.
The open-loop points offer fractions of a base rate: C, or, where the probe's
load client was saturated (C is then the client's, the server has more), the
highest rate the open-loop client held when offered the top fraction of C: the
sweep is capped at what the client can hold, and says so. Every backend of a
slice also runs at common absolute rates (``--rate``, or fractions of the slowest
backend's base), so that latency is compared at equal load.

Capacity at a latency target (``slo_capacity``) is the highest offered rate whose
p99 stayed under the target with the rate met, interpolated toward the next
higher point (linearly in p99: the conservative choice on a curve that bends
upward). Points whose client fell behind are not the server's and never count.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from echobench.benchmarks.runner._matrix import Case

#: Common absolute rates, as fractions of the slowest backend's base rate.
COMMON_FRACTIONS = (0.25, 0.5, 0.9)
#: Offered rates are rounded to this many significant figures, so that they read well
#: and a common rate and the slowest backend's point at the same fraction are one case.
RATE_FIGURES = 3

SliceKey = tuple[str, int, int]


def round_rate(rate: float) -> float:
    """``rate`` to ``RATE_FIGURES`` significant figures, never below 1 msg/s."""
    if rate < 1:
        return 1.0
    digits = RATE_FIGURES - 1 - math.floor(math.log10(rate))
    return float(round(rate, digits))


def slice_of(item: Case | dict[str, Any]) -> SliceKey:
    if isinstance(item, Case):
        return (item.transport, item.size, item.connections)
    return (str(item["transport"]), int(item["size"]), int(item["connections"]))


def _entries(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in doc["cases"]}


def _samples(repeat: dict[str, Any]) -> tuple[list[float], str]:
    """Throughput samples [msg/s] of one probe repeat: its whole seconds when it has two
    or more, else its 100 ms series, else the repeat's own rate."""
    load = repeat.get("load") or {}
    seconds = [float(v) for v in load.get("per_second") or ()]
    if len(seconds) >= 2:
        return seconds, "second"
    series = load.get("series") or {}
    interval = float(series.get("interval_s") or 0.0)
    counts = series.get("counts") or []
    if interval > 0 and len(counts) >= 2:
        return [float(c) / interval for c in counts], f"{interval * 1000:g} ms"
    return [float(repeat["messages_per_second"])], "window"


def capacity(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """The probe's capacity C, or None when the probe measured nothing."""
    if entry is None or not entry["repeats"]:
        return None
    values: list[float] = []
    grains = []
    for repeat in entry["repeats"]:
        samples, grain = _samples(repeat)
        values += samples
        grains.append(grain)
    summary = entry.get("summary") or {}
    return {
        "case": entry["id"],
        "messages_per_second": float(statistics.median(values)),
        "samples": len(values),
        "sample": grains[0] if len(set(grains)) == 1 else "mixed",
        "verdict": summary.get("verdict"),
        "client_bound": bool(summary.get("client_bound")),
    }


def hold_check_case(probe: Case, cap: dict[str, Any], fractions: Sequence[float]) -> Case | None:
    """The open-loop case that checks whether the client holds the sweep's top rate; only
    where the probe's client was saturated (otherwise the server set C)."""
    if not cap["client_bound"]:
        return None
    rate = round_rate(max(fractions) * cap["messages_per_second"])
    return Case(probe.backend, probe.family, probe.transport, probe.size, probe.connections, rate)


def base_rate(
    cap: dict[str, Any], hold: dict[str, Any] | None, fractions: Sequence[float]
) -> dict[str, Any]:
    """The rate the fractions apply to: C, or the open-loop client's ceiling when the hold
    check found the client behind its schedule (the top point then offers that ceiling)."""
    capacity_rate = float(cap["messages_per_second"])
    if (
        hold is None
        or not hold.get("repeats")
        or not (hold.get("summary") or {}).get("client_bound")
    ):
        return {"messages_per_second": capacity_rate, "capped": False, "client_ceiling": None}
    ceiling = float(hold["summary"]["messages_per_second"]["median"])
    return {
        "messages_per_second": min(capacity_rate, ceiling / max(fractions)),
        "capped": True,
        "client_ceiling": ceiling,
    }


def common_rates(
    bases: dict[str, float], explicit: Sequence[float], fractions: Sequence[float]
) -> dict[str, Any]:
    """The slice's common absolute rates: ``explicit`` (``--rate``) when given, else
    ``fractions`` of the slowest backend's base rate."""
    if explicit:
        return {"rates": sorted(explicit), "from_backend": None, "from_rate": None}
    if not bases:
        return {"rates": [], "from_backend": None, "from_rate": None}
    slowest = min(bases, key=lambda name: (bases[name], name))
    rates = sorted({round_rate(f * bases[slowest]) for f in fractions})
    return {"rates": rates, "from_backend": slowest, "from_rate": bases[slowest]}


def sweep_points(
    probe: Case,
    base: dict[str, Any],
    fractions: Sequence[float],
    common: Iterable[float],
    hold: Case | None,
) -> list[dict[str, Any]]:
    """The sweep's open-loop points, by offered rate; one per distinct rate."""
    rate = float(base["messages_per_second"])
    points: dict[float, dict[str, Any]] = {}
    for fraction in fractions:
        offered = round_rate(fraction * rate)
        points.setdefault(offered, _point(probe, offered, rate))["fraction"] = fraction
    for offered in common:
        points.setdefault(offered, _point(probe, offered, rate))["common"] = True
    if hold is not None and hold.rate is not None:
        points.setdefault(hold.rate, _point(probe, hold.rate, rate))["hold_check"] = True
    return [points[r] for r in sorted(points)]


def _point(probe: Case, rate: float, base: float) -> dict[str, Any]:
    case = Case(probe.backend, probe.family, probe.transport, probe.size, probe.connections, rate)
    return {
        "case": case.id,
        "rate": rate,
        "fraction": None,
        "share_of_base": rate / base if base > 0 else None,
        "common": False,
        "hold_check": False,
    }


def point_case(probe: Case, point: dict[str, Any]) -> Case:
    return Case(
        probe.backend, probe.family, probe.transport, probe.size, probe.connections, point["rate"]
    )


# --- the summary --------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One measured point of a sweep, as ``slo_capacity`` reads it."""

    case: str
    rate: float
    p99_us: float
    overloaded: bool
    client_bound: bool


def measured_points(sweep: dict[str, Any], entries: dict[str, dict[str, Any]]) -> list[Measured]:
    found = []
    for point in sweep.get("points") or ():
        entry = entries.get(point["case"])
        summary = (entry or {}).get("summary") or {}
        p99 = (summary.get("p99_us") or {}).get("median")
        if entry is None or not entry["repeats"] or p99 is None:
            continue
        found.append(
            Measured(
                case=point["case"],
                rate=float(point["rate"]),
                p99_us=float(p99),
                overloaded=bool(summary.get("overloaded")),
                client_bound=bool(summary.get("client_bound")),
            )
        )
    return sorted(found, key=lambda m: m.rate)


def slo_capacity(points: Sequence[Measured], target_us: float, capped: bool) -> dict[str, Any]:
    """The highest offered rate at which p99 stayed under ``target_us`` (see the module's
    docstring); ``messages_per_second`` is null with a ``reason`` when none did."""
    result: dict[str, Any] = {
        "p99_us": target_us,
        "messages_per_second": None,
        "interpolated": False,
        "at_least": False,
        "client_bound": False,
        "between": None,
        "reason": None,
    }
    server = [p for p in points if not p.client_bound]
    if not server:
        result["reason"] = (
            "no point measured the server: every point's client fell behind"
            if points
            else "no point was measured"
        )
        result["client_bound"] = bool(points)
        return result
    good = [p for p in server if p.p99_us <= target_us and not p.overloaded]
    if not good:
        lowest = server[0]
        result["reason"] = (
            f"p99 was over the target already at the lowest rate measured "
            f"({lowest.rate:,.0f} msg/s: p99 {lowest.p99_us:,.0f} µs"
            + (", overloaded" if lowest.overloaded else "")
            + ")"
        )
        return result
    best = max(good, key=lambda p: p.rate)
    above = [p for p in server if p.rate > best.rate]
    # Points above it that the client could not hold: the sweep cannot see past them.
    client_above = any(p.client_bound and p.rate > best.rate for p in points)
    if not above:
        result.update(
            messages_per_second=best.rate,
            at_least=True,
            client_bound=capped or client_above,
            between=[best.case, None],
        )
        return result
    nxt = above[0]
    estimate = best.rate
    if nxt.p99_us > target_us > best.p99_us:
        share = (target_us - best.p99_us) / (nxt.p99_us - best.p99_us)
        estimate = best.rate + share * (nxt.rate - best.rate)
        result["interpolated"] = True
    # Points the client could not hold between the two: the estimate runs over them blind.
    blind = any(p.client_bound and best.rate < p.rate < nxt.rate for p in points)
    result.update(messages_per_second=estimate, between=[best.case, nxt.case], client_bound=blind)
    return result


def summarize_sweep(
    sweep: dict[str, Any], entries: dict[str, dict[str, Any]], target_us: float
) -> dict[str, Any]:
    measured = measured_points(sweep, entries)
    capped = bool((sweep.get("base") or {}).get("capped"))
    return {
        "points": len(sweep.get("points") or ()),
        "measured": len(measured),
        "overloaded": sum(1 for m in measured if m.overloaded),
        "client_bound": sum(1 for m in measured if m.client_bound),
        "slo_capacity": slo_capacity(measured, target_us, capped),
    }


def annotate(doc: dict[str, Any]) -> None:
    """Bring every sweep's summary up to date with the cases measured so far."""
    latency = doc.get("latency")
    if not latency:
        return
    entries = _entries(doc)
    target = float(latency["slo_p99_us"])
    for sweep in latency["sweeps"]:
        sweep["summary"] = summarize_sweep(sweep, entries, target)
