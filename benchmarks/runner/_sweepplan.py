"""The latency sweep's plan: pure functions of the results document.

Per backend and slice (transport, size, connections) the sweep starts from a
closed-loop probe, repeated until its capacity C, the median of its per-second
throughputs over its repeats, is known within ``PROBE_CI`` (the distribution-free 95%
interval of that median, from its order statistics, within 5% of it either side) or it
has had ``PROBE_MAX_REPEATS`` repeats. The open-loop points offer fractions of a base
rate: C, or, where the probe's load client was saturated (C is then the client's, the
server has more), the highest rate the open-loop client held when offered the top
fraction of C: the sweep is capped at what the client can hold, and says so. Every
backend of a slice also runs at common absolute rates (``--rate``, or fractions of the
slowest backend's base taken at the low end of its probe's interval, so that no second
the probe happened to see sets them).

What the sweep makes of the points, the floor and the capacity at a latency target,
is ``_sweepsummary``'s.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from echobench.benchmarks.runner import _interference
from echobench.benchmarks.runner._autorepeat import median_interval
from echobench.benchmarks.runner._matrix import Case

#: Common absolute rates, as fractions of the slowest backend's base rate.
COMMON_FRACTIONS = (0.25, 0.5, 0.9)
#: A probe is repeated until its median's interval is within this share of it either
#: side, or it has had this many repeats.
PROBE_CI = 0.05
PROBE_MAX_REPEATS = 5
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
    """The probe's capacity C and its interval, or None when the probe measured nothing."""
    if entry is None or not entry["repeats"]:
        return None
    values: list[float] = []
    grains = []
    repeats = _interference.counted(entry["repeats"])
    for repeat in repeats:
        samples, grain = _samples(repeat)
        values += samples
        grains.append(grain)
    summary = entry.get("summary") or {}
    median = float(statistics.median(values))
    interval = median_interval(values)
    within = interval is not None and max(median - interval[0], interval[1] - median) <= (
        PROBE_CI * median
    )
    return {
        "case": entry["id"],
        "messages_per_second": median,
        "ci": [float(interval[0]), float(interval[1])] if interval is not None else None,
        "within_target": within,
        "repeats": len(repeats),
        "samples": len(values),
        "sample": grains[0] if len(set(grains)) == 1 else "mixed",
        "verdict": summary.get("verdict"),
        "client_bound": bool(summary.get("client_bound")),
    }


def probe_again(cap: dict[str, Any] | None, failed: bool) -> bool:
    """Whether a probe gets another repeat: its interval is not yet within ``PROBE_CI``."""
    if cap is None or failed:
        return False
    return not cap["within_target"] and cap["repeats"] < PROBE_MAX_REPEATS


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
    # The low end of the probe's interval, as a share of its median (the whole rate when
    # the probe gave no interval): what the common rates are taken from.
    ci = cap.get("ci")
    low_share = float(ci[0]) / capacity_rate if ci and capacity_rate > 0 else 1.0
    if (
        hold is None
        or not hold.get("repeats")
        or not (hold.get("summary") or {}).get("client_bound")
    ):
        return {
            "messages_per_second": capacity_rate,
            "low": capacity_rate * low_share,
            "capped": False,
            "client_ceiling": None,
        }
    ceiling = float(hold["summary"]["messages_per_second"]["median"])
    base = min(capacity_rate, ceiling / max(fractions))
    return {
        "messages_per_second": base,
        "low": base * low_share,
        "capped": True,
        "client_ceiling": ceiling,
    }


def common_rates(
    bases: dict[str, float],
    explicit: Sequence[float],
    fractions: Sequence[float],
    lows: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The slice's common absolute rates: ``explicit`` (``--rate``) when given, else
    ``fractions`` of the slowest backend's base rate, at the low end of its probe's
    interval (``lows``) when there is one."""
    if explicit:
        return {"rates": sorted(explicit), "from_backend": None, "from_rate": None}
    if not bases:
        return {"rates": [], "from_backend": None, "from_rate": None}
    slowest = min(bases, key=lambda name: (bases[name], name))
    rate = (lows or {}).get(slowest, bases[slowest])
    rates = sorted({round_rate(f * rate) for f in fractions})
    return {"rates": rates, "from_backend": slowest, "from_rate": rate}


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
