"""The tornado backend's code on uvloop's loop; nothing else differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext


def serve(ctx: ServeContext) -> None:
    from echobench.servers.tornado_tcp import serve_on

    serve_on(ctx, "uvloop")


BACKEND = Backend(
    name="tornado-uvloop",
    family="tornado",
    description="Tornado TCPServer + IOStream on uvloop's loop (tornado's code)",
    serve=serve,
    requires=("tornado", "uvloop"),
    install_hint="pip install tornado uvloop",
    transports=frozenset({"tcp", "unix", "tls"}),
)
