"""A small synthetic scale run document (schema v2) for the scale charts and README tests."""

from __future__ import annotations

from typing import Any

COUNTS = (1, 100, 10000)
#: (backend, family, msgs/s at each count, bytes per connection, starved at 10,000)
BACKENDS = (
    ("asyncio-protocol", "asyncio", (5000, 25000, 26000), 1700, 0),
    ("uvloop-protocol", "uvloop", (7000, 60000, 90000), 500, 0),
    ("threads", "baseline", (4000, 13000, 1500), 20600, 8500),
)


def _case(backend: str, family: str, count: int, idle: int, mps: float, extra: dict) -> dict:
    ident = f"{backend}/tcp/64B/{count}c" + (f"+{idle}idle" if idle else "") + "/closed"
    summary = {
        "messages_per_second": {"median": mps, "min": mps, "max": mps, "cv": 0.0},
        "p99_us": {"median": 100.0 * count**0.5, "min": 1.0, "max": 1.0},
        "verdict": "neither",
        "client_bound": False,
        "connect_per_second": 3000.0 + len(backend),
        **extra,
    }
    repeat = {"repeat": 0, "messages_per_second": mps, "p99_us": summary["p99_us"]["median"],
              "verdict": "neither"}  # fmt: skip
    return {"id": ident, "backend": backend, "family": family, "transport": "tcp", "size": 64,
            "connections": count, "idle": idle, "rate": None, "mode": "closed", "status": "ok",
            "error": None, "repeats": [repeat], "summary": summary}  # fmt: skip


def scale_doc() -> dict[str, Any]:
    cases = []
    for backend, family, rates, memory, starved in BACKENDS:
        for count, mps in zip(COUNTS, rates, strict=True):
            big = count == COUNTS[-1]
            cases.append(_case(backend, family, count, 0, mps, {
                "jain": 0.15 if big and starved else 0.99,
                "starved": starved if big else 0,
                "server_rss_per_connection_bytes": memory if count >= 100 else 4096.0,
            }))  # fmt: skip
        cases.append(_case(backend, family, 1, 10000, rates[0] * 0.9, {
            "jain": 1.0, "starved": 0, "server_rss_per_connection_bytes": memory,
            "idle_dropped": 0,
        }))  # fmt: skip
    return {
        "schema": "echobench.run", "schema_version": 2, "complete": True,
        "environment": {"python": {"version": "3.11.7", "implementation": "CPython"}},
        "config": {"scenario": "scale"}, "cases": cases, "not_run": [],
    }  # fmt: skip
