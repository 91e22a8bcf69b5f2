"""Broken on purpose: takes 1.5 s to stop after SIGTERM or SIGINT (the limit is 1 s)."""

from __future__ import annotations

import asyncio

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(EchoProtocol, sock=ctx.listener)
        ctx.ready()
        await wait_for_stop_signal()
        server.close()
        await asyncio.sleep(1.5)  # the bug: a slow, blocking clean-up

    run(main, "asyncio")


BACKEND = Backend(name="broken-slow-stop", family="baseline", description="test", serve=serve)
