"""Shielding the client's CPU: a real process that is not the runner's is moved off it
for the block and put back after, with a thread it started meanwhile; the runner's own
processes, the interrupts and the kernel's unbound workqueues as the module says."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from echobench.benchmarks.runner import _shield
from echobench.benchmarks.runner._shield import shield

pytestmark = [
    pytest.mark.skipif(_shield.unavailable() is not None, reason=str(_shield.unavailable())),
    pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs"),
]

#: A process that is no descendant of the test's (it double-forks, so init adopts it),
#: runs at most 60 s, and on SIGUSR1 starts a thread, as a platform agent would.
STRANGER = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    if os.fork():
        os._exit(0)
    os.setsid()
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(
        target=time.sleep, args=(60,), daemon=True).start())
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(60)
    """
)


def _tids(pid: int) -> set[int]:
    return {int(t) for t in os.listdir(f"/proc/{pid}/task")}


def _wait_for(check: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[int]:
    where = tmp_path / "pid"
    subprocess.run([sys.executable, "-c", STRANGER, str(where)], check=True, timeout=10)
    _wait_for(lambda: where.exists() and where.read_text())
    pid = int(where.read_text())
    yield pid
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_another_process_leaves_the_cpu_and_comes_back_with_its_new_thread(
    stranger: int,
) -> None:
    cpus = sorted(os.sched_getaffinity(stranger))
    assert len(cpus) >= 2
    clear = cpus[-1]
    with shield([clear]) as shielded:
        assert shielded.warning is None
        assert shielded.cpus == [clear]
        assert clear not in shielded.spare
        assert os.sched_getaffinity(stranger) == set(cpus) - {clear}
        before = _tids(stranger)
        os.kill(stranger, signal.SIGUSR1)
        _wait_for(lambda: len(_tids(stranger)) > len(before))
        (new,) = _tids(stranger) - before
        assert os.sched_getaffinity(new) == set(cpus) - {clear}
        # The test's own process is the runner's: left where it was.
        assert clear in os.sched_getaffinity(0)
        record = shielded.record()
        assert record["cpus"] == [clear] and sum(record["threads"].values()) >= 1
    assert os.sched_getaffinity(stranger) == set(cpus)
    assert os.sched_getaffinity(new) == set(cpus)


def test_interrupts_and_workqueues_are_put_back() -> None:
    irqs = {p: (p / "smp_affinity").read_text() for p in Path("/proc/irq").glob("[0-9]*")}
    try:
        workqueue = _shield.WORKQUEUE.read_text()
    except OSError:
        workqueue = None
    clear = max(os.sched_getaffinity(0))
    with shield([clear]) as shielded:
        if workqueue is not None:
            assert shielded.workqueues
            assert clear not in _shield._mask_cpus(_shield.WORKQUEUE.read_text())
        for entry in shielded.irqs:
            number = entry.split()[0]
            mask = Path(f"/proc/irq/{number}/smp_affinity").read_text()
            assert clear not in _shield._mask_cpus(mask)
    assert {p: (p / "smp_affinity").read_text() for p in irqs} == irqs
    if workqueue is not None:
        assert _shield.WORKQUEUE.read_text() == workqueue


def test_nothing_to_shield_moves_nothing() -> None:
    with shield([]) as shielded:
        assert shielded.cpus == [] and not shielded.threads and shielded.warning is None


def test_every_cpu_cannot_be_shielded() -> None:
    everything = sorted(os.sched_getaffinity(0))
    with shield(everything) as shielded:
        assert shielded.cpus == []
        assert shielded.warning == "no CPU is left for the rest of the machine"


def _sysctl(name: str) -> int | None:
    try:
        return int((_shield.SYSCTL / name).read_text().split()[0])
    except OSError:
        return None


def test_the_kernels_bound_periodic_work_is_made_short_and_rare_then_put_back() -> None:
    before = {name: _sysctl(name) for name in _shield.SYSCTLS}
    with shield([max(os.sched_getaffinity(0))]) as done:
        during = {name: _sysctl(name) for name in _shield.SYSCTLS}
    assert {name: _sysctl(name) for name in _shield.SYSCTLS} == before
    for name, quiet in _shield.SYSCTLS.items():
        if before[name] is None:  # not this kernel's: conntrack not loaded, say
            assert name not in done.sysctls
            continue
        value = before[name]
        assert value is not None
        changed = name in done.sysctls
        if changed:
            assert done.sysctls[name] == [value, quiet] and during[name] == quiet
        else:
            assert during[name] == value
        already = value >= quiet if name in _shield.RAISED else value <= quiet
        # Left alone where it was quiet already (or the conntrack table is full).
        if not changed and not already:
            assert name.endswith("nf_conntrack_buckets")
            assert (_sysctl(_shield.CONNTRACK_COUNT) or 0) > quiet
    assert done.record()["sysctls"] == done.sysctls
