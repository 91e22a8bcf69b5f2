"""Truth: does the latency scenario find a capacity it is told?

``echobench latency-check`` sweeps a server whose capacity is known exactly: a C epoll
loop (``ratelimit_echo.c``, served as the ``ratelimited`` backend of ``backends/``,
which the check finds through ``ECHOBENCH_BACKEND_PATH``) that serves its bytes at a
fixed rate through one queue (a token bucket: a 10 ms burst is allowed, so a burst the
client sends after a stall of its own is absorbed rather than queued, as a real
server's parallelism absorbs it; over any longer stretch the rate is the capacity) and
echoes each chunk a fixed delay after its service, polling its clock rather than a
timer, so its own floor is the delay plus microseconds, not a 1 ms tick.
``echobench run --scenario latency --backends ratelimited`` runs as a
user would run it (the runner starts the server pinned, keeps its CPU awake, measures
the floor beside it) at a p99 target a few times the server's floor (2 ms by default,
over a 0.2 ms delay), with load fractions around the capacity. Below the capacity every
message waits its service and the delay; past it the queue grows through the window,
so the first crossing must land at the capacity: the check passes when the scenario's
``slo_capacity`` is within 10% of it and its range holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command
from echobench.servers._registry import PATH_VARIABLE

#: How close the capacity at the target must land, as a share of the true capacity.
TOLERANCE = 0.10


@dataclass(frozen=True)
class CheckSettings:
    capacity: float = 20_000.0  # msgs/s
    size: int = 64
    delay_us: float = 200.0
    burst_us: float = 10_000.0
    connections: int = 32
    target: str = "2ms"
    fractions: str = "50,80,90,95,100,105,110"
    probe_duration: float = 2.0
    duration: float = 1.5
    warmup: float = 0.5
    remeasure_budget: float = 60.0

    def check(self) -> None:
        if not (self.capacity > 0 and self.size > 0 and self.delay_us >= 0):
            raise UserError("--capacity and --size must be positive and --delay zero or more")
        if self.connections < 1:
            raise UserError("--connections must be at least 1")


#: ``--quick``: three points around the capacity, short windows: the pipeline in a minute.
QUICK = CheckSettings(
    fractions="50,100,110", probe_duration=1.0, duration=0.5, warmup=0.2, remeasure_budget=0.0
)


BACKENDS = Path(__file__).with_name("backends")


def measure(settings: CheckSettings) -> dict[str, Any]:
    """Run the latency scenario over the known server; the check's record."""
    settings.check()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="echobench-latency-check-") as scratch:
        out = Path(scratch) / "sweep.json"
        bytes_per_s = settings.capacity * settings.size
        argv = [*echobench_command(), "run", "--scenario", "latency", "--backends", "ratelimited"]
        argv += ["--server-option", f"ratelimited:bytes_per_s={bytes_per_s:g}"]
        argv += ["--server-option", f"ratelimited:delay_us={settings.delay_us:g}"]
        argv += ["--server-option", f"ratelimited:burst_us={settings.burst_us:g}"]
        argv += ["--connections", str(settings.connections), "--sizes", str(settings.size)]
        argv += ["--slo-p99", settings.target, "--load-fractions", settings.fractions]
        argv += ["--probe-duration", f"{settings.probe_duration:g}"]
        argv += ["--duration", f"{settings.duration:g}", "--warmup", f"{settings.warmup:g}"]
        argv += ["--remeasure-budget", f"{settings.remeasure_budget:g}", "--no-verify"]
        argv += ["--out", str(out)]
        # Its server closes on EOF without echoing what is queued: not the contract's
        # half-close, so it skips the conformance gate; it is not measured as a paradigm.
        env = {**os.environ, PATH_VARIABLE: str(BACKENDS)}
        print(f"latency-check: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, env=env, check=False)
        if done.returncode != 0 or not out.exists():
            raise UserError(f"echobench run --scenario latency failed (exit {done.returncode})")
        doc = json.loads(out.read_text())
    return {
        "benchmark": "latency-check",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": {
            "kind": "ratelimit_echo.c: one FIFO queue at a fixed byte rate, then a fixed delay",
            "capacity_msgs_per_second": settings.capacity,
            "size": settings.size,
            "delay_us": settings.delay_us,
            "burst_us": settings.burst_us,
        },
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "environment": doc.get("environment"),
        "sweep": doc["latency"],
        "verdict": verdict(doc["latency"], settings.capacity),
        "wall_s": round(time.monotonic() - started, 1),
    }


def verdict(latency: dict[str, Any], capacity: float) -> dict[str, Any]:
    """Whether the scenario found the capacity: within ``TOLERANCE``, its range holding it."""
    (sweep,) = [s for s in latency["sweeps"] if s["backend"] == "ratelimited"]
    slo = (sweep.get("summary") or {}).get("slo_capacity") or {}
    value = slo.get("messages_per_second")
    low, high = slo.get("range") or (None, None)
    error = None if value is None else float(value) / capacity - 1
    return {
        "slo_capacity": value,
        "range": [low, high],
        "error": None if error is None else round(error, 4),
        "within_10_percent": error is not None and abs(error) <= TOLERANCE,
        "range_holds_it": (low is None or low <= capacity) and (high is None or capacity <= high),
        "probe_capacity": (sweep.get("capacity") or {}).get("messages_per_second"),
        "undecided": slo.get("undecided") or [],
        "reason": slo.get("reason"),
    }


def missed(data: dict[str, Any]) -> list[str]:
    v = data["verdict"]
    capacity = data["server"]["capacity_msgs_per_second"]
    if v["slo_capacity"] is None:
        return [f"latency-check: no capacity at the target ({v['reason']})"]
    lines = []
    if not v["within_10_percent"]:
        lines.append(
            f"latency-check: slo_capacity {v['slo_capacity']:,.0f} msgs/s is "
            f"{v['error']:+.1%} off the server's {capacity:,.0f}"
        )
    if not v["range_holds_it"]:
        lines.append(f"latency-check: the range {v['range']} does not hold {capacity:,.0f}")
    return lines


def render(data: dict[str, Any]) -> str:
    """The sentences docs/latency.md quotes, every figure from ``data``."""
    v, server, s = data["verdict"], data["server"], data["settings"]
    low, high = v["range"]
    capacity = server["capacity_msgs_per_second"]
    found = (
        "found none"
        if v["slo_capacity"] is None
        else f"put it at {v['slo_capacity']:,.0f} msgs/s ({v['error']:+.1%}), range "
        f"[{'none' if low is None else f'{low:,.0f}'}, "
        f"{'open' if high is None else f'{high:,.0f}'}]"
    )
    yes = "**met**" if v["within_10_percent"] and v["range_holds_it"] else "**not met**"
    return (
        f"Measured {data['measured_at']} by `echobench latency-check`: a server whose capacity "
        f"is {capacity:,.0f} msgs/s of {server['size']} B exactly (`ratelimit_echo.c`: one queue "
        f"at a fixed byte rate, a {server.get('burst_us', 0) / 1000:g} ms burst allowed, each "
        f"echo {server['delay_us']:g} µs after its service, polling its clock, no timer tick), "
        f"swept by `echobench run --scenario latency --backends ratelimited` over "
        f"{s['connections']} connections at {s['fractions']}% of the probe's capacity "
        f"({v['probe_capacity']:,.0f} msgs/s), p99 target {s['target']}. The first crossing "
        f"{found}: within 10% of the true capacity, its range holding it: {yes}."
    )
