"""A worker's memory held in place while it measures: locked, and without huge pages.

On a VM whose host reclaims cold memory (DAMON's ``pageout``, swap) a page of the
worker taken away is read back from disk the next time it is touched: a major fault,
milliseconds on a virtual disk, on the event loop's thread. Measured here on a 2-core
VM with DAMON on: 0-4 major faults in a 10 s open-loop window, and the windows with
them lagged 13-28 ms where the host's own longest stall was 4-7 ms. ``mlockall`` keeps
every page the worker has and touches in RAM; with ``MCL_ONFAULT`` a page is locked
when first touched, so a forked worker does not copy its parent's whole heap up front.

Transparent huge pages are switched off for the worker (``PR_SET_THP_DISABLE``):
numpy asks for them on large arrays, and with the kernel's ``defrag=madvise`` a fault
in such an array may compact memory on the spot, while ``khugepaged`` collapses the
worker's pages under its memory lock (runs of 2.8 ms on the client's CPU, seen per
thread). Redis and cyclictest take the same two steps for the same reasons.

Both are best effort: without the privilege to lock (not root, ``RLIMIT_MEMLOCK``
below the worker's size) the run goes on unlocked, and the result says so.
"""

from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import dataclass

MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT = 1, 2, 4
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42
MADV_POPULATE_READ = 22


@dataclass(frozen=True)
class Held:
    locked: bool
    huge_pages_off: bool
    why_not: str | None  # why memory is not locked (or huge pages still on), else None

    def as_dict(self) -> dict[str, object]:
        return {
            "locked": self.locked,
            "huge_pages_off": self.huge_pages_off,
            "why_not": self.why_not,
        }


def _may_lock() -> bool:
    # Without CAP_IPC_LOCK the limit counts, and a Python process is larger than the
    # usual 8 MiB: MCL_FUTURE granted under a limit would make later allocations fail.
    soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY


def _read_in_files(libc: ctypes.CDLL) -> None:
    """Fault in every file this process maps (its interpreter, libraries, extensions),
    now, before it measures: locked as touched, a code page first run in the window
    would otherwise still be read from disk there if the host had reclaimed it (a
    forked worker inherits its parent's mappings, pages long cold included). A read
    fault shares the page with the parent; a populating ``mlockall`` would copy the
    parent's whole heap instead."""
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or not fields[5].startswith("/") or "r" not in fields[1]:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            # A failure (an old kernel without MADV_POPULATE_READ, a file gone) leaves
            # those pages to be faulted as they are touched, as without this step.
            libc.madvise(start, end - start, MADV_POPULATE_READ)


def hold_memory() -> Held:
    """Lock this process's memory as it is touched and switch off its huge pages."""
    libc = ctypes.CDLL(None, use_errno=True)
    reasons = []
    locked = False
    if not _may_lock():
        reasons.append("memory not locked: not root and RLIMIT_MEMLOCK is limited")
    elif libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0:
        locked = True
        _read_in_files(libc)
    else:
        reasons.append(f"mlockall: {os.strerror(ctypes.get_errno())}")
    huge_off = libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    if not huge_off:
        reasons.append(f"PR_SET_THP_DISABLE: {os.strerror(ctypes.get_errno())}")
    return Held(locked, huge_off, "; ".join(reasons) or None)
