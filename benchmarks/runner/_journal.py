"""Machine-wide settings a run changes, written down before they are changed, so that
a run killed before it could put them back is put right by the next one.

Keeping CPUs awake (``_awake``: the haltpoll governor's knobs), quieting the kernel and
shielding the client's CPU (``_shield``: sysctls, the unbound workqueues' mask, the
interrupts' and other threads' affinities) change the whole machine, and each puts its
changes back on the way out, whatever ends the block. A SIGKILL, the OOM killer or a
lost terminal ends it without a way out: on a 2-core VM that left every idle vCPU
polling for 2 ms and the connection tracker at 4,096 buckets for hours, and every later
run, of any code, measured that machine instead of the one it booted as.

So each change is journaled first, under a lock, with who made it (pid and start time,
so a reused pid is not taken for its predecessor): ``JOURNAL`` records a setting's value
from before the first live run that changed it, and the runs holding it. The last
holder to leave puts it back. ``repair`` puts back whatever only dead runs hold, and
every run calls it before it measures. The journal lives on /run, a tmpfs that is
emptied at boot, as the settings are reset. Without root nothing is written, and
nothing is changed either.

Imports nothing of echobench's.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner._procstat import STARTTIME, after_comm

JOURNAL = Path("/run/echobench/settings.json")

#: A run: (pid, start time in clock ticks since boot).
Holder = list[int]


def _started(pid: int) -> int | None:
    try:
        return int(after_comm(f"/proc/{pid}/stat")[STARTTIME])
    except (OSError, ValueError, IndexError):
        return None


def me() -> Holder:
    return [os.getpid(), _started(os.getpid()) or 0]


def _alive(holder: Holder) -> bool:
    return _started(holder[0]) == holder[1]


@contextmanager
def _locked() -> Iterator[dict[str, Any] | None]:
    """The journal, read under its lock and written back on the way out; None when it
    cannot be kept (no /run, or not root)."""
    try:
        JOURNAL.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(JOURNAL.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield None
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            journal = json.loads(JOURNAL.read_text())
        except (OSError, ValueError):
            journal = {}
        journal.setdefault("files", {})
        journal.setdefault("threads", [])
        yield journal
        if journal["files"] or journal["threads"]:
            temporary = JOURNAL.with_suffix(".tmp")
            temporary.write_text(json.dumps(journal, indent=1))
            temporary.replace(JOURNAL)
        else:
            JOURNAL.unlink(missing_ok=True)
    finally:
        os.close(lock)


def _put_back_file(path: str, before: str) -> None:
    try:
        Path(path).write_text(before)
    except OSError:
        pass  # gone meanwhile (a module unloaded, an interrupt freed)


def _put_back_thread(entry: dict[str, Any]) -> None:
    """A thread moved off shielded CPUs gets its mask back, if it is still that thread
    and still where it was put."""
    tid, mask = entry["tid"], set(entry["mask"])
    try:
        if _started(tid) == entry["start"] and os.sched_getaffinity(tid) == mask - set(
            entry["clear"]
        ):
            os.sched_setaffinity(tid, mask)
    except OSError:
        pass


def _settle(journal: dict[str, Any], leaving: Held | None = None) -> list[str]:
    """Drop the block ``leaving`` from what it holds, and dead runs from everything; put
    back what no one holds. Says which settings were put back."""
    if leaving is not None:
        for path in leaving.files:
            holders = journal["files"].get(path, {}).get("holders", [])
            if leaving.holder in holders:
                holders.remove(leaving.holder)  # once: an outer block of this run may hold it
    put_back = []
    for path, entry in list(journal["files"].items()):
        holders = entry["holders"]
        holders[:] = [h for h in holders if _alive(h)]
        if not holders:
            _put_back_file(path, entry["before"])
            del journal["files"][path]
            put_back.append(path)
    kept = []
    for entry in journal["threads"]:
        mine = leaving is not None and entry["block"] == leaving.block
        if mine or not _alive(entry["holder"]):
            _put_back_thread(entry)
        else:
            kept.append(entry)
    journal["threads"] = kept
    return put_back


def repair() -> list[str]:
    """Put back what runs that have ended left changed; the settings' paths."""
    if not JOURNAL.exists():
        return []
    with _locked() as journal:
        return [] if journal is None else _settle(journal)


def others() -> list[int]:
    """The pids of other live runs holding machine-wide settings now: a run measuring
    beside them measures their settings, and they its."""
    if not JOURNAL.exists():
        return []
    with _locked() as journal:
        if journal is None:
            return []
        _settle(journal)
        holders = [h for e in journal["files"].values() for h in e["holders"]]
        holders += [e["holder"] for e in journal["threads"]]
    mine = os.getpid()
    return sorted({pid for pid, _ in holders if pid != mine})


class Held:
    """The settings one block changes; see ``held``."""

    def __init__(self) -> None:
        self.holder = me()
        self.block = uuid.uuid4().hex
        self.files: list[str] = []
        #: What was changed where no journal could be kept, put back on the way out.
        self.unjournaled: dict[str, str] = {}

    def write(self, path: Path, value: str) -> str:
        """``path`` set to ``value`` until the block ends; the setting as it was before
        the first live run changed it. Raises OSError when it cannot be written."""
        with _locked() as journal:
            if journal is None:
                before = path.read_text().strip()
                path.write_text(value)
                self.unjournaled.setdefault(str(path), before)
                return before
            entry = journal["files"].get(str(path))
            fresh = entry is None
            if entry is None:
                entry = {"before": path.read_text().strip(), "holders": []}
            path.write_text(value)
            entry["holders"].append(self.holder)
            if fresh:
                journal["files"][str(path)] = entry
            self.files.append(str(path))
            return str(entry["before"])

    def moved_threads(self, masks: dict[int, set[int]], clear: set[int]) -> None:
        """Threads (tid -> the affinity each had) have had ``clear`` taken out of theirs."""
        with _locked() as journal:
            if journal is None:
                return
            for tid, mask in masks.items():
                journal["threads"].append(
                    {
                        "tid": tid,
                        "start": _started(tid),
                        "mask": sorted(mask),
                        "clear": sorted(clear),
                        "holder": self.holder,
                        "block": self.block,
                    }
                )


@contextmanager
def held() -> Iterator[Held]:
    """Settings changed through the yielded ``Held`` are put back when the last live
    block holding each ends (journaled, so a killed run's are put back by the next)."""
    repair()  # a killed run's settings are what this block must measure against
    changes = Held()
    try:
        yield changes
    finally:
        with _locked() as journal:
            if journal is not None:
                _settle(journal, leaving=changes)
        for path, before in reversed(changes.unjournaled.items()):
            _put_back_file(path, before)
