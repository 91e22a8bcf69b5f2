"""A load worker takes the nice value it is asked for, or says why it could not.

Checked in a forked child (what a worker is) by the kernel's own account of the
process, once as root and once after dropping to an unprivileged user, and end to end
in what a real run reports.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.connection import Connection

import pytest

from echobench.clients import LoadConfig, run_load
from echobench.clients._priority import Priority, set_nice
from echobench.servers._launch import running_server

ROOT = os.geteuid() == 0
NOBODY = 65534


def _child(pipe: Connection, asked: int | None, drop: bool) -> None:
    if drop:
        os.setuid(NOBODY)
    got = set_nice(asked)
    pipe.send((got, os.getpriority(os.PRIO_PROCESS, 0)))


def _in_child(asked: int | None, drop: bool = False) -> tuple[Priority, int]:
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child, asked, drop))
    process.start()
    got: tuple[Priority, int] = parent.recv()
    process.join(10)
    return got


@pytest.mark.skipif(not ROOT, reason="lowering a nice value takes CAP_SYS_NICE")
def test_a_worker_takes_the_nice_value_asked_for() -> None:
    got, kernel = _in_child(-20)
    assert got == Priority(-20, None) and kernel == -20
    # Unasked, it stays as it was started.
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert _in_child(None) == (Priority(mine, None), mine)


@pytest.mark.skipif(not ROOT, reason="needs root to drop to an unprivileged user")
def test_without_the_privilege_it_runs_as_it_is_and_says_why() -> None:
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    got, kernel = _in_child(-20, drop=True)
    assert kernel == mine == got.nice
    assert got.why_not is not None and got.why_not.startswith("nice -20: "), got
    assert "permi" in got.why_not.lower(), got


def test_a_run_reports_its_workers_nice_value() -> None:
    with running_server("native") as server:
        result = run_load(
            LoadConfig(
                port=server.port,
                connections=4,
                size=64,
                rate=2000,
                duration=1.0,
                warmup=0.2,
                workers=2,
                nice=-20,
            )
        )
    pauses = result["client_pauses"]
    assert result["complete"] and result["messages"] > 0
    if ROOT:
        assert pauses["nice"] == -20 and pauses["nice_not_set"] is None
    else:
        assert pauses["nice"] == os.getpriority(os.PRIO_PROCESS, 0)
        assert pauses["nice_not_set"].startswith("nice -20: ")
