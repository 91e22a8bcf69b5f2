"""The asyncio-streams backend's code on rloop's loop (Rust); nothing else differs.

rloop 0.5's ``start_server`` is ``create_server`` underneath: no TLS (NotImplementedError)
and no Unix sockets (each connection is reset), so this backend declares ``tcp`` alone.
It fails the half-close and flood checks through rloop's own defects (see rloop_protocol):
the streams sit on the same transport.
"""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_streams
from echobench.servers.rloop_protocol import KNOWN_FAILURES


def serve(ctx: ServeContext) -> None:
    asyncio_streams.serve_on(ctx, "rloop")


BACKEND = Backend(
    name="rloop-streams",
    family="rloop",
    description="rloop loop (Rust), start_server streams with await drain() "
    "(asyncio-streams' code)",
    serve=serve,
    loop="rloop",
    requires=("rloop",),
    install_hint="pip install rloop",
    transports=frozenset({"tcp"}),
    known_failures=KNOWN_FAILURES,
    readline=True,
)
