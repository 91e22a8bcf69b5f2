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
#: Budget, over all 18 backends on a 2-core machine: 6 cases x 18 backends = 108 case
#: runs. Measured under a load average of 4.5 (other work on the same 2 cores): a case
#: at up to 1,000 connections costs about 2.7 s of fixed cost (server start and prime,
#: the load client's start, the memory reading, stopping) plus its warmup and window;
#: a case at 10,000 connections about 12 s more (the connect storm: 2.5 s for an event
#: loop, 5-6 s for a thread per connection; the accept wait and the memory reading;
#: closing 10,000 sockets), and the conformance gate 3.5 s per backend. With a 1 s
#: warmup (a thread per connection needs it to serve 10,000 connections once) and a
#: 1.5 s window: 72 x (2.7 + 2.5) + 36 x (14.7 + 2.5) + 18 x 3.5 = 1,063 s, about 18
#: minutes at that load, less on a quiet machine; so one repeat. ``--repeat 3`` gives
#: spread where it matters, at three times the cost.
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
