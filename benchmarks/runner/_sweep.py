"""``echobench run --scenario latency``: capacity probes, then the open-loop sweep.

Three passes over one results file, each an ordinary ``Runner`` (verification,
interleaved order, a write after every case, Ctrl-C keeps what finished):

1. a closed-loop probe per backend and slice, ``probe_duration`` long: its
   capacity C is the median of its per-second throughputs;
2. where the probe's load client was saturated, the sweep's top rate offered
   open-loop once: if the client falls behind its schedule, the sweep is capped
   at the rate it held (``_sweepplan``);
3. the sweep: every backend at its fractions of C (or of the cap) and at the
   slice's common absolute rates, shuffled together.

The plan is a function of what the file holds, so ``--resume`` re-derives it and
goes on where the run stopped. The file's ``latency`` part (``_results_schema``)
holds the plan and each sweep's summary, ``slo_capacity`` included.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from rich.table import Table

from echobench.benchmarks.runner import _sweepplan
from echobench.benchmarks.runner._matrix import Case, format_rate
from echobench.benchmarks.runner._measure import OVERHEAD_SECONDS
from echobench.benchmarks.runner._runner import Runner, StopSignals
from echobench.benchmarks.runner._terminal import format_us


def new_block(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "slo_p99_us": float(config["slo_p99_us"]),
        "load_fractions": list(config["load_fractions"]),
        "common_fractions": list(_sweepplan.COMMON_FRACTIONS),
        "probe_duration": float(config["probe_duration"]),
        "phase": "probe",
        "common": [],
        "sweeps": [],
    }


def run_scenario(runner: Runner, skipped: list[dict[str, str]]) -> tuple[int | None, list[Table]]:
    """Run (or resume) the latency scenario; the signal number if interrupted, and tables."""
    doc = runner.doc
    config = doc["config"]
    fractions = [float(f) for f in config["load_fractions"]]
    explicit = [float(r) for r in config.get("rates") or () if r is not None]
    latency = doc.setdefault("latency", new_block(config))
    probes = list(runner.cases)
    _announce(probes, config, runner, skipped)
    base = replace(runner, final=False, annotate=_sweepplan.annotate)
    with StopSignals() as signals:
        latency["phase"] = "probe"
        probe_settings = replace(runner.settings, duration=float(config["probe_duration"]))
        stopped = replace(base, settings=probe_settings, repeats=1).run()
        if stopped is not None or signals.stopping():
            return stopped or signals.signum, []

        entries = {entry["id"]: entry for entry in doc["cases"]}
        capacities = {p.id: _sweepplan.capacity(entries.get(p.id)) for p in probes}
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
        cases = _plan(latency, probes, capacities, holds, entries, fractions, explicit)
        latency["phase"] = "sweep"
        sweep = replace(base, cases=cases, final=True)
        stopped = sweep.run()
        if stopped is None and not signals.stopping():
            latency["phase"] = "done"
            sweep.save(complete=bool(doc["complete"]))
    return stopped or signals.signum, [sweep_table(doc)]


def _plan(
    latency: dict[str, Any],
    probes: list[Case],
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
        in_slice = {
            p.backend: bases[p.id]["messages_per_second"]
            for p in probes
            if _sweepplan.slice_of(p) == key and p.id in bases
        }
        common[key] = _sweepplan.common_rates(in_slice, explicit, _sweepplan.COMMON_FRACTIONS)
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
    estimate = len(probes) * (per_probe + points * per_point * int(config["repeat"]))
    placement = runner.settings.placement
    percents = ", ".join(f"{f:.0%}" for f in fractions)
    lines = [
        f"echobench run --scenario latency: {len(probes)} sweep(s): a "
        f"{config['probe_duration']:g} s capacity probe each, then about {points} open-loop "
        f"point(s) x {config['repeat']} repeat(s) at {percents} of capacity and at common "
        f"rates; about {estimate / 60:.1f} min; p99 target {format_us(config['slo_p99_us'])}; "
        f"seed {config['seed']}; writing {runner.out}",
        f"pinning: server on CPUs {list(placement.server_cpus) or '-'}, "
        f"client on CPUs {list(placement.client_cpus)}",
    ]
    lines += [f"skipped {s['backend']} ({s['transport']}): {s['reason']}" for s in skipped]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def slo_text(slo: dict[str, Any]) -> str:
    """``slo_capacity`` in words, for tables and notes."""
    value = slo.get("messages_per_second")
    if value is None:
        return f"none: {slo.get('reason') or 'not measured'}"
    text = f"{'at least ' if slo.get('at_least') else ''}{value:,.0f} msg/s"
    if slo.get("interpolated"):
        text += " (interpolated)"
    if slo.get("client_bound"):
        text += (
            " (the open-loop client could go no higher)"
            if slo.get("at_least")
            else " (interpolated across points the client could not hold)"
        )
    return text


def sweep_table(doc: dict[str, Any]) -> Table:
    """Per sweep: capacity, the rate the fractions applied to, points, capacity at the target."""
    latency = doc.get("latency") or {}
    target = float(latency.get("slo_p99_us") or 0.0)
    table = Table(
        title=f"latency sweep: capacity at p99 under {format_us(target)}", title_justify="left"
    )
    for header, justify in (
        ("backend", "left"),
        ("slice", "left"),
        ("capacity msg/s", "right"),
        ("sweep base msg/s", "right"),
        ("points (overloaded, client-bound)", "right"),
        ("capacity at the p99 target", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for sweep in latency.get("sweeps") or ():
        where = f"{sweep['transport']}/{sweep['size']}B/{sweep['connections']}c"
        cap = sweep.get("capacity")
        if cap is None:
            table.add_row(sweep["backend"], where, "-", "-", "-", f"probe failed: {sweep['error']}")
            continue
        capacity_text = _rate(cap["messages_per_second"])
        if cap["client_bound"]:
            capacity_text += " CLIENT-BOUND (server: at least this)"
        base = sweep.get("base") or {}
        base_text = _rate(base.get("messages_per_second"))
        if base.get("capped"):
            base_text += f" (capped: client held {_rate(base.get('client_ceiling'))})"
        summary = sweep.get("summary") or {}
        table.add_row(
            sweep["backend"],
            where,
            capacity_text,
            base_text,
            f"{summary.get('measured', 0)}/{summary.get('points', 0)} "
            f"({summary.get('overloaded', 0)}, {summary.get('client_bound', 0)})",
            slo_text(summary.get("slo_capacity") or {}),
        )
    for entry in latency.get("common") or ():
        rates = ", ".join(format_rate(r) for r in entry["rates"]) or "none"
        origin = (
            "given with --rate"
            if entry.get("explicit")
            else f"from {entry.get('from_backend')}'s {_rate(entry.get('from_rate'))} msg/s"
        )
        table.caption = (table.caption or "") + (
            f"common rates ({entry['transport']}/{entry['size']}B/{entry['connections']}c): "
            f"{rates} msg/s, {origin}. "
        )
    return table
