"""Keeping the server's CPUs awake while it is measured: ``echobench run --awake``.

In a virtual machine an idle vCPU is halted, and waking it costs the hypervisor's
scheduling latency, milliseconds: on a 2-core Firecracker VM, open loop at 10% of the
``native`` server's capacity gave a p99 of 4-16 ms, at 50% 0.1-0.7 ms, so a latency
sweep measured the VM's wake-ups, not the server. A ``SCHED_IDLE`` busy loop on each
server CPU (0.08-0.5 ms at 10%) keeps the vCPU from halting without taking the
server's time, since the kernel preempts it as soon as a normal task on that CPU wakes:
the userspace form of booting with ``idle=poll``.

The policy alone is not enough. With the kernel's autogroups (the default on desktop and
cloud kernels) every session is a scheduling group, and the server runs in its own
session, so the spinner's group competed with the server's as an equal: the ``native``
server's closed-loop throughput halved and p99 rose to 5 ms. So the spinner's group is
made idle too: a ``cpu.idle`` cgroup where the cpu controller is writable (cgroup v1 or
v2, as root), else its autogroup's nice raised to 19 (1.5% of the weight of the server's
group). ``Awake.how`` records which.

A spinner has a cost of its own, paid by whoever wakes the server: a CPU running a
task, even an idle-priority one, must be sent an interrupt to schedule the woken server,
and in a VM sending one exits to the hypervisor. On loopback the waker is the load
client: against ``native`` at 97,000 msgs/s the kernel's receive path for the server's
packets, run on the client's CPU, took 48-50% of it with spinners (a send's p90 14 µs)
and 21-22% without (p90 3 µs), and the client's typical second's largest send lag was
2.4-4.1 ms against 0.27 ms. So where the guest has the ``haltpoll`` cpuidle governor
(KVM guests), ``keep_awake(..., how="poll")`` keeps the CPUs awake the kernel's own way
instead: an idle vCPU polls for up to ``POLL_NS`` before it halts
(``guest_halt_poll_ns``, upstream's default 200 µs; this VM boots with 0), and a CPU
polling in idle takes a wake-up with no interrupt. The setting is the whole machine's
and is put back as it was on the way out, journaled so that a run killed before
it could is put right by the next (``_journal``). ``echobench run``, the soak and client-lag
keep CPUs awake this way where they can, and with spinners elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from echobench.benchmarks.runner._journal import held, repair

#: The spinner: it dies with its parent (``PR_SET_PDEATHSIG``, and, should the parent die
#: before that is set or under a kernel without it, its own check of who its parent is).
SPIN = """
import ctypes, os, signal, sys
parent = int(sys.argv[1])
try:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""
#: How long a spinner has to end after SIGTERM before it is killed.
STOP_SECONDS = 2.0
#: The cgroup the spinners run in, under the cpu controller's root.
CGROUP = "echobench-awake"
#: The haltpoll governor's knobs, and its state while CPUs are kept awake by polling:
#: up to 2 ms of polling (a low-load point's messages come well within it), grown to
#: from the first idle on and never shrunk (a longer idle would otherwise halve it).
HALTPOLL = Path("/sys/module/haltpoll/parameters")
GOVERNOR = Path("/sys/devices/system/cpu/cpuidle/current_governor_ro")
POLL_NS = 2_000_000
#: How ``Awake.how`` begins when the CPUs poll.
POLLED = "haltpoll"
POLL_SETTINGS = {
    "guest_halt_poll_ns": str(POLL_NS),
    "guest_halt_poll_grow_start": str(POLL_NS),
    "guest_halt_poll_allow_shrink": "N",
}


def awake_words(hows: Iterable[str | None]) -> str:
    """How CPUs were kept awake, from the ``awake_how`` of the repeats that kept any
    (a file from before it was recorded, or a spinner's, reads as the busy loop)."""
    polled = {bool(how and how.startswith(POLLED)) for how in hows}
    if polled == {True}:
        return (
            f"by polling in the idle loop (haltpoll: up to {POLL_NS // 1_000_000} ms before "
            "a vCPU halts)"
        )
    if True in polled:
        return (
            "by polling in the idle loop, or where the guest could not, an idle-priority busy loop"
        )
    return "by an idle-priority busy loop"


@dataclass(frozen=True)
class Awake:
    #: The CPUs kept awake, and the spinners' pids; empty when none could be.
    cpus: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    #: Why CPUs asked for are not kept awake, or None.
    warning: str | None = None
    #: How the spinners' scheduling group was made idle (see the module's docstring).
    how: str | None = None


def unavailable() -> str | None:
    """Why this platform cannot keep CPUs awake this way, or None."""
    if not all(hasattr(os, name) for name in ("SCHED_IDLE", "sched_setaffinity")):
        return (
            "server CPUs not kept awake: SCHED_IDLE or CPU affinity is unavailable here, "
            "so low-load latency includes the CPU's wake-up"
        )
    return None


def poll_unavailable() -> str | None:
    """Why idle vCPUs cannot be made to poll here (``how="poll"``), or None."""
    try:
        governor = GOVERNOR.read_text().strip()
    except OSError:
        governor = None
    if governor != "haltpoll":
        return f"the cpuidle governor is {governor or 'unknown'}, not haltpoll"
    if not os.access(HALTPOLL / "guest_halt_poll_ns", os.W_OK):
        return "the haltpoll settings need root"
    return None


@contextmanager
def _polling() -> Iterator[None]:
    """Idle vCPUs poll up to ``POLL_NS`` before halting, for the duration; every setting
    put back as it was, whatever ends the block (journaled: by the next run, should this
    one be killed)."""
    with held() as changes:
        for name, value in POLL_SETTINGS.items():
            changes.write(HALTPOLL / name, value)
        yield


def _cpu_cgroup_root() -> Path | None:
    """Where the cpu controller's hierarchy is mounted (v1 ``cpu``, or v2 with ``cpu``)."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        if " - " not in line:
            continue
        kind, _, options = line.split(" - ", 1)[1].split()[:3]
        where = Path(fields[4])
        if kind == "cgroup" and "cpu" in options.split(","):
            return where
        if kind == "cgroup2":
            try:
                if "cpu" in (where / "cgroup.controllers").read_text().split():
                    return where
            except OSError:
                continue
    return None


def _idle_group(pids: list[int]) -> tuple[str, Path | None]:
    """Make the spinners' scheduling group idle; say how (or that it could not), and name
    the cgroup it made them, to remove once they are gone."""
    root = _cpu_cgroup_root()
    if root is not None:
        group = root / CGROUP
        try:
            group.mkdir(exist_ok=True)
            (group / "cpu.idle").write_text("1")
            for pid in pids:
                (group / "cgroup.procs").write_text(str(pid))
            return "cgroup cpu.idle", group
        except OSError:
            pass  # not root, or a read-only hierarchy: the autogroup is next
    try:
        for pid in pids:
            Path(f"/proc/{pid}/autogroup").write_text("19")
        return "autogroup nice 19", None
    except OSError:
        return "SCHED_IDLE only (its scheduling group could not be made idle)", None


def _stop(spinner: subprocess.Popen[bytes]) -> None:
    spinner.terminate()
    try:
        spinner.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        spinner.kill()
        spinner.wait()


@contextmanager
def keep_awake(cpus: Sequence[int], how: str = "spin") -> Iterator[Awake]:
    """``cpus`` kept from halting for the duration: one idle-priority spinner pinned to
    each (``how="spin"``), or every idle vCPU polling before it halts (``"poll"``, where
    ``poll_unavailable`` is None; a spinner each otherwise, the reason why in
    ``Awake.how``)."""
    repair()  # a killed run's polling would be measured as this one's
    if cpus and how == "poll":
        why_not = poll_unavailable()
        if why_not is None:
            with _polling():
                yield Awake(list(cpus), how=f"{POLLED}: idle vCPUs poll up to {POLL_NS // 1000} µs")
            return
        with keep_awake(cpus) as spun:
            yield spun if spun.how is None else replace(spun, how=f"{spun.how}; {why_not}")
        return
    why = unavailable() if cpus else None
    if not cpus or why is not None:
        yield Awake(warning=why)
        return
    spinners: list[subprocess.Popen[bytes]] = []
    warning = None
    group: Path | None = None
    try:
        for cpu in cpus:
            spinner = subprocess.Popen(
                [sys.executable, "-c", SPIN, str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the terminal is the runner's to handle
            )
            spinners.append(spinner)
            try:
                # Idle first: from here on it never takes a cycle a normal task wants.
                os.sched_setscheduler(spinner.pid, os.SCHED_IDLE, os.sched_param(0))
                os.sched_setaffinity(spinner.pid, {cpu})
            except OSError as exc:
                warning = f"server CPUs not kept awake: cannot place a spinner on CPU {cpu} ({exc})"
                break
        if warning is not None:
            for spinner in spinners:
                _stop(spinner)
            spinners = []
            yield Awake(warning=warning)
        else:
            pids = [s.pid for s in spinners]
            how, group = _idle_group(pids)
            yield Awake(list(cpus), pids, how=how)
    finally:
        for spinner in spinners:
            spinner.terminate()
        for spinner in spinners:
            _stop(spinner)
        if group is not None:
            try:
                group.rmdir()
            except OSError:
                pass  # another run's spinners are still in it
