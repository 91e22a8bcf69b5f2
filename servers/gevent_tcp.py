"""gevent: ``StreamServer`` on the contract's listener, one greenlet per connection.

Nothing is monkey-patched: the handler gets gevent's own cooperative sockets
from StreamServer, so blocking-style ``recv``/``sendall`` yield to the hub.
"""

from __future__ import annotations

import signal
import socket
import ssl
from typing import Any

from echobench.servers import READ_SIZE, Backend, ServeConfig, ServeContext, set_nodelay

#: How long a stop waits for open connections before killing their greenlets.
STOP_TIMEOUT = 0.2


def _echo(sock: Any, address: object) -> None:
    set_nodelay(sock)
    try:
        while data := sock.recv(READ_SIZE):
            # sendall blocks this greenlet until the peer has taken the bytes,
            # so a peer that does not read stops us reading: the flow control.
            sock.sendall(data)
    except OSError:
        pass  # a reset ends only this connection
    finally:
        sock.close()


def _ssl_context(config: ServeConfig) -> ssl.SSLContext:
    """gevent's own SSLContext: the stdlib one would block the whole hub in its I/O."""
    import gevent.ssl

    # echobench.servers._serve made the certificate if none was given, and echobench.servers._tls
    # already reported a bad one as a one-line error.
    assert config.certfile is not None
    context: ssl.SSLContext = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config.certfile, config.keyfile)
    return context


def serve(ctx: ServeContext) -> None:
    import gevent
    import gevent.event
    import gevent.socket
    from gevent.server import StreamServer

    # StreamServer wants a gevent socket; a dup of the listener's fd keeps the
    # original for servers._serve to close.
    listener = gevent.socket.fromfd(ctx.listener.fileno(), ctx.listener.family, socket.SOCK_STREAM)
    ssl_args: dict[str, Any] = {}
    if ctx.ssl_context is not None:
        ssl_args["ssl_context"] = _ssl_context(ctx.config)
    server = StreamServer(listener, _echo, **ssl_args)
    stop = gevent.event.Event()
    handlers = [gevent.signal_handler(sig, stop.set) for sig in (signal.SIGTERM, signal.SIGINT)]
    server.start()
    ctx.ready()
    stop.wait()
    server.stop(timeout=STOP_TIMEOUT)
    for handler in handlers:
        handler.cancel()


BACKEND = Backend(
    name="gevent",
    family="gevent",
    description="gevent StreamServer, a greenlet per connection, recv/sendall",
    serve=serve,
    requires=("gevent",),
    install_hint="pip install gevent  (or: pip install 'echobench[all]')",
    transports=frozenset({"tcp", "unix", "tls"}),
)
