"""One echo on one connection before a freshly started server is measured.

The first connections an asyncio-loop server ever accepts ran 2.5-4x slower
than every later batch when the server was pinned to its own CPU (asyncio-protocol
on this 2-core VM: ~49k msgs/s for the first 10-connection load, ~190k for the
second, with the same CPU time, mostly in the kernel; one prior echo was enough
to avoid it; uvloop, Tornado, selectors and native showed no such effect). A
long-running server has already served others, so every backend gets the same
single priming echo, never counted, before its measured load.
"""

from __future__ import annotations

import socket

from echobench.servers._errors import UserError

#: 64 bytes: each value below 64 but the newline once, then a newline; one line to a
#: server in vmbench's readline mode, plain bytes to the others.
PRIMING_PAYLOAD = bytes(b for b in range(64) if b != 10) + b"\n"
PRIMING_TIMEOUT = 5.0


def prime(host: str, port: int, unix_path: str | None, tls: bool) -> None:
    """Echo one small message on a fresh connection; raise ``UserError`` if it fails."""
    try:
        if unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(PRIMING_TIMEOUT)
            sock.connect(unix_path)
        else:
            sock = socket.create_connection((host, port), timeout=PRIMING_TIMEOUT)
        if tls:
            from echobench.servers._tls import client_context

            sock = client_context().wrap_socket(sock, server_hostname=host or "localhost")
        with sock:
            sock.sendall(PRIMING_PAYLOAD)
            received = b""
            while len(received) < len(PRIMING_PAYLOAD):
                chunk = sock.recv(len(PRIMING_PAYLOAD) - len(received))
                if not chunk:
                    break
                received += chunk
    except OSError as exc:
        raise UserError(f"the server did not answer its priming echo: {exc}") from None
    if received != PRIMING_PAYLOAD:
        raise UserError(
            f"the server's priming echo was wrong: {len(received)} of "
            f"{len(PRIMING_PAYLOAD)} bytes came back, not the bytes sent"
        )
