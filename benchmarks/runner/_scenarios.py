"""The named matrices a run starts from: ``echobench run --scenario NAME``.

A scenario is one entry in ``SCENARIOS``: a name, a line of help, and the matrix
defaults it sets. Options given on the command line (``--backends``, ``--sizes``,
``--connections``, ``--repeat``, ``--duration``, ``--warmup`` ...) override any of
them. Adding a scenario is adding one ``register(Scenario(...))`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from echobench.servers._errors import UserError


@dataclass(frozen=True)
class Scenario:
    name: str
    help: str
    defaults: Mapping[str, object]


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
}
#: Every available backend, one small case each, well under a minute.
QUICK: dict[str, object] = {
    **DEFAULTS,
    "sizes": [1024],
    "connections": [10],
    "duration": 1.0,
    "warmup": 0.2,
    "repeat": 1,
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
