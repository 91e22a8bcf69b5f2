"""Twisted: a Protocol on the default reactor (epoll on Linux), producer/consumer flow control."""

from __future__ import annotations

from echobench.servers import Backend, ServeContext


def serve(ctx: ServeContext) -> None:
    from twisted.internet import reactor

    from echobench.servers._twisted_echo import serve_on_reactor

    serve_on_reactor(ctx, reactor)


BACKEND = Backend(
    name="twisted",
    family="twisted",
    description="Twisted Protocol on the default reactor, transport as its own streaming producer",
    serve=serve,
    requires=("twisted",),
    install_hint="pip install 'twisted[tls]'",
    transports=frozenset({"tcp", "unix", "tls"}),
)
