"""Shared fixtures: the registry's backends, test-only backend files, running servers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from echobench.servers._backend import Backend
from echobench.servers._conformance import (
    NEEDS_FRESH_SERVER,
    ServerFactory,
    SharedServer,
    factory_for,
)
from echobench.servers._launch import echobench_command
from echobench.servers._registry import PATH_VARIABLE, available_backends, discover


@pytest.fixture(autouse=True)
def _cpu_affinity_restored() -> Iterator[None]:
    """A test leaves the test process on the CPUs it found it on: the runner pins its own
    process to the load client's CPUs (``_isolation.pin_self``), and a test that runs it
    in-process would otherwise leave every later test, and the commands they start,
    pinned there."""
    before = os.sched_getaffinity(0)
    yield
    if os.sched_getaffinity(0) != before:
        os.sched_setaffinity(0, before)


#: Deliberately broken backends, one file each, for showing that checks can fail.
BROKEN_BACKENDS = Path(__file__).parent / "broken_backends"

#: The backends issue 2 requires; every one must be listed and available.
REQUIRED_BACKENDS = (
    "asyncio-streams",
    "asyncio-protocol",
    "asyncio-sockets",
    "uvloop-streams",
    "uvloop-protocol",
    "uvloop-sockets",
    "twisted",
    "tornado",
    "threads",
    "selectors",
)


def available_backend_names() -> list[str]:
    """Every registered backend that can run here; the registry is the only list."""
    return [backend.name for backend in available_backends()]


@pytest.fixture(scope="session")
def registered_backends() -> tuple[Backend, ...]:
    return discover()


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


#: ``echobench run`` options for a test of the pipeline, not of the host: no host check,
#: no wait for a quiet host, and a disturbed repeat kept as it came, not measured again
#: (a shared test machine is often busy). ``test_quiet.py`` tests that discipline.
AS_MEASURED = ("--host-check", "0", "--quiet-timeout", "0", "--disturbed-retries", "0")


def run_echobench(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
    """Run the installed ``echobench`` CLI as a user would."""
    done = subprocess.run(
        [*echobench_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """A clean failure: non-zero exit, one line on stderr, no traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def backend_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on ``ECHOBENCH_BACKEND_PATH`` (here and in subprocesses) for backend files."""
    directory = tmp_path / "backends"
    directory.mkdir()
    monkeypatch.setenv(PATH_VARIABLE, str(directory))
    discover.cache_clear()
    yield directory
    monkeypatch.delenv(PATH_VARIABLE)
    discover.cache_clear()


@pytest.fixture
def broken_backends(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put ``tests/broken_backends`` on the registry's path (here and in subprocesses)."""
    monkeypatch.setenv(PATH_VARIABLE, str(BROKEN_BACKENDS))
    discover.cache_clear()
    yield BROKEN_BACKENDS
    monkeypatch.delenv(PATH_VARIABLE)
    discover.cache_clear()


class ConformanceServers:
    """Servers for the conformance tests: one shared per backend where a check allows.

    Tests run backend by backend, so when a new backend is asked for, the
    previous backend's shared server is stopped; at most one runs at a time.
    """

    def __init__(self) -> None:
        self._backend: str | None = None
        self._shared: SharedServer | None = None

    def factory(self, backend: str, check: str) -> ServerFactory:
        if check in NEEDS_FRESH_SERVER:
            return factory_for(backend)
        if backend != self._backend or self._shared is None:
            self.close()
            self._backend, self._shared = backend, SharedServer(factory_for(backend))
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
        self._backend, self._shared = None, None


@pytest.fixture(scope="session")
def conformance_servers() -> Iterator[ConformanceServers]:
    servers = ConformanceServers()
    yield servers
    servers.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without test-only backend paths, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != PATH_VARIABLE}
    env.update(extra)
    return env


WriteBackend = Callable[[str, str], Path]
