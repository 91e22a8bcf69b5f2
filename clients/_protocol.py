"""The hot path: one ``asyncio.Protocol`` per connection, closed or open loop.

Echoes are reassembled by byte count (TCP may split or merge messages), and every
echoed byte is compared with what was sent, through ``bytes.startswith`` against a
memoryview slice of the precomputed payload: a memcmp with no copy (comparing
memoryviews with ``==`` goes item by item and costs ~1 us per KiB). The common case,
one read holding exactly one whole message, is a single ``==``.

Nothing here allocates per message beyond the clock reading itself: the payload is
one bytes object written again and again through the transport's bound ``write``.
Closed loop, a message is sent at the instant the echo of an earlier one completes,
so one clock reading is both a receive time and a send time: each completion appends
just that reading to the connection's ``stamps`` (``array('q')``), and the worker
turns them into latencies off the hot path (``take_latencies``). Open loop, latency
samples (now minus the scheduled time, kept in a deque) go to the worker's
``samples`` array, and each arrival asks the worker's ``Pacer`` (``_pacer``) whether a
send is due, with the same clock reading. ``_recorder`` counts both.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import deque
from collections.abc import Callable
from time import monotonic_ns
from typing import Any, Protocol, cast

import numpy as np

from echobench.clients._config import LoadConfig
from echobench.servers._contract import set_nodelay


class Worker(Protocol):
    """What a connection needs of the worker that owns it (``_worker.Worker``, which
    imports this module: the connection knows its owner only by this shape)."""

    config: LoadConfig
    samples: array[int]

    def connection_ended(self, conn: Connection, exc: BaseException | None) -> None: ...


class Pacer(Protocol):
    """What an open-loop connection needs of the send schedule (``_pacer.Pacer``)."""

    next_due: int

    def send_due(self, now: int) -> None: ...


class _Unpaced:
    """The pacer of a connection whose schedule has not started: never due."""

    next_due = 1 << 62

    def send_due(self, now: int) -> None:
        pass


def error_kind(exc: BaseException | None) -> str:
    """The ``errors`` kind of a connection that ended with ``exc`` (None: the peer's EOF)."""
    if exc is None:
        return "eof"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return "reset"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"


def nodelay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a client connection, as every server sets it on its side."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            set_nodelay(sock)
        except OSError:
            pass


class Connection(asyncio.Protocol):
    """State shared by both loop modes: reassembly, verification, accounting."""

    def __init__(self, worker: Worker, index: int, payload: bytes) -> None:
        self.worker = worker
        self.index = index
        self.payload = payload
        self.view = memoryview(payload)
        self.size = len(payload)
        self.verify = worker.config.verify
        self.transport: asyncio.Transport | None = None
        self.write: Callable[[bytes], object] | None = None  # the transport's, bound once
        self.alive = False
        self.off = 0  # bytes of the message in progress already received
        self.done = 0  # messages completed
        self.corrupted_bytes = 0
        self.mismatched = 0
        self._bad_message = -1  # index of the last message found corrupted

    # -- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.write = self.transport.write
        self.alive = True
        nodelay(transport)

    def eof_received(self) -> bool:
        self.worker.connection_ended(self, None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.connection_ended(self, exc)

    # -- verification (slow path only when the bytes differ) ------------------------------

    def _corrupt(self, data: bytes, pos: int, off: int, length: int) -> None:
        got = np.frombuffer(data, dtype=np.uint8, count=length, offset=pos)
        want = np.frombuffer(self.payload, dtype=np.uint8, count=length, offset=off)
        differing = int(np.count_nonzero(got != want))
        self.corrupted_bytes += differing
        if differing and self._bad_message != self.done:
            self._bad_message = self.done
            self.mismatched += 1

    def _check(self, data: bytes, pos: int, off: int, length: int) -> None:
        if not data.startswith(self.view[off : off + length], pos):
            self._corrupt(data, pos, off, length)

    def progress(self) -> tuple[int, int]:
        """A value that changes whenever bytes arrive (the watchdog compares them)."""
        return self.done, self.off


class ClosedLoopConnection(Connection):
    """Sends the next message as soon as the echo of one completes; ``pipeline`` in flight.

    ``stamps`` holds send times in order; every completion appends one clock reading,
    the send time of the message it triggers. So with ``pipeline`` K, completion j's
    latency is ``stamps[K + j] - stamps[j]`` (see ``take_latencies``).
    """

    def __init__(self, worker: Worker, index: int, payload: bytes) -> None:
        super().__init__(worker, index, payload)
        self.pipeline = worker.config.pipeline
        self.stamps: array[int] = array("q")
        self.stamp: Callable[[int], None] | None = (
            self.stamps.append if worker.config.latency else None
        )

    def start(self, now: int) -> None:
        assert self.write is not None
        for _ in range(self.pipeline):
            self.stamps.append(now)
            self.write(self.payload)

    def take_latencies(self, after: int, until: int) -> np.ndarray | None:
        """Latencies (ns) of the echoes completed by ``until``, less those by ``after``.

        The completions up to ``until`` are consumed either way; their clock readings
        place them in time, so how late this is called does not matter.
        """
        stamps = self.stamps
        if len(stamps) <= self.pipeline:
            return None
        values = np.frombuffer(stamps.tobytes(), dtype=np.int64)
        done = values[self.pipeline :]  # completion j's reading; its send time is values[j]
        taken = int(np.searchsorted(done, until, side="right"))
        if not taken:
            return None
        del stamps[:taken]  # the send times still in flight stay
        skipped = int(np.searchsorted(done[:taken], after, side="right"))
        if skipped == taken:
            return None
        return done[skipped:taken] - values[skipped:taken]

    def data_received(self, data: bytes) -> None:
        if self.off == 0 and len(data) == self.size:
            # One read, one whole message: the common case, kept short.
            if self.verify and data != self.payload:
                self._corrupt(data, 0, 0, self.size)
            stamp = self.stamp
            if stamp is not None:
                stamp(monotonic_ns())
            self.write(self.payload)  # type: ignore[misc]
            self.done += 1
            return
        self._reassemble(data, len(data), self.off, self.size)

    def _reassemble(self, data: bytes, n: int, off: int, size: int) -> None:
        verify = self.verify
        pos = 0
        completed = 0
        while True:
            need = size - off
            if n - pos < need:
                if verify and n > pos:
                    self._check(data, pos, off, n - pos)
                self.off = off + n - pos
                break
            if verify:
                self._check(data, pos, off, need)
            pos += need
            off = 0
            completed += 1
            self.done += 1
            if pos == n:
                self.off = 0
                break
        if completed:
            stamp = self.stamp
            if stamp is not None:
                now = monotonic_ns()
                for _ in range(completed):
                    stamp(now)
            write = self.write
            assert write is not None
            payload = self.payload
            for _ in range(completed):
                write(payload)


class OpenLoopConnection(Connection):
    """Sends on the worker's schedule; latency runs from each message's scheduled time."""

    def __init__(self, worker: Worker, index: int, payload: bytes) -> None:
        super().__init__(worker, index, payload)
        self.record: Callable[[int], None] | None = (
            worker.samples.append if worker.config.latency else None
        )
        self.scheduled: deque[int] = deque()
        self.extra_bytes = 0
        self.pacer: Pacer = _Unpaced()

    def send(self, scheduled: int) -> None:
        self.scheduled.append(scheduled)
        self.write(self.payload)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        n = len(data)
        off = self.off
        size = self.size
        if off == 0 and n == size and self.scheduled:
            if self.verify and data != self.payload:
                self._corrupt(data, 0, 0, n)
            scheduled = self.scheduled.popleft()
            now = monotonic_ns()
            record = self.record
            if record is not None:
                record(now - scheduled)
            self.done += 1
            if now >= self.pacer.next_due:
                self.pacer.send_due(now)
            return
        self._reassemble(data, n, off, size)
        now = monotonic_ns()
        if now >= self.pacer.next_due:
            self.pacer.send_due(now)

    def _reassemble(self, data: bytes, n: int, off: int, size: int) -> None:
        verify = self.verify
        scheduled = self.scheduled
        outstanding = len(scheduled) * size - off  # bytes sent and not yet echoed
        if n > outstanding:
            # Bytes the client never sent: the server invented or duplicated them.
            self.extra_bytes += n - outstanding
            self.corrupted_bytes += n - outstanding
            if self._bad_message != self.done:
                self._bad_message = self.done
                self.mismatched += 1
            n = outstanding
        pos = 0
        now = 0
        record = self.record
        while pos < n:
            need = size - off
            if n - pos < need:
                if verify:
                    self._check(data, pos, off, n - pos)
                self.off = off + n - pos
                return
            if verify:
                self._check(data, pos, off, need)
            pos += need
            off = 0
            self.off = 0
            sent = scheduled.popleft()
            if record is not None:
                if not now:
                    now = monotonic_ns()
                record(now - sent)
            self.done += 1


def make_connection_factory(worker: Worker, index: int, payload: bytes) -> Callable[[], Any]:
    cls = ClosedLoopConnection if worker.config.rate is None else OpenLoopConnection
    return lambda: cls(worker, index, payload)
