"""How evenly the measured window's echoes were shared among the active connections.

A server may keep its total throughput while serving some connections and
ignoring others (a thread-per-connection server under a GIL convoy, an event
loop that lets a few busy sockets starve the rest). The total hides that; the
per-connection counts show it. Jain's index is ``(sum x)^2 / (n * sum x^2)``:
1.0 when every connection completed the same number of echoes, ``k/n`` when
``k`` of ``n`` shared them equally and the rest got none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def fairness(counts: Sequence[int]) -> dict[str, Any] | None:
    """``jain``, ``min``, ``median``, ``max`` and ``starved`` of per-connection counts.

    ``None`` without connections; ``jain`` is ``None`` when nothing completed (an index
    of nothing is undefined, not perfectly fair).
    """
    if not len(counts):
        return None
    values = np.asarray(counts, dtype=np.float64)
    total = float(values.sum())
    squares = float(np.dot(values, values))
    return {
        "jain": round(total * total / (len(values) * squares), 6) if squares else None,
        "min": int(values.min()),
        "median": float(np.median(values)),
        "max": int(values.max()),
        "starved": int(np.count_nonzero(values == 0)),
    }


def starved_line(result: dict[str, Any]) -> str | None:
    """A warning when some connections completed nothing while others did."""
    measured = result.get("fairness")
    if not measured or not measured["starved"] or not result["messages"]:
        return None
    active = result["params"]["connections"]
    return (
        f"STARVED: {measured['starved']} of {active} connections completed no echo in the "
        f"window while the others completed {result['messages']:,} (Jain's index "
        f"{measured['jain']:.3f})"
    )
