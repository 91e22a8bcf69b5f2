"""The verification gate: each backend passes the quick conformance checks once,
before any of its numbers are measured (TechEmpower verifies before it measures).

A check the backend declares in ``known_failures`` (a defect of its framework) does not
stop it from being measured; its failure is recorded beside the numbers instead."""

from __future__ import annotations

import time
from typing import Any


def verify_backend(name: str) -> dict[str, Any]:
    """Run ``echobench.servers._conformance.QUICK_CHECKS`` against ``name``; never raises for a
    failing backend, only reports it (``passed`` false, with the failing checks)."""
    from echobench.servers._conformance import QUICK_CHECKS, factory_for, run_checks
    from echobench.servers._registry import get_backend

    started = time.monotonic()
    try:
        known = dict(get_backend(name).known_failures)
        results = run_checks(factory_for(name, []), list(QUICK_CHECKS))
    except Exception as exc:  # a backend that breaks the checker is a failed backend
        return {
            "passed": False,
            "seconds": time.monotonic() - started,
            "checks": [],
            "error": f"verification could not run: {type(exc).__name__}: {exc}",
        }
    checks = [
        {
            "name": r.name,
            "passed": bool(r.passed),
            "seconds": float(r.seconds),
            "detail": r.detail,
        }
        for r in results
    ]
    for check in checks:
        if not check["passed"] and check["name"] in known:
            check["known"] = known[check["name"]]
    failed = [c for c in checks if not c["passed"] and "known" not in c]
    error = None
    if failed:
        first = failed[0]
        error = f"failed verification: {first['name']}: {first['detail'] or 'failed'}"
        if len(failed) > 1:
            error += f" (and {len(failed) - 1} more check(s))"
    return {
        "passed": not failed,
        "seconds": time.monotonic() - started,
        "checks": checks,
        "error": error,
        "known_failures": [c["name"] for c in checks if "known" in c],
    }
