"""Multiple-comparison correction: adjusted p-values for a whole compare table.

A compare table makes one test per case and metric: a default run makes 144. At
p < 0.05 each, an A/A comparison (nothing changed) flags about seven of them, so
the p-values are adjusted over every test the table makes:

- ``bh`` (the default), Benjamini-Hochberg: controls the false discovery rate, the
  expected share of flagged changes that are not real, at ``alpha``. When nothing
  changed at all, it is also the chance of flagging anything. It keeps far more power
  than family-wise control when several cases did change, which is what an event-loop
  author comparing two builds wants. Valid for independent tests and for the positive
  dependence that cases measured on one machine share.
- ``holm``, Holm's step-down: controls the family-wise error rate, the chance of even
  one false flag, at ``alpha`` under any dependence; stricter, for a release gate.
- ``none``: the p-values as they are (one test, or a reader who corrects elsewhere).

An adjusted p is compared with ``alpha`` directly: a test survives when
``p_adjusted < alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence

METHODS = ("bh", "holm", "none")
NAMES = {
    "bh": "Benjamini-Hochberg (false discovery rate)",
    "holm": "Holm (family-wise error rate)",
    "none": "no correction",
}


def adjust(p_values: Sequence[float], method: str = "bh") -> list[float]:
    """Adjusted p-values, in the order given; each is at least its raw p and at most 1."""
    if method not in METHODS:
        raise ValueError(f"unknown correction {method!r} (choose from {', '.join(METHODS)})")
    m = len(p_values)
    if method == "none" or m == 0:
        return [min(1.0, p) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    if method == "holm":
        # Step-down: the k-th smallest is multiplied by (m - k); never below an earlier one.
        running = 0.0
        for k, i in enumerate(order):
            running = max(running, (m - k) * p_values[i])
            adjusted[i] = min(1.0, running)
    else:
        # Step-up: the k-th smallest (1-based) is multiplied by m / k; never above a later one.
        running = 1.0
        for k in range(m, 0, -1):
            i = order[k - 1]
            running = min(running, p_values[i] * m / k)
            adjusted[i] = min(1.0, running)
    return adjusted
