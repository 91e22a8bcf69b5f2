"""Broken on purpose: on the peer's EOF it aborts, dropping echoes not yet sent."""

from __future__ import annotations

import asyncio

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


class Abortive(EchoProtocol):
    def eof_received(self) -> bool:
        self.transport.abort()  # the bug: abort() discards the write buffer
        return False


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Abortive, sock=ctx.listener)
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, "asyncio")


BACKEND = Backend(name="broken-eof-drops", family="baseline", description="test", serve=serve)
