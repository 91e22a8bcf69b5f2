"""The asyncio-protocol backend's code on uvloop's loop; nothing else differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_protocol


def serve(ctx: ServeContext) -> None:
    asyncio_protocol.serve_on(ctx, "uvloop")


BACKEND = Backend(
    name="uvloop-protocol",
    family="uvloop",
    description="uvloop loop, Protocol/Transport with pause_reading (asyncio-protocol's code)",
    serve=serve,
    loop="uvloop",
    requires=("uvloop",),
    install_hint="pip install uvloop",
    transports=frozenset({"tcp", "unix", "tls"}),
)
