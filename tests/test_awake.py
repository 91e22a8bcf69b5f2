"""Keeping the server's CPUs awake: real spinner processes, idle-priority, pinned, and
never outliving whoever started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from echobench.benchmarks.runner import _awake
from echobench.benchmarks.runner._awake import (
    CGROUP,
    _cpu_cgroup_root,
    awake_words,
    keep_awake,
)
from echobench.benchmarks.runner._journal import held

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")


def _gone(process: psutil.Process, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _kill(processes: list[psutil.Process]) -> None:
    """What a failed test may have left: psutil checks each is still the one it saw."""
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def test_a_spinner_is_idle_priority_pinned_and_stops_with_the_context() -> None:
    cpu = max(os.sched_getaffinity(0))
    spinners: list[psutil.Process] = []
    try:
        with keep_awake([cpu]) as awake:
            assert awake.cpus == [cpu] and awake.warning is None
            spinners = [psutil.Process(pid) for pid in awake.pids]
            (spinner,) = spinners
            assert spinner.ppid() == os.getpid()
            assert os.sched_getscheduler(spinner.pid) == os.SCHED_IDLE
            assert os.sched_getaffinity(spinner.pid) == {cpu}
            # The policy only orders tasks inside one scheduling group: its group is idle too.
            if awake.how == "cgroup cpu.idle":
                assert f":/{CGROUP}" in Path(f"/proc/{spinner.pid}/cgroup").read_text()
            else:
                assert awake.how == "autogroup nice 19"
                assert Path(f"/proc/{spinner.pid}/autogroup").read_text().split()[-1] == "19"
        assert not spinner.is_running()  # stopped and reaped, not left a zombie
        root = _cpu_cgroup_root()
        assert root is None or not (root / CGROUP).exists()
    finally:
        _kill(spinners)


def test_no_cpus_start_nothing() -> None:
    with keep_awake([]) as awake:
        assert awake.cpus == [] and awake.pids == [] and awake.warning is None


def _polled_us(cpu: int) -> int:
    """How long ``cpu`` has spent in its cpuidle POLL state, µs."""
    return int(Path(f"/sys/devices/system/cpu/cpu{cpu}/cpuidle/state0/time").read_text())


#: Wakes every millisecond on one CPU, 300 times: the CPU idles a millisecond at a time.
TICKER = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
for _ in range(300):
    time.sleep(0.001)
"""


def _polled_while_ticking(cpu: int) -> int:
    before = _polled_us(cpu)
    assert subprocess.run([sys.executable, "-c", TICKER, str(cpu)]).returncode == 0
    return _polled_us(cpu) - before


@pytest.mark.skipif(_awake.poll_unavailable() is not None, reason="no haltpoll to set")
def test_polling_keeps_an_idle_cpu_polling_and_is_put_back() -> None:
    knobs = {name: (_awake.HALTPOLL / name).read_text() for name in _awake.POLL_SETTINGS}
    cpu = max(os.sched_getaffinity(0))
    # Halting right away, whatever this machine boots with (upstream polls up to 200 µs).
    with held() as changes:
        changes.write(_awake.HALTPOLL / "guest_halt_poll_ns", "0")
        halted = _polled_while_ticking(cpu)
    with keep_awake([cpu], how="poll") as awake:
        assert awake.cpus == [cpu] and awake.pids == [] and awake.warning is None
        assert awake.how is not None and awake.how.startswith("haltpoll")
        assert awake_words([awake.how, awake.how]).startswith("by polling in the idle loop")
        assert (_awake.HALTPOLL / "guest_halt_poll_ns").read_text().strip() == "2000000"
        polled = _polled_while_ticking(cpu)
    # Idle a millisecond at a time, some 0.3 s in all: polled through, where it halted.
    assert polled > max(100_000, 5 * halted), (polled, halted)
    assert {name: (_awake.HALTPOLL / name).read_text() for name in knobs} == knobs


def test_without_haltpoll_it_keeps_awake_with_spinners(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_awake, "GOVERNOR", Path("/nonexistent/current_governor_ro"))
    cpu = max(os.sched_getaffinity(0))
    with keep_awake([cpu], how="poll") as awake:
        spinners = [psutil.Process(pid) for pid in awake.pids]
        assert awake.cpus == [cpu] and len(spinners) == 1 and awake.warning is None
        assert awake.how is not None and "not haltpoll" in awake.how
        # What the pages say, from what each repeat recorded (None: a file from before).
        assert awake_words([awake.how]) == awake_words([None]) == "by an idle-priority busy loop"
        mixed = awake_words([awake.how, "haltpoll: idle vCPUs poll up to 2000 µs"])
        assert mixed.startswith("by polling") and "or where the guest could not" in mixed
    assert _gone(spinners[0])


ENTER_AND_WAIT = """
import sys, time
from echobench.benchmarks.runner._awake import CGROUP, _cpu_cgroup_root, keep_awake
with keep_awake([int(sys.argv[1])]) as awake:
    print(*awake.pids, flush=True)
    time.sleep(60)
"""


def test_a_spinner_dies_with_a_killed_parent() -> None:
    cpu = max(os.sched_getaffinity(0))
    parent = subprocess.Popen(
        [sys.executable, "-c", ENTER_AND_WAIT, str(cpu)], stdout=subprocess.PIPE, text=True
    )
    spinners: list[psutil.Process] = []
    try:
        assert parent.stdout is not None
        spinners = [psutil.Process(int(pid)) for pid in parent.stdout.readline().split()]
        (spinner,) = spinners
        assert spinner.ppid() == parent.pid and not _gone(spinner, within=0.2)
        parent.send_signal(signal.SIGKILL)  # no context exit, no finally: only PDEATHSIG
        parent.wait(10)
        assert _gone(spinner), "the spinner outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        _kill(spinners)
        root = _cpu_cgroup_root()
        if root is not None:  # the killed parent never removed the group it made
            try:
                (root / CGROUP).rmdir()
            except OSError:
                pass
