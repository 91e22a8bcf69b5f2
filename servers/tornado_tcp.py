"""Tornado: a TCPServer subclass, IOStream reads and awaited writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from echobench.servers import READ_SIZE, Backend, ServeContext

if TYPE_CHECKING:
    from tornado.iostream import IOStream
    from tornado.tcpserver import TCPServer


def _server_class() -> type[TCPServer]:
    # Imported here so that listing backends does not import Tornado.
    from tornado.iostream import StreamClosedError
    from tornado.tcpserver import TCPServer

    class EchoServer(TCPServer):
        async def handle_stream(self, stream: IOStream, address: object) -> None:
            stream.set_nodelay(True)  # a no-op on Unix sockets
            _defer_eof_while_writing(stream)
            try:
                while True:
                    data = await stream.read_bytes(READ_SIZE, partial=True)
                    # The write's future resolves once the data has reached the
                    # socket; awaiting it before the next read is Tornado's
                    # flow control, so a peer that does not read stops us reading.
                    await stream.write(data)
            except StreamClosedError:
                pass  # EOF or a reset; Tornado has closed the stream

    return EchoServer


def _defer_eof_while_writing(stream: IOStream) -> None:
    """Keep echoes that are still queued when the peer half-closes.

    IOStream has no half-close: a zero-byte read closes the whole stream and
    discards its write buffer, so an EOF read while an echo waits for the
    socket loses that echo (the conformance suite's half-close check catches
    it). EOF stays readable on the socket, so while a write is pending we
    report "nothing to read yet"; the next read, after the write, sees it.
    """
    read_from_fd = stream.read_from_fd

    def read_deferring_eof(buf: bytearray | memoryview) -> int | None:
        count = read_from_fd(buf)
        return None if count == 0 and stream.writing() else count

    stream.read_from_fd = read_deferring_eof  # type: ignore[method-assign]


def serve_on(ctx: ServeContext, loop: str) -> None:
    """Run the echo server on ``loop`` (``asyncio`` or ``uvloop``) until SIGTERM/SIGINT."""
    from echobench.servers._aio import run, wait_for_stop_signal

    async def main() -> None:
        # Tornado 5+ runs on the asyncio loop that is current here.
        server = _server_class()(ssl_options=ctx.ssl_context)
        server.add_sockets([ctx.listener])
        ctx.ready()
        await wait_for_stop_signal()
        server.stop()

    run(main, loop)


def serve(ctx: ServeContext) -> None:
    serve_on(ctx, "asyncio")


BACKEND = Backend(
    name="tornado",
    family="tornado",
    description="Tornado TCPServer + IOStream, read_bytes(partial=True) and await write()",
    serve=serve,
    requires=("tornado",),
    install_hint="pip install tornado",
    transports=frozenset({"tcp", "unix", "tls"}),
)
