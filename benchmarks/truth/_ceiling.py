"""The load generator's own ceiling: how fast it drives the fastest server, at what CPU cost.

``echobench ceiling [--quick]`` starts the fastest backend available (``native``
when it builds here, else ``uvloop-protocol``) pinned to one CPU, then drives it
with 1 KiB messages over 10 connections, closed loop, from other CPUs:

* ``echobench load`` with 1 worker and with N workers, verification and latency
  recording on (as every benchmark runs it) and off (to show what they cost);
* every reference client (``echobench.benchmarks.reference``): the native C client,
  the ceiling; a minimal uvloop Protocol client (``minimal_client``: no verification, no
  latency, no timers), the ceiling of our approach;
  and a re-implementation of vmbench's client (``vmbench_client``);

and then, against the same server, ``echobench load`` (1 worker, verification and latency
on), the minimal client and the native client at 10,000 connections x 64 B, every
connection busy: the client's ceiling at scale.

Variants run interleaved (one round visits each), several rounds, and each is
reported as the median with its range. ``echobench publish`` writes the result to
``results/published/client_ceiling.json`` and the table between the
``client-ceiling`` markers from that file (``STEP``).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from echobench.benchmarks.reference._client import ReferenceClient, reference_clients
from echobench.benchmarks.reference._client import Shape as ReferenceShape
from echobench.benchmarks.runner._terminal import RunProgress
from echobench.servers._errors import UserError

FILE = "client_ceiling.json"
BEGIN = "<!-- client-ceiling:begin -->"
END = "<!-- client-ceiling:end -->"
CONNECTIONS = 10
SIZE = 1024

Variant = Callable[[str, int], dict[str, Any]]
#: (connections, bytes per message, warmup seconds); None: the main table's.
Shape = tuple[int, int, float] | None
#: The scale rows: every connection busy at 10,000, small messages, a longer warmup so
#: that each connection has been served before the window opens.
SCALE_SHAPE = (10_000, 64, 1.0)
#: A variant: its row's label, the CPUs it is pinned to, and how to run it once.
Variants = dict[str, tuple[str, list[int] | None, Variant]]


def _pick_server() -> str:
    from echobench.servers._registry import discover

    backends = {backend.name: backend for backend in discover()}
    native = backends.get("native")
    if native is not None and native.available:
        return "native"
    return "uvloop-protocol"


def _split_cpus() -> tuple[list[int] | None, list[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None  # nothing to separate; run unpinned
    return [cpus[0]], cpus[1:]


def _ours(
    workers: int, on: bool, client_cpus: list[int] | None, duration: float, shape: Shape = None
) -> Variant:
    from echobench.clients import LoadConfig, run_load

    connections, size, warmup = shape or (CONNECTIONS, SIZE, 0.5)

    def run(host: str, port: int) -> dict[str, Any]:
        result = run_load(
            LoadConfig(
                host=host,
                port=port,
                connections=connections,
                size=size,
                duration=duration,
                warmup=warmup,
                workers=workers,
                verify=on,
                latency=on,
                cpus=tuple(client_cpus) if client_cpus else None,
            )
        )
        if not result["complete"] or result["error_total"]:
            raise UserError(f"load run failed: {result['stop_reason'] or result['errors']}")
        return {
            "messages_per_second": result["messages_per_second"],
            "cpu_us_per_message": result["cpu_us_per_message"],
        }

    return run


def _reference(
    client: ReferenceClient, cpus: list[int] | None, duration: float, shape: Shape = None
) -> Variant:
    """A reference client at ``shape``, pinned to ``cpus``."""
    connections, size, warmup = shape or (CONNECTIONS, SIZE, 0.5)
    load = ReferenceShape(connections, size, duration, warmup)

    def run(host: str, port: int) -> dict[str, Any]:
        result = client.run(host, port, load, cpus)
        return {
            "messages_per_second": result["messages_per_second"],
            "cpu_us_per_message": result.get("cpu_us_per_message"),
        }

    return run


def _add_references(
    variants: Variants,
    cpus: list[int] | None,
    duration: float,
    notes: list[str],
    shape: Shape = None,
) -> None:
    """Every reference client that can run here (and, at scale, hold the connections)."""
    for client in reference_clients():
        if shape is not None and not client.at_scale:
            continue
        why = client.unavailable()
        if why is not None:
            notes.append(f"{client.label} not available{' at scale' if shape else ''}: {why}")
            continue
        variants[client.name] = (client.label, cpus, _reference(client, cpus, duration, shape))


def _summary(values: list[float | None]) -> dict[str, Any]:
    real = [v for v in values if v is not None]
    if not real:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": round(statistics.median(real), 3),
        "min": round(min(real), 3),
        "max": round(max(real), 3),
        "runs": [round(v, 3) for v in real],
    }


def _ours_variants(client_cpus: list[int] | None, duration: float) -> tuple[Variants, list[str]]:
    """``echobench load`` with 1 worker and with one per client CPU (at least 2), with
    verification and latency on and off; and the notes on how they share CPUs."""
    many = max(2, len(client_cpus or []))
    one = client_cpus[:1] if client_cpus else None
    on, off = "verify+latency on", "verify+latency off"
    # (label, CPUs the variant is pinned to, run): single-process clients take the first
    # client CPU, workers are spread over all of them.
    variants: Variants = {
        "ours-1w": (f"echobench load, 1 worker, {on}", one, _ours(1, True, one, duration)),
        "ours-1w-off": (f"echobench load, 1 worker, {off}", one, _ours(1, False, one, duration)),
        f"ours-{many}w": (
            f"echobench load, {many} workers, {on}",
            client_cpus,
            _ours(many, True, client_cpus, duration),
        ),
        f"ours-{many}w-off": (
            f"echobench load, {many} workers, {off}",
            client_cpus,
            _ours(many, False, client_cpus, duration),
        ),
    }
    notes: list[str] = []
    if client_cpus is not None and len(client_cpus) < many:
        cpu_word = "CPU" if len(client_cpus) == 1 else "CPUs"
        notes.append(
            f"the {many}-worker rows share {len(client_cpus)} client {cpu_word} "
            f"({client_cpus}), so they can only be slower than 1 worker here: they show "
            "the cost of splitting the work, not the gain more cores would bring"
        )
    return variants, notes


def _ratio(table: dict[str, dict[str, Any]], a: str, b: str) -> float | None:
    """Median msgs/s of variant ``a`` over ``b``'s, when both were measured."""
    if a not in table or b not in table:
        return None
    top = table[a]["messages_per_second"]["median"]
    bottom = table[b]["messages_per_second"]["median"]
    return round(top / bottom, 3) if top and bottom else None


def measure(quick: bool) -> dict[str, Any]:
    from echobench.servers._launch import start_server

    started = time.monotonic()
    rounds, duration = (2, 1.5) if quick else (3, 3.0)
    server_cpus, client_cpus = _split_cpus()
    one = client_cpus[:1] if client_cpus else None
    variants, notes = _ours_variants(client_cpus, duration)
    _add_references(variants, one, duration, notes)

    server_name = _pick_server()
    server = start_server(server_name, cpus=server_cpus)
    try:
        table = _interleaved(variants, rounds, server.host, server.port)
        scale = _at_scale(one, duration, rounds, server.host, server.port, notes)
    finally:
        server.close()
        if server.process.stdout is not None:
            server.process.stdout.close()

    def ratio(a: str, b: str) -> float | None:
        return _ratio(table, a, b)

    return {
        "benchmark": "client_ceiling",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "server": server_name,
        "server_cpus": server_cpus,
        "client_cpus": client_cpus,
        "connections": CONNECTIONS,
        "size": SIZE,
        "duration_s": duration,
        "rounds": rounds,
        "variants": table,
        "ratios": {
            "ours_1w_vs_vmbench": ratio("ours-1w", "vmbench"),
            "ours_1w_vs_native": ratio("ours-1w", "native"),
            "ours_1w_off_vs_native": ratio("ours-1w-off", "native"),
            "ours_1w_vs_minimal": ratio("ours-1w", "minimal"),
            "minimal_vs_native": ratio("minimal", "native"),
        },
        "notes": notes,
        "scale": scale,
        "wall_s": round(time.monotonic() - started, 1),
    }


def _interleaved(
    variants: Variants, rounds: int, host: str, port: int
) -> dict[str, dict[str, Any]]:
    """Each variant once per round, rounds in a row; median and range of each."""
    samples: dict[str, dict[str, list[float | None]]] = {
        key: {"messages_per_second": [], "cpu_us_per_message": []} for key in variants
    }
    with RunProgress(rounds * len(variants), noun="run") as progress:
        for round_index in range(rounds):
            for key, (_, _, run) in variants.items():
                label = f"round {round_index + 1}/{rounds}: {key}"
                progress.starting(label)
                result = run(host, port)
                for field in ("messages_per_second", "cpu_us_per_message"):
                    samples[key][field].append(result[field])
                progress.finished(label, f"{result['messages_per_second']:,.0f} msg/s")
    return {
        key: {
            "label": variants[key][0],
            "cpus": variants[key][1],
            "messages_per_second": _summary(values["messages_per_second"]),
            "cpu_us_per_message": _summary(values["cpu_us_per_message"]),
        }
        for key, values in samples.items()
    }


def _at_scale(
    cpus: list[int] | None, duration: float, rounds: int, host: str, port: int, notes: list[str]
) -> dict[str, Any]:
    """The same server at 10,000 connections: our client next to the native one."""
    connections, size, warmup = SCALE_SHAPE
    variants: Variants = {
        "ours-1w": (
            "echobench load, 1 worker, verify+latency on",
            cpus,
            _ours(1, True, cpus, duration, SCALE_SHAPE),
        ),
    }
    _add_references(variants, cpus, duration, notes, SCALE_SHAPE)
    table = _interleaved(variants, rounds, host, port)
    ours = table["ours-1w"]["messages_per_second"]["median"]
    native = table.get("native", {}).get("messages_per_second", {}).get("median")
    return {
        "connections": connections,
        "size": size,
        "warmup_s": warmup,
        "variants": table,
        "ours_1w_vs_native": round(ours / native, 3) if ours and native else None,
    }


def render_table(data: dict[str, Any]) -> str:
    """The published table, generated from the JSON (never edited by hand)."""

    def fmt(summary: dict[str, Any], digits: int) -> str:
        if summary["median"] is None:
            return "n/a"
        return (
            f"{summary['median']:,.{digits}f} "
            f"({summary['min']:,.{digits}f}-{summary['max']:,.{digits}f})"
        )

    pinning = (
        f"server on CPU {data['server_cpus']}, clients on CPUs {data['client_cpus']}"
        if data["server_cpus"]
        else "unpinned (one CPU)"
    )
    lines = [
        f"Measured {data['measured_at']} against `{data['server']}`, {data['connections']} "
        f"connections x {data['size']} B, closed loop, {data['rounds']} interleaved rounds of "
        f"{data['duration_s']:g} s{' (--quick)' if data['quick'] else ''}; {pinning}; "
        f"{data['machine']['cpus']} CPUs, Python {data['machine']['python']}. "
        "Median (min-max).",
        "",
        "| client | msgs/s | client CPU us/msg |",
        "| --- | ---: | ---: |",
    ]
    for row in data["variants"].values():
        lines.append(
            f"| {row['label']} | {fmt(row['messages_per_second'], 0)} "
            f"| {fmt(row['cpu_us_per_message'], 2)} |"
        )
    ratios = data["ratios"]
    parts = []
    if ratios["ours_1w_vs_vmbench"] is not None:
        parts.append(f"1 worker with verification vs vmbench: **{ratios['ours_1w_vs_vmbench']}x**")
    if ratios["ours_1w_vs_native"] is not None:
        parts.append(f"vs the native client: **{ratios['ours_1w_vs_native']}**")
    if ratios.get("ours_1w_vs_minimal") is not None:
        part = f"vs the minimal uvloop client: **{ratios['ours_1w_vs_minimal']}**"
        if ratios["minimal_vs_native"] is not None:
            part += f" (which reaches {ratios['minimal_vs_native']} of the native client)"
        parts.append(part)
    if parts:
        lines += ["", "; ".join(parts) + "."]
    for note in data["notes"]:
        lines += ["", f"Note: {note}"]
    scale = data.get("scale")
    if scale:
        lines += [
            "",
            f"At scale: the same server and rounds, {scale['connections']:,} connections x "
            f"{scale['size']} B, every connection busy, {scale['warmup_s']:g} s warm-up.",
            "",
            "| client at scale | msgs/s | client CPU us/msg |",
            "| --- | ---: | ---: |",
        ]
        for row in scale["variants"].values():
            lines.append(
                f"| {row['label']} | {fmt(row['messages_per_second'], 0)} "
                f"| {fmt(row['cpu_us_per_message'], 2)} |"
            )
        if scale["ours_1w_vs_native"] is not None:
            lines += [
                "",
                f"At {scale['connections']:,} connections, 1 worker with verification vs the "
                f"native client: **{scale['ours_1w_vs_native']}** (goal: 0.8 or better).",
            ]
    return "\n".join(lines)
