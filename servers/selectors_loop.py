"""Baseline: a hand-written event loop over ``selectors`` with non-blocking sockets.

Each connection has an output buffer. Echoes are sent straight away when the
socket takes them, and buffered when it does not. Reading stops while the
buffer is over a high-water mark and resumes below a low-water mark, the
marks asyncio's transports use, so a peer that never reads costs at most
about one high-water mark of memory.
"""

from __future__ import annotations

import selectors
import signal
import socket
from types import FrameType

from echobench.servers import READ_SIZE, Backend, ServeContext, set_nodelay

HIGH_WATER = 64 * 1024
LOW_WATER = HIGH_WATER // 4
#: Connections accepted per wake-up, so a burst of connects cannot starve echoes.
ACCEPTS_PER_WAKEUP = 64


class _Connection:
    __slots__ = ("eof", "out", "reading", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = bytearray()
        self.reading = True
        self.eof = False

    def events(self) -> int:
        wanted = selectors.EVENT_READ if self.reading else 0
        return wanted | (selectors.EVENT_WRITE if self.out else 0)


class _Loop:
    def __init__(self, listener: socket.socket, wakeup: socket.socket) -> None:
        self.selector = selectors.DefaultSelector()  # epoll on Linux
        self.listener = listener
        self.wakeup = wakeup
        self.connections: dict[int, _Connection] = {}
        self.stopping = False
        self.selector.register(listener, selectors.EVENT_READ)
        self.selector.register(wakeup, selectors.EVENT_READ)

    def run(self) -> None:
        while not self.stopping:
            for key, mask in self.selector.select():
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is self.wakeup:
                    self._drain_wakeup()
                else:
                    conn = self.connections.get(key.fd)
                    if conn is None:
                        continue  # closed earlier in this batch
                    if mask & selectors.EVENT_WRITE:
                        self._flush(conn)
                    if mask & selectors.EVENT_READ and key.fd in self.connections:
                        self._read(conn)
        self._close_all()

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. out of fds: the connection waits in the backlog
            sock.setblocking(False)
            set_nodelay(sock)
            conn = _Connection(sock)
            self.connections[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ)

    def _drain_wakeup(self) -> None:
        try:
            signals = self.wakeup.recv(64)
        except BlockingIOError:
            return
        if signal.SIGTERM in signals or signal.SIGINT in signals:
            self.stopping = True

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)  # reset by the peer
            return
        if not data:
            conn.eof = True
            conn.reading = False
            if not conn.out:
                self._close(conn)
            else:
                self._update(conn)  # closes once the buffer drains
            return
        was_buffering = bool(conn.out)
        if not was_buffering:
            try:
                sent = conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            data = data[sent:]
        if data:
            conn.out += data
            if len(conn.out) > HIGH_WATER:
                conn.reading = False  # resumes below LOW_WATER, in _flush
        if bool(conn.out) != was_buffering or not conn.reading:
            self._update(conn)

    def _flush(self, conn: _Connection) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        del conn.out[:sent]
        if not conn.out and conn.eof:
            self._close(conn)
            return
        if not conn.reading and not conn.eof and len(conn.out) <= LOW_WATER:
            conn.reading = True
        self._update(conn)

    def _update(self, conn: _Connection) -> None:
        # Never zero: reading resumes before the buffer empties, and a
        # connection at EOF with an empty buffer is closed instead.
        events = conn.events()
        if self.selector.get_key(conn.sock).events != events:
            self.selector.modify(conn.sock, events)

    def _close(self, conn: _Connection) -> None:
        fd = conn.sock.fileno()
        self.connections.pop(fd, None)
        try:
            self.selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()

    def _close_all(self) -> None:
        for conn in list(self.connections.values()):
            self._close(conn)
        self.selector.close()


def serve(ctx: ServeContext) -> None:
    wakeup_read, wakeup_write = socket.socketpair()
    wakeup_read.setblocking(False)
    wakeup_write.setblocking(False)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        pass  # set_wakeup_fd already wrote the signal number for the loop to see

    previous_fd = signal.set_wakeup_fd(wakeup_write.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ctx.listener.setblocking(False)
    loop = _Loop(ctx.listener, wakeup_read)
    ctx.ready()
    try:
        loop.run()
    finally:
        signal.set_wakeup_fd(previous_fd)
        wakeup_read.close()
        wakeup_write.close()


BACKEND = Backend(
    name="selectors",
    family="baseline",
    description="hand-written selectors (epoll) loop, non-blocking sockets, buffered writes",
    serve=serve,
    transports=frozenset({"tcp", "unix"}),
)
