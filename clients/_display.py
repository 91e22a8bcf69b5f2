"""What a person sees: live progress on stderr while a run lasts, a summary table after."""

from __future__ import annotations

import sys
from time import monotonic_ns
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from echobench.clients._fairness import starved_line

#: Runs shorter than this (warmup + duration, seconds) get no progress display.
PROGRESS_MIN_SECONDS = 3.0


class RichProgress:
    """A progress bar on stderr: phase, time, the last second's rate, the last interval's p99."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.console = Console(file=stream or sys.stderr)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("connecting", total=1.0, rate="")
        self.t0 = 0
        self.total_ns = 1
        self.warmup_ns = 0
        self.rate = ""
        self.tail = ""

    @staticmethod
    def wanted(seconds: float, quiet: bool, stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        return not quiet and seconds > PROGRESS_MIN_SECONDS and stream.isatty()

    def started(self, t0_ns: int, warmup: float, duration: float) -> None:
        self.t0 = t0_ns
        self.warmup_ns = round(warmup * 1e9)
        self.total_ns = max(1, round((warmup + duration) * 1e9))
        self.progress.start()

    def second(self, index: int, messages: int) -> None:
        self.rate = f"{messages:,} msg/s"
        self._show()

    def interval(self, index: int, seconds: float, latency: dict[str, Any] | None) -> None:
        if latency is None:
            self.tail = f"no echo in the last {seconds:.3g} s"
        else:
            self.tail = (
                f"p99 {_us(latency['p99'])}, max {_us(latency['max'])} (last {seconds:.3g} s)"
            )
        self._show()

    def _show(self) -> None:
        self.progress.update(
            self.task, rate="  ".join(part for part in (self.rate, self.tail) if part)
        )

    def refresh(self) -> None:
        now = monotonic_ns() - self.t0
        phase = "warmup" if now < self.warmup_ns else "measuring"
        self.progress.update(
            self.task, description=phase, completed=min(1.0, max(0.0, now / self.total_ns))
        )

    def finished(self) -> None:
        self.progress.stop()


def _us(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    return f"{value:,.1f} us"


def nothing_measured(result: dict[str, Any]) -> str | None:
    """Why a window with no completed echo is not a measurement, in one line; else None."""
    if result["messages"]:
        return None
    params = result["params"]
    stopped = f" (stopped: {result['stop_reason']})" if result["stop_reason"] else ""
    return (
        f"nothing measured: {params['connections']} connection(s) were open and none "
        f"completed an echo in the {result['elapsed_s']:.1f} s window{stopped}"
    )


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Plain warnings that must not be missed (also printed with --quiet)."""
    empty = nothing_measured(result)
    if empty is not None and not result["corrupted"]:
        return [empty]  # one line: everything else follows from it
    lines = []
    if result["corrupted"]:
        lines.append(
            f"CORRUPTED: {result['corrupted_bytes']} echoed bytes differed from what was sent "
            f"({result['errors']['mismatch']} messages)"
        )
    rate = result["rate"]
    if rate is not None and not rate["met"]:
        lines.append(
            f"TARGET NOT MET: achieved {rate['achieved']:,.0f} of the {rate['target']:,.0f} "
            "msgs/s asked for"
        )
    if not result["complete"]:
        lines.append(f"INCOMPLETE: {result['stop_reason']}")
    starved = starved_line(result)
    if starved is not None:
        lines.append(starved)
    idle = result.get("idle")
    if idle and idle["dropped"]:
        lines.append(
            f"IDLE DROPPED: {idle['dropped']} of {idle['requested']} idle connections were "
            f"not held to the end ({idle['closed']} closed by the server, the rest did not "
            "echo a probe in time)"
        )
    network = network_line(result)
    if network is not None:
        lines.append(network)
    return lines


def network_line(result: dict[str, Any]) -> str | None:
    """Which client hosts' links limited a ``--cluster`` run, and how it showed."""
    shards = {s["shard"]: s for s in result.get("shards") or ()}
    limited = (result.get("cluster") or {}).get("network_limited") or []
    if not limited:
        return None
    parts = []
    for index in limited:
        shard = shards[index]
        link = shard["link"]
        how = f"{link['out_mbit_per_s']:,.1f} Mbit/s out, {link['in_mbit_per_s']:,.1f} in"
        if link["held_back"]:
            how += (
                f"; its {link['qdisc']} queue held packets back {link['held_back']:,} times, "
                f"{link['packets_out']:,} sent"
            )
        if link["speed_mbit"]:
            how += f"; link speed {link['speed_mbit']:,} Mbit/s"
        parts.append(f"shard {index} on {shard['host']} ({link['interface']}: {how})")
    return "NETWORK-BOUND: the client's link, not the server, was the limit: " + "; ".join(parts)


def connect_text(connect: dict[str, Any]) -> str:
    rate = connect["per_second"]
    text = f"{connect['connections']:,} in {connect['seconds']:.3f} s"
    text += f" ({rate:,.0f}/s)" if rate is not None else ""
    if connect["failed"]:
        text += f", {connect['failed']} failed attempts, {connect['retries']} retried"
    if connect.get("syn_retransmits"):
        text += f", {connect['syn_retransmits']} SYNs sent again (a full accept queue)"
    return text


def print_summary(result: dict[str, Any], stream: TextIO) -> None:
    console = Console(file=stream, highlight=False, width=max(60, Console(file=stream).width))
    params = result["params"]
    target = f"unix:{params['unix']}" if params["unix"] else f"{params['host']}:{params['port']}"
    title = (
        f"echobench load {target}{' (tls)' if params['tls'] else ''}: {result['mode']} loop, "
        f"{params['connections']} conn x {params['size']} B, {params['workers']} worker(s)"
    )
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("window", f"{result['elapsed_s']:.3f} s (warmup {params['warmup']:g} s excluded)")
    table.add_row(
        "throughput",
        f"{result['messages_per_second']:,.0f} msgs/s, {result['mib_per_second']:,.2f} MiB/s "
        f"({result['messages']:,} messages)",
    )
    rate = result["rate"]
    if rate is not None:
        verdict = "met" if rate["met"] else "NOT MET"
        table.add_row(
            "rate",
            f"target {rate['target']:,.0f}/s, achieved {rate['achieved']:,.0f}/s: {verdict}; "
            f"max send lag {_us(rate['max_send_lag_us'])}",
        )
    latency = result["latency_us"]
    if latency is not None:
        table.add_row(
            "latency",
            "  ".join(f"{key} {_us(latency[key])}" for key in ("p50", "p90", "p99", "p999", "max"))
            + f"  mean {_us(latency['mean'])}",
        )
        if result["latency_out_of_range"]:
            table.add_row("out of range", f"{result['latency_out_of_range']} samples")
    connect = result.get("connect")
    if connect is not None:
        table.add_row("connect", connect_text(connect))
    measured = result.get("fairness")
    if measured is not None and measured["jain"] is not None:
        table.add_row(
            "fairness",
            f"Jain {measured['jain']:.3f}; per connection min {measured['min']:,} median "
            f"{measured['median']:,.0f} max {measured['max']:,}; starved {measured['starved']}",
        )
    idle = result.get("idle")
    if idle is not None:
        held = "not checked" if idle["held"] is None else f"{idle['held']:,} held"
        table.add_row("idle", f"{idle['requested']:,} requested, {held}")
    errors = result["errors"]
    table.add_row(
        "errors",
        ", ".join(f"{kind} {n}" for kind, n in errors.items() if n) or "none",
    )
    table.add_row(
        "verified",
        "off" if not params["verify"] else ("CORRUPTED" if result["corrupted"] else "ok"),
    )
    cpu = result["client_cpu"]
    per_message = result.get("cpu_us_per_message")
    table.add_row(
        "client cpu",
        f"{cpu['seconds']:.2f} s ({cpu['cores_used']:.2f} cores"
        + (f", {per_message:.2f} us/msg)" if per_message is not None else ")"),
    )
    cluster = result.get("cluster")
    if cluster is not None:
        table.add_row("cluster", cluster_line(result))
    console.print(table)


def cluster_line(result: dict[str, Any]) -> str:
    """Where a ``--cluster`` load ran: shards, hosts, how together they started, who was lost."""
    cluster = result["cluster"]
    spread = cluster["start_spread_us"]
    text = (
        f"{cluster['shards']} shard(s) of {cluster['workers']} Dask worker(s) on "
        f"{cluster['hosts']} host(s) via {cluster['scheduler']}"
    )
    if spread is not None:
        text += f"; start spread {_us(spread)}"
        if cluster["clock_uncertainty_us"]:
            text += f" (+-{_us(cluster['clock_uncertainty_us'])} across hosts)"
    lost = [s["worker"] for s in result.get("shards") or () if s["lost"]]
    text += f"; LOST {', '.join(lost)}" if lost else ""
    return "; ".join([text, *cluster.get("warnings", ())])
