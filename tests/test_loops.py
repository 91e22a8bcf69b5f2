"""Any asyncio loop by name: ``BACKEND@MODULE:FACTORY`` wherever a backend name is taken.

The loops are real: uvloop's, and a test-only loop module (written here, found through
``PYTHONPATH`` by the server subprocesses) whose ``sock_recv`` corrupts what it reads,
so that a loop failing conformance is shown failing, with the check.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import AS_MEASURED, assert_one_line_error, clean_env, run_echobench
from echobench.benchmarks.runner._results_schema import load_results
from echobench.servers._launch import echobench_command

CORRUPTING_LOOP = """
import asyncio


class CorruptingLoop(asyncio.SelectorEventLoop):
    async def sock_recv(self, sock, n):
        data = await super().sock_recv(sock, n)
        return bytes(b ^ 0x20 for b in data)


def new_event_loop():
    return CorruptingLoop()


def not_a_loop():
    return object()
"""


@pytest.fixture
def loop_module(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``corrupting_loop`` imports (here and in subprocesses)."""
    (tmp_path / "corrupting_loop.py").write_text(textwrap.dedent(CORRUPTING_LOOP))
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return clean_env(PYTHONPATH=path)


@pytest.mark.parametrize(
    ("command", "name", "fragment"),
    [
        ("verify", "asyncio-protocol@echobench_no_such_loop:new_event_loop", "cannot import"),
        ("serve", "asyncio-streams@corrupting_loop:no_such_factory", "has no 'no_such_factory'"),
        ("run", "asyncio-sockets@corrupting_loop:not_a_loop", "not an asyncio event loop"),
        ("verify", "asyncio-sockets@corrupting_loop:not_a_loop", "not an asyncio event loop"),
        ("serve", "asyncio-protocol@no-such-loop", "is not MODULE:FACTORY"),
        ("run", "threads@uvloop:new_event_loop", "does not take an asyncio loop"),
        ("serve", "uvloop-streams@corrupting_loop:new_event_loop", "works for asyncio-protocol"),
    ],
)
def test_a_wrong_loop_is_a_one_line_error(
    command: str, name: str, fragment: str, loop_module: dict[str, str]
) -> None:
    args = ["--backends", name, "--quick"] if command == "run" else [name]
    result = run_echobench(command, *args, env=loop_module)
    assert result.returncode == 2, result
    assert_one_line_error(result, fragment)


@pytest.mark.slow
def test_a_loop_is_served_verified_recorded_and_failed_with_the_check(
    tmp_path: Path, loop_module: dict[str, str]
) -> None:
    good = "asyncio-sockets@uvloop:new_event_loop"
    bad = "asyncio-sockets@corrupting_loop:new_event_loop"
    out = tmp_path / "run.json"
    done = subprocess.run(
        [
            *echobench_command(),
            "run",
            *("--backends", f"{good},{bad}"),
            *("--duration", "0.4", "--warmup", "0.1", "--repeat", "1"),
            *("--sizes", "64", "--connections", "2", "--out", str(out), *AS_MEASURED),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=loop_module,
        check=False,
    )
    assert done.returncode == 0, done.stderr  # one backend was measured
    doc = load_results(out)
    cases = {case["backend"]: case for case in doc["cases"]}
    assert cases[good]["status"] == "ok" and cases[good]["summary"]["messages_per_second"]
    assert cases[bad]["status"] == "failed" and cases[bad]["repeats"] == []
    assert cases[bad]["error"].startswith("failed verification: payloads: ")
    assert "echoed byte" in cases[bad]["error"]
    loops = doc["environment"]["loops"]
    uvloop_version = doc["environment"]["frameworks"]["uvloop"]
    assert loops[good] == {
        "spec": "uvloop:new_event_loop",
        "module": "uvloop",
        "package": "uvloop",
        "version": uvloop_version,
    }
    assert uvloop_version is not None
    assert loops[bad]["module"] == "corrupting_loop" and loops[bad]["version"] is None
