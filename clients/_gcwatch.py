"""Python's garbage collector during the measured window: frozen out of the way, and timed.

A collection runs on the event loop's thread, so every pause it takes delays the
messages then in flight, and an open-loop run charges that delay to the server.
At the window's start the worker freezes what exists (``gc.freeze``: its
connections, payloads, imported modules), so a collection in the window only walks
what the window itself allocated; ``gc.callbacks`` time each collection, and the
result reports how many ran and the longest, so the claim is checked in every run.

A window recorded whole (an open loop within ``_recorder.RAW_BUDGET``) allocates a
bounded amount, so the collector is switched off for it altogether (a young
collection there still took 0.1-0.45 ms of wall time on a 2-core VM); ``resume``
switches it back on should the window outgrow the budget, and ``stop`` always does.
"""

from __future__ import annotations

import gc
from time import perf_counter_ns
from typing import Any


class GcWatch:
    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.max_pause_ns = 0
        self._began = 0
        self.frozen = 0
        self.watching = False
        self.disabled = False  # the collector is off for the window (so far)
        self.was_disabled = False  # and it stayed off through the whole window

    def start(self, *, disable: bool = False) -> None:
        gc.freeze()  # a list splice: constant time, whatever the heap holds
        gc.callbacks.append(self._callback)
        self.watching = True
        if disable:
            gc.disable()
            self.disabled = self.was_disabled = True

    def resume(self) -> None:
        if self.disabled:
            gc.enable()
            self.disabled = self.was_disabled = False

    def stop(self) -> None:
        if self.watching:
            # First: the collection the window's allocations are owed comes once the
            # collector is back on, after the window, and is not the window's.
            gc.callbacks.remove(self._callback)
            self.watching = False
            # Counting walks every frozen object (a forked test runner holds millions, a
            # 0.1 s walk): only once the window has closed.
            self.frozen = gc.get_freeze_count()
        if self.disabled:
            gc.enable()
            self.disabled = False

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = perf_counter_ns()
            return
        pause = perf_counter_ns() - self._began
        self.collections[int(info["generation"])] += 1
        if pause > self.max_pause_ns:
            self.max_pause_ns = pause

    def stats(self) -> dict[str, Any]:
        return {
            "collections": list(self.collections),
            "max_pause_ns": self.max_pause_ns,
            "frozen_objects": self.frozen,
            "disabled": self.was_disabled,
        }
