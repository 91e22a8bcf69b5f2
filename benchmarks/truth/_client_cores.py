"""How many client cores it takes to saturate each backend, derived from a published run.

One busy server core serves ``M`` messages per CPU-second (the run's
``messages_per_server_cpu_second``); the load client spends ``c`` CPU-seconds per
message (its ``cpu_us_per_message``). Keeping that core busy takes ``M * c`` client
cores; a server of ``P`` busy processes takes ``P`` times as many. Both figures come
from the same case, the one with the most connections for each message size (where
the client batches most and is busiest), as medians over its repeats.

The ``client-cores`` step of ``echobench publish`` rewrites the table between
the ``client-cores`` markers from the published run (``results/published/run.json``,
which the ``run`` step measures); it measures nothing itself.
"""

from __future__ import annotations

import statistics
from typing import Any

RUN = "run.json"
BEGIN, END = "<!-- client-cores:begin -->", "<!-- client-cores:end -->"


def cores_needed(case: dict[str, Any]) -> dict[str, float] | None:
    """``{"server_per_cpu_s", "client_us", "cores"}`` for a measured local case, else None."""
    summary = case.get("summary") or {}
    per_cpu_s = summary.get("messages_per_server_cpu_second")
    costs = [
        r["load"]["cpu_us_per_message"]
        for r in case.get("repeats") or ()
        if (r.get("load") or {}).get("cpu_us_per_message")
    ]
    if not per_cpu_s or not costs:
        return None
    client_us = statistics.median(costs)
    return {
        "server_per_cpu_s": float(per_cpu_s),
        "client_us": client_us,
        "cores": float(per_cpu_s) * client_us / 1e6,
    }


def _busiest(cases: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """For each message size, the closed-loop tcp case with the most connections."""
    chosen: dict[int, dict[str, Any]] = {}
    for case in cases:
        if case.get("transport") != "tcp" or case.get("rate") is not None or case.get("idle"):
            continue
        best = chosen.get(case["size"])
        if best is None or case["connections"] > best["connections"]:
            chosen[case["size"]] = case
    return chosen


def render(doc: dict[str, Any]) -> str:
    by_backend: dict[str, list[dict[str, Any]]] = {}
    for case in doc["cases"]:
        by_backend.setdefault(case["backend"], []).append(case)
    sizes = sorted({case["size"] for case in doc["cases"]})
    header = " | ".join(f"{size} B: cores (server msgs/CPU-s x client us/msg)" for size in sizes)
    lines = [
        f"From the published run ({doc['environment']['started_at'][:10]}, "
        f"{doc['environment']['cpu']['model']}), closed loop over tcp at the most connections "
        "measured; medians over repeats. Cores are client cores per busy server core.",
        "",
        f"| backend | {header} |",
        "| --- |" + " ---: |" * len(sizes),
    ]
    for backend in sorted(by_backend):
        busiest = _busiest(by_backend[backend])
        cells = []
        for size in sizes:
            case = busiest.get(size)
            need = cores_needed(case) if case is not None else None
            if case is None or need is None:
                cells.append("-")
                continue
            cells.append(
                f"**{need['cores']:.2f}** ({need['server_per_cpu_s'] / 1000:,.1f}k x "
                f"{need['client_us']:.2f}; {case['connections']} conn)"
            )
        lines.append(f"| {backend} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
