"""One client process: opens its share of the connections, drives them, reports.

The parent talks to a worker over a pipe: the worker answers ``("ready", n)`` once
its connections are open (or ``("error", message)``), waits for ``("start", t0)``
with an agreed CLOCK_MONOTONIC instant (system-wide on Linux, so every worker
starts together), sends ``("tick", k, messages)`` each second of the window,
``("interval", k, counts, start_ns, end_ns)`` for each latency interval
(``echobench.clients._recorder``; the last one, maybe shorter, ends with the window; an
open loop recorded whole sends them all once its window has closed) and finally
``("result", dict)``. One timer, every ``SERIES_INTERVAL_NS`` of the window,
reads the completed-message total (the ``series``); every tenth reading also makes the
second's tick, so ``per_second`` and ``series`` come from the same readings.
``("stop", reason)`` or the pipe closing (the parent died) ends the run early; the
partial result is still sent when it can be.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import resource
import signal
import socket
import ssl
from array import array
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from multiprocessing.connection import Connection as Pipe
from time import monotonic_ns
from typing import Any

import numpy as np

from echobench.clients._config import LoadConfig
from echobench.clients._connect import ConnectStats, open_all, syn_retransmits
from echobench.clients._gcwatch import GcWatch
from echobench.clients._histogram import Counts, encode, new_histogram
from echobench.clients._idle import IdleConnection, check_all
from echobench.clients._load_schema import ERROR_KINDS, SERIES_INTERVAL_NS
from echobench.clients._memory import Held, hold_memory
from echobench.clients._pacer import Pacer
from echobench.clients._priority import Priority, set_nice
from echobench.clients._protocol import (
    ClosedLoopConnection,
    Connection,
    OpenLoopConnection,
    error_kind,
    make_connection_factory,
)
from echobench.clients._recorder import RAW_BUDGET, Recorder

#: Payload bytes kept per worker; past it, connections share payloads round-robin.
PAYLOAD_BUDGET = 64 * 1024 * 1024
_PER_SECOND = 1_000_000_000 // SERIES_INTERVAL_NS


def new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.SelectorEventLoop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def make_payloads(config: LoadConfig, indices: range) -> list[bytes]:
    """Distinct random payloads, so a server that crosses connections is caught.

    Payload ``j`` is a window at offset ``j`` of one random buffer, so windows differ
    from each other; when ``connections * size`` exceeds the budget, connections
    ``distinct`` apart share one.
    """
    size = config.message_bytes
    distinct = max(1, min(len(indices), PAYLOAD_BUDGET // size))
    base = random.Random(0x5EED + indices.start).randbytes(size + distinct)
    unique = [base[j : j + size] for j in range(distinct)]
    if config.readline:
        unique = [as_lines(payload, config.size) for payload in unique]
    return [unique[i % distinct] for i in range(len(indices))]


def as_lines(payload: bytes, line: int) -> bytes:
    """``payload`` as lines of ``line`` bytes: every ``line``-th byte a newline, no other."""
    framed = bytearray(payload.replace(b"\n", b" "))
    framed[line - 1 :: line] = b"\n" * (len(framed) // line)
    return bytes(framed)


class Worker:
    def __init__(
        self, config: LoadConfig, index: int, pipe: Pipe, held: Held, priority: Priority
    ) -> None:
        self.config = config
        self.held = held  # what ``hold_memory`` achieved for this process
        self.priority = priority  # what ``set_nice`` achieved
        self.index = index
        self.pipe = pipe
        self.loop, self.loop_name = new_loop()
        # An open loop whose window fits the budget is counted after its window, so
        # nothing but the sends and the sockets runs while it is measured (``_recorder``).
        expected = 0.0
        if config.rate is not None:
            expected = config.rate / config.workers * (config.duration + config.warmup)
        self.defer = config.rate is not None and expected <= RAW_BUDGET
        self.recorder = (
            Recorder(self.loop, self._send_interval, defer=self.defer) if config.latency else None
        )
        # Open loop, the hot path appends latencies here (only with latency on).
        self.samples: array[int] = self.recorder.samples if self.recorder else array("q")
        self.closed_conns: list[ClosedLoopConnection] = []
        self.histogram = new_histogram() if config.latency else None
        self.per_interval = round(config.interval * 1e9) // SERIES_INTERVAL_NS
        self.interval_start = 0
        self.intervals_sent = 0
        self.gc = GcWatch()
        self.out_of_range = 0
        self.conns: list[Connection] = []
        self.idle: list[IdleConnection] = []
        self.idle_held: tuple[int, int] | None = None  # (held, closed by the server)
        self.connect_stats = ConnectStats()
        self.done_each_at_start: list[int] = []
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.lost = 0
        self.closing = False
        self.measuring = False
        self.finished: asyncio.Future[None] | None = None
        self.stop_reason: str | None = None
        self.win_start = 0
        self.win_end = 0
        self.done_at_start = 0
        self.sent_at_start = 0
        self.marks: list[int] = []  # completed-message totals at each series interval
        self.cpu_start: resource.struct_rusage | None = None
        self.cpu_end: resource.struct_rusage | None = None
        self.done_at_end = 0
        self.done_each: list[int] = []  # per connection, inside the window
        self.sent_at_end = 0
        self.pacer: Pacer | None = None
        self.lags: list[int] = []  # the largest send lag in each whole second of the window
        self.lags_at: list[int] = []  # and when each was read (monotonic ns; 0: no lag)
        self.in_flight = 0  # open loop: sent, not echoed when the window closed
        self.unsent = 0  # open loop: due, never sent when the window closed
        self.win_open_at = 0  # when the window opened (monotonic ns)
        self.handles: list[asyncio.TimerHandle] = []
        self.mark_handle: asyncio.TimerHandle | None = None
        self.watch: dict[int, tuple[tuple[int, int], int]] = {}
        self.interval_bounds: list[tuple[int, int]] = []

    # -- set-up ------------------------------------------------------------------------

    async def connect(self) -> None:
        config = self.config
        indices = config.connections_of(self.index)
        payloads = make_payloads(config, indices)
        ssl_context: ssl.SSLContext | None = None
        if config.tls:
            from echobench.servers._tls import client_context

            ssl_context = client_context()
        active = [
            partial(self._open, make_connection_factory(self, i, p), ssl_context)
            for i, p in zip(indices, payloads, strict=True)
        ]
        idle = [
            partial(self._open, partial(IdleConnection, i), ssl_context)
            for i in config.idle_of(self.index)
        ]
        self.connect_stats.start_ns = monotonic_ns()
        try:
            await open_all(active, self.connect_stats, self.conns)
            await open_all(idle, self.connect_stats, self.idle)
        except Exception as exc:
            self.errors["connect"] += 1
            opened = len(self.conns) + len(self.idle)
            raise ConnectFailed(
                f"{describe_connect_error(config, exc)} (after {opened} connections opened)"
            ) from exc

    async def _open(
        self, factory: Callable[[], asyncio.Protocol], ssl_context: ssl.SSLContext | None
    ) -> Any:
        config = self.config
        if config.unix is not None:
            coro = self.loop.create_unix_connection(
                factory,
                config.unix,
                ssl=ssl_context,
                server_hostname="localhost" if ssl_context else None,
            )
        else:
            assert config.port is not None
            coro = self.loop.create_connection(factory, config.host, config.port, ssl=ssl_context)
        transport, protocol = await asyncio.wait_for(coro, config.timeout)
        self.connect_stats.syn_retransmits += syn_retransmits(transport)
        return protocol

    # -- the run -------------------------------------------------------------------------

    async def run(self, t0: int) -> dict[str, Any]:
        loop = self.loop
        self.finished = loop.create_future()
        loop.add_reader(self.pipe.fileno(), self._on_pipe)
        loop.add_signal_handler(signal.SIGTERM, self.stop, "worker received SIGTERM")
        delay = (t0 - monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        config = self.config
        win_open = t0 + round(config.warmup * 1e9)
        self.win_open_at = win_open
        self._at(win_open, self._open_window)
        self._start_watchdog()
        if config.rate is None:
            now = monotonic_ns()
            for conn in self.conns:
                assert isinstance(conn, ClosedLoopConnection)
                conn.start(now)
        else:
            self._start_schedule(t0)
        if not self.finished.done():
            await self.finished
        if self.stop_reason is None:
            # Only now, with the window closed, so the probes cannot disturb it.
            self.idle_held = await check_all(self.idle, config.timeout)
        return self.result()

    def _at(self, when_ns: int, callback: Any, *args: Any) -> None:
        self.handles.append(self._later(when_ns, callback, *args))

    def _later(self, when_ns: int, callback: Any, *args: Any) -> asyncio.TimerHandle:
        delay = max(0.0, (when_ns - monotonic_ns()) / 1e9)
        return self.loop.call_later(delay, callback, *args)

    def _done_total(self) -> int:
        return sum(conn.done for conn in self.conns)

    def _open_window(self) -> None:
        self.win_start = monotonic_ns()
        if self.recorder is not None:
            self.recorder.open(self.win_start)  # warmup samples are not measured
            self.closed_conns = [c for c in self.conns if isinstance(c, ClosedLoopConnection)]
        self.interval_start = self.win_start
        self.done_at_start = self._done_total()
        self.done_each_at_start = [conn.done for conn in self.conns]
        self.sent_at_start = self._sent()
        # A window recorded whole allocates a bounded amount: no collection in it at all.
        self.gc.start(disable=self.defer)
        self.cpu_start = resource.getrusage(resource.RUSAGE_SELF)
        self.measuring = True
        if self.pacer is not None:
            self.pacer.measuring = True
        # The window and its series run from when it actually opened: with thousands of
        # busy connections one pass of the event loop can outlast a timer's due time
        # (libuv handles up to 48 x 1024 events before it runs timers), and a window
        # scheduled from the nominal instant would shrink by that lateness, even to nothing.
        self.win_open_at = self.win_start
        self._at(self.win_start + round(self.config.duration * 1e9), self._close_window)
        self.marks = [self.done_at_start]
        self._next_mark()

    def _next_mark(self) -> None:
        # Absolute targets, so timer lateness does not accumulate over the run.
        when = self.win_open_at + len(self.marks) * SERIES_INTERVAL_NS
        if when < self.win_open_at + round(self.config.duration * 1e9):
            # Kept apart from ``handles``, which would grow by ten a second.
            self.mark_handle = self._later(when, self._mark)

    def _mark(self) -> None:
        if not self.measuring:
            return
        now = monotonic_ns()
        total = self._done_total()
        self.marks.append(total)
        count = len(self.marks) - 1
        if self.recorder is not None:
            ends = count % self.per_interval == 0
            # Reading every closed-loop connection costs microseconds each: once a second
            # (and at each interval's end) is plenty. Open loop, between those, only once a
            # slice has built up: each fold step has a fixed cost of tens of microseconds,
            # and at a low rate ten a second were most of the time the client was not
            # serving its sockets.
            # Recorded whole, the raw samples are only moved aside (a copy of 100 ms of
            # them), so the array the sends append to never grows large.
            gather = ends or count % _PER_SECOND == 0
            if gather or self.recorder.deferring or self.recorder.slice_waiting():
                self.recorder.collect(
                    now,
                    self.closed_conns if gather else (),
                    self._interval_ends(now) if ends else None,
                )
            if self.gc.disabled and not self.recorder.deferring:
                self.gc.resume()  # past the budget: counted as it goes, and collected
        k, rest = divmod(count, _PER_SECOND)
        if not rest:
            lag, at = self.pacer.take_second() if self.pacer is not None else (0, 0)
            self.lags.append(lag)
            self.lags_at.append(at)
            try:
                self.pipe.send(("tick", k, total - self.marks[-1 - _PER_SECOND]))
            except OSError:
                self.stop("the parent process went away")
                return
        self._next_mark()

    def _interval_ends(self, now: int) -> int:
        """The index of the interval that ends at ``now`` (the recorder emits it later)."""
        index = self.intervals_sent
        self.intervals_sent += 1
        self.interval_bounds.append((self.interval_start, now))
        self.interval_start = now
        return index

    def _send_interval(self, index: int, counts: Counts) -> None:
        start, end = self.interval_bounds[index]
        try:
            self.pipe.send(("interval", index, counts, start, end))
        except OSError:
            # Not from inside the recorder's step: stopping works off its queue.
            self.loop.call_soon(self.stop, "the parent process went away")

    def _close_window(self, early: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        now = monotonic_ns()
        if not self.measuring:  # stopped during warmup: an empty window
            self.win_start = self.interval_start = now
            if self.recorder is not None:
                self.recorder.open(now)
            self.done_at_start = self._done_total()
            self.done_each_at_start = [conn.done for conn in self.conns]
            self.sent_at_start = self._sent()
            self.cpu_start = resource.getrusage(resource.RUSAGE_SELF)
            self.marks = [self.done_at_start]
        elif self.pacer is not None:
            self._in_flight_at_close(now)
            self.pacer.count_unsent(now)
        if self.pacer is not None:
            self.pacer.stop()
        self.win_end = now
        total = self._done_total()
        intervals = int(self.config.duration * 1e9 + 1) // SERIES_INTERVAL_NS
        if not early and len(self.marks) <= intervals:
            self.marks.append(total)
        self.done_at_end = total
        self.done_each = [
            conn.done - start
            for conn, start in zip(self.conns, self.done_each_at_start, strict=True)
        ]
        self.sent_at_end = self._sent()
        self.gc.stop()
        if self.recorder is not None:
            conns = [c for c in self.conns if isinstance(c, ClosedLoopConnection)]
            self.recorder.collect(now, conns, self._interval_ends(now))
            self.recorder.finish()
        self.cpu_end = resource.getrusage(resource.RUSAGE_SELF)
        if self.recorder is not None and self.histogram is not None:
            self.out_of_range += self.recorder.total.flush_into(self.histogram)
        self.measuring = False
        for handle in self.handles:
            handle.cancel()
        if self.mark_handle is not None:
            self.mark_handle.cancel()
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.abort()
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)

    def _sent(self) -> int:
        return self.pacer.sent if self.pacer is not None else 0

    def _in_flight_at_close(self, now: int) -> None:
        """Messages the window ends without: each is recorded with its age at the close, a
        lower bound of its latency (as wrk2 does), so the slowest are never left out."""
        assert self.pacer is not None
        ages = array(
            "q",
            [now - s for c in self.conns if isinstance(c, OpenLoopConnection) for s in c.scheduled],
        )
        self.in_flight = len(ages)
        overdue = self.pacer.overdue(now)
        self.unsent = int(overdue.size)
        if self.recorder is not None:
            self.recorder.samples.extend(ages)
            self.recorder.samples.frombytes((now - overdue).astype(np.int64).tobytes())

    def stop(self, reason: str) -> None:
        if self.closing:
            return
        if self.stop_reason is None:
            self.stop_reason = reason
        self._close_window(early=True)

    def _on_pipe(self) -> None:
        try:
            message = self.pipe.recv()
        except (EOFError, OSError):
            self.loop.remove_reader(self.pipe.fileno())
            self.stop("the parent process went away")
            return
        if message[0] == "stop":
            self.stop(str(message[1]))

    # -- failures ------------------------------------------------------------------------

    def connection_ended(self, conn: Connection, exc: BaseException | None) -> None:
        if self.closing or not conn.alive:
            return
        conn.alive = False
        kind = error_kind(exc)
        self.errors[kind] += 1
        self.lost += 1
        if conn.transport is not None:
            conn.transport.abort()
        if self.finished is None:
            return  # still connecting; the parent sees the failure at start
        if all(not c.alive for c in self.conns):
            self.stop(f"every connection ended early (last: {kind})")

    def _start_watchdog(self) -> None:
        period = min(0.25, self.config.timeout / 4)
        timeout_ns = round(self.config.timeout * 1e9)

        def check() -> None:
            if self.closing:
                return
            now = monotonic_ns()
            for conn in self.conns:
                if not conn.alive or not self._outstanding(conn):
                    self.watch.pop(conn.index, None)
                    continue
                seen = conn.progress()
                last = self.watch.get(conn.index)
                if last is None or last[0] != seen:
                    self.watch[conn.index] = (seen, now)
                elif now - last[1] >= timeout_ns:
                    self.connection_ended(conn, TimeoutError())
            if not self.closing:
                self.handles.append(self.loop.call_later(period, check))

        self.handles.append(self.loop.call_later(period, check))

    @staticmethod
    def _outstanding(conn: Connection) -> bool:
        if isinstance(conn, OpenLoopConnection):
            return bool(conn.scheduled)
        return True  # a closed-loop connection always waits for an echo

    # -- open loop -----------------------------------------------------------------------

    def _start_schedule(self, t0: int) -> None:
        config = self.config
        assert config.rate is not None
        conns = [c for c in self.conns if isinstance(c, OpenLoopConnection)]
        # Every connection sends at rate/connections; this worker's sends interleave
        # round-robin, offset so the workers' schedules interleave too.
        step = 1e9 * config.connections / (config.rate * len(conns))
        base = t0 + round(self.index * 1e9 / config.rate)
        self.pacer = Pacer(self.loop, conns, base, step)
        self.pacer.start()

    # -- the report ----------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        assert self.cpu_start is not None and self.cpu_end is not None
        series = [b - a for a, b in pairwise(self.marks)]
        per_second = [b - a for a, b in pairwise(self.marks[::_PER_SECOND])]
        complete = self.stop_reason is None and self.lost == 0
        return {
            "worker": self.index,
            "loop": self.loop_name,
            "connections": len(self.conns),
            "win_start_ns": self.win_start,
            "win_end_ns": self.win_end,
            "messages": self.done_at_end - self.done_at_start,
            "per_connection": self.done_each,
            "connect": self.connect_stats.as_dict(),
            "idle_held": self.idle_held,
            "sent": self.sent_at_end - self.sent_at_start if self.config.rate is not None else None,
            "per_second": per_second,
            "series": series,
            "errors": dict(self.errors),
            "lost": self.lost,
            "corrupted_bytes": sum(c.corrupted_bytes for c in self.conns),
            "mismatched": sum(c.mismatched for c in self.conns),
            "histogram": encode(self.histogram) if self.histogram is not None else None,
            "out_of_range": self.out_of_range,
            "recorder": self.recorder.stats() if self.recorder is not None else None,
            "dependence": self.recorder.dependence if self.recorder is not None else None,
            "gc": self.gc.stats(),
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "user_s": self.cpu_end.ru_utime - self.cpu_start.ru_utime,
            "system_s": self.cpu_end.ru_stime - self.cpu_start.ru_stime,
            # A page the host's reclaim took away is read back from disk while the
            # worker waits: a stall of the client's own, whatever the server does.
            "major_faults": self.cpu_end.ru_majflt - self.cpu_start.ru_majflt,
            "preempted": self.cpu_end.ru_nivcsw - self.cpu_start.ru_nivcsw,
            "memory": self.held.as_dict(),
            "priority": self.priority.as_dict(),
            "max_lag_ns": self.pacer.max_lag if self.pacer is not None else 0,
            "late": self.pacer.late_counts() if self.pacer is not None else None,
            "in_flight_at_close": self.in_flight,
            "unsent_at_close": self.unsent,
            "lag_per_second_ns": self.lags,
            "lag_at_per_second_ns": self.lags_at,
            "lag_events": self.pacer.lag_events if self.pacer is not None else [],
            "lag_events_dropped": self.pacer.lag_events_dropped if self.pacer is not None else 0,
            "pid": os.getpid(),
            "complete": complete,
            "stop_reason": self.stop_reason,
        }


class ConnectFailed(Exception):
    pass


def describe_connect_error(config: LoadConfig, exc: BaseException) -> str:
    where = config.target
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where} (is the server running?)"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"timed out after {config.timeout:g}s connecting to {where}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {config.host!r}: {exc.strerror}"
    if isinstance(exc, FileNotFoundError):
        return f"no unix socket at {config.unix}"
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return f"out of file descriptors connecting to {where} (limit {limit})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return f"cannot connect to {where}: {exc.strerror or exc}"
    return f"cannot connect to {where}: {exc!r}"


def worker_main(pipe: Pipe, config: LoadConfig, index: int) -> None:
    """Entry point of a worker process."""
    # Ctrl-C reaches the whole process group; the parent decides and tells us to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if config.cpus:
        try:
            os.sched_setaffinity(0, {config.cpus[index % len(config.cpus)]})
        except OSError:
            pass
    worker = Worker(config, index, pipe, hold_memory(), set_nice(config.nice))
    loop = worker.loop
    try:
        try:
            loop.run_until_complete(worker.connect())
        except ConnectFailed as exc:
            pipe.send(("error", str(exc)))
            return
        pipe.send(("ready", len(worker.conns), worker.connect_stats.as_dict()))
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            return
        if message[0] != "start":
            return
        result = loop.run_until_complete(worker.run(int(message[1])))
        pipe.send(("result", result))
    except (BrokenPipeError, EOFError):
        pass  # the parent went away; nothing to report to
    finally:
        for conn in worker.conns:
            if conn.transport is not None:
                conn.transport.abort()
        for idle in worker.idle:
            idle.abort()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        pipe.close()
