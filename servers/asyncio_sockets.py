"""asyncio low-level socket calls: ``sock_accept``, ``sock_recv``, ``sock_sendall``."""

from __future__ import annotations

import asyncio
import socket

from echobench.servers import READ_SIZE, Backend, ServeContext, set_nodelay
from echobench.servers._aio import run, wait_for_stop_signal


async def _echo(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    with conn:
        try:
            # sock_sendall completes only when the kernel took every byte, so a
            # peer that does not read stops us from reading: flow control.
            while data := await loop.sock_recv(conn, READ_SIZE):
                await loop.sock_sendall(conn, data)
        except OSError:
            pass


async def _accept(loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
    connections: set[asyncio.Task[None]] = set()
    while True:
        conn, _ = await loop.sock_accept(listener)
        conn.setblocking(False)
        set_nodelay(conn)
        task = loop.create_task(_echo(loop, conn))
        connections.add(task)
        task.add_done_callback(connections.discard)


def serve_on(ctx: ServeContext, loop: str) -> None:
    async def main() -> None:
        running = asyncio.get_running_loop()
        acceptor = running.create_task(_accept(running, ctx.listener))
        ctx.ready()
        await wait_for_stop_signal()
        acceptor.cancel()

    run(main, loop)


def serve(ctx: ServeContext) -> None:
    serve_on(ctx, "asyncio")


BACKEND = Backend(
    name="asyncio-sockets",
    family="asyncio",
    description="asyncio loop.sock_recv/sock_sendall on non-blocking sockets",
    serve=serve,
    loop="asyncio",
    serve_on_loop=serve_on,
    transports=frozenset({"tcp", "unix"}),
)
