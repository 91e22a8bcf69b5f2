"""asyncio streams: ``start_server`` with StreamReader/StreamWriter and ``drain()``.

With ``serve --readline`` it runs vmbench's readline mode instead: each message is a
line, read with ``readline()`` and written back whole. The reader's limit is then
vmbench's 1 MiB (a line must fit in it; vmbench's largest are 100 KiB), so the reader
pauses its transport above 2 MiB buffered rather than 128 KiB.
"""

from __future__ import annotations

import asyncio

from echobench.servers import READ_SIZE, Backend, ServeContext
from echobench.servers._aio import run, wait_for_stop_signal

#: vmbench's StreamReader limit in readline mode: the longest line it reads.
READLINE_LIMIT = 1024 * 1024


class _EchoServer:
    """The connection handler, tracking its tasks so that shutdown can end them."""

    def __init__(self, readline: bool) -> None:
        self.connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.serve = _echo_lines if readline else _echo

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[task] = writer
        try:
            await self.serve(reader, writer)
        finally:
            del self.connections[task]

    async def close_connections(self) -> None:
        # Abort rather than cancel: on Python 3.11 the streams machinery logs a
        # traceback for a cancelled handler task (fixed in 3.12).
        for writer in self.connections.values():
            writer.transport.abort()
        if self.connections:
            await asyncio.wait(self.connections, timeout=0.5)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            # drain() is the streams API's flow control: while the peer is not
            # reading, we wait here and the reader's buffer pauses the transport.
            await writer.drain()
    except OSError:
        pass  # a reset by the peer ends only this connection
    finally:
        writer.close()


async def _echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        # readline() returns a last line without its newline at EOF, then b"".
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except OSError:
        pass
    except ValueError:
        pass  # a line longer than the limit: this connection ends, as a reset would
    finally:
        writer.close()


def serve_on(ctx: ServeContext, loop: str) -> None:
    readline = ctx.config.readline

    async def main() -> None:
        handler = _EchoServer(readline)
        server = await asyncio.start_server(
            handler.echo,
            sock=ctx.listener,
            ssl=ctx.ssl_context,
            limit=READLINE_LIMIT if readline else READ_SIZE,
            # asyncio calls listen() again; keep the contract's shared backlog.
            backlog=ctx.config.backlog,
        )
        ctx.ready()
        await wait_for_stop_signal()
        server.close()
        await handler.close_connections()

    run(main, loop)


def serve(ctx: ServeContext) -> None:
    serve_on(ctx, "asyncio")


BACKEND = Backend(
    name="asyncio-streams",
    family="asyncio",
    description="asyncio start_server, StreamReader/StreamWriter, await drain()",
    serve=serve,
    loop="asyncio",
    serve_on_loop=serve_on,
    transports=frozenset({"tcp", "unix", "tls"}),
    readline=True,
)
