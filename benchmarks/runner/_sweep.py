"""``echobench run --scenario latency``: capacity probes, the open-loop sweep, then the
points it could not decide measured again.

Passes over one results file, each an ordinary ``Runner`` (verification, interleaved
order, a write after every case, Ctrl-C keeps what finished):

1. a closed-loop probe per backend and slice, ``probe_duration`` long, repeated round
   by round until its capacity is known within 5% (``_sweepplan.probe_again``); the
   ``native`` server is probed in every slice even when not asked for: it is the floor;
2. where the probe's load client was saturated, the sweep's top rate offered
   open-loop once: if the client falls behind its schedule, the sweep is capped
   at the rate it held (``_sweepplan``);
3. the sweep: every backend, the floor included, at its fractions of C (or of the
   cap) and at the slice's common absolute rates, shuffled together;
4. rounds of one more window for each point whose p99 interval straddles the target
   (or that has none) at or under its sweep's first sure failure
   (``_sweepsummary.undecided``), until each is decided, has ``max_windows`` windows,
   or the next round would overrun ``remeasure_budget`` seconds.

The plan is a function of what the file holds, so ``--resume`` re-derives it and
goes on where the run stopped. The file's ``latency`` part (``_results_schema``)
holds the plan, each point's figures, each sweep's summary, ``slo_capacity``
included, and what the last pass did (``remeasure``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from rich.table import Table

from echobench.benchmarks.runner import _sweepplan, _sweepsummary
from echobench.benchmarks.runner._matrix import Case
from echobench.benchmarks.runner._measure import OVERHEAD_SECONDS
from echobench.benchmarks.runner._runner import Runner, StopSignals
from echobench.benchmarks.runner._sweeptable import sweep_table
from echobench.benchmarks.runner._terminal import format_us

#: The most windows a point gets, and the seconds the last pass may spend, by default.
MAX_WINDOWS = 5
REMEASURE_BUDGET_S = 120.0


def new_block(config: dict[str, Any]) -> dict[str, Any]:
    auto = config["slo_p99_us"] == "auto"
    return {
        "slo_p99_us": None if auto else float(config["slo_p99_us"]),
        "slo_auto_requested": auto,
        "slo_auto": None,
        "slo_rule": "first-crossing",
        "load_fractions": list(config["load_fractions"]),
        "common_fractions": list(_sweepplan.COMMON_FRACTIONS),
        "probe_duration": float(config["probe_duration"]),
        "probe_ci": _sweepplan.PROBE_CI,
        "floor_backend": _sweepsummary.FLOOR_BACKEND,
        "floor": [],
        "phase": "probe",
        "common": [],
        "sweeps": [],
        "remeasure": None,
    }


def _floor_probes(probes: list[Case], runner: Runner, latency: dict[str, Any]) -> list[Case]:
    """Per slice, ``native``'s probe when the run does not measure it anyway; each slice
    records its floor, or why it has none."""
    from echobench.servers._registry import get_backend

    floor = _sweepsummary.FLOOR_BACKEND
    slices = list(dict.fromkeys(_sweepplan.slice_of(p) for p in probes))
    asked = {_sweepplan.slice_of(p) for p in probes if p.backend == floor}
    extra: list[Case] = []
    records = []
    for key in slices:
        transport, size, connections = key
        reason = None
        if runner.settings.connect is not None:
            reason = "a remote server (--connect): the floor is measured beside a local one"
        elif key not in asked:
            backend = get_backend(floor)
            reason = backend.unavailable_reason()
            if reason is None and transport not in backend.transports:
                reason = f"{floor} does not serve {transport}"
            if reason is None:
                extra.append(Case(floor, backend.family, transport, size, connections, None))
        records.append(
            {"transport": transport, "size": size, "connections": connections, "reason": reason}
        )
    latency["floor"] = records
    return extra


def run_scenario(runner: Runner, skipped: list[dict[str, str]]) -> tuple[int | None, list[Table]]:
    """Run (or resume) the latency scenario; the signal number if interrupted, and tables."""
    doc = runner.doc
    config = doc["config"]
    fractions = [float(f) for f in config["load_fractions"]]
    explicit = [float(r) for r in config.get("rates") or () if r is not None]
    latency = doc.setdefault("latency", new_block(config))
    asked = list(runner.cases)
    floor_only = _floor_probes(asked, runner, latency)
    probes = asked + floor_only
    _announce(probes, config, runner, skipped)
    base = replace(runner, final=False, annotate=_sweepsummary.annotate)
    with StopSignals() as signals:
        latency["phase"] = "probe"
        stopped, capacities = _probe(base, probes, config)
        if stopped is not None or signals.stopping():
            return stopped or signals.signum, []

        entries = {entry["id"]: entry for entry in doc["cases"]}
        holds: dict[str, Case] = {}
        for probe in probes:
            cap = capacities[probe.id]
            hold = _sweepplan.hold_check_case(probe, cap, fractions) if cap else None
            if hold is not None:
                holds[probe.id] = hold
        if holds:
            latency["phase"] = "hold-check"
            stopped = replace(base, cases=list(holds.values()), repeats=1).run()
            if stopped is not None or signals.stopping():
                return stopped or signals.signum, []

        entries = {entry["id"]: entry for entry in doc["cases"]}
        floors = {p.id for p in floor_only}
        cases = _plan(latency, probes, floors, capacities, holds, entries, fractions, explicit)
        latency["phase"] = "sweep"
        sweep = replace(base, cases=cases)
        stopped = sweep.run()
        if stopped is None and not signals.stopping():
            latency["phase"] = "remeasure"
            stopped = _remeasure(base, latency, cases, config)
        if stopped is None and not signals.stopping():
            latency["phase"] = "done"
            replace(sweep, final=True).save(complete=True)
    return stopped or signals.signum, [sweep_table(doc)]


def _probe(
    base: Runner, probes: list[Case], config: dict[str, Any]
) -> tuple[int | None, dict[str, dict[str, Any] | None]]:
    """Probe rounds until each capacity is within ``PROBE_CI`` (or has its repeats)."""
    settings = replace(base.settings, duration=float(config["probe_duration"]))
    going = list(probes)
    capacities: dict[str, dict[str, Any] | None] = {}
    for repeat in range(1, _sweepplan.PROBE_MAX_REPEATS + 1):
        stopped = replace(base, cases=going, settings=settings, repeats=repeat).run()
        if stopped is not None:
            return stopped, capacities
        entries = {entry["id"]: entry for entry in base.doc["cases"]}
        for probe in probes:
            capacities[probe.id] = _sweepplan.capacity(entries.get(probe.id))
        going = [
            p
            for p in going
            if _sweepplan.probe_again(
                capacities[p.id], bool((entries.get(p.id) or {}).get("failures"))
            )
        ]
        if not going:
            break
    return None, capacities


def _remeasure(
    base: Runner, latency: dict[str, Any], cases: list[Case], config: dict[str, Any]
) -> int | None:
    """One more window, round by round, for the points the target leaves undecided."""
    budget = float(config.get("remeasure_budget", REMEASURE_BUDGET_S))
    most = int(config.get("max_windows", MAX_WINDOWS))
    nominal = float(config["duration"]) + float(config["warmup"]) + OVERHEAD_SECONDS
    by_id = {case.id: case for case in cases}
    record: dict[str, Any] = {
        "budget_s": budget,
        "max_windows": most,
        "rounds": 0,
        "windows_added": 0,
        "spent_s": 0.0,
        "stopped": None,
        "undecided": [],
    }
    latency["remeasure"] = record
    started = time.monotonic()
    while True:
        _sweepsummary.annotate(base.doc)
        entries = {entry["id"]: entry for entry in base.doc["cases"]}
        windows = {cid: len((entries.get(cid) or {}).get("repeats") or ()) for cid in by_id}
        pending = [cid for cid in _sweepsummary.undecided(latency) if cid in by_id]
        record["undecided"] = pending
        pending = [cid for cid in pending if windows[cid] < most]
        if not pending:
            record["stopped"] = "decided" if not record["undecided"] else "max-windows"
            return None
        # A window costs what it really took so far, or the estimate, whichever is more:
        # a round starts only with the windows that fit what is left of the budget.
        spent = max(time.monotonic() - started, record["windows_added"] * nominal)
        per_window = max(nominal, spent / max(1, record["windows_added"]))
        room = int((budget - spent) // per_window)
        if room <= 0:
            record["stopped"] = "budget"
            return None
        # The ranked points first (the floor's come last in ``undecided``), the lowest rates
        # first: they decide where the first crossing is.
        rank = {cid: i for i, cid in enumerate(pending)}
        floor = {cid for cid in pending if by_id[cid].backend == _sweepsummary.FLOOR_BACKEND}
        pending.sort(
            key=lambda cid: (cid in floor, windows[cid], float(by_id[cid].rate or 0.0), rank[cid])
        )
        chosen = pending[:room]
        groups: dict[int, list[Case]] = {}
        for cid in chosen:
            groups.setdefault(windows[cid], []).append(by_id[cid])
        for have, group in sorted(groups.items()):
            stopped = replace(base, cases=group, repeats=have + 1).run()
            record["windows_added"] += len(group)
            wall = time.monotonic() - started
            record["spent_s"] = round(max(wall, record["windows_added"] * nominal), 1)
            if stopped is not None:
                record["stopped"] = "interrupted"
                return stopped
        record["rounds"] += 1


def _plan(
    latency: dict[str, Any],
    probes: list[Case],
    floor_only: set[str],
    capacities: dict[str, dict[str, Any] | None],
    holds: dict[str, Case],
    entries: dict[str, dict[str, Any]],
    fractions: list[float],
    explicit: list[float],
) -> list[Case]:
    """Record each sweep and the slices' common rates; return the sweep's cases."""
    bases: dict[str, dict[str, Any]] = {}
    for probe in probes:
        cap = capacities[probe.id]
        if cap is not None:
            hold = holds.get(probe.id)
            bases[probe.id] = _sweepplan.base_rate(
                cap, entries.get(hold.id) if hold else None, fractions
            )
    slices = list(dict.fromkeys(_sweepplan.slice_of(p) for p in probes))
    common: dict[_sweepplan.SliceKey, dict[str, Any]] = {}
    for key in slices:
        # The floor, when only the floor, sets no common rate: it is never the slowest.
        ranked = [
            p
            for p in probes
            if _sweepplan.slice_of(p) == key and p.id in bases and p.id not in floor_only
        ]
        common[key] = _sweepplan.common_rates(
            {p.backend: bases[p.id]["messages_per_second"] for p in ranked},
            explicit,
            _sweepplan.COMMON_FRACTIONS,
            {p.backend: bases[p.id]["low"] for p in ranked},
        )
    latency["common"] = [
        {"transport": t, "size": z, "connections": c, **common[t, z, c], "explicit": bool(explicit)}
        for t, z, c in slices
    ]
    sweeps = []
    cases: dict[str, Case] = {}
    for probe in probes:
        cap = capacities[probe.id]
        sweep: dict[str, Any] = {
            "backend": probe.backend,
            "family": probe.family,
            "transport": probe.transport,
            "size": probe.size,
            "connections": probe.connections,
            "probe": probe.id,
            "floor_only": probe.id in floor_only,
            "capacity": cap,
            "hold_check": holds[probe.id].id if probe.id in holds else None,
            "base": bases.get(probe.id),
            "points": [],
            "error": None,
            "summary": None,
        }
        if cap is None:
            sweep["error"] = (entries.get(probe.id) or {}).get("error") or "the probe failed"
        else:
            sweep["points"] = _sweepplan.sweep_points(
                probe,
                bases[probe.id],
                fractions,
                common[_sweepplan.slice_of(probe)]["rates"],
                holds.get(probe.id),
            )
            for point in sweep["points"]:
                case = _sweepplan.point_case(probe, point)
                cases[case.id] = case
        sweeps.append(sweep)
    latency["sweeps"] = sweeps
    return list(cases.values())


def _announce(
    probes: list[Case], config: dict[str, Any], runner: Runner, skipped: list[dict[str, str]]
) -> None:
    fractions = config["load_fractions"]
    per_point = float(config["duration"]) + float(config["warmup"]) + OVERHEAD_SECONDS
    per_probe = float(config["probe_duration"]) + float(config["warmup"]) + OVERHEAD_SECONDS
    points = len(fractions) + len(config.get("rates") or _sweepplan.COMMON_FRACTIONS)
    # Probes take two rounds at least before their interval exists.
    estimate = len(probes) * (2 * per_probe + points * per_point * int(config["repeat"]))
    budget = float(config.get("remeasure_budget", REMEASURE_BUDGET_S))
    placement = runner.settings.placement
    percents = ", ".join(f"{f:.0%}" for f in fractions)
    target = config["slo_p99_us"]
    target_text = (
        f"{_sweepsummary.AUTO_FACTOR:g}x the floor's p99 at half load"
        if target == "auto"
        else format_us(float(target))
    )
    lines = [
        f"echobench run --scenario latency: {len(probes)} sweep(s), the floor included: "
        f"capacity probes of {config['probe_duration']:g} s until each is known within "
        f"{_sweepplan.PROBE_CI:.0%}, then about {points} open-loop point(s) x "
        f"{config['repeat']} window(s) at {percents} of capacity and at common rates, then "
        f"up to {budget:g} s measuring undecided points again; about "
        f"{(estimate + budget) / 60:.1f} min at most; p99 target {target_text}; "
        f"seed {config['seed']}; writing {runner.out}",
        f"pinning: server on CPUs {list(placement.server_cpus) or '-'}, "
        f"client on CPUs {list(placement.client_cpus)}",
    ]
    lines += [f"skipped {s['backend']} ({s['transport']}): {s['reason']}" for s in skipped]
    print("\n".join(lines), file=sys.stderr, flush=True)
