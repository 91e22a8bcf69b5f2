"""The latency sweep's terminal table: capacity, base, points and the capacity at the target."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from echobench.benchmarks.runner._matrix import format_rate
from echobench.benchmarks.runner._terminal import format_us


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def slo_text(slo: dict[str, Any]) -> str:
    """``slo_capacity`` in words, for tables and notes."""
    value = slo.get("messages_per_second")
    if value is None:
        return f"none: {slo.get('reason') or 'not measured'}"
    text = f"{'at least ' if slo.get('at_least') else ''}{value:,.0f} msg/s"
    low, high = slo.get("range") or (None, None)
    if low is not None or high is not None:
        text += f" in [{_rate(low)}, {'open' if high is None else _rate(high)}]"
    if slo.get("interpolated"):
        text += " (interpolated)"
    if slo.get("undecided"):
        text += f" ({len(slo['undecided'])} undecided point(s) in the range)"
    if slo.get("client_bound"):
        text += (
            " (the open-loop client could go no higher)"
            if slo.get("at_least")
            else " (interpolated across points the client could have made)"
        )
    return text


def sweep_table(doc: dict[str, Any]) -> Table:
    """Per sweep: capacity, the rate the fractions applied to, points, capacity at the target."""
    latency = doc.get("latency") or {}
    target = latency.get("slo_p99_us")
    target_text = "no target" if target is None else format_us(float(target))
    auto = latency.get("slo_auto")
    if auto:
        target_text += (
            f" (auto: {auto['factor']:g}x the floor's p99 {format_us(auto['floor_p99_us'])})"
        )
    table = Table(
        title=f"latency sweep: capacity at p99 under {target_text}, first crossing",
        title_justify="left",
    )
    for header, justify in (
        ("backend", "left"),
        ("slice", "left"),
        ("capacity msg/s", "right"),
        ("sweep base msg/s", "right"),
        ("points (overloaded, client-bound, undecided, at the floor)", "right"),
        ("capacity at the p99 target", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for sweep in latency.get("sweeps") or ():
        where = f"{sweep['transport']}/{sweep['size']}B/{sweep['connections']}c"
        name = sweep["backend"] + (" (the floor)" if sweep.get("floor_only") else "")
        cap = sweep.get("capacity")
        if cap is None:
            table.add_row(name, where, "-", "-", "-", f"probe failed: {sweep['error']}")
            continue
        capacity_text = _rate(cap["messages_per_second"])
        if cap.get("ci"):
            capacity_text += f" [{_rate(cap['ci'][0])}-{_rate(cap['ci'][1])}]"
        if cap["client_bound"]:
            capacity_text += " CLIENT-BOUND (server: at least this)"
        base = sweep.get("base") or {}
        base_text = _rate(base.get("messages_per_second"))
        if base.get("capped"):
            base_text += f" (capped: client held {_rate(base.get('client_ceiling'))})"
        summary = sweep.get("summary") or {}
        table.add_row(
            name,
            where,
            capacity_text,
            base_text,
            f"{summary.get('measured', 0)}/{summary.get('points', 0)} "
            f"({summary.get('overloaded', 0)}, {summary.get('client_bound', 0)}, "
            f"{summary.get('undecided', 0)}, {summary.get('at_floor', 0)})",
            "the floor" if sweep.get("floor_only") else slo_text(summary.get("slo_capacity") or {}),
        )
    caption = []
    for entry in latency.get("common") or ():
        rates = ", ".join(format_rate(r) for r in entry["rates"]) or "none"
        origin = (
            "given with --rate"
            if entry.get("explicit")
            else f"from {entry.get('from_backend')}'s {_rate(entry.get('from_rate'))} msg/s "
            "(the low end of its probe's interval)"
        )
        caption.append(
            f"common rates ({entry['transport']}/{entry['size']}B/{entry['connections']}c): "
            f"{rates} msg/s, {origin}."
        )
    for floor in latency.get("floor") or ():
        if floor.get("reason"):
            caption.append(f"no floor ({floor['transport']}): {floor['reason']}.")
    again = latency.get("remeasure")
    if again:
        caption.append(
            f"measured again: {again['windows_added']} window(s) in {again['rounds']} "
            f"round(s), {again['spent_s']:g} of {again['budget_s']:g} s; stopped: "
            f"{again['stopped']}; {len(again['undecided'])} point(s) left undecided."
        )
    table.caption = " ".join(caption) or None
    return table
