"""Broken on purpose: flips the last bit of every large read."""

from __future__ import annotations

import asyncio

from echobench.servers._aio import run, wait_for_stop_signal
from echobench.servers._backend import Backend
from echobench.servers._contract import ServeContext
from echobench.servers.asyncio_protocol import EchoProtocol


class OffByOne(EchoProtocol):
    def data_received(self, data: bytes) -> None:
        if len(data) > 4096:  # the bug: flips the last bit of large reads
            data = data[:-1] + bytes([data[-1] ^ 1])
        self.transport.write(data)


def serve(ctx: ServeContext) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(OffByOne, sock=ctx.listener)
        ctx.ready()
        await wait_for_stop_signal()
        server.close()

    run(main, "asyncio")


BACKEND = Backend(name="broken-corrupts", family="baseline", description="test", serve=serve)
