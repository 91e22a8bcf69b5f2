"""An echobench backend shipped as its own package: asyncio's BufferedProtocol.

``BufferedProtocol`` lets the transport read straight into a buffer the
protocol owns (``get_buffer``/``buffer_updated``) instead of allocating a new
``bytes`` for every read. Installed with pip, it appears in ``echobench list``
through the ``echobench.backends`` entry point in this package's pyproject.
"""

from __future__ import annotations

import asyncio
import signal
from typing import cast

from echobench.servers import READ_SIZE, Backend, ServeContext


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    transport: asyncio.Transport

    def __init__(self) -> None:
        self.buffer = bytearray(READ_SIZE)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        # A copy: the transport may keep what it cannot send yet, and the next
        # read reuses self.buffer.
        self.transport.write(bytes(self.buffer[:nbytes]))

    def eof_received(self) -> bool:
        return False  # the transport flushes what it holds, then closes

    # Flow control: stop reading from a peer that is not reading our echoes.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def _main(ctx: ServeContext) -> None:
    loop = asyncio.get_running_loop()
    # create_server listens again, with a backlog of 100 unless given the contract's.
    server = await loop.create_server(
        EchoBufferedProtocol, sock=ctx.listener, ssl=ctx.ssl_context, backlog=ctx.config.backlog
    )
    ctx.ready()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def serve(ctx: ServeContext) -> None:
    with asyncio.Runner() as runner:
        runner.run(_main(ctx))


BACKEND = Backend(
    name="asyncio-buffered",
    family="asyncio",
    description="asyncio BufferedProtocol (reads into a reused buffer); an example plugin",
    serve=serve,
    transports=frozenset({"tcp", "unix", "tls"}),
)
