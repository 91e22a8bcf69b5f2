"""anyio: one implementation, run here on asyncio and by ``anyio-trio`` on trio.

The listener comes from ``SocketListener.from_socket`` on the contract's
socket, TLS from ``TLSListener``; a task per connection, ``receive``/``send``.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from echobench.servers import READ_SIZE, Backend, ServeContext, set_nodelay

if TYPE_CHECKING:
    from anyio.abc import ByteStream


def _pause_until_receive(stream: ByteStream) -> None:
    """Work around anyio's asyncio TCP listener (4.16) leaving a new connection reading.

    anyio's asyncio SocketStream keeps its transport paused except while a
    ``receive`` waits, which is its flow control; ``connect_tcp`` pauses a new
    transport, but ``TCPSocketListener.accept`` does not. If bytes arrive before
    the first ``receive``, that call finds them queued and never pauses, so a
    peer that never reads grows the read queue without bound (the conformance
    flood check saw +60 MiB RSS). Pausing here restores anyio's own invariant;
    it touches a private attribute, so it is skipped where there is none (the
    trio backend, Unix sockets).
    """
    inner = getattr(stream, "transport_stream", stream)  # under TLSStream
    transport = getattr(inner, "_transport", None)
    if transport is not None and hasattr(transport, "pause_reading"):
        transport.pause_reading()


async def _echo(stream: ByteStream) -> None:
    import anyio
    from anyio.abc import SocketAttribute

    async with stream:
        try:
            set_nodelay(stream.extra(SocketAttribute.raw_socket))
            _pause_until_receive(stream)
            while True:
                data = await stream.receive(READ_SIZE)
                # send returns once the bytes are written, so a peer that does
                # not read stops us reading: anyio's flow control.
                await stream.send(data)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass  # EOF (close after the last echo) or a reset: ends only this connection


def serve_on(ctx: ServeContext, backend: str) -> None:
    """Serve until SIGTERM/SIGINT on anyio's ``backend`` (``asyncio`` or ``trio``)."""
    import anyio
    from anyio.abc import Listener, SocketListener
    from anyio.streams.tls import TLSListener

    async def main() -> None:
        listener: Listener[ByteStream] = await SocketListener.from_socket(ctx.listener)
        if ctx.ssl_context is not None:
            listener = TLSListener(listener, ctx.ssl_context, standard_compatible=False)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listener.serve, _echo)
                ctx.ready()  # the socket is listening: connections queue until serve accepts
                async for _ in signals:
                    break
                tasks.cancel_scope.cancel()

    anyio.run(main, backend=backend)


def serve(ctx: ServeContext) -> None:
    serve_on(ctx, "asyncio")


BACKEND = Backend(
    name="anyio-asyncio",
    family="anyio",
    description="anyio on asyncio: SocketListener.serve, receive/send",
    serve=serve,
    requires=("anyio",),
    install_hint="pip install anyio  (or: pip install 'echobench[all]')",
    transports=frozenset({"tcp", "unix", "tls"}),
)
