"""Broken on purpose: echoes without flow control, so a peer that never reads grows it."""

from __future__ import annotations

import asyncio

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


class Unpaused(EchoProtocol):
    def pause_writing(self) -> None:
        pass  # the bug: keep reading while our writes back up


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Unpaused, sock=ctx.listener)
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, "asyncio")


BACKEND = Backend(name="broken-no-flow-control", family="baseline", description="test", serve=serve)
