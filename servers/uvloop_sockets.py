"""The asyncio-sockets backend's code on uvloop's loop; nothing else differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_sockets


def serve(ctx: ServeContext) -> None:
    asyncio_sockets.serve_on(ctx, "uvloop")


BACKEND = Backend(
    name="uvloop-sockets",
    family="uvloop",
    description="uvloop loop, sock_recv/sock_sendall (asyncio-sockets' code)",
    serve=serve,
    loop="uvloop",
    requires=("uvloop",),
    install_hint="pip install uvloop",
    transports=frozenset({"tcp", "unix"}),
)
