"""The twisted backend's protocol on Twisted's asyncio reactor; only the reactor differs."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext


def serve(ctx: ServeContext) -> None:
    import asyncio

    from twisted.internet import asyncioreactor

    # The reactor needs a selector loop (the default on Linux); pass one
    # explicitly rather than relying on a current loop, which is deprecated.
    asyncioreactor.install(asyncio.SelectorEventLoop())
    from twisted.internet import reactor

    from echobench.servers._twisted_echo import serve_on_reactor

    serve_on_reactor(ctx, reactor)


BACKEND = Backend(
    name="twisted-asyncio",
    family="twisted",
    description="Twisted Protocol on the asyncio reactor (twisted's code, asyncioreactor)",
    serve=serve,
    requires=("twisted",),
    install_hint="pip install 'twisted[tls]'",
    transports=frozenset({"tcp", "unix", "tls"}),
)
