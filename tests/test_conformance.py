"""The conformance suite: every check against every registered, available backend.

The registry is the only list, so a backend added by anyone (a file in
``servers/``, or an installed plugin) is tested here with no edit. Each
backend runs as a real ``echobench serve`` subprocess; the peer is plain
blocking sockets.
"""

from __future__ import annotations

import pytest

from conftest import ConformanceServers
from echobench.servers._conformance import CHECKS
from echobench.servers._registry import available_backends


def _case(backend: str, check: str, known: str | None) -> object:
    # A failure the backend declares as its framework's defect is not run here: some cost
    # a 10 s timeout each, and one (reading past pause_reading) shows only when the client
    # outruns the loop. Every benchmark run's gate still runs them and records the outcome.
    marks = [pytest.mark.xfail(reason=f"known: {known}", run=False)] if known else []
    return pytest.param(backend, check, id=f"{backend}-{check}", marks=marks)


CASES = [
    _case(backend.name, check, backend.known_failures.get(check))
    for backend in available_backends()
    for check in CHECKS
]


@pytest.mark.parametrize(("backend", "check"), CASES)
def test_conformance(backend: str, check: str, conformance_servers: ConformanceServers) -> None:
    CHECKS[check](conformance_servers.factory(backend, check))
