"""The asyncio-protocol backend's code on rloop's loop (Rust); nothing else differs.

rloop 0.5 serves TCP only through ``create_server``: it raises NotImplementedError for
an ``ssl`` context, and resets every connection accepted on a Unix socket (its server
is TCP-only), so this backend declares ``tcp`` alone and the runner reports the others
as not supported instead of measuring a crash.

It fails two conformance checks through two defects of rloop 0.5.0 itself (shown with
plain asyncio protocols, nothing of ours): after ``eof_received`` returns false it calls
``connection_lost`` but leaves the socket open until its transport object is reclaimed,
some time later, so a half-closing client waits for an EOF that does not come; and its
read handler keeps calling ``data_received`` after ``pause_reading()`` until the socket
is drained, so a client that never reads is read past any bound. Both are declared in
``known_failures``: measured anyway, recorded beside the numbers.
"""

from __future__ import annotations

from echobench.servers import Backend, ServeContext, asyncio_protocol

#: The checks rloop 0.5.0 fails whatever the code on it, and why.
KNOWN_FAILURES = {
    "half-close": "rloop 0.5.0 calls connection_lost after EOF but closes the socket only "
    "when its transport object is reclaimed, later",
    "flood": "rloop 0.5.0 keeps calling data_received after pause_reading() until the "
    "socket is drained",
}


def serve(ctx: ServeContext) -> None:
    asyncio_protocol.serve_on(ctx, "rloop")


BACKEND = Backend(
    name="rloop-protocol",
    family="rloop",
    description="rloop loop (Rust), Protocol/Transport with pause_reading "
    "(asyncio-protocol's code)",
    serve=serve,
    loop="rloop",
    requires=("rloop",),
    install_hint="pip install rloop",
    transports=frozenset({"tcp"}),
    known_failures=KNOWN_FAILURES,
)
