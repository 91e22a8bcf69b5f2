"""Truth benchmark: the soak. Does the load client stay true over a long open-loop run?

``echobench soak`` (and ``echobench publish --only soak``) runs, against the ``native``
server (a C epoll loop: nothing in it changes over a run) on one CPU with the load
client on another, one after the other:

1. the machine's noise floor: the native C client (``_native_client``), closed loop,
   the same connections and size, for ``noise`` seconds (default: as long as the
   soak): its slowest echo and its longest loop gap, what this machine does to a C
   client doing the same work;
2. unless ``rate`` is given, the load client's closed-loop capacity against this
   server (``CAPACITY_S`` seconds): the soak runs at ``RATE_SHARE`` of it. A fixed
   rate is at a different distance from the client's limit on every machine, and at
   or past it the client falls behind its own schedule, so a soak would measure the
   client's backlog (the first published soak, at a fixed 140,000 msgs/s on a host
   whose client held about 110,000, did just that);
3. a short open-loop run (``short`` seconds) at the soak's rate: the client's peak
   memory at that rate and connection count, the baseline;
4. the soak: ``echobench load --rate R --hlog`` for ``duration`` seconds (10 minutes
   over 32 connections x 64 B by default), the load client's process tree's RSS
   sampled every second.

Per segment (a minute by default) it reports msgs/s, p50/p99/p99.9/max (the interval
log's seconds merged, exactly), the largest send lag and the client's RSS. The goals
(issue 15): every segment's p99 within 2x of the first's; the max send lag under
20 ms, unless the machine's own noise floor is higher; the soak's peak memory within
20% + 8 MiB of the short run's. ``STEP`` publishes it as ``results/published/soak.json``
with its interval log beside it (``soak.hlog``) and the table between the
``soak`` markers.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from echobench.benchmarks.charts._hlogs import histograms
from echobench.benchmarks.runner import _isolation
from echobench.benchmarks.runner._awake import awake_words, keep_awake
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._shield import kernel_words, quiet_kernel
from echobench.clients._histogram import new_histogram, summarize
from echobench.clients._load_schema import LAG_INSTANT_KEYS
from echobench.clients._priority import OPEN_LOOP_NICE
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command, start_server

FILE = "soak.json"
HLOG = "soak.hlog"
BEGIN = "<!-- soak:begin -->"
END = "<!-- soak:end -->"
WARMUP_S = 1.0
#: The goals the soak checks.
P99_DRIFT = 2.0
LAG_GOAL_MS = 20.0
RSS_SHARE, RSS_SLACK = 1.2, 8 * 2**20
#: Without ``--rate``: the share of the client's closed-loop capacity the soak offers,
#: and how long that capacity is measured.
RATE_SHARE = 0.5
CAPACITY_S = 5.0


@dataclass(frozen=True)
class SoakSettings:
    duration: float = 600.0
    rate: float | None = None  # None: RATE_SHARE of the measured capacity
    connections: int = 32
    size: int = 64
    segment: float = 60.0
    short: float = 10.0
    noise: float | None = None  # None: as long as the soak

    @property
    def noise_s(self) -> float:
        return self.duration if self.noise is None else self.noise

    def check(self) -> None:
        for name in ("duration", "rate", "segment", "short", "noise_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise UserError(f"--{name.removesuffix('_s')} must be a positive number")
        if self.connections < 1 or self.size < 1:
            raise UserError("--connections and --size must be at least 1")


#: ``echobench publish --quick``: proves the pipeline in under a minute.
QUICK = SoakSettings(duration=20.0, rate=20_000.0, segment=5.0, short=5.0)


def _load(
    port: int,
    args: SoakSettings,
    rate: float | None,
    duration: float,
    cpus: tuple[int, ...],
    out: Path,
) -> tuple[dict[str, Any], list[tuple[float, int]]]:
    """Run ``echobench load`` (open loop at ``rate``, else closed loop); its result and its
    tree's RSS every second."""
    json_path = out.with_suffix(".json")
    argv = [*echobench_command(), "load", "--port", str(port)]
    if rate is not None:
        argv += ["--rate", f"{rate:g}", "--hlog", str(out), "--nice", str(OPEN_LOOP_NICE)]
    argv += ["-c", str(args.connections), "-s", str(args.size), "-d", f"{duration:g}"]
    argv += ["--warmup", f"{WARMUP_S:g}", "--cpus", ",".join(map(str, cpus))]
    argv += ["--json", str(json_path), "-q"]
    client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss: list[tuple[float, int]] = []
    started = time.monotonic()
    try:
        tree = psutil.Process(client.pid)
        while client.poll() is None:
            total = 0
            try:
                for process in [tree, *tree.children(recursive=True)]:
                    total += process.memory_info().rss
            except psutil.Error:
                pass  # a process that just ended
            rss.append((time.monotonic() - started, total))
            time.sleep(1.0)
    finally:
        if client.poll() is None:
            client.kill()
        _, err = client.communicate()
    if client.returncode != 0 or not json_path.exists():
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"echobench load failed (exit {client.returncode}): {last[0]}")
    result: dict[str, Any] = json.loads(json_path.read_text())
    json_path.unlink()
    return result, rss


def _noise(host: str, port: int, args: SoakSettings, cpus: tuple[int, ...]) -> dict[str, Any]:
    from echobench.benchmarks.reference.native_client import run_native_client

    result = run_native_client(
        host,
        port,
        connections=args.connections,
        size=args.size,
        duration=args.noise_s,
        warmup=WARMUP_S,
        cpus=cpus,
    )
    return {
        "client": "native C client, closed loop",
        "duration_s": args.noise_s,
        "messages_per_second": result["messages_per_second"],
        "max_latency_us": result["max_latency_us"],
        "max_gap_us": result["max_gap_us"],
    }


def segments(
    hlog: Path, load: dict[str, Any], rss: list[tuple[float, int]], segment: float
) -> list[dict[str, Any]]:
    """The soak per ``segment`` seconds: interval histograms merged, lags and RSS by time."""
    merged: dict[int, Any] = {}
    seconds: dict[int, float] = {}
    for start, length, histogram in histograms(hlog):
        # By its middle: a worker's timer can close an interval a little before the
        # nominal second, so its successor starts at 59.9996 s, not in the next minute.
        index = int((start + length / 2) // segment)
        merged.setdefault(index, new_histogram()).add(histogram)
        seconds[index] = seconds.get(index, 0.0) + length
    lags = (load.get("rate") or {}).get("max_send_lag_per_second_us") or []
    warm = WARMUP_S  # RSS samples count from the client's start, warmup and connecting first
    rows = []
    for index in sorted(merged):
        latency = summarize(merged[index]) or {}
        lo, hi = index * segment, (index + 1) * segment
        in_segment = [lag for k, lag in enumerate(lags) if lo <= k < hi]
        rss_in = [value for t, value in rss if lo <= t - warm < hi]
        rows.append(
            {
                "start_s": lo,
                "seconds": round(seconds[index], 3),
                "messages": latency.get("count", 0),
                "messages_per_second": round(latency.get("count", 0) / seconds[index], 1)
                if seconds[index]
                else None,
                "latency_us": {k: latency.get(k) for k in ("p50", "p99", "p999", "max")},
                "max_send_lag_us": max(in_segment) if in_segment else None,
                "client_rss_bytes": max(rss_in) if rss_in else None,
            }
        )
    return rows


def verdicts(data: dict[str, Any]) -> dict[str, Any]:
    rows = data["segments"]
    first = rows[0]["latency_us"]["p99"] if rows else None
    drift = [
        round(r["latency_us"]["p99"] / first, 3) if first and r["latency_us"]["p99"] else None
        for r in rows
    ]
    lag_ms = data["soak"]["rate"]["max_send_lag_us"] / 1e3
    noise_ms = data["noise_floor"]["max_gap_us"] / 1e3
    long_rss, short_rss = (
        data["soak"]["client_rss_peak_bytes"],
        data["short"]["client_rss_peak_bytes"],
    )
    return {
        "p99_drift": drift,
        "p99_within_2x": all(d is not None and d <= P99_DRIFT for d in drift),
        "max_send_lag_ms": round(lag_ms, 3),
        "noise_floor_ms": round(noise_ms, 3),
        "lag_under_20ms": lag_ms < LAG_GOAL_MS,
        "lag_within_noise": lag_ms <= max(LAG_GOAL_MS, noise_ms),
        "rss_growth": round(long_rss / short_rss, 3) if short_rss else None,
        "rss_flat": long_rss <= RSS_SHARE * short_rss + RSS_SLACK,
    }


def measure(args: SoakSettings, hlog: Path) -> dict[str, Any]:
    """Run the soak; its interval log goes to ``hlog``."""
    args.check()
    hlog.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    placement = _isolation.plan(_isolation.usable_cpus())
    client_cpus = placement.client_cpus[:1]
    # Every phase runs with the server's CPUs kept from halting between messages (_awake).
    # And with the kernel's bound periodic work made short (``_shield.quiet_kernel``).
    with keep_awake(placement.server_cpus, how="poll") as awake, quiet_kernel() as quieted:
        server = start_server("native", cpus=placement.server_cpus)
        try:
            prime(server.host, server.port, None, False)
            print(
                f"soak: noise floor, native client, {args.noise_s:g} s", file=sys.stderr, flush=True
            )
            noise = _noise(server.host, server.port, args, client_cpus)
            rate, basis, short = _rate_and_short_run(server.port, args, client_cpus)
            print(
                f"soak: the soak at {rate:,.0f} msgs/s, {args.duration:g} s",
                file=sys.stderr,
                flush=True,
            )
            soak, rss = _load(server.port, args, rate, args.duration, client_cpus, hlog)
        finally:
            server.close()
            if server.process.stdout is not None:
                server.process.stdout.close()
    for name, result in (("short run", short), ("soak", soak)):
        _check_complete(name, result)
    keep = ("messages_per_second", "latency_us", "rate", "client_pauses", "client_rss_peak_bytes")
    data: dict[str, Any] = {
        "benchmark": "soak",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average": list(os.getloadavg()),
        },
        "server": "native",
        "server_cpus": list(placement.server_cpus),
        "client_cpus": list(client_cpus),
        "rate": rate,
        "rate_basis": basis,
        "connections": args.connections,
        "size": args.size,
        "duration_s": args.duration,
        "segment_s": args.segment,
        "hlog": hlog.name,
        "noise_floor": noise,
        "short": {"duration_s": args.short, **{k: short[k] for k in keep}},
        "soak": {k: soak[k] for k in keep},
        "segments": segments(hlog, soak, rss, args.segment),
        "server_cpus_kept_awake": awake.warning or bool(awake.cpus),
        "server_cpus_awake_how": awake.how,
        "kernel_quieted": quieted,
        "warnings": [*placement.warnings, *filter(None, [awake.warning])],
    }
    for part in ("soak", "short"):
        # Per second, kept per segment; the instants of lags only mean something beside
        # a kernel trace of the same run (``echobench client-lag``), which a soak has not.
        for key in ("max_send_lag_per_second_us", *LAG_INSTANT_KEYS):
            data[part]["rate"].pop(key, None)
    data["verdicts"] = verdicts(data)
    data["wall_s"] = round(time.monotonic() - started, 1)
    return data


def _rate_and_short_run(
    port: int, args: SoakSettings, client_cpus: tuple[int, ...]
) -> tuple[float, dict[str, Any] | None, dict[str, Any]]:
    """The soak's rate (``--rate``, else ``RATE_SHARE`` of the client's closed-loop
    capacity, measured first: then what it was based on), and the short run at that rate
    that the soak's memory is compared with."""
    with tempfile.TemporaryDirectory(prefix="echobench-soak-") as scratch:
        basis = None
        rate = args.rate
        if rate is None:
            print(f"soak: the client's capacity, {CAPACITY_S:g} s", file=sys.stderr, flush=True)
            closed, _ = _load(port, args, None, CAPACITY_S, client_cpus, Path(scratch) / "c")
            _check_complete("capacity run", closed)
            capacity = float(closed["messages_per_second"])
            rate = max(100.0, round(RATE_SHARE * capacity, -2))
            basis = {"closed_loop_messages_per_second": capacity, "share": RATE_SHARE}
        print(f"soak: short run, {args.short:g} s", file=sys.stderr, flush=True)
        short, _ = _load(port, args, rate, args.short, client_cpus, Path(scratch) / "s.hlog")
    return rate, basis, short


def _check_complete(name: str, result: dict[str, Any]) -> None:
    if not result["complete"] or result["error_total"]:
        raise UserError(f"the {name} did not complete: {result['stop_reason']}")


def missed(data: dict[str, Any]) -> list[str]:
    """The goals the numbers miss, one line each (``echobench publish`` reports them)."""
    v = data["verdicts"]
    lines = []
    if not v["p99_within_2x"]:
        worst = max((d for d in v["p99_drift"] if d is not None), default=None)
        lines.append(f"soak: a segment's p99 is {worst}x the first's (goal: within {P99_DRIFT:g}x)")
    if not v["lag_within_noise"]:
        lines.append(
            f"soak: max send lag {v['max_send_lag_ms']:.1f} ms, over {LAG_GOAL_MS:g} ms and over "
            f"the machine's noise floor ({v['noise_floor_ms']:.1f} ms)"
        )
    if not v["rss_flat"]:
        lines.append(f"soak: peak RSS grew x{v['rss_growth']} over the short run's")
    return lines


def _ms(us: float | None) -> str:
    return "n/a" if us is None else f"{us / 1e3:,.2f}"


def _quieted(data: dict[str, Any]) -> str:
    words = kernel_words(data.get("kernel_quieted") or {})
    return f"; while it ran, {words}, put back after" if words else ""


def render_table(data: dict[str, Any]) -> str:
    """The published table, generated from the JSON (never edited by hand)."""
    v = data["verdicts"]
    segment = data["segment_s"]
    unit = "minute" if segment == 60 else f"{segment:g} s"
    basis = data.get("rate_basis")
    why = (
        ""
        if basis is None
        else f" ({basis['share']:.0%} of the client's closed-loop capacity against it here, "
        f"{basis['closed_loop_messages_per_second']:,.0f} msgs/s)"
    )
    # A file from before the server's CPUs were kept awake ran with them idling.
    awake = (
        f"; server CPUs kept awake {awake_words([data.get('server_cpus_awake_how')])}, since "
        "a halted vCPU's wake-up otherwise dominates p99 at low load"
        if data.get("server_cpus_kept_awake") is True
        else ""
    )
    lines = [
        f"Measured {data['measured_at']}: `echobench load` open loop at "
        f"{data['rate']:,.0f} msgs/s{why}, {data['connections']} connections x {data['size']} B, "
        f"against `native` for {data['duration_s']:g} s (server on CPUs "
        f"{data['server_cpus']}, client on {data['client_cpus']}; {data['machine']['cpus']} "
        f"CPUs, Python {data['machine']['python']}{awake}{_quieted(data)}). Latency from the "
        "scheduled send "
        f"time, per {unit} from the interval log (`{data['hlog']}`).",
        "",
        f"| {unit} from | msgs/s | p50 ms | p99 ms | p99.9 ms | max ms | max send lag ms "
        "| client RSS MiB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in data["segments"]:
        latency = row["latency_us"]
        rss = row["client_rss_bytes"]
        lines.append(
            f"| {row['start_s']:g} s | {row['messages_per_second'] or 0:,.0f} "
            f"| {_ms(latency['p50'])} | {_ms(latency['p99'])} | {_ms(latency['p999'])} "
            f"| {_ms(latency['max'])} | {_ms(row['max_send_lag_us'])} "
            f"| {'n/a' if rss is None else f'{rss / 2**20:,.1f}'} |"
        )
    pauses = data["soak"]["client_pauses"]
    noise = data["noise_floor"]

    def yes(flag: bool) -> str:
        return "**met**" if flag else "**not met**"

    drift = max((d for d in v["p99_drift"] if d is not None), default=None)
    lines += [
        "",
        f"Every {unit}'s p99 within {P99_DRIFT:g}x of the first's: {yes(v['p99_within_2x'])} "
        f"(largest ratio {drift if drift is not None else 'n/a'}). Max send lag "
        f"{v['max_send_lag_ms']:,.2f} ms, goal under {LAG_GOAL_MS:g} ms: "
        f"{yes(v['lag_under_20ms'])}; the machine's noise floor (the native C client, "
        f"closed loop, {noise['duration_s']:g} s: longest loop gap) is "
        f"{v['noise_floor_ms']:,.2f} ms, slowest echo {_ms(noise['max_latency_us'])} ms. "
        f"Client peak RSS {data['soak']['client_rss_peak_bytes'] / 2**20:,.1f} MiB vs "
        f"{data['short']['client_rss_peak_bytes'] / 2**20:,.1f} MiB for a "
        f"{data['short']['duration_s']:g} s run at the same rate (x{v['rss_growth']}): "
        f"{yes(v['rss_flat'])} (within {RSS_SHARE - 1:.0%} + {RSS_SLACK >> 20} MiB). "
        f"Longest fold step {pauses['max_fold_us']:,.0f} µs "
        f"({pauses['max_fold_cpu_us']:,.0f} µs CPU) over {pauses['folds']:,} steps; garbage "
        f"collections in the window {sum(pauses['gc_collections'])}.",
    ]
    for warning in data["warnings"]:
        lines += ["", f"Note: {warning}"]
    return "\n".join(lines)
