"""The asyncio-sockets backend's code on rloop's loop (Rust); nothing else differs.

The socket calls work on any stream socket, so Unix sockets work as on asyncio; like
asyncio-sockets it has no TLS.
"""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_sockets


def serve(ctx: ServeContext) -> None:
    asyncio_sockets.serve_on(ctx, "rloop")


BACKEND = Backend(
    name="rloop-sockets",
    family="rloop",
    description="rloop loop (Rust), sock_recv/sock_sendall (asyncio-sockets' code)",
    serve=serve,
    loop="rloop",
    requires=("rloop",),
    install_hint="pip install rloop",
    transports=frozenset({"tcp", "unix"}),
)
