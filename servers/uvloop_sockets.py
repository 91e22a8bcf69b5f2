"""The asyncio-sockets backend's code on uvloop's loop; nothing else differs."""

from __future__ import annotations

from servers import asyncio_sockets
from servers._backend import Backend
from servers._contract import ServeContext


def serve(ctx: ServeContext) -> None:
    asyncio_sockets.serve_on(ctx, "uvloop")


BACKEND = Backend(
    name="uvloop-sockets",
    family="uvloop",
    description="uvloop loop, sock_recv/sock_sendall (asyncio-sockets' code)",
    serve=serve,
    requires=("uvloop",),
    install_hint="pip install uvloop",
    transports=frozenset({"tcp", "unix"}),
)
