"""The conformance suite: every check against every registered, available backend.

The registry is the only list, so a backend added by anyone (a file in
``servers/``, or an installed plugin) is tested here with no edit. Each
backend runs as a real ``echobench serve`` subprocess; the peer is plain
blocking sockets.
"""

from __future__ import annotations

import pytest

from conftest import ConformanceServers, available_backend_names
from echobench.servers._conformance import CHECKS

CASES = [
    pytest.param(backend, check, id=f"{backend}-{check}")
    for backend in available_backend_names()
    for check in CHECKS
]


@pytest.mark.parametrize(("backend", "check"), CASES)
def test_conformance(backend: str, check: str, conformance_servers: ConformanceServers) -> None:
    CHECKS[check](conformance_servers.factory(backend, check))
