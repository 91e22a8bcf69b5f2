"""io_uring from Python: the kernel completes accepts, receives and sends; no readiness step.

The binding is ``uring-api`` (a C extension over liburing). ``liburing`` on PyPI
installs too, but it is a thin binding that passes a buffer's address to the kernel
without keeping the buffer alive, leaves every socket operation marked "coded but not
tested", and needs Linux 6.14; ``uring-api`` holds each submitted buffer until its
completion, carries any Python object as a completion's token, and exposes multishot
accept and provided-buffer groups, which is what a Python server needs.

One ring, one multishot accept on the listener. Each connection has at most two
submissions in flight: one receive, into a buffer the kernel takes from a shared
provided-buffer group only when data arrives (so an idle connection pins no memory),
and one send, of that same buffer (no copy). A receive that completes while the
connection's send is still in flight is held, and no new receive is armed until the
send completes: a peer that does not read our echoes stops being read, with at most
two buffers held for it (flow control). When the group runs dry the receive completes
with ENOBUFS and the connection waits in line for the next buffer given back.

On the peer's EOF the held data is sent, then the socket closed; a reset shuts the
socket down so that whatever is in flight completes, then closes it. SIGTERM or
SIGINT: the wake-up fd that Python's signal handling writes to is itself read through
the ring, so a signal ends the wait with a completion, and the server returns.

Options: ``-o buffers=N`` (the provided-buffer group's size, a power of two; default
256 buffers of 64 KiB: more lets more connections hold data at once, and costs memory
as the kernel cycles through them); ``-o taskrun=defer|coop|signal`` (how the kernel
delivers completions, ``TASKRUN_MODES``; default ``defer``, or the best this kernel
has).
"""

from __future__ import annotations

import errno
import signal
import socket
from collections import deque
from collections.abc import Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from echobench.servers import READ_SIZE, Backend, ServeContext, UserError, set_nodelay
from echobench.servers._uring import refusal

if TYPE_CHECKING:
    import uring_api

#: Submission queue depth; prepares flush it when full, so it bounds batches, not work.
RING_ENTRIES = 1024
#: Completion queue depth: room for a burst of accepts and receives between waits.
CQ_ENTRIES = 8192
DEFAULT_BUFFERS = 256
#: How completions reach the server, best first: run at its next wait, by the one thread
#: that submits (Linux 6.1); run when it next enters the kernel (5.19); or by
#: interrupting it, io_uring's default. The default interrupts a server that waits on one
#: CPU each time a client on another sends: measured on a 2-core VM (10 connections,
#: 1 KiB, server and client pinned apart), uring-python echoed 74k msgs/s with it and
#: 175k with either other mode, and uring-native 75k against 190k.
TASKRUN_MODES = ("defer", "coop", "signal")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def buffers_option(options: Mapping[str, str]) -> int:
    text = options.get("buffers", str(DEFAULT_BUFFERS))
    if not text.isdigit() or int(text) < 2 or int(text) & (int(text) - 1) or int(text) > 32768:
        raise UserError(f"-o buffers must be a power of two from 2 to 32768, not {text!r}")
    return int(text)


class _Connection:
    __slots__ = ("eof", "fd", "held", "receiving", "sending", "sock", "unsent", "view")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.receiving = False
        self.sending = False
        self.eof = False
        # The buffer being sent, the part of it not yet taken, and a received one that waits.
        self.view: uring_api.BufView | None = None
        self.unsent: memoryview | None = None
        self.held: uring_api.BufView | None = None


class _Listener:
    """The multishot accept's token."""


class _Wakeup:
    """The signal wake-up socket's token."""


class _Server:
    def __init__(self, ctx: ServeContext, buffers: int, taskrun: str) -> None:
        import uring_api

        self.api = uring_api
        self.ctx = ctx
        self.ring = _ring(uring_api, taskrun)
        self.group = self.ring.create_buf_group(READ_SIZE, buffers)
        self.connections: set[_Connection] = set()
        #: Connections whose receive found no buffer, waiting for one to be given back.
        self.starved: deque[_Connection] = deque()
        self.listener = _Listener()
        self.accepting = False
        self.stopping = False
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_buffer = bytearray(64)

    # -- submissions ----------------------------------------------------------------

    def accept(self) -> None:
        self.ring.prepare_accept_multishot(
            self.ctx.listener.fileno(), socket.SOCK_CLOEXEC, self.listener
        )
        self.accepting = True

    def receive(self, conn: _Connection) -> None:
        self.ring.prepare_recv_buf(conn.fd, self.group, 0, conn)
        conn.receiving = True

    def send(self, conn: _Connection, view: uring_api.BufView) -> None:
        conn.view = view
        conn.unsent = memoryview(view)
        self.ring.prepare_send(conn.fd, conn.unsent, socket.MSG_NOSIGNAL, conn)
        conn.sending = True

    def wake_on_signal(self) -> None:
        self.ring.prepare_recv(self.wake_read.fileno(), self.wake_buffer, 0, _Wakeup())

    # -- completions ----------------------------------------------------------------

    def on_accept(self, result: int, more: bool) -> None:
        if not more:
            self.accepting = False
        if result < 0:
            # Out of fds: accept again once a connection closes, not in a busy loop.
            if not more and -result not in (errno.EMFILE, errno.ENFILE):
                self.accept()
            return
        sock = socket.socket(fileno=result)
        set_nodelay(sock)
        conn = _Connection(sock)
        self.connections.add(conn)
        self.receive(conn)
        if not self.accepting and not self.stopping:
            self.accept()

    def on_receive(self, conn: _Connection, completion: uring_api.Completion) -> None:
        conn.receiving = False
        result = completion.res
        if result > 0:
            view: uring_api.BufView = completion.result
            if conn.eof:  # aborted meanwhile: nobody to echo to
                view.close()
                self.settle(conn)
                return
            if conn.sending:
                conn.held = view  # wait: at most one send in flight per connection
                return
            self.send(conn, view)
            self.receive(conn)
            return
        if result == -errno.ENOBUFS:
            self.starved.append(conn)
            return
        if result == 0:
            conn.eof = True
        else:
            self.abort(conn)  # reset, or cancelled
        self.settle(conn)

    def on_send(self, conn: _Connection, result: int) -> None:
        conn.sending = False
        if result < 0:
            self.release(conn)
            self.abort(conn)
            self.settle(conn)
            return
        assert conn.unsent is not None
        if result < len(conn.unsent):
            conn.unsent = conn.unsent[result:]
            self.ring.prepare_send(conn.fd, conn.unsent, socket.MSG_NOSIGNAL, conn)
            conn.sending = True
            return
        self.release(conn)
        if conn.held is not None:
            held, conn.held = conn.held, None
            self.send(conn, held)
            if not conn.eof:
                self.receive(conn)
            return
        self.settle(conn)

    def release(self, conn: _Connection) -> None:
        """Give the sent buffer back to the group, and to a connection waiting for one.

        The send's completion still holds the buffer until it is freed (at the end of its
        batch, before the next wait submits anything), so it is dropped, not closed.
        """
        conn.unsent = None
        conn.view = None
        while self.starved:
            waiting = self.starved.popleft()
            if waiting in self.connections and not waiting.eof and not waiting.receiving:
                self.receive(waiting)
                break

    def abort(self, conn: _Connection) -> None:
        """A reset or failed send: wake whatever is in flight, and drop what is held."""
        conn.eof = True
        if conn.held is not None:
            conn.held.close()
            conn.held = None
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def settle(self, conn: _Connection) -> None:
        """Close a connection at EOF once nothing of it is in flight or held."""
        idle = not conn.receiving and not conn.sending and conn.held is None
        if conn.eof and idle and conn in self.connections:
            self.connections.discard(conn)
            conn.sock.close()
            if not self.accepting and not self.stopping:
                self.accept()  # an fd came free

    # -- the loop -------------------------------------------------------------------

    def stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def serve(self) -> None:
        api = self.api
        accept_kind = api.COMPLETION_KIND_ACCEPT
        receive_kind = api.COMPLETION_KIND_RECV_BUF
        send_kind = api.COMPLETION_KIND_SEND
        more_flag = api.IORING_CQE_F_MORE
        self.wake_read.setblocking(False)
        self.wake_write.setblocking(False)
        previous_fd = signal.set_wakeup_fd(self.wake_write.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self.stop) for sig in STOP_SIGNALS}
        try:
            self.wake_on_signal()
            self.accept()
            self.ctx.ready()
            while not self.stopping:
                try:
                    completions = self.ring.wait()
                except InterruptedError:
                    continue  # the handler has run; the loop condition sees it
                for completion in completions or ():
                    kind = completion.kind
                    token: Any = completion.user_data
                    if kind == receive_kind:
                        self.on_receive(token, completion)
                    elif kind == send_kind:
                        self.on_send(token, completion.res)
                    elif kind == accept_kind:
                        self.on_accept(completion.res, bool(completion.flags & more_flag))
                    elif isinstance(token, _Wakeup) and not self.stopping:
                        self.wake_on_signal()
                # Free the batch now: its send completions hold buffers that receives
                # armed in it (and submitted by the next wait) may need.
                completions = completion = token = None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            self.close()

    def close(self) -> None:
        # Closing the ring cancels what is in flight; then nothing refers to the sockets.
        self.ring.close()
        for conn in self.connections:
            conn.sock.close()
        self.connections.clear()
        self.wake_read.close()
        self.wake_write.close()


def _ring(api: Any, taskrun: str) -> uring_api.Ring:
    """The ring, with the task-work mode asked for or the next one this kernel accepts."""
    modes = TASKRUN_MODES[TASKRUN_MODES.index(taskrun) :]
    for mode in modes:
        flags = {
            "defer": api.IORING_SETUP_SINGLE_ISSUER | api.IORING_SETUP_DEFER_TASKRUN,
            "coop": api.IORING_SETUP_COOP_TASKRUN,
            "signal": 0,
        }[mode]
        try:
            ring: uring_api.Ring = api.Ring(RING_ENTRIES, flags, True, CQ_ENTRIES)
        except OSError:
            if mode == modes[-1]:
                raise
            continue  # a kernel older than the mode (6.1 for defer, 5.19 for coop)
        return ring
    raise AssertionError("unreachable")


def taskrun_option(options: Mapping[str, str]) -> str:
    mode = options.get("taskrun", TASKRUN_MODES[0])
    if mode not in TASKRUN_MODES:
        raise UserError(f"-o taskrun must be one of {', '.join(TASKRUN_MODES)}, not {mode!r}")
    return mode


def serve(ctx: ServeContext) -> None:
    options = ctx.config.options
    _Server(ctx, buffers_option(options), taskrun_option(options)).serve()


BACKEND = Backend(
    name="uring-python",
    family="uring",
    description="io_uring from Python (uring-api): multishot accept, provided-buffer receives "
    "and sends by completion, one of each in flight per connection",
    serve=serve,
    requires=("uring_api",),
    install_hint="pip install 'uring-api>=0.1.0rc5'",
    probe=refusal,
    transports=frozenset({"tcp", "unix"}),
    options={
        "buffers": "provided receive buffers of 64 KiB, a power of two "
        f"(default {DEFAULT_BUFFERS})",
        "taskrun": "how completions are delivered: defer (default), coop or signal",
    },
)
