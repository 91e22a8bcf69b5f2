"""The asyncio-streams backend's code on uvloop's loop; nothing else differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_streams


def serve(ctx: ServeContext) -> None:
    asyncio_streams.serve_on(ctx, "uvloop")


BACKEND = Backend(
    name="uvloop-streams",
    family="uvloop",
    description="uvloop loop, start_server streams with await drain() (asyncio-streams' code)",
    serve=serve,
    loop="uvloop",
    requires=("uvloop",),
    install_hint="pip install uvloop",
    transports=frozenset({"tcp", "unix", "tls"}),
    readline=True,
)
