"""What the runner shows: a progress bar on stderr, then a table of the results."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from echobench.benchmarks.runner import _verdict
from echobench.benchmarks.runner._awake import awake_words
from echobench.benchmarks.runner._shield import kernel_words


class RunProgress:
    """case i/N, the current case, and the ETA; plain lines when stderr is not a terminal.

    ``noun`` names what is counted (the truth instruments count rounds, not cases)."""

    def __init__(self, total: int, done: int = 0, noun: str = "case") -> None:
        self.noun = noun
        self.console = Console(stderr=True)
        self.total = total
        self.done = done
        self.live = self.console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self._progress = Progress(
                TextColumn(f"[bold]{self.noun}"),
                MofNCompleteColumn(),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total, completed=self.done)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def starting(self, label: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=label)

    def finished(self, label: str, outcome: str) -> None:
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done)
            self._progress.console.print(f"  {label}: {outcome}", highlight=False)
        else:
            print(f"[{self.done}/{self.total}] {label}: {outcome}", file=sys.stderr, flush=True)

    def more(self, count: int) -> None:
        """``count`` steps more than planned (a disturbed repeat measured again)."""
        self.total += count
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def fewer(self, count: int) -> None:
        """``count`` planned steps will not run after all (``--repeat auto`` stopped a case)."""
        self.total -= count
        if self._progress is not None:
            self._progress.update(self._task, total=self.total)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)


def outcome_line(record: dict[str, Any]) -> str:
    p99 = record.get("p99_us")
    line = f"{record['messages_per_second']:,.0f} msg/s"
    if p99 is not None:
        line += f", p99 {format_us(p99)}"
    line = f"{line}, bottleneck: {record['verdict']}"
    figures = record.get("interference") or {}
    if figures.get("disturbed"):
        line += f", DISTURBED ({'; '.join(figures.get('reasons') or [])})"
    if record.get("starved"):
        line += f", STARVED {record['starved']} of {record['load']['params']['connections']}"
    if record.get("idle_dropped"):
        line += f", IDLE-DROPPED {record['idle_dropped']} of {record['load']['params']['idle']}"
    per_connection = record.get("server_rss_per_connection_bytes")
    if per_connection is not None and record["load"]["params"]["connections"] >= 100:
        line += f", {per_connection / 1024:,.1f} KiB/connection"
    return line


def starved_text(summary: dict[str, Any]) -> str:
    """`` STARVED n`` when connections completed no echo (median over the repeats), and
    `` IDLE-DROPPED n`` when idle connections were not held to the end (the most)."""
    starved = summary.get("starved")
    dropped = summary.get("idle_dropped")
    return (f" STARVED {starved:g}" if starved else "") + (
        f" IDLE-DROPPED {dropped:g}" if dropped else ""
    )


def format_us(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} ms"
    return f"{value:.0f} µs"


VERDICT_TEXT = {
    "server": "server",
    "client": "CLIENT-BOUND",
    "both": "BOTH (client saturated)",
    "network": "NETWORK (a client link)",
    "neither": "neither",
}


def results_table(doc: dict[str, Any]) -> Table:
    """Backends x cases: median msgs/s (± spread), p99 and the bottleneck verdict."""
    table = Table(title="echobench run", title_justify="left")
    for header, justify in (
        ("backend", "left"),
        ("case", "left"),
        ("msgs/s (median)", "right"),
        ("± spread", "right"),
        ("p99", "right"),
        ("bottleneck", "left"),
        ("status", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for entry in doc["cases"]:
        case = entry["id"].split("/", 1)[1]
        summary = entry.get("summary")
        if summary is None:
            table.add_row(entry["backend"], case, "-", "-", "-", "-", _status(entry))
            continue
        rate = summary["messages_per_second"]
        if len(entry["repeats"]) > 1:
            half_range = (rate["max"] - rate["min"]) / 2
            spread = f"±{half_range:,.0f} (cv {rate['cv'] * 100:.1f}%)"
            if summary["unstable"]:
                spread += " UNSTABLE"
        else:
            spread = "- (1 repeat)"
        if summary.get("disturbed"):
            spread += " DISTURBED"
        table.add_row(
            entry["backend"],
            case,
            f"{rate['median']:,.0f}",
            spread,
            format_us(summary["p99_us"]["median"]),
            VERDICT_TEXT[summary["verdict"]]
            + (", WAKE-UP BOUND" if _verdict.wakeup_bound_case(entry) else "")
            + starved_text(summary)
            + _open_loop_text(entry),
            _status(entry),
        )
    return table


def _open_loop_text(entry: dict[str, Any]) -> str:
    """Overloaded (the target rate was not met) and whether the client kept its schedule."""
    summary = entry.get("summary") or {}
    lag = summary.get("max_send_lag_us")
    if entry.get("rate") is None or lag is None:
        return ""
    text = ""
    if summary.get("overloaded"):
        share = summary.get("achieved_share")
        text += f", OVERLOADED (achieved {share:.0%} of the rate)" if share else ", OVERLOADED"
    if summary.get("client_bound"):
        text += f", client behind its schedule by {format_us(lag)}"
    return text


def _status(entry: dict[str, Any]) -> str:
    if entry["status"] == "ok":
        return "ok"
    error = entry.get("error") or "not finished"
    return f"{entry['status']}: {error[:80]}"


def footnotes(doc: dict[str, Any], remote: bool) -> list[str]:
    notes: list[str] = []
    verdicts = [(e.get("summary") or {}).get("verdict") for e in doc["cases"]]
    client_bound = verdicts.count("client")
    if client_bound:
        notes.append(
            f"{client_bound} case(s) are CLIENT-BOUND: the load client's CPU was saturated "
            "(closed loop) or it fell behind its send schedule (open loop) and the server's "
            "CPU was not saturated, so their numbers measure the client, not the server."
        )
    starved = sum(1 for e in doc["cases"] if (e.get("summary") or {}).get("starved"))
    if starved:
        notes.append(
            f"{starved} case(s) are STARVED n: n connections (median over repeats) completed "
            "no echo in the window while others did; their msgs/s is what the server gave to "
            "the rest."
        )
    both = verdicts.count("both")
    if both:
        notes.append(
            f"{both} case(s) are BOTH (client saturated): the server's and the load client's "
            "CPUs were both saturated, so their msgs/s is limited by the client too and is only "
            "a lower bound for the server."
        )
    notes += _disturbed_notes(doc)
    waking = sum(1 for e in doc["cases"] if e.get("summary") and _verdict.wakeup_bound_case(e))
    if waking:
        notes.append(
            f"{waking} case(s) are WAKE-UP BOUND: neither side was saturated and the server's "
            "CPUs were let idle between messages, so each round trip waited for a halted CPU "
            "to wake (in a VM, most of it at one connection); --awake keeps them awake."
        )
    overloaded = [e for e in doc["cases"] if (e.get("summary") or {}).get("overloaded")]
    if overloaded:
        notes.append(
            f"{len(overloaded)} open-loop case(s) are OVERLOADED: the rate asked for was not "
            "met; their latency is still recorded (from the scheduled send times), and is "
            "the server's unless the client fell behind its schedule too."
        )
    if remote:
        notes.append(
            "remote server (--connect): no server CPU was measured, so the bottleneck verdict "
            "comes from the client side only (it can say 'client' or 'neither', never 'server' "
            "or 'both'). Missing: the server's CPU, RSS, memory per connection and "
            "interference; to measure them, run --cluster with a Dask worker on the server's "
            "host started with --resources server=1 (docs/cluster.md)."
        )
    for backend, verified in (doc.get("verification") or {}).items():
        known = [c for c in verified.get("checks", []) if c.get("known")]
        if known:
            why = "; ".join(f"{c['name']}: {c['known']}" for c in known)
            notes.append(
                f"{backend} FAILS conformance ({why}): a known defect of its framework, "
                "measured anyway; its numbers are those of a server that breaks that part of "
                "the contract."
            )
    for warning in doc["environment"].get("warnings", []):
        notes.append(f"note: {warning}")
    kept = [
        r.get("placement") or {}
        for e in doc["cases"]
        for r in e["repeats"]
        if (r.get("placement") or {}).get("awake_cpus")
    ]
    if kept:
        awake = sorted({cpu for p in kept for cpu in p["awake_cpus"]})
        notes.append(
            f"note: server CPUs {awake} were kept awake "
            f"{awake_words(p.get('awake_how') for p in kept)}: in a VM a halted vCPU takes "
            "milliseconds to wake, which dominated p99 at low load (--no-awake measures "
            "without it)."
        )
    return notes + _kernel_notes(doc)


def _kernel_notes(doc: dict[str, Any]) -> list[str]:
    """What the repeats changed of the kernel's settings (``_shield.quiet_kernel``)."""
    quieted: dict[str, list[int]] = {}
    for e in doc["cases"]:
        for r in e["repeats"]:
            quieted.update((r.get("placement") or {}).get("kernel_quieted") or {})
    if not quieted:
        return []
    return [
        "note: the kernel's periodic work was made short and rare while measuring, and "
        f"put back after: {kernel_words(quieted)}"
    ]


def _disturbed_notes(doc: dict[str, Any]) -> list[str]:
    """What the host took from the run: disturbed cases, and repeats measured again."""
    summaries = [e.get("summary") or {} for e in doc["cases"]]
    marked = sum(1 for s in summaries if s.get("disturbed"))
    left_out = sum(int(s.get("disturbed_repeats") or 0) for s in summaries)
    threshold = (doc.get("config") or {}).get("max_interference", 5.0)
    notes = []
    if marked:
        notes.append(
            f"{marked} case(s) are DISTURBED: the host took their CPUs (steal or run delay "
            f"over {threshold:g}% of a window) in a repeat that could not be measured again "
            "cleanly; their numbers come from their clean repeats, or, where none was clean, "
            "from the disturbed ones. Do not compare them."
        )
    if left_out:
        notes.append(
            f"note: {left_out} disturbed repeat(s) are in the file but left out of the "
            "numbers (each repeat's interference says what the host took)."
        )
    return notes


def print_report(
    doc: dict[str, Any],
    path: str,
    remote: bool,
    out: Sequence[str] = (),
    tables: Sequence[Table] = (),
) -> None:
    probe = Console()
    # A file or pipe gets full case ids rather than a table cut to 80 columns.
    console = Console(width=probe.width if probe.is_terminal else 200)
    console.print(results_table(doc))
    for table in tables:
        console.print(table)
    for line in [*footnotes(doc, remote), *out]:
        console.print(line, highlight=False)
    console.print(f"results: {path}", highlight=False)
