"""asyncio Protocol/Transport, with reading paused while writing is paused."""

from __future__ import annotations

import asyncio
from typing import cast

from echobench.servers import Backend, ServeContext
from echobench.servers._aio import run, wait_for_stop_signal


class EchoProtocol(asyncio.Protocol):
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # the transport flushes what is buffered, then closes

    # The transport calls these at its high and low water marks: stop reading
    # from a peer that is not reading our echoes, so our buffer stays bounded.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


def serve_on(ctx: ServeContext, loop: str) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            EchoProtocol,
            sock=ctx.listener,
            ssl=ctx.ssl_context,
            # asyncio calls listen() again; keep the contract's shared backlog.
            backlog=ctx.config.backlog,
        )
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, loop)


def serve(ctx: ServeContext) -> None:
    serve_on(ctx, "asyncio")


BACKEND = Backend(
    name="asyncio-protocol",
    family="asyncio",
    description="asyncio Protocol/Transport, pause_reading driven by pause_writing",
    serve=serve,
    loop="asyncio",
    serve_on_loop=serve_on,
    transports=frozenset({"tcp", "unix", "tls"}),
)
