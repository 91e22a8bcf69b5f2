"""A small synthetic vmbench run document (schema v2) for the vmbench chart and publish tests.

Its numbers are chosen so that every ratio is known: uvloop's servers run at 1.5x, 2.5x
and 1.2x asyncio's on the same API, rloop-sockets at 0.9x, uring-native at 1.8x and
native at 2x asyncio-protocol; one case is client-bound, one both-saturated, one
failed, and rloop-protocol fails half-close through its framework's known defect.
"""

from __future__ import annotations

from typing import Any

SIZES = (1024, 10240, 102400)
#: asyncio's requests/s per API at each size.
ASYNCIO = {"sockets": (10000, 8000, 4000), "streams": (20000, 15000, 5000),
           "protocol": (40000, 30000, 10000)}  # fmt: skip
READLINE = (4000, 3000, 1000)  # asyncio-streams in readline mode
#: (backend, family, API it runs, times asyncio's on that API; None: over asyncio-protocol)
SERVERS = (
    ("uvloop-sockets", "uvloop", "sockets", 1.5),
    ("uvloop-streams", "uvloop", "streams", 2.5),
    ("uvloop-protocol", "uvloop", "protocol", 1.2),
    ("rloop-sockets", "rloop", "sockets", 0.9),
    ("rloop-protocol", "rloop", "protocol", 1.0),
    ("uring-native", "uring", None, 1.8),
    ("native", "native", None, 2.0),
)
CLIENT_BOUND = "native/tcp/1024B/10c/closed"
BOTH = "uvloop-protocol/tcp/1024B/10c/closed"
FAILED = "rloop-sockets/tcp/102400B/10c/closed"


def _case(backend: str, family: str, size: int, rate: float, readline: int = 0) -> dict:
    ident = f"{backend}/tcp/{size}B/10c/closed" + (f"/readline{readline}" if readline else "")
    verdict = "client" if ident == CLIENT_BOUND else "both" if ident == BOTH else "server"
    summary = {
        "messages_per_second": {"median": rate, "min": rate * 0.98, "max": rate * 1.01,
                                "cv": 0.01},
        "p99_us": {"median": 500.0, "min": 450.0, "max": 550.0},
        "verdict": verdict,
        "client_bound": verdict in ("client", "both"),
        "unstable": False,
    }  # fmt: skip
    failed = ident == FAILED
    repeats = [
        {"repeat": r, "messages_per_second": rate * f, "p99_us": 500.0, "verdict": verdict}
        for r, f in enumerate((0.98, 1.0, 1.01))
    ]
    return {"id": ident, "backend": backend, "family": family, "transport": "tcp", "size": size,
            "connections": 10, "idle": 0, "readline": readline, "rate": None, "mode": "closed",
            "status": "failed" if failed else "ok", "error": "died" if failed else None,
            "repeats": [] if failed else repeats,
            "summary": None if failed else summary}  # fmt: skip


def vmbench_doc() -> dict[str, Any]:
    cases = []
    for api, rates in ASYNCIO.items():
        for size, rate in zip(SIZES, rates, strict=True):
            cases.append(_case(f"asyncio-{api}", "asyncio", size, rate))
    for size, rate in zip(SIZES, READLINE, strict=True):
        cases.append(_case("asyncio-streams", "asyncio", size, rate, readline=5))
        cases.append(_case("uvloop-streams", "uvloop", size, rate * 1.3, readline=5))
    for backend, family, api, times in SERVERS:
        for i, size in enumerate(SIZES):
            cases.append(_case(backend, family, size, ASYNCIO[api or "protocol"][i] * times))
    loops = {
        name: {"spec": f"{name.split('-')[0]}:new_event_loop", "module": name.split("-")[0],
               "package": name.split("-")[0], "version": "1.0"}
        for name in {c["backend"] for c in cases} if name.split("-")[-1] in ASYNCIO
    }  # fmt: skip
    known = {"name": "half-close", "passed": False, "seconds": 10.5, "detail": "no EOF",
             "known": "rloop closes late"}  # fmt: skip
    return {
        "schema": "echobench.run", "schema_version": 2, "complete": True,
        "environment": {"python": {"version": "3.11.7", "implementation": "CPython"},
                        "cpu": {"count": 2, "model": "test"}, "loops": loops,
                        "started_at": "2026-12-02T00:00:00", "git": {"commit": "0123456789ab"},
                        "load_average": [0.1, 0.1, 0.1]},
        "config": {"scenario": "vmbench", "repeat": 3, "duration": 4.0, "warmup": 1.0,
                   "sizes": list(SIZES), "connections": [10], "readline": 5},
        "cases": cases, "not_run": [],
        "verification": {"rloop-protocol": {"passed": True, "checks": [known],
                                            "known_failures": ["half-close"], "error": None}},
    }  # fmt: skip
