"""Building the results document as the run goes (its schema: ``_results_schema``)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from echobench.benchmarks.runner import _environment, _interference, _stats, _verdict
from echobench.benchmarks.runner._matrix import Case
from echobench.benchmarks.runner._results_schema import SCHEMA, SCHEMA_VERSION, RunConfig


def new_document(
    config: RunConfig, environment: dict[str, Any], skipped: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "complete": False,
        "environment": environment,
        "config": config,
        "cases": [],
        "not_run": [],
        "verification": {},
        "skipped": skipped,
    }


def find(doc: dict[str, Any], case: Case) -> dict[str, Any] | None:
    for entry in doc["cases"]:
        if entry["id"] == case.id:
            return entry
    return None


def _entry(doc: dict[str, Any], case: Case) -> dict[str, Any]:
    found = find(doc, case)
    if found is not None:
        return found
    entry = {
        "id": case.id,
        "backend": case.backend,
        "family": case.family,
        "transport": case.transport,
        "size": case.size,
        "connections": case.connections,
        "idle": case.idle,
        "readline": case.readline,
        "rate": case.rate,
        "mode": case.mode,
        "status": "partial",
        "error": None,
        "stderr_tail": None,
        "failures": [],
        "repeats": [],
        "summary": None,
    }
    doc["cases"].append(entry)
    return entry


def add_repeat(doc: dict[str, Any], case: Case, record: dict[str, Any]) -> None:
    _entry(doc, case)["repeats"].append(record)


def add_failure(
    doc: dict[str, Any], case: Case, repeat: int, error: str, stderr_tail: str | None
) -> None:
    entry = _entry(doc, case)
    entry["error"] = error
    entry["stderr_tail"] = stderr_tail
    entry["failures"].append({"repeat": repeat, "error": error, "stderr_tail": stderr_tail})


def attempted(doc: dict[str, Any]) -> set[tuple[str, int]]:
    """(case id, repeat) pairs that ran to an outcome, measured or failed: resume skips them."""
    done: set[tuple[str, int]] = set()
    for entry in doc["cases"]:
        done.update((entry["id"], r["repeat"]) for r in entry["repeats"])
        done.update((entry["id"], f["repeat"]) for f in entry["failures"])
    return done


def judged_values(entry: dict[str, Any], *, before: int) -> tuple[str, list[float]]:
    """The metric ``--repeat auto`` judges a case on, and its values from the clean repeats
    before ``before``: msgs/s in a closed loop; in an open loop, whose rate the client
    fixes, p99."""
    repeats = [
        r for r in entry["repeats"] if r["repeat"] < before and not _interference.disturbed(r)
    ]
    if entry.get("rate") is not None and all(r.get("p99_us") for r in repeats):
        return "p99_us", [float(r["p99_us"]) for r in repeats]
    return "messages_per_second", [float(r["messages_per_second"]) for r in repeats]


def finalize(
    doc: dict[str, Any],
    cases: Sequence[Case],
    repeats: int,
    *,
    complete: bool,
    auto: bool = False,
) -> None:
    """Statuses, summaries, ``not_run`` and the end time, from what has been recorded.

    With ``auto``, a case is finished once it has its ``auto_repeat`` record (why it
    stopped); ``repeats`` is then the most it could have had.

    Only the entries of ``cases`` are judged: a scenario that runs in passes
    (``_sweep``) finalizes each pass's cases, and the entries of an earlier
    pass keep their statuses and stay first, in their order."""
    order = {case.id: index for index, case in enumerate(cases)}
    doc["cases"].sort(key=lambda entry: order.get(entry["id"], -1))
    done = attempted(doc)
    for entry in doc["cases"]:
        if entry["id"] not in order:
            continue
        # A repeat measured again after a disturbed attempt is still one repeat.
        measured = len({r["repeat"] for r in entry["repeats"]})
        if auto:
            stopped = (entry.get("auto_repeat") or {}).get("stop")
            finished = stopped is not None and stopped != "failed"
        else:
            finished = measured >= repeats
        if finished and measured:
            entry["status"] = "ok"
        else:
            entry["status"] = "partial" if measured else "failed"
        entry["summary"] = summarize(entry["repeats"]) if measured else None
    if auto:
        stopped_ids = {e["id"] for e in doc["cases"] if e.get("auto_repeat")}
        doc["not_run"] = [case.id for case in cases if case.id not in stopped_ids]
    else:
        doc["not_run"] = [
            case.id for case in cases if any((case.id, r) not in done for r in range(repeats))
        ]
    doc["complete"] = complete and not doc["not_run"]
    doc["environment"]["finished_at"] = _environment.now()


def summarize(measured: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over the clean repeats (``_interference.counted``): a case some of whose repeats
    stayed disturbed is ``disturbed``, with how many were left out."""
    repeats = _interference.counted(measured)
    left_out = sum(1 for r in measured if _interference.disturbed(r))
    finals: dict[int, bool] = {}
    for record in measured:  # each repeat's last attempt says how it ended
        finals[record["repeat"]] = _interference.disturbed(record)
    rates = [r["messages_per_second"] for r in repeats]
    p99s = [r["p99_us"] for r in repeats if r["p99_us"] is not None]
    rate_spread = _stats.spread(rates)
    p99_spread = _stats.spread(p99s)
    verdict = _verdict.overall([r["verdict"] for r in repeats])
    efficiency = [
        r["messages_per_second"] / r["server_cpu"]["cores_used"]
        for r in repeats
        if r.get("server_cpu") and r["server_cpu"]["cores_used"] > 0
    ]
    return {
        "messages_per_second": rate_spread,
        "p99_us": {k: p99_spread[k] for k in ("median", "min", "max")},
        "unstable": _stats.is_unstable(rate_spread["cv"]),
        "disturbed": any(finals.values()),
        "disturbed_repeats": left_out,
        "clean_repeats": len(measured) - left_out,
        "verdict": verdict,
        "client_bound": _verdict.client_limited(verdict),
        "messages_per_server_cpu_second": (
            float(statistics.median(efficiency)) if efficiency else None
        ),
        **{key: _median(repeats, key) for key in SCALE_FIELDS},
        "idle_dropped": max(
            (r["idle_dropped"] for r in repeats if r.get("idle_dropped") is not None),
            default=None,
        ),
        **_open_loop_summary([r["open_loop"] for r in repeats if r.get("open_loop")]),
    }


def _open_loop_summary(opens: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``overloaded``: the target was not met in most repeats (a tie counts as overloaded:
    the claim least flattering to the server); the lag and the share achieved with it."""
    if not opens:
        return {"overloaded": False, "achieved_share": None, "max_send_lag_us": None}
    missed = sum(1 for o in opens if not o["met"])
    return {
        "overloaded": 2 * missed >= len(opens),
        "achieved_share": float(statistics.median(o["achieved"] / o["target"] for o in opens)),
        "max_send_lag_us": max(float(o["max_send_lag_us"]) for o in opens),
    }


#: Per-repeat figures of concurrency whose median over the repeats is in the summary.
SCALE_FIELDS = ("server_rss_per_connection_bytes", "connect_per_second", "jain", "starved")


def _median(repeats: Sequence[dict[str, Any]], key: str) -> float | None:
    """The median of a repeat field, over the repeats that have it (older files lack it)."""
    values = [r[key] for r in repeats if r.get(key) is not None]
    return float(statistics.median(values)) if values else None
