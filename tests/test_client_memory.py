"""A load worker holds its memory in place: locked against reclaim, no huge pages.

Checked in a forked child (what a worker is), by the kernel's own account of the
process (``VmLck`` in /proc/self/status, ``PR_GET_THP_DISABLE``), and end to end in
what a real run reports.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import time
from multiprocessing.connection import Connection

from echobench.clients import LoadConfig, run_load
from echobench.clients._memory import PR_GET_THP_DISABLE, hold_memory
from echobench.servers._launch import running_server

ROOT = os.geteuid() == 0


def _locked_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    raise AssertionError("no VmLck line")


def _file_pages_kib() -> tuple[int, int]:
    """(mapped, resident) KiB of the readable file mappings, from /proc/self/smaps."""
    size = rss = 0
    counted = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's first line
                counted = len(fields) >= 6 and fields[5].startswith("/") and "r" in fields[1]
            elif counted and fields[0] == "Size:":
                size += int(fields[1])
            elif counted and fields[0] == "Rss:":
                rss += int(fields[1])
    return size, rss


def _child(pipe: Connection) -> None:
    before = _locked_kib(), _file_pages_kib()
    held = hold_memory()
    locked = _locked_kib()
    touched = bytearray(8 << 20)  # mapped after the call: MCL_FUTURE locks it too
    touched[::4096] = b"x" * len(touched[::4096])
    thp = ctypes.CDLL(None, use_errno=True).prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0)
    pipe.send((held, before, (locked, _file_pages_kib()), _locked_kib(), thp))


def test_hold_memory_locks_what_is_touched_and_turns_huge_pages_off() -> None:
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(child,))
    process.start()
    held, (locked_before, files_before), (locked, files), locked_later, thp = parent.recv()
    process.join(10)
    assert locked_before == 0
    assert held.huge_pages_off and thp == 1
    if ROOT:
        assert held.locked and held.why_not is None
        # VmLck counts locked mappings: the 8 MiB mapped after the call joined them.
        assert locked_later - locked >= 8 << 10, (locked, locked_later)
        # A forked child maps its files lazily; held, it has read them all in.
        size, resident = files
        assert resident >= 0.95 * size > files_before[1], (files_before, files)
    else:
        assert not held.locked and locked_later == 0 and "not locked" in (held.why_not or "")


def test_a_run_reports_its_memory_held_and_its_faults() -> None:
    before = time.monotonic_ns()
    with running_server("native") as server:
        result = run_load(
            LoadConfig(
                port=server.port, connections=4, size=64, rate=2000, duration=2.5, warmup=0.3
            )
        )
    after = time.monotonic_ns()
    # What a kernel trace needs to find the client: its processes, and when each
    # second's largest lag was read (a clock shared by every process).
    [pid] = result["client_cpu"]["pids"]
    assert isinstance(pid, int) and pid != os.getpid()
    ats = result["rate"]["max_send_lag_per_second_at_ns"]
    assert len(ats) == len(result["rate"]["max_send_lag_per_second_us"]) == 2
    assert all(before < at < after for at in ats), (before, ats, after)
    pauses = result["client_pauses"]
    assert result["complete"] and pauses["huge_pages_off"] is True
    assert pauses["memory_locked"] is ROOT
    assert (pauses["memory_not_held"] is None) is ROOT
    # Counted over the window (a first touch of a file page may still read it in).
    assert isinstance(pauses["major_faults"], int) and pauses["major_faults"] >= 0
    assert isinstance(pauses["preempted"], int) and pauses["preempted"] >= 0
