"""Baseline: a blocking socket per connection, one thread each."""

from __future__ import annotations

import signal
import socket
import ssl
import threading

from echobench.servers import READ_SIZE, Backend, ServeContext, set_nodelay

#: Each connection's thread needs only a few frames of stack; the default (8 MiB
#: of address space each) would make thousands of idle connections costly.
STACK_SIZE = 256 * 1024


def _echo(conn: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
    try:
        if ssl_context is not None:
            conn = ssl_context.wrap_socket(conn, server_side=True)  # takes over the fd
        # sendall blocks while the peer does not read, so we stop reading from
        # it: the blocking socket is its own flow control.
        while data := conn.recv(READ_SIZE):
            conn.sendall(data)
        # EOF: everything received has been sent back; closing ends it.
    except OSError:
        pass  # a reset or a failed handshake ends only this connection
    finally:
        conn.close()


def _accept_loop(listener: socket.socket, ssl_context: ssl.SSLContext | None) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # the listener was shut down: we are stopping
        set_nodelay(conn)
        threading.Thread(target=_echo, args=(conn, ssl_context), daemon=True).start()


def serve(ctx: ServeContext) -> None:
    # The POSIX way for a threaded program: block the stop signals in every thread (the
    # threads started below inherit the mask) and take them in one with sigwait. A
    # Python handler setting an Event raced the main thread's wait: a signal that came
    # just before the wait began left it blocked (seen once in CI: 5 s, then SIGKILL).
    stops = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    threading.stack_size(STACK_SIZE)
    ctx.listener.setblocking(True)
    acceptor = threading.Thread(
        target=_accept_loop, args=(ctx.listener, ctx.ssl_context), daemon=True
    )
    acceptor.start()
    ctx.ready()
    signal.sigwait(stops)
    try:
        # Wakes the acceptor blocked in accept(); the connection threads are
        # daemons, so the process exits without waiting for idle peers.
        ctx.listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    acceptor.join(1.0)


BACKEND = Backend(
    name="threads",
    family="baseline",
    description="blocking sockets, one thread per connection",
    serve=serve,
    transports=frozenset({"tcp", "unix", "tls"}),
)
