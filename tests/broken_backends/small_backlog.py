"""Broken on purpose: create_server re-listens with a backlog of 16, not the contract's."""

from __future__ import annotations

import asyncio

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(EchoProtocol, sock=ctx.listener, backlog=16)  # the bug
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, "asyncio")


BACKEND = Backend(name="broken-small-backlog", family="baseline", description="test", serve=serve)
