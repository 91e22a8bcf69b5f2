"""Broken on purpose: a connection reset by its peer kills the whole server."""

from __future__ import annotations

import asyncio
import os

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


class Fragile(EchoProtocol):
    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            os._exit(3)  # the bug: one peer's reset takes everyone down


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Fragile, sock=ctx.listener)
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, "asyncio")


BACKEND = Backend(name="broken-dies-on-reset", family="baseline", description="test", serve=serve)
