"""``echobench run --repeat auto``: add repeats until each case's median is pinned down.

pyperf calibrates how many values a benchmark needs; this is that idea for network
cases, where one repeat costs seconds. After every round of repeats (each round
walks the cases still going in a fresh shuffled order, so drift still hits every
backend alike), each case is judged on the repeats it has: it stops once the 95%
confidence interval of its median lies within ``target`` (2% by default) of the
median, or when it reaches ``maximum`` repeats, or when a repeat fails.

The interval is the distribution-free one for a median, from order statistics:
with n repeats, [x_(j), x_(n+1-j)] covers the true median with probability
1 - 2 P(Binomial(n, 1/2) < j), whatever the distribution (repeats of a network
case are skewed and sometimes bimodal, so no normal-theory interval). That needs
``MINIMUM`` = 6 repeats before any 95% interval exists (1 - 2/2^6 = 96.9%; with
5 the best is 93.8%), which is why auto never stops before 6.

The metric judged is the one the case is about: msgs/s for a closed loop; for an
open loop the rate is fixed by the client, so its p99 latency.

:func:`decide` is pure (repeats in, decision out) so that the rule is tested
without servers; the runner (``echobench.benchmarks.runner._runner``) applies it between rounds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MINIMUM = 6
MAXIMUM = 12
TARGET = 0.02
CONFIDENCE = 0.95

#: Why a case stopped (``stop`` in its ``auto_repeat`` record).
TARGET_MET = "target"
CAP = "cap"
FAILED = "failed"


@dataclass(frozen=True)
class Decision:
    more: bool
    #: ``None`` while going on, else TARGET_MET, CAP or FAILED.
    stop: str | None
    #: Half-width of the median's interval relative to the median (``None``: no interval).
    relative_ci: float | None
    detail: str

    def record(self, metric: str, repeats: int, target: float) -> dict[str, Any]:
        """What the results file keeps about why the case stopped."""
        return {
            "stop": self.stop,
            "metric": metric,
            "repeats": repeats,
            "relative_ci": self.relative_ci,
            "target": target,
            "detail": self.detail,
        }


def median_interval(
    values: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The distribution-free interval of the median at ``confidence`` or above, or ``None``
    when these few values cannot give one."""
    n = len(values)
    ordered = sorted(values)
    best = None
    cumulative = 0.0
    for j in range(1, n // 2 + 1):
        cumulative += math.comb(n, j - 1) / 2**n  # P(Binomial(n, 1/2) <= j - 1)
        if 2 * cumulative > 1.0 - confidence:
            break
        best = j
    if best is None:
        return None
    return ordered[best - 1], ordered[n - best]


def relative_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> float | None:
    """The larger distance from the median to an end of its interval, over the median."""
    interval = median_interval(values, confidence)
    median = statistics.median(values) if values else 0.0
    if interval is None or median <= 0:
        return None
    low, high = interval
    return max(median - low, high - median) / median


def decide(
    values: Sequence[float],
    *,
    attempts: int,
    failed: bool = False,
    minimum: int = MINIMUM,
    maximum: int = MAXIMUM,
    target: float = TARGET,
) -> Decision:
    """Whether a case that has had ``attempts`` repeats (``values`` measured) needs more."""
    width = relative_ci(values) if values else None
    if failed:
        return Decision(False, FAILED, width, "a repeat failed; more would not help")
    reached = width is not None and width <= target
    if attempts >= minimum and reached:
        assert width is not None
        return Decision(
            False,
            TARGET_MET,
            width,
            f"median known to +-{width * 100:.2g}% (95% CI) after {attempts} repeats",
        )
    if attempts >= maximum:
        shown = "no 95% CI" if width is None else f"95% CI +-{width * 100:.2g}%"
        return Decision(
            False,
            CAP,
            width,
            f"reached --max-repeat {maximum} with {shown}, target +-{target * 100:g}%",
        )
    return Decision(True, None, width, "going on")


def summary(records: Sequence[dict[str, Any] | None]) -> str:
    """One line: how many cases stopped for which reason, and with how many repeats."""
    stopped = [r for r in records if r]
    if not stopped:
        return "auto repeats: no case finished"
    parts = []
    reasons = ((TARGET_MET, "met the target"), (CAP, "reached the cap"), (FAILED, "failed"))
    for stop, words in reasons:
        counts = [int(r["repeats"]) for r in stopped if r["stop"] == stop]
        if counts:
            parts.append(
                f"{len(counts)} {words} ({min(counts)}-{max(counts)} repeats)"
                if min(counts) != max(counts)
                else f"{len(counts)} {words} ({counts[0]} repeats)"
            )
    going = len(records) - len(stopped)
    if going:
        parts.append(f"{going} not finished")
    return "auto repeats: " + ", ".join(parts)
