"""Broken on purpose: SIGTERM ends it with a traceback and exit status 1 (SIGINT is fine)."""

from __future__ import annotations

import asyncio
import signal

from echobench.servers._aio import run
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(EchoProtocol, sock=ctx.listener)
        stopped = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stopped.set_result, "term")
        loop.add_signal_handler(signal.SIGINT, stopped.set_result, "int")
        ctx.ready()
        how = await stopped
        server.close()
        if how == "term":
            raise RuntimeError("shutdown went wrong")  # the bug

    run(main, "asyncio")


BACKEND = Backend(name="broken-term-traceback", family="baseline", description="test", serve=serve)
