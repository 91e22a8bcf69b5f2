"""Keeping the rest of the machine off the load client's CPU while it measures.

Pinning the client to a CPU keeps it off the server's, but not everyone else off its
own: on a 2-core Firecracker VM the platform agent's threads (``tokio-rt-worker``,
nice -10) took the client's CPU for up to 2.4 ms at a time even with the client at
nice -20, the block device's and the vsock's interrupts landed there, and so did the
kernel's unbound work. Every such stall becomes a send lag, and, since latency counts
from the scheduled send, a latency. ``shield(cpus)`` does for the run what
``tuna --isolate`` and ``cset shield`` do: every thread that may run elsewhere (user
threads and the kernel threads not bound to a CPU) has the shielded CPUs taken out of
its affinity, every interrupt that can be steered is steered off them, and the kernel's
unbound workqueues (``/sys/devices/virtual/workqueue/cpumask``) are kept off them. What
is bound to a CPU stays (its per-CPU kworkers, ``ksoftirqd``, the timer tick), and the
hypervisor stops the vCPU whatever the guest does: both remain in what a run measures.

Some of that bound work can still be made short or rare (``SYSCTLS``), as tuned's
``cpu-partitioning`` profile does: the connection tracker's garbage collector walks its
whole hash table from a kworker on whichever CPU it last ran on (here 6.3 ms with the
262,144 buckets this VM boots with, 77-94 µs with 4,096; it held the client's CPU for
5.4 ms and a send lag with it), and each CPU's vm statistics are folded every second
(``vmstat_update``, up to 326 µs on the client's CPU). A value only ever moves toward
quiet (a smaller table, a longer interval), never where the machine is already there,
and the table is not shrunk under more entries than buckets.

Everything is put back on the way out, whatever ends the block: each moved thread's and
interrupt's own mask, the workqueues' mask, each setting changed, and a thread that a
moved process started meanwhile (it inherited the narrowed mask) gets its parent's mask
back. All but those new threads are journaled first (``_journal``), so a run killed
before it could put them back is put right by the next. It needs root; without it
nothing moves and ``Shield.warning`` says why. ``keep`` names processes left alone: the
runner's own, whose placement is its own business.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from echobench.benchmarks.runner._isolation import parse_cpu_list
from echobench.benchmarks.runner._journal import Held, held
from echobench.benchmarks.runner._procstat import FLAGS, after_comm
from echobench.benchmarks.runner._usage import process_tree
from echobench.servers._errors import UserError

PROC = Path("/proc")
WORKQUEUE = Path("/sys/devices/virtual/workqueue/cpumask")
ONLINE = Path("/sys/devices/system/cpu/online")
#: ``PF_NO_SETAFFINITY`` in ``/proc/<pid>/stat``'s flags: bound to its CPU by the kernel.
NO_SETAFFINITY = 0x04000000
SYSCTL = Path("/proc/sys")
CONNTRACK_COUNT = "net/netfilter/nf_conntrack_count"
CONNTRACK_BUCKETS = "net/netfilter/nf_conntrack_buckets"
#: Settings under /proc/sys that make the kernel's bound periodic work short or rare,
#: and what they are set to for the block (see the module's docstring): at most this.
SYSCTLS = {
    CONNTRACK_BUCKETS: 4096,
    "vm/stat_interval": 10,
}
#: Of those, the ones whose quiet value is the larger (an interval), not the smaller.
RAISED = frozenset({"vm/stat_interval"})


@dataclass
class Shield:
    #: The CPUs kept clear, and where the rest went; empty when nothing moved.
    cpus: list[int] = field(default_factory=list)
    spare: list[int] = field(default_factory=list)
    #: Threads moved off, counted by name; interrupts steered off, by name.
    threads: Counter[str] = field(default_factory=Counter)
    irqs: list[str] = field(default_factory=list)
    #: Whether the kernel's unbound workqueues were kept off.
    workqueues: bool = False
    #: Settings changed for the block: name -> [before, during].
    sysctls: dict[str, list[int]] = field(default_factory=dict)
    #: Why the CPUs could not be shielded, or None.
    warning: str | None = None

    def record(self) -> dict[str, object]:
        return {
            "cpus": self.cpus,
            "spare": self.spare,
            "threads": dict(sorted(self.threads.items())),
            "irqs": self.irqs,
            "workqueues": self.workqueues,
            "sysctls": self.sysctls,
            "warning": self.warning,
        }

    def brief(self) -> dict[str, object]:
        """The record counted, not named: what each repeat of ``echobench run`` keeps."""
        return {
            "cpus": self.cpus,
            "threads": sum(self.threads.values()),
            "irqs": len(self.irqs),
            "workqueues": self.workqueues,
            "warning": self.warning,
        }


def unavailable() -> str | None:
    """Why this machine's CPUs cannot be shielded from here, or None."""
    if not hasattr(os, "sched_setaffinity"):
        return "CPU affinity is unavailable here"
    if os.geteuid() != 0:
        return "shielding a CPU takes root (other users' threads and the interrupts move)"
    return None


def _tasks() -> Iterator[tuple[int, int, int]]:
    """(tid, its process, that process's parent) for every thread on the machine."""
    for process in psutil.process_iter(["ppid"]):
        try:
            tids = [thread.id for thread in process.threads()]
        except psutil.Error:
            continue  # gone since the listing
        for tid in tids:
            yield tid, process.pid, process.info["ppid"] or 0


def _bound(pid: int, tid: int) -> bool:
    """Whether the kernel keeps this thread on its CPU (a per-CPU kthread)."""
    try:
        flags = int(after_comm(f"/proc/{pid}/task/{tid}/stat")[FLAGS])
    except (OSError, ValueError, IndexError):
        return True
    return bool(flags & NO_SETAFFINITY)


def _comm(pid: int, tid: int) -> str:
    try:
        return (PROC / str(pid) / "task" / str(tid) / "comm").read_text().strip()
    except OSError:
        return "?"


def _mask_text(cpus: Collection[int]) -> str:
    return f"{sum(1 << c for c in cpus):x}"


def _mask_cpus(text: str) -> set[int]:
    value = int(text.strip().replace(",", ""), 16)
    return {c for c in range(value.bit_length()) if value >> c & 1}


def _descendants(roots: Collection[int]) -> set[int]:
    found = set(roots)
    for pid in roots:
        found.update(process_tree(pid))
    return found


def _move_threads(
    clear: set[int], keep: set[int], moved: dict[int, tuple[int, set[int]]], shield: Shield
) -> None:
    for tid, pid, _ in _tasks():
        if pid in keep or tid in moved or _bound(pid, tid):
            continue
        try:
            mask = os.sched_getaffinity(tid)
        except OSError:
            continue
        narrowed = mask - clear
        if mask & clear and narrowed:
            try:
                os.sched_setaffinity(tid, narrowed)
            except OSError:
                continue  # bound after all, or gone
            moved[tid] = (pid, mask)
            shield.threads[_comm(pid, tid)] += 1


def _move_irqs(clear: set[int], spare: set[int], changes: Held, shield: Shield) -> None:
    for irq in sorted(PROC.joinpath("irq").glob("[0-9]*"), key=lambda p: int(p.name)):
        try:
            if not _mask_cpus((irq / "smp_affinity").read_text()) & clear:
                continue
            changes.write(irq / "smp_affinity", _mask_text(spare))
        except (OSError, ValueError):
            continue  # an interrupt the kernel will not steer (a per-CPU timer, say)
        names = sorted(p.name for p in irq.iterdir() if p.is_dir())
        shield.irqs.append(f"{irq.name} {','.join(names)}".strip())


#: How each of ``SYSCTLS`` reads once changed.
_WORDS = {
    "net/netfilter/nf_conntrack_buckets": "the connection tracker's table {before:,} -> "
    "{during:,} buckets (its garbage collector walks all of them)",
    "vm/stat_interval": "vm statistics folded every {during} s (not {before})",
}


def kernel_words(changed: dict[str, list[int]]) -> str:
    """What ``quiet_kernel`` changed, in words; empty when nothing did."""
    return ", ".join(
        _WORDS.get(name, f"{name} {{before}} -> {{during}}").format(before=b, during=d)
        for name, (b, d) in changed.items()
    )


def _read_sysctl(name: str) -> int:
    return int((SYSCTL / name).read_text().split()[0])


@contextmanager
def quiet_kernel() -> Iterator[dict[str, list[int]]]:
    """Each of ``SYSCTLS`` that exists and is not quiet already set for the block, and
    put back after, whatever ends it; yields what changed: name -> [before, during]
    (empty without root, or with nothing to change). ``echobench run`` holds it for
    each repeat, the shield for its block."""
    changed: dict[str, list[int]] = {}
    with held() as changes:
        for name, quiet in SYSCTLS.items():
            try:
                now = _read_sysctl(name)
                if (now >= quiet) if name in RAISED else (now <= quiet):
                    continue
                if name == CONNTRACK_BUCKETS and _read_sysctl(CONNTRACK_COUNT) > quiet:
                    continue  # more connections tracked than buckets: left as it is
                before = int(changes.write(SYSCTL / name, str(quiet)).split()[0])
            except (OSError, ValueError, IndexError):
                continue  # not this kernel's (no conntrack loaded), or not root
            changed[name] = [before, quiet]
        yield changed


def _restore(moved: dict[int, tuple[int, set[int]]], clear: set[int]) -> None:
    processes = {pid: mask for pid, mask in moved.values()}
    for tid, (_, mask) in moved.items():
        try:
            os.sched_setaffinity(tid, mask)
        except OSError:
            pass  # ended meanwhile
    # Started meanwhile by a moved process (a new thread of it, or a child): it
    # inherited the narrowed mask, and gets back what its parent had.
    for tid, pid, ppid in _tasks():
        if tid in moved:
            continue
        original = processes.get(pid) if pid in processes else processes.get(ppid)
        if original is None:
            continue
        try:
            if os.sched_getaffinity(tid) == original - clear:
                os.sched_setaffinity(tid, original)
        except OSError:
            pass


@contextmanager
def shield(cpus: Sequence[int], keep: Collection[int] = ()) -> Iterator[Shield]:
    """``cpus`` kept clear of every thread, interrupt and unbound workqueue that may run
    elsewhere, for the duration (see the module's docstring); ``keep``'s processes and
    their descendants are left where they are."""
    clear = set(cpus)
    try:
        online = set(parse_cpu_list(ONLINE.read_text().strip(), "online"))
    except (OSError, UserError):
        online = os.sched_getaffinity(0) | clear
    spare = sorted(online - clear)
    why = unavailable() if cpus else None
    if why is None and cpus and not spare:
        why = "no CPU is left for the rest of the machine"
    if not cpus or why is not None:
        yield Shield(warning=why)
        return
    result = Shield(cpus=sorted(clear), spare=spare)
    threads: dict[int, tuple[int, set[int]]] = {}
    with held() as changes:
        try:
            try:
                changes.write(WORKQUEUE, _mask_text(spare))
                result.workqueues = True
            except OSError:
                pass  # no unbound workqueues to steer, or not writable: Shield says so
            _move_irqs(clear, set(spare), changes, result)
            with quiet_kernel() as result.sysctls:
                left = _descendants({os.getpid(), *keep})
                # Twice: a thread started while the first pass ran is caught by the second.
                for _ in range(2):
                    _move_threads(clear, left, threads, result)
                changes.moved_threads({tid: mask for tid, (_, mask) in threads.items()}, clear)
                yield result
        finally:
            _restore(threads, clear)
