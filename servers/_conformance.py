"""The contract's conformance checks, as plain functions that take a way to start a server.

A check is ``check(factory)``: it starts a server with ``factory()`` (a context
manager yielding a ``echobench.servers._launch.RunningServer``), drives it from plain
blocking sockets, with threads where it needs concurrency (never code on an
event loop, which could share a bug with the server under test), and raises
``ConformanceError`` with a one-line reason when the server breaks the
contract. ``echobench verify``, the test suite, the runner's gate and outside
backends all use these same functions (trio's ``testing/_check_streams.py`` is
the model).

Every socket operation has a deadline, so a broken server fails a check
instead of hanging it. The bounds are generous, for a busy 2-core machine, but
each one can fail: they are set well below what a server without the property
would show.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import psutil

from echobench.servers._contract import BACKLOG, raise_fd_limit
from echobench.servers._errors import UserError
from echobench.servers._launch import RunningServer, running_server

ServerFactory = Callable[[], contextlib.AbstractContextManager[RunningServer]]

MiB = 1024 * 1024

#: Deadline for any one socket operation; a healthy server answers in milliseconds.
IO_TIMEOUT = 10.0
#: Payload sizes: tiny, around 256 and page and read-size boundaries, and large.
PAYLOAD_SIZES = (1, 2, 3, 255, 256, 257, 4095, 4096, 65535, 65536, 65537, MiB, 4 * MiB)
#: Where a server that drops echoes on EOF shows it depends on its socket buffers; on
#: loopback here it shows between 48 and 160 KiB, so the sizes step finely there, by
#: half of asyncio's 64 KiB high-water mark at most.
HALF_CLOSE_SIZES = tuple(k * 1024 for k in (16, 48, 64, 80, 96, 128, 160, 192, 256, 1024))
#: The half-close reads trickle (this much at a time, ``HALF_CLOSE_PACE`` s apart), so
#: that the server's socket stays full and it still holds echoes when it reads the EOF,
#: whatever the scheduler does: read at full speed, a server could flush everything
#: first and a server that drops them on EOF passed the check (seen once in CI).
PACED_READ = 16 * 1024
HALF_CLOSE_PACE = 0.0005
CONCURRENT_CONNECTIONS = 200
IDLE_CONNECTIONS = 2000
#: What a server may take from a client that never reads. A flow-controlled
#: server holds about one read plus one high-water mark (64 KiB each); the rest
#: sits in the kernel's socket buffers on both sides (Linux autotunes them to a
#: few MiB on loopback). A server without flow control never stops taking.
FLOOD_MAX_BYTES = 32 * MiB
#: How long the client's sends must block for the server to count as stalled.
FLOOD_STALL_SECONDS = 0.5
#: Growth of the server's RSS (its whole process tree) while it is flooded. A
#: flow-controlled server buffers ~128 KiB; the bound leaves room for allocator
#: slack and lazily touched heap, and is far below the 32 MiB that a server
#: buffering what it reads would need before the byte bound stops the flood.
FLOOD_MAX_RSS_GROWTH = 16 * MiB
#: The contract: exit within 1 s of SIGTERM or SIGINT.
STOP_SECONDS = 1.0


class ConformanceError(AssertionError):
    """A server broke the contract; the message is one line saying how."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    seconds: float
    detail: str


CHECKS: dict[str, Callable[[ServerFactory], None]] = {}
#: The checks that gate every benchmark run: cheap, and they catch a server
#: that corrupts, loses, or stops echoing data, or does not stop cleanly.
QUICK_CHECKS: tuple[str, ...] = (
    "payloads",
    "byte-at-a-time",
    "half-close",
    "concurrent",
    "sigterm",
)
#: Checks that stop the server or measure its memory need one of their own;
#: the others may share one server (``SharedServer``) to save start-up time.
NEEDS_FRESH_SERVER: frozenset[str] = frozenset({"flood", "sigterm", "sigint"})

_notes: ContextVar[list[str] | None] = ContextVar("_notes", default=None)


def _note(text: str) -> None:
    """Record a measurement for the check's result detail (shown when it passes)."""
    notes = _notes.get()
    if notes is not None:
        notes.append(text)


def _check(
    name: str,
) -> Callable[[Callable[[ServerFactory], None]], Callable[[ServerFactory], None]]:
    """Register a check; turn stray socket errors and failed starts into one-line failures."""

    def register(function: Callable[[ServerFactory], None]) -> Callable[[ServerFactory], None]:
        @functools.wraps(function)
        def wrapper(factory: ServerFactory) -> None:
            try:
                function(factory)
            except ConformanceError:
                raise
            except UserError as exc:  # ServerStartError among them
                raise ConformanceError(str(exc).splitlines()[0]) from None
            except OSError as exc:
                raise ConformanceError(f"unexpected socket error: {_describe(exc)}") from None

        CHECKS[name] = wrapper
        return wrapper

    return register


# -- the peer: plain blocking sockets ------------------------------------------


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {IO_TIMEOUT:g}s"
    return f"{type(exc).__name__}: {exc}"


def _connect(
    server: RunningServer, timeout: float = IO_TIMEOUT, rcvbuf: int | None = None
) -> socket.socket:
    """A blocking client socket; ``rcvbuf`` shrinks its receive buffer (set before connecting)."""
    address: str | tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]
    path = server.unix_path
    if path is not None:
        family, address = socket.AF_UNIX, path
    else:
        info = socket.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)[0]
        family, address = info[0], info[4]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if family != socket.AF_UNIX:
            # Each small write goes out as its own segment, so the server sees them apart.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if rcvbuf is not None:
                # Small segments keep the server's send buffer small too (Linux
                # sizes it from the MSS), so its own buffer fills sooner.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        sock.settimeout(timeout)
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _payload(size: int, seed: int) -> bytes:
    """Random bytes; from 256 bytes up they start with every byte value once."""
    rng = random.Random(seed)
    if size < 256:
        return rng.randbytes(size)
    every_value = bytearray(range(256))
    rng.shuffle(every_value)
    return bytes(every_value) + rng.randbytes(size - 256)


def _size(n: int) -> str:
    if n >= MiB and n % (MiB // 1024) == 0:
        return f"{n / MiB:.4g} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def _recv_exactly(
    sock: socket.socket, expected: bytes | memoryview, what: str, pace: float = 0.0
) -> None:
    """Read ``len(expected)`` bytes and compare them with ``expected``; with ``pace``,
    in reads of at most ``PACED_READ`` bytes that many seconds apart."""
    view = memoryview(expected)
    got = 0
    buffer = bytearray(min(len(view), PACED_READ if pace else 256 * 1024) or 1)
    while got < len(view):
        if pace and got:
            time.sleep(pace)
        try:
            n = sock.recv_into(buffer, min(len(buffer), len(view) - got))
        except OSError as exc:
            raise ConformanceError(
                f"{what}: {_describe(exc)} after {_size(got)} of {_size(len(view))} echoed"
            ) from None
        if n == 0:
            raise ConformanceError(
                f"{what}: server closed after echoing {_size(got)} of {_size(len(view))}"
            )
        if buffer[:n] != view[got : got + n]:
            offset = next(i for i in range(n) if buffer[i] != view[got + i])
            raise ConformanceError(
                f"{what}: echoed byte {got + offset} is {buffer[offset]:#04x}, "
                f"sent {view[got + offset]:#04x}"
            )
        got += n


def _expect_eof(sock: socket.socket, what: str) -> None:
    try:
        extra = sock.recv(65536)
    except OSError as exc:
        raise ConformanceError(f"{what}: no EOF from the server: {_describe(exc)}") from None
    if extra:
        raise ConformanceError(f"{what}: server sent {len(extra)} bytes more than it received")


def _expect_silence(sock: socket.socket, what: str, seconds: float = 0.2) -> None:
    sock.settimeout(seconds)
    try:
        extra = sock.recv(65536)
    except TimeoutError:
        return
    finally:
        sock.settimeout(IO_TIMEOUT)
    if extra:
        raise ConformanceError(f"{what}: server sent {len(extra)} bytes more than it received")
    raise ConformanceError(f"{what}: server closed an open connection")


class _Sender(threading.Thread):
    """Sends while the caller reads: a server with flow control blocks a sender
    that does not read, so a large echo needs both at once."""

    def __init__(
        self, sock: socket.socket, data: bytes, chunk: int = 0, half_close: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.sock, self.data, self.chunk, self.half_close = sock, data, chunk, half_close
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.chunk:
                view = memoryview(self.data)
                for start in range(0, len(view), self.chunk):
                    self.sock.sendall(view[start : start + self.chunk])
            else:
                self.sock.sendall(self.data)
            if self.half_close:
                self.sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:
            self.error = exc

    def finish(self, what: str) -> None:
        self.join(IO_TIMEOUT)
        if self.is_alive():
            raise ConformanceError(f"{what}: sending did not finish within {IO_TIMEOUT:g}s")
        if self.error is not None:
            raise ConformanceError(f"{what}: sending failed: {_describe(self.error)}")


def _echo(
    sock: socket.socket, data: bytes, what: str, *, chunk: int = 0, half_close: bool = False
) -> None:
    """Send ``data`` and check that exactly it comes back (then EOF, when half-closing)."""
    sender = _Sender(sock, data, chunk, half_close)
    sender.start()
    try:
        _recv_exactly(sock, data, what)
    except ConformanceError:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # unblocks a sender stuck in sendall
        sender.join(IO_TIMEOUT)
        raise
    sender.finish(what)
    if half_close:
        _expect_eof(sock, what)


def _assert_alive(server: RunningServer, when: str) -> None:
    if not server.alive():
        raise ConformanceError(
            f"server exited {when} (status {server.process.returncode}): {_last_line(server)}"
        )


@contextlib.contextmanager
def _serving(factory: ServerFactory) -> Iterator[RunningServer]:
    """Start a server; when a step fails because the server died, say that first."""
    with factory() as server:
        try:
            yield server
        except (ConformanceError, OSError) as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(0.5)  # a dying server may not have been reaped yet
            if server.alive():
                raise
            symptom = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConformanceError(
                f"server died (status {server.process.returncode}: {_last_line(server)}); "
                f"seen as: {symptom}"
            ) from None


def _last_line(server: RunningServer) -> str:
    lines = server.stderr_tail().strip().splitlines()
    return lines[-1] if lines else "no output on stderr"


def _rss(pid: int) -> int:
    """Resident memory of a process and all its descendants (a backend may fork workers)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return total


def _reset(sock: socket.socket) -> None:
    """Close abruptly: SO_LINGER 0 makes the kernel send RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _fill_without_reading(sock: socket.socket, data: bytes, seconds: float) -> int:
    """Send as much of ``data`` as the server takes within ``seconds``; never read."""
    sock.settimeout(seconds)
    sent = 0
    try:
        while sent < len(data):
            sent += sock.send(memoryview(data)[sent : sent + 65536])
    except (TimeoutError, BlockingIOError):
        pass
    finally:
        sock.settimeout(IO_TIMEOUT)
    return sent


# -- the checks, in the order they run -------------------------------------------


@_check("payloads")
def check_payloads(factory: ServerFactory) -> None:
    """Payloads from 1 byte to 4 MiB, covering every byte value, echoed exactly."""
    with _serving(factory) as server, _connect(server) as sock:
        for size in PAYLOAD_SIZES:
            _echo(sock, _payload(size, seed=size), f"{_size(size)} payload")
        _expect_silence(sock, "after the last payload")
        _assert_alive(server, "after the payloads")
    _note(f"{len(PAYLOAD_SIZES)} sizes, 1 B to {_size(PAYLOAD_SIZES[-1])}, on one connection")


@_check("byte-at-a-time")
def check_byte_at_a_time(factory: ServerFactory) -> None:
    """Single-byte writes: lock-step round trips, then a stream of one-byte sends."""
    with _serving(factory) as server, _connect(server) as sock:
        for value in range(256):
            byte = bytes([value])
            try:
                sock.sendall(byte)
            except OSError as exc:
                raise ConformanceError(f"lock-step byte {value}: {_describe(exc)}") from None
            _recv_exactly(sock, byte, f"lock-step byte {value}")
        _echo(sock, _payload(4096, seed=1), "4096 one-byte sends", chunk=1)
        _expect_silence(sock, "after one-byte sends")
        _assert_alive(server, "after one-byte writes")


@_check("concurrent")
def check_concurrent(factory: ServerFactory) -> None:
    """Hundreds of simultaneous connections, each with its own payload."""
    count = CONCURRENT_CONNECTIONS
    with _serving(factory) as server, contextlib.ExitStack() as stack:
        socks = [stack.enter_context(_connect(server)) for _ in range(count)]
        start = threading.Barrier(count, timeout=IO_TIMEOUT)
        errors: list[str] = []

        def client(index: int) -> None:
            try:
                start.wait()
                # Distinct sizes and contents, so crossed or mixed streams show.
                data = _payload(1024 + 97 * index, seed=10_000 + index)
                _echo(socks[index], data, f"connection {index}")
            except ConformanceError as exc:
                errors.append(str(exc))
            except BaseException as exc:
                errors.append(f"connection {index}: {_describe(exc)}")

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 3 * IO_TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in threads):
            raise ConformanceError(f"{count} concurrent echoes did not finish in time")
        if errors:
            raise ConformanceError(
                f"{len(errors)} of {count} connections failed; first: {errors[0]}"
            )
        _assert_alive(server, "after concurrent connections")
    _note(f"{count} connections at once")


@_check("half-close")
def check_half_close(factory: ServerFactory) -> None:
    """On the client's EOF the server sends back everything, then closes."""
    with _serving(factory) as server:
        with _connect(server) as sock:
            sock.shutdown(socket.SHUT_WR)
            _expect_eof(sock, "EOF with nothing sent")
        with _connect(server) as sock:
            _echo(sock, b"x", "1 byte then EOF", half_close=True)
        # EOF right behind writes that we do not read yet, so that the server
        # may read EOF while it still holds echoes it could not send; it must
        # send them all before it closes. Where that happens depends on the
        # socket buffers, so try a range of sizes with a small receive buffer.
        for size in HALF_CLOSE_SIZES:
            what = f"{_size(size)} then EOF, read late"
            with _connect(server, rcvbuf=4096) as sock:
                data = _payload(size, seed=size + 3)
                sender = _Sender(sock, data, half_close=True)
                sender.start()
                sender.join(2.0)  # all sent and shut down, unless the buffers are smaller
                time.sleep(0.02)  # let the server reach our EOF
                _recv_exactly(sock, data, what, pace=HALF_CLOSE_PACE)
                sender.finish(what)
                _expect_eof(sock, what)
        _assert_alive(server, "after half-closes")


@_check("resets")
def check_resets(factory: ServerFactory) -> None:
    """Abrupt resets mid-stream disturb neither the server nor other connections."""
    with _serving(factory) as server, contextlib.ExitStack() as stack:
        bystanders = [stack.enter_context(_connect(server)) for _ in range(3)]
        for i, sock in enumerate(bystanders):
            _echo(sock, _payload(1000, seed=20 + i), f"bystander {i} before resets")
        big = _payload(MiB, seed=4)
        for round_ in range(5):
            # Reset before any data, mid-echo, and while the server's writes
            # are backed up because we stopped reading.
            _reset(_connect(server))
            sock = stack.enter_context(_connect(server))  # closed here if a step fails
            sock.sendall(big[:65536])
            _recv_exactly(sock, big[:1000], f"reset round {round_}")
            _reset(sock)
            sock = stack.enter_context(_connect(server))
            _fill_without_reading(sock, big, 0.1)
            _reset(sock)
        time.sleep(0.1)  # let the server process the resets before probing
        _assert_alive(server, "after abrupt resets")
        for i, sock in enumerate(bystanders):
            _echo(sock, _payload(70_000, seed=30 + i), f"bystander {i} after resets")
        with _connect(server) as sock:
            # No half-close here: closing on EOF is the half-close check's property alone.
            _echo(sock, _payload(4096, seed=5), "new connection after resets")
            _expect_silence(sock, "new connection after resets")
    _note("15 resets (idle, mid-echo, backed up); 3 bystanders undisturbed")


@_check("flood")
def check_flood(factory: ServerFactory) -> None:
    """A client that writes and never reads: the server takes a bounded amount, in bounded RSS."""
    block = _payload(MiB, seed=6)  # the stream repeats it; offsets stay checkable
    with _serving(factory) as server:
        with _connect(server) as sock:  # warm up: first-use allocations are not growth
            _echo(sock, _payload(256 * 1024, seed=7), "warm-up echo")
        rss_before = _rss(server.pid)
        peak = rss_before
        sent = 0
        with _connect(server) as sock:
            sock.settimeout(FLOOD_STALL_SECONDS)
            deadline = time.monotonic() + 3 * IO_TIMEOUT
            last_sample = 0.0
            while True:
                offset = sent % len(block)
                try:
                    sent += sock.send(memoryview(block)[offset : offset + 65536])
                except TimeoutError:
                    break  # the server stopped reading from us: flow control works
                except OSError as exc:
                    raise ConformanceError(
                        f"flood: {_describe(exc)} after {_size(sent)} sent"
                    ) from None
                if sent > FLOOD_MAX_BYTES:
                    raise ConformanceError(
                        f"server took over {_size(FLOOD_MAX_BYTES)} from a client that never "
                        "reads: no flow control"
                    )
                now = time.monotonic()
                if now > deadline:
                    raise ConformanceError(
                        f"flood never stalled in {3 * IO_TIMEOUT:g}s ({_size(sent)} taken)"
                    )
                if now - last_sample > 0.05:
                    peak = max(peak, _rss(server.pid))
                    last_sample = now
            peak = max(peak, _rss(server.pid))
            growth = peak - rss_before
            if growth > FLOOD_MAX_RSS_GROWTH:
                raise ConformanceError(
                    f"server RSS grew by {_size(growth)} while flooded with {_size(sent)} "
                    f"(bound {_size(FLOOD_MAX_RSS_GROWTH)})"
                )
            _assert_alive(server, "while flooded")
            # Now read: the server must resume and echo the whole stream, in order, and
            # nothing more (closing on EOF is the half-close check's property alone).
            sock.settimeout(IO_TIMEOUT)
            whole, rest = divmod(sent, len(block))
            for i in range(whole):
                _recv_exactly(sock, block, f"echo of the flood (MiB {i})")
            _recv_exactly(sock, block[:rest], "echo of the flood (tail)")
            _expect_silence(sock, "after the flood")
    _note(f"took {_size(sent)} before stalling; RSS +{_size(max(growth, 0))}")


def _somaxconn() -> int:
    try:
        with open("/proc/sys/net/core/somaxconn") as file:
            return int(file.read())
    except (OSError, ValueError):
        return BACKLOG


@_check("backlog")
def check_backlog(factory: ServerFactory) -> None:
    """The contract's listen backlog is in effect: with the server stopped, that many
    connections queue. (asyncio's create_server re-listens with 100 unless told otherwise.)"""
    expected = min(BACKLOG, _somaxconn())  # the kernel caps every backlog at somaxconn
    queued = 0
    with _serving(factory) as server, contextlib.ExitStack() as stack:
        os.killpg(server.pid, signal.SIGSTOP)  # the server and any workers stop accepting
        stack.callback(os.killpg, server.pid, signal.SIGCONT)
        # A full accept queue drops new SYNs, so the first connect that times out
        # marks the queue's length (backlog + 1 on Linux).
        while queued <= expected:
            try:
                stack.enter_context(_connect(server, timeout=0.5))
            except TimeoutError:
                break
            queued += 1
    if queued < expected:
        raise ConformanceError(
            f"only {queued} connections queue while the server is not accepting: its listen "
            f"backlog is below the contract's {expected}"
        )
    _note(f"{queued} connections queued while stopped")


@_check("idle-connections")
def check_idle_connections(factory: ServerFactory) -> None:
    """Thousands of idle connections; a new connection, and the idle ones, are still served."""
    count = IDLE_CONNECTIONS
    limit = raise_fd_limit()
    if limit < count + 100:
        raise ConformanceError(f"this process may open only {limit} files; need {count + 100}")
    with _serving(factory) as server, contextlib.ExitStack() as stack:
        idle: list[socket.socket] = []
        for i in range(count):
            try:
                idle.append(stack.enter_context(_connect(server)))
            except OSError as exc:
                raise ConformanceError(
                    f"idle connection {i} of {count}: {_describe(exc)}"
                ) from None
        started = time.monotonic()
        with _connect(server) as sock:
            _echo(sock, _payload(4096, seed=8), f"new connection beside {count} idle ones")
        fresh_ms = (time.monotonic() - started) * 1000
        # The idle ones were really accepted and are served too.
        for i in range(0, count, count // 20):
            _echo(idle[i], _payload(100, seed=i), f"idle connection {i}")
        _echo(idle[-1], b"last", f"idle connection {count - 1}")
        _assert_alive(server, f"with {count} idle connections")
    _note(f"{count} idle; a new connection echoed in {fresh_ms:.0f} ms")


def _check_stop(factory: ServerFactory, sig: signal.Signals) -> None:
    with factory() as server:
        name = sig.name
        # An open connection must not hold the server up.
        with _connect(server) as sock:
            _echo(sock, b"hello", f"echo before {name}")
            try:
                workers = psutil.Process(server.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                workers = []
            status = server.stop(sig, timeout=5 * STOP_SECONDS)
        seconds = server.stop_seconds or 0.0
        if status < 0 and -status == signal.SIGKILL:
            raise ConformanceError(f"server ignored {name}: still running after {seconds:.1f}s")
        traceback_lines = [
            line for line in server.stderr_tail().splitlines() if "Traceback" in line
        ]
        if traceback_lines:
            raise ConformanceError(f"traceback on stderr after {name}: {_last_line(server)}")
        if status != 0:
            raise ConformanceError(
                f"exit status {status} after {name} (expected 0): {_last_line(server)}"
            )
        if seconds > STOP_SECONDS:
            raise ConformanceError(
                f"took {seconds:.2f}s to exit after {name} (limit {STOP_SECONDS:g}s)"
            )
        lingering = [w.pid for w in workers if _running(w)]
        if lingering:
            raise ConformanceError(f"worker processes {lingering} outlived the server after {name}")
    _note(f"exited 0 in {seconds * 1000:.0f} ms")


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@_check("sigterm")
def check_sigterm(factory: ServerFactory) -> None:
    """SIGTERM: exit status 0 within 1 s, no traceback, no worker left behind."""
    _check_stop(factory, signal.SIGTERM)


@_check("sigint")
def check_sigint(factory: ServerFactory) -> None:
    """SIGINT: exit status 0 within 1 s, no traceback, no worker left behind."""
    _check_stop(factory, signal.SIGINT)


# -- running them ------------------------------------------------------------------


def factory_for(name: str, extra_args: Sequence[str] = ()) -> ServerFactory:
    """A factory that runs ``echobench serve NAME [extra_args]`` as a subprocess.

    Raises ``UserError`` now for an unknown or unavailable backend.
    """
    from echobench.servers._registry import require_available

    require_available(name)
    args = tuple(extra_args)

    def factory() -> contextlib.AbstractContextManager[RunningServer]:
        return running_server(name, extra_args=args)

    return factory


class SharedServer:
    """A factory that keeps one server running across the checks that leave it usable.

    It starts the server on first use, and again if it has died; ``close()``
    stops it. Use it only for checks outside ``NEEDS_FRESH_SERVER``.
    """

    def __init__(self, factory: ServerFactory) -> None:
        self._factory = factory
        self._stack: contextlib.ExitStack | None = None
        self._server: RunningServer | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[RunningServer]:
        if self._server is None or not self._server.alive():
            self.close()
            stack = contextlib.ExitStack()
            self._server = stack.enter_context(self._factory())
            self._stack = stack
        yield self._server

    def close(self) -> None:
        stack, self._stack, self._server = self._stack, None, None
        if stack is not None:
            stack.close()


def factory_for_check(name: str, factory: ServerFactory, shared: SharedServer) -> ServerFactory:
    """``shared`` for a check that may share a server, else ``factory``."""
    return factory if name in NEEDS_FRESH_SERVER else shared


def run_check(name: str, factory: ServerFactory) -> CheckResult:
    """Run one check; a failure becomes a failed result, not an exception."""
    check = CHECKS[name]
    notes: list[str] = []
    token = _notes.set(notes)
    started = time.monotonic()
    try:
        check(factory)
    except ConformanceError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "failed"
        return CheckResult(name, False, time.monotonic() - started, detail)
    finally:
        _notes.reset(token)
    return CheckResult(name, True, time.monotonic() - started, "; ".join(notes))


def run_checks(factory: ServerFactory, names: Sequence[str] | None = None) -> list[CheckResult]:
    """Run the named checks (default: all, in order), sharing a server where they allow."""
    selected = list(CHECKS) if names is None else list(names)
    unknown = [name for name in selected if name not in CHECKS]
    if unknown:
        raise UserError(f"unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})")
    shared = SharedServer(factory)
    try:
        return [run_check(name, factory_for_check(name, factory, shared)) for name in selected]
    finally:
        shared.close()
