"""Truth: does the open-loop client keep its schedule at half its capacity?

``echobench client-lag`` measures what issue 20 asks of the load client: at half its
own closed-loop capacity against ``native`` (a C epoll server, on its own CPU, kept
awake), the client's largest send lag and its longest pause of its own (a recorder
step, a garbage collection, its parent's interval work) each under 0.5 ms, as the
median of five runs. After each run, for as long, a C loop that only reads the clock
on the client's CPU (``gaploop.c``) measures the host's own stalls there: whatever
stops that loop stops any client as long, so it is the floor under a send lag (it
cannot run beside the client: on one CPU each would stall the other, so the two are
compared second by second, as distributions). Meanwhile an idle-priority loop keeps the
server's CPU as busy as the run did (the server, and the idle polling that keeps it
awake, left it no idle time): this VM's host stops a vCPU far more often when its other
vCPU is busy too, so a loop beside an idle CPU measured a quieter host than the client
had. With the server's CPU busy, a C loop on the client's CPU stalled over 1 ms 23 and
28 times in 25 s, each about 1.9 ms (steal counted 10-20 ms of their 43-47 ms); beside
an idle CPU, in none of the seconds before. The host stops it so in stretches of
minutes, so each run first waits for a quiet stretch (``quiet``, within
``--quiet-timeout`` for the whole measurement), as ``echobench run`` waits out steal.
Each run records the steal the client's and the server's CPUs saw and the client's
major faults.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner import _isolation
from echobench.benchmarks.runner._awake import keep_awake
from echobench.benchmarks.runner._hostcheck import watched
from echobench.benchmarks.runner._interference import Snapshot, host_sample, snapshot
from echobench.benchmarks.runner._measure import client_pause_us
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._shield import kernel_words, shield
from echobench.benchmarks.runner._sweepsummary import client_lag_us
from echobench.benchmarks.truth import _cycle, _schedtrace
from echobench.benchmarks.truth._schedtrace import Wait
from echobench.benchmarks.truth._stopprobe import Probe, probed
from echobench.clients import LoadConfig, run_load
from echobench.clients._pacer import LAG_EVENT_NS
from echobench.clients._priority import OPEN_LOOP_NICE
from echobench.servers._cbuild import build
from echobench.servers._errors import UserError
from echobench.servers._launch import start_server

GAPLOOP = Path(__file__).with_name("gaploop.c")
#: What the client must hold to: its largest send lag and longest own pause, in µs.
GOAL_US = 500.0
RATE_SHARE = 0.5
#: Stalls this long or longer (the client's episodes, the loop's gaps) are looked at
#: for a phase they share in the host's cycle (``_cycle``).
STALL_US = 1000.0
#: How long each probe of the wait for a quiet stretch runs the bare C loop (``quiet``).
QUIET_PROBE_S = 3.0
#: The open-loop runs' nice value, and the C loop's after each (``clients/_priority``):
#: other tasks on the client's CPU then take it only when the client has no work.
NICE = OPEN_LOOP_NICE


@dataclass(frozen=True)
class LagSettings:
    runs: int = 5
    duration: float = 10.0
    warmup: float = 1.0
    connections: int = 32
    size: int = 64
    capacity_s: float = 5.0
    #: Every other thread, interrupt and unbound workqueue that may run elsewhere kept
    #: off the client's CPU for the runs (``runner/_shield.py``).
    shield: bool = True
    #: Seconds the measurement may wait in all for the host's quiet stretches (``quiet``).
    quiet_timeout: float = 180.0
    #: A real-time probe beside the client and the loop (``_stopprobe``), which sees the
    #: vCPU stopped between the scheduler's ticks.
    probe: bool = True

    def check(self) -> None:
        if self.runs < 1 or self.duration <= 0 or self.connections < 1 or self.size < 1:
            raise UserError("--runs, --duration, --connections and --size must be positive")
        if self.quiet_timeout < 0:
            raise UserError("--quiet-timeout must be 0 or more")


#: ``--quick``: two short runs, the pipeline in under a minute; not numbers to publish.
QUICK = LagSettings(runs=2, duration=2.0, warmup=0.5, capacity_s=2.0, quiet_timeout=0.0)


def _gaps(
    cpu: int, seconds: float, busy: Sequence[int] = (), trace: bool = True, probe: bool = False
) -> dict[str, Any]:
    """The bare host's stalls on ``cpu``, with the CPUs ``busy`` kept busy meanwhile by
    an idle-priority loop each (as the run kept them); with ``trace``, as root, each gap
    of 250 µs or more less what the traces explain (another task on the CPU, the vCPU
    stopped), and with ``probe`` what the probe beside it saw (``_stopprobe``). The
    loop has no work of its own, so what they leave is what they miss: the check on
    them."""
    binary = build(GAPLOOP, "gaploop")
    argv = [str(binary), str(cpu), f"{seconds:g}"]
    traced = _traced(cpu) if trace else nullcontext(Seen(why_not="not traced"))
    beside = probed(cpu) if probe and trace else nullcontext(None)
    with keep_awake(busy, how="spin") as spun, traced as seen, beside as found:
        loop = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _at_client_nice(loop.pid)
        out, err = loop.communicate()
    if loop.returncode != 0:
        raise UserError(f"gaploop failed: {err.strip() or loop.returncode}")
    result: dict[str, Any] = json.loads(out)
    gaps = result.pop("gaps", [])
    result["causes"] = attribute(gaps, seen, loop.pid, cpu, probe=found)
    result["stalls"] = [[int(end - us * 1e3), us] for end, us in gaps if us >= STALL_US]
    result["busy_cpus"] = list(spun.cpus)
    if busy and spun.warning:
        result["busy_warning"] = spun.warning
    return result


def quiet(cpu: int, busy: Sequence[int], budget_s: float) -> dict[str, Any]:
    """Before a run: wait for a quiet stretch of the host, within ``budget_s``. This
    VM's host stops a vCPU in stretches of minutes (the stalls ``_cycle`` finds, and
    others at random), and no client on the CPU can keep a schedule through them, so a
    run waits out a stretch the way ``echobench run`` waits out steal: the bare C loop
    on the client's CPU, beside the server's CPU kept busy, for ``QUIET_PROBE_S`` at a
    time, until it stalls under the goal. With no budget left the run starts at once;
    every probe's longest stall is kept, and whether the last was quiet."""
    if budget_s <= 0:
        return {"probes": [], "waited_s": 0.0, "quiet": None}
    started = time.monotonic()
    probes: list[float] = []
    while True:
        probes.append(round(_gaps(cpu, QUIET_PROBE_S, busy, trace=False)["max_gap_us"], 1))
        waited = time.monotonic() - started
        if probes[-1] < GOAL_US or waited >= budget_s:
            return {"probes": probes, "waited_s": round(waited, 1), "quiet": probes[-1] < GOAL_US}
        print(
            f"client-lag: the host stalled the client's CPU {probes[-1]:,.0f} µs in "
            f"{QUIET_PROBE_S:g} s; waiting for a quiet stretch ({budget_s - waited:.0f} s left)",
            file=sys.stderr,
        )


def _at_client_nice(pid: int) -> None:
    """As the client ran, so that the two meet the same other tasks (its first
    microseconds at the old value, too short to matter beside a 10 s loop)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, NICE)
    except OSError:
        pass  # as the client's workers: best effort, and the client's runs record it


def _steal(before: Snapshot, cpus: list[int]) -> dict[str, float | None]:
    after = snapshot({})
    sample = host_sample(before, after, cpus)
    return {str(c): None if v is None else round(v, 2) for c, v in sample.steal_pct.items()}


def _run(
    port: int, rate: float, settings: LagSettings, cpu: int, server_cpus: Sequence[int]
) -> dict:
    sides = sorted({*server_cpus, cpu})
    before = snapshot({})
    config = LoadConfig(
        port=port,
        connections=settings.connections,
        size=settings.size,
        duration=settings.duration,
        warmup=settings.warmup,
        rate=rate,
        cpus=(cpu,),
        workers=1,
        nice=NICE,
    )
    beside = probed(cpu) if settings.probe else nullcontext(None)
    with _traced(cpu) as seen, beside as probe:
        result = run_load(config)
    if not result["complete"] or result["error_total"]:
        raise UserError(f"an open-loop run did not complete: {result['stop_reason']}")
    steal = _steal(before, sides)
    pauses = result["client_pauses"]
    rate_field = result["rate"]
    lag = {**rate_field, "messages": result["messages"]}
    return {
        "achieved": rate_field["achieved"],
        "max_send_lag_us": rate_field["max_send_lag_us"],
        "p99_send_lag_us": client_lag_us(lag),
        "max_pause_us": client_pause_us(pauses),
        "pauses": {k: pauses.get(k) for k in ("max_fold_us", "gc_max_pause_us", "parent_max_us")},
        "deferred": pauses.get("deferred"),
        "gc_disabled": pauses.get("gc_disabled"),
        "latency_us": {k: (result["latency_us"] or {}).get(k) for k in ("p50", "p99", "p999")},
        "lag_per_second_us": rate_field["max_send_lag_per_second_us"],
        "major_faults": pauses.get("major_faults"),
        "preempted": pauses.get("preempted"),
        "memory_locked": pauses.get("memory_locked"),
        "nice": pauses.get("nice"),
        "nice_not_set": pauses.get("nice_not_set"),
        "causes": attribute(
            result["rate"]["lag_events"],
            seen,
            result["client_cpu"]["pids"][0],
            cpu,
            frozenset((os.getpid(), *result["client_cpu"]["pids"])),
            probe,
        ),
        "stalls": stalls(result["rate"]["lag_events"]),
        "steal_pct": steal,
        "host_gaps": _gaps(cpu, settings.duration, server_cpus, probe=settings.probe),
    }


@dataclass
class Seen:
    """What the scheduler's trace of a CPU recorded, once its block has ended."""

    text: str | None = None
    why_not: str | None = None


@contextmanager
def _traced(cpu: int) -> Iterator[Seen]:
    seen = Seen(why_not=_schedtrace.available())
    if seen.why_not is not None:
        yield seen
        return
    with _schedtrace.SchedTrace(cpu) as trace:
        yield seen
    seen.text = trace.text


def episodes(events: list[list[float]]) -> list[tuple[int, list[list[float]]]]:
    """Events ``[read at ns, lag µs]`` chained into episodes: an event whose message fell
    due before the one before it was sent belongs to the same stretch of being behind
    (a catch-up after a stall). Each episode with when its first message fell due."""
    found: list[tuple[int, list[list[float]]]] = []
    reach = -1
    for at, lag in sorted(events, key=lambda e: e[0] - e[1] * 1e3):
        due = int(at - lag * 1e3)
        if not found or due > reach:
            found.append((due, []))
        found[-1][1].append([at, lag])
        reach = max(reach, int(at))
    return found


def stalls(events: list[list[float]]) -> list[list[float]]:
    """The client's episodes of being behind whose largest lag reached ``STALL_US``: when
    each began (its first message's due time, ns) and that lag (µs)."""
    found = []
    for start, members in episodes(events):
        longest = max(lag for _, lag in members)
        if longest >= STALL_US:
            found.append([start, longest])
    return found


def attribute(
    events: list[list[float]],
    seen: Seen,
    pid: int,
    cpu: int,
    kin: frozenset[int] = frozenset(),
    probe: Probe | None = None,
) -> dict[str, Any]:
    """Lags (or a loop's gaps) of at least ``LAG_EVENT_NS`` set against the trace and the
    probe beside them (``_stopprobe``): each counts as its own only by how much it
    outlasts what the host took since its episode began (another task on the CPU, the
    vCPU stopped), since a client behind after a stall is late for the stall's sake
    until it has caught up. The pids ``kin`` (the client's parent and other workers)
    are not the host: the CPU they held counts as the client's own. A stretch both the
    tick and the probe saw as a stop counts once, and a wait counts only outside them."""
    if seen.text is None:
        return {"traced": False, "why_not": seen.why_not}
    waits = sorted(_schedtrace.waits(seen.text, pid, cpu), key=lambda w: w.start_ns)
    ticks = _schedtrace.stops(seen.text, cpu)
    probed = [] if probe is None else probe.stops()
    union = _schedtrace.spans([*ticks, *probed])
    chained = episodes(events)
    own: list[float] = []
    own_least: list[float] = []  # had every wait whose end went unseen lasted its most
    by_episode: list[list[float]] = []
    for start, members in chained:
        before = len(own)
        for at, lag in members:
            end = int(at)
            seen_ns = unseen_ns = float(_schedtrace.covered(union, start, end))
            for w in _overlapping(waits, start, end):
                a, b = max(w.start_ns, start), min(w.end_ns, end)
                held = (b - a - _schedtrace.covered(union, a, b)) * w.others(kin)
                seen_ns += held if w.seen_end else 0
                unseen_ns += held
            own.append(max(0.0, lag - seen_ns / 1e3))
            own_least.append(max(0.0, lag - unseen_ns / 1e3))
        by_episode.append([start, round(max(own[before:]), 1)])

    def stopped(found: list[Wait]) -> float:
        spans = _schedtrace.spans(found)
        taken = (_schedtrace.covered(spans, int(at - lag * 1e3), int(at)) for at, lag in events)
        return round(max(taken, default=0) / 1e3, 1)

    return {
        "traced": True,
        "lags_over_event": len(events),
        "episodes": len(chained),
        # No event of LAG_EVENT_NS or more: its own part is under that too.
        "own_max_lag_us": round(max(own), 1) if own else None,
        # Where the trace missed when another task gave the CPU back, the largest own
        # part lies between this and the one above.
        "own_max_lag_least_us": round(max(own_least), 1) if own_least else None,
        "own_under_us": LAG_EVENT_NS / 1e3,
        # Each episode's largest own part, by when its first message fell due (ns): what
        # a stop the trace cannot see, known by when it came (``_cycle``), leaves.
        "own_by_episode": by_episode,
        "held_by_us": _schedtrace.held_by(waits, events, kin),
        "stopped_max_us": stopped(ticks),
        "probe": None if probe is None else probe.record(),
        "probe_stopped_max_us": None if probe is None or probe.why_not else stopped(probed),
    }


def _overlapping(waits: list[Wait], start: int, end: int) -> Iterator[Wait]:
    """The waits (sorted, none overlapping another) that overlap ``[start, end]``."""
    index = max(0, bisect_left(waits, start, key=lambda w: w.start_ns) - 1)
    while index < len(waits) and waits[index].start_ns < end:
        if waits[index].end_ns > start:
            yield waits[index]
        index += 1


def measure(settings: LagSettings) -> dict[str, Any]:
    settings.check()
    started = time.monotonic()
    placement = _isolation.plan(_isolation.usable_cpus())
    cpu = placement.client_cpus[0]
    sides = sorted({*placement.server_cpus, cpu})
    # Polling, not spinners, where the guest can: a spinner on the server's CPU makes
    # every send of the client's interrupt it to wake the server (``_awake``), and in a
    # VM that cost lands on the client's CPU, the one measured here.
    # The server, started inside the shield, is the runner's child: left on its CPU.
    with (
        watched(sides) as host,
        keep_awake(placement.server_cpus, how="poll") as awake,
        shield([cpu] if settings.shield else []) as shielded,
    ):
        server = start_server("native", cpus=placement.server_cpus)
        try:
            prime(server.host, server.port, None, False)
            print(f"client-lag: capacity, {settings.capacity_s:g} s", file=sys.stderr)
            capacity = _closed_loop(server.port, settings, cpu)
            beside = _capacity_beside_probe(server.port, settings, cpu)
            # Half of what the client can do as it is measured: the probe's wakeups take
            # a share of its CPU (``_stopprobe``), and half of the bare capacity would be
            # a heavier load than the goal's, a lag of the probe's making.
            rate = max(100.0, round(RATE_SHARE * (beside or capacity), -2))
            runs = []
            waited = 0.0
            for index in range(settings.runs):
                before = quiet(cpu, placement.server_cpus, settings.quiet_timeout - waited)
                waited += before["waited_s"]
                print(f"client-lag: run {index + 1} at {rate:,.0f} msgs/s", file=sys.stderr)
                run = _run(server.port, rate, settings, cpu, placement.server_cpus)
                runs.append({**run, "quiet_wait": before})
        finally:
            server.close()
            if server.process.stdout is not None:
                server.process.stdout.close()
    data: dict[str, Any] = {
        "benchmark": "client-lag",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": "native",
        "server_cpus": list(placement.server_cpus),
        "client_cpu": cpu,
        "server_cpus_kept_awake": bool(awake.cpus),
        "awake_how": awake.how,
        "shield": shielded.record(),
        "capacity_msgs_per_second": capacity,
        # What the probe costs the client: the same closed loop with it beside.
        "capacity_beside_probe": beside,
        "rate": rate,
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "runs": runs,
        "host": host,
        "wall_s": round(time.monotonic() - started, 1),
    }
    data["summary"] = summary(runs)
    return data


def _capacity_beside_probe(port: int, settings: LagSettings, cpu: int) -> float | None:
    """The client's closed-loop capacity again, with the probe on its CPU (``None``
    without one): the capacity the runs' rate is half of."""
    if not settings.probe:
        return None
    with probed(cpu) as probe:
        capacity = _closed_loop(port, settings, cpu)
    return None if probe.why_not else capacity


def _closed_loop(port: int, settings: LagSettings, cpu: int) -> float:
    """The client's closed-loop rate on ``cpu``: its capacity, msgs/s."""
    closed = run_load(
        LoadConfig(
            port=port,
            connections=settings.connections,
            size=settings.size,
            duration=settings.capacity_s,
            warmup=settings.warmup,
            cpus=(cpu,),
            workers=1,
        )
    )
    return float(closed["messages_per_second"])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str, where: str | None = None) -> float:
        values = [float((r[where] if where else r)[key] or 0.0) for r in runs]
        return round(statistics.median(values), 1)

    lag, pause = median("max_send_lag_us"), median("max_pause_us")
    client = [float(v) for r in runs for v in r.get("lag_per_second_us") or []]
    host = [float(v) for r in runs for v in r["host_gaps"].get("max_gap_per_second_us") or []]
    return {
        "median_max_send_lag_us": lag,
        "median_p99_send_lag_us": median("p99_send_lag_us"),
        "median_max_pause_us": pause,
        "median_host_max_gap_us": median("max_gap_us", "host_gaps"),
        "lag_under_goal": lag < GOAL_US,
        "pause_under_goal": pause < GOAL_US,
        "seconds": per_second(client, host),
        **own_lag(runs),
        **cycle(runs),
        **probe_summary(runs),
    }


def probe_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the real-time probe beside the client's runs and beside the loops found
    (``_stopprobe``): the stretches its CPU was taken, 1 ms or more of them, the
    longest, and the median run's 99th percentile of its wakeups' lateness."""
    client = [(r.get("causes") or {}).get("probe") for r in runs]
    loop = [(r["host_gaps"].get("causes") or {}).get("probe") for r in runs]
    if not any(client):  # a file from before the probe, or a run without it
        return {}

    def side(records: list[dict[str, Any] | None]) -> dict[str, Any]:
        ok = [p for p in records if p and not p.get("why_not")]
        return {
            "runs": len(ok),
            "late_stretches": sum(p["late_stretches"] for p in ok),
            "over_1ms": sum(p["late_at_least_us"]["1000"] for p in ok),
            "late_max_us": max((p["late_max_us"] for p in ok), default=None),
            "median_late_p99_us": _median_or_none(p["late_p99_us"] for p in ok),
            "wakeups_per_second": _median_or_none(p.get("wakeups_per_second") for p in ok),
        }

    why = next((p["why_not"] for p in client if p and p.get("why_not")), None)
    period = next((p["period_us"] for p in client if p and "period_us" in p), None)
    return {
        "probe": {"period_us": period, "why_not": why, "client": side(client), "loop": side(loop)}
    }


def cycle(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the stalls of ``STALL_US`` or more, the client's and the bare loop's, keep
    to one phase of the host's cycle (``_cycle``); where they do, the client's own part
    again, less the episodes that began in that window (a stop the trace cannot see)."""
    if any("stalls" not in r for r in runs):  # a file from before
        return {}
    client = [(int(s[0]), float(s[1])) for r in runs for s in r["stalls"]]
    loop = [(int(s[0]), float(s[1])) for r in runs for s in r["host_gaps"].get("stalls") or []]
    found = _cycle.recurring([start for start, _ in client + loop])
    members = set(found.pop("members", []))
    lengths = [us for i, (_, us) in enumerate(client + loop) if i in members]
    mine = sum(i in members for i in range(len(client)))
    found["client"] = {"stalls": len(client), "in_window": mine}
    found["loop"] = {"stalls": len(loop), "in_window": len(members) - mine}
    found["median_in_window_us"] = round(statistics.median(lengths), 1) if lengths else None
    traced = [r for r in runs if (r.get("causes") or {}).get("traced")]
    if found["recurs"] and traced:
        bound = LAG_EVENT_NS / 1e3
        own = []
        for run in traced:
            rest = [
                float(o)
                for start, o in run["causes"].get("own_by_episode") or []
                if not _cycle.within(int(start), found["phase_ns"])
            ]
            own.append(max([bound, *rest]))
        found["median_own_max_lag_us"] = round(statistics.median(own), 1)
        found["own_under_goal"] = found["median_own_max_lag_us"] < GOAL_US
    return {"cycle": found}


def own_lag(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The client's own part of its largest lags, over the runs the traces covered: the
    median of each run's largest own part (a run with no lag of ``own_under_us`` or
    more counts as that bound); the same for the bare loop's gaps, which having no work
    of its own it should not have (what the traces miss); the longest the vCPU was
    seen stopped in a lag, and the longest each other task held the CPU."""
    traced = [r for r in runs if (r.get("causes") or {}).get("traced")]
    if not traced:
        return {"median_own_max_lag_us": None, "own_under_goal": None, "held_by_us": {}}
    bound = LAG_EVENT_NS / 1e3

    def worst(value: float | None) -> float:
        return bound if value is None else value

    def least(causes: dict[str, Any]) -> float:
        # Measured before the trace knew of waits whose end it did not see: no range.
        key = "own_max_lag_least_us" if "own_max_lag_least_us" in causes else "own_max_lag_us"
        return worst(causes[key])

    own = [worst(r["causes"]["own_max_lag_us"]) for r in traced]
    # The loop runs again exactly when its gap ends, so a wait whose end the trace did
    # not see ended there: for the loop the least is the figure.
    loop = [least(r["host_gaps"]["causes"]) for r in traced]
    stops = [r["causes"].get("stopped_max_us") for r in traced]
    held = _longest_by_program(
        item for run in traced for item in run["causes"]["held_by_us"].items()
    )
    median = round(statistics.median(own), 1)
    return {
        "median_own_max_lag_us": median,
        "median_own_max_lag_least_us": round(
            statistics.median(least(r["causes"]) for r in traced), 1
        ),
        "own_under_goal": median < GOAL_US,
        "median_loop_unexplained_us": round(statistics.median(loop), 1),
        "stopped_max_us": max((v for v in stops if v is not None), default=None),
        "held_by_us": dict(list(held.items())[:5]),
    }


def _longest_by_program(held: Iterable[tuple[str, float]]) -> dict[str, float]:
    """The longest each program held the CPU (``_task_name``), longest first."""
    longest: dict[str, float] = {}
    for who, us in held:
        name = _task_name(who)
        longest[name] = max(longest.get(name, 0.0), us)
    return dict(sorted(longest.items(), key=lambda item: -item[1]))


def _task_name(who: str) -> str:
    """A task's name without its pid, so that one program in every run is named once,
    and without the build hash a bundled C program's binary carries (``_cbuild``):
    ``stopprobe-a86aecbbd84fccdd/25784``, cut by the kernel to ``stopprobe-a86ae``, is
    ``stopprobe``."""
    name = who.rsplit("/", 1)[0] if who.rsplit("/", 1)[-1].isdigit() else who
    built = re.fullmatch(r"(.+)-([0-9a-f]+)", name)
    # The kernel keeps 15 characters of a name; the cache names a binary by 16 of hex.
    if built and (len(name) == 15 or len(built.group(2)) == 16):
        return built.group(1)
    return name


def per_second(client: list[float], host: list[float]) -> dict[str, Any]:
    """The client's largest send lag in each second against the bare host's longest
    stall in each second, pooled over the runs: the seconds each went over the goal,
    and the typical second. The loop runs after the client, not beside it (beside it,
    on one CPU, each would stall the other), so the two are compared as distributions:
    a client that adds no stalls of its own goes over the goal in no more of its
    seconds than the host alone does."""

    def side(values: list[float]) -> dict[str, Any]:
        return {
            "seconds": len(values),
            "over_goal": sum(v >= GOAL_US for v in values),
            "over_1ms": sum(v >= 1000.0 for v in values),
            "median_us": round(statistics.median(values), 1) if values else None,
        }

    return {"client": side(client), "host": side(host)}


def missed(data: dict[str, Any]) -> list[str]:
    """The goals not met. The send lag's is the client's own part where the trace and
    the probe measured what the host took (the goal asks for a quiet host, and this
    one is not: the lag itself then says how loud it was); else the lag itself."""
    s = data["summary"]
    lines = []
    if _judged_by_own_part(s):
        if not s["own_under_goal"]:
            lines.append(
                f"client-lag: the client's own part of its largest send lag, median "
                f"{s['median_own_max_lag_us']:,.0f} µs, goal under {GOAL_US:g} µs"
            )
    elif not s["lag_under_goal"]:
        lines.append(
            f"client-lag: median max send lag {s['median_max_send_lag_us']:,.0f} µs, goal under "
            f"{GOAL_US:g} µs (the host's own stalls there: {s['median_host_max_gap_us']:,.0f} µs)"
        )
    if not s["pause_under_goal"]:
        lines.append(
            f"client-lag: median longest own pause {s['median_max_pause_us']:,.0f} µs, goal under "
            f"{GOAL_US:g} µs"
        )
    return lines


def _judged_by_own_part(s: dict[str, Any]) -> bool:
    """Whether the probe and the trace saw every run (``own_under_goal`` then answers)."""
    probe = s.get("probe") or {}
    runs = (probe.get("client") or {}).get("runs")
    return bool(runs) and not probe.get("why_not") and s.get("own_under_goal") is not None


def render(data: dict[str, Any]) -> str:
    """The table and sentence docs/load-generator.md quotes, every figure from ``data``."""
    s = data["summary"]
    capacity = data["capacity_msgs_per_second"]
    lines = [
        f"Measured {data['measured_at']}: `echobench load` open loop at {data['rate']:,.0f} "
        f"msgs/s (half its closed-loop capacity against `native`, {capacity:,.0f} "
        f"msgs/s{_beside_words(data)}), {data['settings']['connections']} connections x "
        f"{data['settings']['size']} B, "
        f"{data['settings']['duration']:g} s a run, server on CPUs {data['server_cpus']} "
        f"({_awake_words(data)}), client on CPU {data['client_cpu']}"
        f"{_nice_words(data['runs'])}{_shield_words(data)}; after each run, a C loop "
        "reading the clock on the client's CPU for as long, at the same nice value"
        f"{_busy_words(data['runs'])} (the host's own stalls).",
        "",
        "| run | max send lag µs | its own part µs | p99 send lag µs | longest own pause µs "
        "| major faults | p99 latency µs | host's longest stall µs | steal % (client CPU) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for index, run in enumerate(data["runs"], 1):
        steal = run["steal_pct"].get(str(data["client_cpu"]))
        faults = run.get("major_faults")
        lines.append(
            f"| {index} | {run['max_send_lag_us']:,.0f} | {_own_part(run.get('causes'))} "
            f"| {run['p99_send_lag_us'] or 0:,.0f} "
            f"| {run['max_pause_us']:,.0f} | {'-' if faults is None else faults} "
            f"| {run['latency_us']['p99'] or 0:,.0f} "
            f"| {run['host_gaps']['max_gap_us']:,.0f} | {'-' if steal is None else steal} |"
        )

    def yes(flag: bool) -> str:
        return "**met**" if flag else "**not met**"

    lines += [
        "",
        f"Median of {len(data['runs'])} runs: max send lag {s['median_max_send_lag_us']:,.0f} µs "
        f"({_lag_goal_words(s, yes)}), longest pause of the client's own "
        f"{s['median_max_pause_us']:,.0f} µs (goal under 500 µs: {yes(s['pause_under_goal'])}); "
        f"the C loop after it stalled up to {s['median_host_max_gap_us']:,.0f} µs, which no "
        f"client on that CPU can beat; the lag 1% of messages reached, what a p99 feels: "
        f"{s['median_p99_send_lag_us']:,.0f} µs.",
    ]
    waits = _wait_sentence(data["runs"])
    if waits:
        lines += ["", waits]
    if "seconds" in s:
        lines += ["", _seconds_sentence(s["seconds"], data["runs"])]
    if s.get("median_own_max_lag_us") is not None:
        lines += ["", _own_sentence(s)]
    if s.get("probe"):
        lines += ["", _probe_sentence(s["probe"])]
    if s.get("cycle"):
        lines += ["", _cycle_sentence(s["cycle"])]
    if data["host"].get("noisy"):
        lines += ["", f"Note: measured in a noisy period: {data['host']['noisy']}."]
    return "\n".join(lines)


def _beside_words(data: dict[str, Any]) -> str:
    beside = data.get("capacity_beside_probe")
    if not beside:  # a file from before the probe, or a run without it
        return ""
    return (
        f" alone, {beside:,.0f} msgs/s with the probe below on its CPU, which the rate is "
        f"half of: the probe took {1 - beside / data['capacity_msgs_per_second']:.0%} of it"
    )


def _lag_goal_words(s: dict[str, Any], yes: Callable[[bool], str]) -> str:
    """The send lag's goal asks for a quiet host: where the probe and the trace measured
    what this one took, the goal is the client's own part, the lag what the host added."""
    if not _judged_by_own_part(s):
        return f"goal under 500 µs: {yes(s['lag_under_goal'])}"
    return (
        f"under 500 µs on a quiet host: {yes(s['lag_under_goal'])} here, where the host "
        "stopped the client's CPU (below); the client's own part of it, which is what a "
        f"quiet host leaves, {s['median_own_max_lag_us']:,.0f} µs: {yes(s['own_under_goal'])}"
    )


def _wait_sentence(runs: list[dict[str, Any]]) -> str:
    """How the runs waited for quiet stretches of the host; empty where none waited."""
    waits = [r["quiet_wait"] for r in runs if (r.get("quiet_wait") or {}).get("probes")]
    if not waits:
        return ""
    quiet = sum(bool(w["quiet"]) for w in waits)
    probes = sum(len(w["probes"]) for w in waits)
    noisy = [p for w in waits for p in w["probes"] if p >= GOAL_US]
    return (
        f"Before each run the bare C loop probed the host for {QUIET_PROBE_S:g} s at a time, "
        "beside the server's CPU kept busy, until it stalled under 500 µs: "
        f"{quiet} of {len(waits)} runs started in a quiet stretch, after {probes} probes and "
        f"{sum(w['waited_s'] for w in waits):,.0f} s in all"
        + (
            f" ({len(noisy)} probes stalled 500 µs or more, up to {max(noisy):,.0f} µs)."
            if noisy
            else "."
        )
    )


def _seconds_sentence(seconds: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    client, host = seconds["client"], seconds["host"]

    def share(side: dict[str, Any], over: str) -> str:
        return f"{side[over]} of {side['seconds']} seconds"

    locked = all(r.get("memory_locked") for r in runs)
    return (
        f"Second by second: the client's largest send lag reached 500 µs in "
        f"{share(client, 'over_goal')} (1 ms in {share(client, 'over_1ms')}; the median "
        f"second's largest {client['median_us'] or 0:,.0f} µs); the bare host's longest stall "
        f"on that CPU, measured after each run for as long, in {share(host, 'over_goal')} "
        f"(1 ms in {share(host, 'over_1ms')}; median {host['median_us'] or 0:,.0f} µs). "
        + (
            "The client's memory was locked against reclaim and its huge pages off in "
            "every run (`clients/_memory.py`)."
            if locked
            else "The client's memory was not locked in every run (not root?): a page "
            "reclaimed by the host costs a major fault, counted in the table."
        )
    )


def _own_part(causes: dict[str, Any] | None) -> str:
    """A run's largest own part of a lag, for the table: '-' without a trace."""
    if not causes or not causes.get("traced"):
        return "-"
    own, least = causes["own_max_lag_us"], causes.get("own_max_lag_least_us")
    if own is None:
        return f"under {causes['own_under_us']:g}"
    if least is None or round(least) == round(own):
        return f"{own:,.0f}"
    return f"{least:,.0f}-{own:,.0f}"


def _nice_words(runs: list[dict[str, Any]]) -> str:
    nices = {r.get("nice") for r in runs}
    if nices == {None}:  # a file from before the client's nice value was recorded
        return ""
    why = next((r["nice_not_set"] for r in runs if r.get("nice_not_set")), None)
    words = ", ".join(str(n) for n in sorted(n for n in nices if n is not None))
    return f" at nice {words}" + (f" ({why})" if why else "")


def _shield_words(data: dict[str, Any]) -> str:
    record = data.get("shield")
    if record is None:  # a file from before the shield
        return ""
    if not record["cpus"]:
        return f", not shielded ({record['warning'] or 'asked not to'})"
    threads = record["threads"]
    names = ", ".join(
        f"`{name}` x{count}" if count > 1 else f"`{name}`"
        for name, count in sorted(threads.items(), key=lambda item: (-item[1], item[0]))
    )
    spare = ",".join(str(c) for c in record["spare"])
    return (
        f", shielded: {sum(threads.values())} other threads ({names or 'none'}), "
        f"{len(record['irqs'])} interrupts"
        + (" and the kernel's unbound workqueues" if record["workqueues"] else "")
        + f" moved to CPU {spare}{_sysctl_words(record.get('sysctls') or {})} for the runs "
        "and the loops, put back after (`runner/_shield.py`)"
    )


def _sysctl_words(changed: dict[str, list[int]]) -> str:
    words = kernel_words(changed)
    return f" and, of its settings, {words}" if words else ""


def _busy_words(runs: list[dict[str, Any]]) -> str:
    busy = {tuple(r["host_gaps"].get("busy_cpus") or ()) for r in runs}
    if busy == {()}:  # a file from before, or a machine that could not
        return ""
    cpus = ",".join(str(c) for c in sorted({c for b in busy for c in b}))
    every = "" if () not in busy else " in some runs"
    return (
        f", with CPU {cpus} kept busy meanwhile by an idle-priority loop{every}, as the "
        "server and its idle polling kept it in the run: this host stops a vCPU more "
        "often when the other vCPU is busy too"
    )


def _awake_words(data: dict[str, Any]) -> str:
    if not data.get("server_cpus_kept_awake"):
        return "not kept awake"
    # A file from before ``awake_how`` was recorded: its CPUs had spinners.
    return f"kept awake: {data.get('awake_how') or 'an idle-priority busy loop'}"


def _least(s: dict[str, Any]) -> str:
    least = s.get("median_own_max_lag_least_us")
    if least is None or round(least) >= round(s["median_own_max_lag_us"]):
        return ""
    return (
        f", and at least {least:,.0f} µs: this VM's trace records no event of its platform "
        "agent's threads, so where one took the CPU the trace sees when it took it, and "
        "only by the client's next event (its tick, every 4 ms) that it had given it back"
    )


def _cycle_sentence(c: dict[str, Any]) -> str:
    client, loop = c["client"], c["loop"]
    stalls = (
        f"Of the stalls of {STALL_US / 1e3:g} ms or more, the client's {client['stalls']} "
        f"and the bare loop's {loop['stalls']}"
    )
    window = f"{_cycle.WINDOW_NS / 1e6:g} ms of a {_cycle.CYCLE_NS / 1e6:g} ms cycle"
    if not c["recurs"]:
        return (
            f"{stalls}, no one phase held more than chance would put there: at most "
            f"{c['in_window']} began in the same {window} (`_cycle.py`)."
        )
    sentence = (
        f"{stalls}: {client['in_window']} and {loop['in_window']} began in the same "
        f"{window} (at {c['phase_ms']:.1f} ms; the chance that stalls at random times "
        f"would fill some such window as full: under {_chance_words(c['chance'])}), lasting "
        f"a median {c['median_in_window_us'] or 0:,.0f} µs: periodic work of the host's, "
        "which stops the vCPU between ticks, where the trace cannot see it (`_cycle.py`)."
    )
    if c.get("median_own_max_lag_us") is not None:
        verdict = "**met**" if c["own_under_goal"] else "**not met**"
        sentence += (
            " Less the episodes that began in that window, the client's own part is at most "
            f"{c['median_own_max_lag_us']:,.0f} µs (the median of the runs' largest; goal "
            f"under 500 µs: {verdict})."
        )
    return sentence


def _chance_words(chance: float) -> str:
    """A small chance as a power of ten just above it: 1e-7 for 3.2e-8."""
    if chance <= 0:
        return "1e-300"
    exponent = min(0, math.ceil(math.log10(chance)))
    return f"1e{exponent}" if exponent < 0 else "1"


def _own_sentence(s: dict[str, Any]) -> str:
    # Again for a file from before, which names each run's pid apart.
    held = ", ".join(
        f"`{name}` {us:,.0f} µs"
        + (" (the probe: the vCPU stopped while it ran)" if name == "stopprobe" else "")
        for name, us in _longest_by_program(s["held_by_us"].items()).items()
    )
    verdict = "**met**" if s["own_under_goal"] else "**not met**"
    return (
        "Set against the kernel's trace of the client's CPU (`_schedtrace.py`: ftrace's "
        "scheduler switches, and its timer tick, which fires late or not at all on a "
        "vCPU the hypervisor has stopped, a stop steal did not count here), a lag of "
        "250 µs or more counts as the client's own only by how much it outlasts what the "
        "host took since the client "
        f"fell behind: at most {s['median_own_max_lag_us']:,.0f} µs (the median of the "
        f"runs' largest; goal under 500 µs: {verdict}){_least(s)}. In those lags the vCPU "
        "stopped for "
        f"up to {s['stopped_max_us'] or 0:,.0f} µs by its tick and other tasks held the CPU: "
        f"{held or 'none'}. The check on the trace: the bare C loop, which has no work of "
        "its own, had gaps it left unexplained of up to "
        f"{s['median_loop_unexplained_us']:,.0f} µs (the median of the runs' largest; 250 "
        "means none that long); "
        + (
            "with the probe beside them (below), a stop shows to within its period, "
            f"{s['probe']['period_us']:g} µs."
            if _judged_by_own_part(s)
            else "a stop that spans no tick (every 4 ms) shows in neither."
        )
    )


def _median_or_none(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _probe_sentence(probe: dict[str, Any]) -> str:
    if probe.get("why_not"):
        return f"No probe ran beside the client: {probe['why_not']}."
    client, loop = probe["client"], probe["loop"]
    rate = client["wakeups_per_second"]

    def found(side: dict[str, Any]) -> str:
        return (
            f"{side['late_stretches']:,} stretches ({side['over_1ms']} of 1 ms or more, the "
            f"longest {side['late_max_us'] or 0:,.0f} µs)"
        )

    return (
        "Beside the client, and beside the bare loop, a probe at real-time priority woke "
        f"every {probe['period_us']:g} µs (`_stopprobe.py`)"
        + (f", {rate:,.0f} times a second" if rate else "")
        + f"; its median run's wakeups came {client['median_late_p99_us'] or 0:,.0f} µs late "
        "at p99. A wakeup 100 µs or more late is a stretch in which the CPU was taken from "
        "every task at normal priority (the vCPU stopped, or interrupts and their soft "
        "work), whatever the guest's trace shows: it found "
        f"{found(client)} in the client's runs and {found(loop)} in the loops'. Those are "
        "set against the lags with the trace's, each stretch counted once."
    )
