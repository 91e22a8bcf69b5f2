"""The named matrices a run starts from: ``echobench run --scenario NAME``.

A scenario is one entry in ``SCENARIOS``: a name, a line of help, and the matrix
defaults it sets. Options given on the command line (``--backends``, ``--sizes``,
``--connections``, ``--repeat``, ``--duration``, ``--warmup`` ...) override any of
them. Adding a scenario is adding one ``register(Scenario(...))`` here.

Most scenarios run the plain matrix. One that plans from what it measures (``latency``:
a capacity probe per backend, then open-loop runs at fractions of it) names the module
that runs it instead (``runner``, exposing ``run_scenario(runner, skipped)``), and the
options only it reads (``own``, with their defaults; other scenarios refuse them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from echobench.benchmarks.runner._interference import DEFAULT_THRESHOLD_PCT
from echobench.benchmarks.runner._quiet import QUIET_TIMEOUT_S, RETRIES
from echobench.servers._errors import UserError


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    defaults: Mapping[str, object]
    #: The module that runs this scenario instead of the plain matrix, or None.
    runner: str | None = None
    #: Options only this scenario reads, with their defaults (recorded in the config).
    own: Mapping[str, object] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    SCENARIOS[scenario.name] = scenario
    return scenario


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UserError(f"unknown scenario {name!r} (choose from {', '.join(SCENARIOS)})") from None


#: A meaningful run of a few minutes per handful of backends.
DEFAULTS: dict[str, object] = {
    "sizes": [64, 4096],
    "connections": [1, 32],
    "idle": [],
    "rates": [None],
    "transports": ["tcp"],
    "duration": 2.0,
    "warmup": 0.5,
    "repeat": 3,
    "workers": None,
    "order": "shuffle",
    "server_options": {},
    "readline": 0,
    # Keep the server's CPUs awake where it idles between messages (one connection, an
    # open loop): idle, a halted vCPU's wake-up was most of such a figure; at more
    # connections the busy loop cost a fast server up to 15% (``_measure.awake_for``).
    "awake": "auto",
    # The load client's CPUs left to it (``_shield``): off until a sweep shows it helps.
    "shield": False,
    # What a disturbed repeat is, and what the run does about it (``_quiet``).
    "interference": True,
    "max_interference": DEFAULT_THRESHOLD_PCT,
    "disturbed_retries": RETRIES,
    "quiet_timeout": QUIET_TIMEOUT_S,
}
#: Every available backend, one small case each, well under a minute.
QUICK: dict[str, object] = {
    **DEFAULTS,
    "sizes": [1024],
    "connections": [10],
    "duration": 1.0,
    "warmup": 0.2,
    "repeat": 1,
    # Under a minute: a busy host is waited for half a minute at most, and a disturbed
    # repeat measured again once (it is marked if still disturbed).
    "quiet_timeout": 30.0,
    "disturbed_retries": 1,
}
#: Concurrency as the dimension: 64 B closed loop from 1 to 10,000 connections, and 10
#: busy connections among 10,000 idle ones (the C10K case).
#:
#: Budget, over all 18 backends on a 2-core machine (the whole scenario in under 20
#: minutes): 6 cases x 18 backends = 108 case runs. Measured per case under a load
#: average of 4.5 to 12 (other work on the same 2 cores), beyond its warmup and window:
#: 3-4 s at up to 2,000 connections (server start and prime, the load client's start,
#: the memory reading, stopping; the conformance gate adds 3 s once per backend); 5-7 s
#: at 10,000 for an event loop (the connect storm takes 2.5 s of it), 13 s for a thread
#: per connection; with 10,000 idle, 7 s for an event loop and 30 s for threads (whose
#: 10,000 threads do not all echo the end-of-window probe within its 10 s timeout).
#: With a 1 s warmup (a thread per connection needs it to serve 10,000 connections
#: once) and a 1.5 s window: 72 x 6.5 s + 34 x 9.5 s + (15.5 + 32.5) s + 18 x 3 s = 903 s,
#: 15 minutes on that busy machine, less on a quiet one. Hence one repeat; ``--repeat
#: 3`` gives the spread, at three times the cost.
SCALE: dict[str, object] = {
    **DEFAULTS,
    "sizes": [64],
    "connections": [1, 10, 100, 1000, 10000],
    "idle": [[10, 10000]],
    "duration": 1.5,
    "warmup": 1.0,
    "repeat": 1,
}

register(Scenario("default", "64 B and 4 KiB at 1 and 32 connections, 3 repeats", DEFAULTS))
register(Scenario("quick", "every backend, one small case, one repeat: under a minute", QUICK))
register(
    Scenario(
        "scale",
        "64 B closed loop at 1 to 10,000 connections, and 10 busy among 10,000 idle",
        SCALE,
    )
)
#: The open-loop latency sweep: 64-byte messages on 32 connections, one pass of 1.5 s
#: per point. A backend costs its verification (about 3 s), a 3 s probe (about 5 s with
#: its warm-up and start-up) and about eleven points (8 fractions and 3 common rates, a
#: few shared) of about 3.5 s: about 47 s. The published sweep, nine backends (one per
#: family), takes about 7 minutes on a 2-core machine; all eighteen about 15.
LATENCY: dict[str, object] = {
    **DEFAULTS,
    "sizes": [64],
    "connections": [32],
    # Open-loop rates given here are the common absolute rates; by default they come
    # from the slowest backend's capacity.
    "rates": [],
    "duration": 1.5,
    "repeat": 1,
    # At 10% of capacity a halted vCPU's wake-up dominated p99 in a VM (``_awake``): the
    # open-loop points keep the server's CPUs awake; the closed-loop capacity probe (32
    # connections) does not, as a busy loop there cost a fast server 15% (``auto``).
}
#: vmbench's uvloop chart (MagicStack/vmbench run_benchmarks, the chart in uvloop's README):
#: 1, 10 and 100 KiB messages at concurrency 10, closed loop, over TCP; asyncio's
#: sockets, streams and protocol servers on asyncio and on uvloop, with every newer
#: loop and the native ceilings beside them. As vmbench, the streams servers are
#: measured in readline mode, each request 5 lines of the size (``--mpr=5``), and also
#: plainly. vmbench ran each server once, 30 s per size after a 10 s warm-up; here
#: every case gets 3 interleaved repeats of 4 s after 1 s, so drift hits all alike.
#: Cost: 12 backends x 3 sizes + 3 streams x 3 sizes in readline mode = 45 cases x 3
#: repeats x about 7 s (start, prime, warm-up, window, stop) + 12 gates x 3 s, about 17
#: minutes on a 2-core machine.
#: The three asyncio APIs of the chart, in its order.
VMBENCH_APIS = ("sockets", "streams", "protocol")
VMBENCH_BACKENDS = [
    *(f"{loop}-{api}" for loop in ("asyncio", "uvloop", "rloop") for api in VMBENCH_APIS),
    "uring-python",
    "uring-native",
    "native",
]
VMBENCH: dict[str, object] = {
    **DEFAULTS,
    "backends": VMBENCH_BACKENDS,
    "sizes": [1024, 10240, 102400],
    "connections": [10],
    "readline": 5,
    "duration": 4.0,
    "warmup": 1.0,
    "repeat": 3,
}
register(
    Scenario(
        "vmbench",
        "vmbench's uvloop chart: 1, 10, 100 KiB at concurrency 10; asyncio, uvloop and rloop "
        "sockets, streams (readline, 5 lines a request, and plain) and protocol; io_uring "
        "and native beside them",
        VMBENCH,
    )
)

#: Percent of each backend's capacity that the latency sweep offers by default.
LOAD_PERCENTS = (10, 25, 50, 70, 80, 90, 95, 100)

register(
    Scenario(
        "latency",
        "a closed-loop capacity probe per backend, then open-loop latency at 10-100% of it "
        "and at rates common to all (--load-fractions, --slo-p99, --probe-duration)",
        LATENCY,
        runner="echobench.benchmarks.runner._sweep",
        own={
            "load_fractions": [f / 100 for f in LOAD_PERCENTS],
            "slo_p99_us": 1000.0,
            "probe_duration": 3.0,
            "max_windows": 5,
            "remeasure_budget": 120.0,
        },
    )
)
