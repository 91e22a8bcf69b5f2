"""The anyio-asyncio backend's code on anyio's trio backend; nothing else differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, anyio_asyncio


def serve(ctx: ServeContext) -> None:
    anyio_asyncio.serve_on(ctx, "trio")


BACKEND = Backend(
    name="anyio-trio",
    family="anyio",
    description="anyio on trio: SocketListener.serve, receive/send (anyio-asyncio's code)",
    serve=serve,
    requires=("anyio", "trio"),
    install_hint="pip install anyio trio  (or: pip install 'echobench[all]')",
    transports=frozenset({"tcp", "unix", "tls"}),
)
