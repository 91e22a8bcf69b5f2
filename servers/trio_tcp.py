"""trio: ``trio.serve_listeners`` over the contract's listener, a task per connection."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from echobench.servers import READ_SIZE, Backend, ServeContext

if TYPE_CHECKING:
    import trio


async def _echo(stream: trio.abc.Stream) -> None:
    import trio

    # SocketStream sets TCP_NODELAY itself; serve_listeners closes the stream.
    try:
        while data := await stream.receive_some(READ_SIZE):
            # send_all returns once the kernel took every byte, so a peer that
            # does not read stops us reading: trio's flow control.
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass  # a reset (or a failed TLS handshake) ends only this connection


def serve(ctx: ServeContext) -> None:
    import trio

    async def main() -> None:
        listener: trio.abc.Listener[trio.abc.Stream] = trio.SocketListener(
            trio.socket.from_stdlib_socket(ctx.listener)
        )
        if ctx.ssl_context is not None:
            listener = trio.SSLListener(listener, ctx.ssl_context)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(trio.serve_listeners, _echo, [listener])
                ctx.ready()
                async for _ in signals:
                    break
                nursery.cancel_scope.cancel()

    trio.run(main)


BACKEND = Backend(
    name="trio",
    family="trio",
    description="trio serve_listeners, a task per connection, receive_some/send_all",
    serve=serve,
    requires=("trio",),
    install_hint="pip install trio  (or: pip install 'echobench[all]')",
    transports=frozenset({"tcp", "unix", "tls"}),
)
