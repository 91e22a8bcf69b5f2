"""A Node.js echo server as an echobench backend: any executable that honours the contract.

``echobench serve`` execs the command line below with ``{host}``, ``{port}``,
``{backlog}`` and ``{unix}`` filled in; the program prints ``READY host:port``
itself. Make this directory discoverable with

    ECHOBENCH_BACKEND_PATH=examples/node-echo echobench verify node-echo

(or ship the same ``Backend`` in a plugin package's entry point).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from echobench.servers import Backend

SCRIPT = Path(__file__).resolve().with_name("echo.js")


def _missing_node() -> str | None:
    if shutil.which("node") is None:
        return "the 'node' executable is not on PATH (install Node.js)"
    return None


BACKEND = Backend(
    name="node-echo",
    family="external",
    description="Node.js net server, socket.pipe(socket); an external command backend",
    command=("node", str(SCRIPT), "{host}", "{port}", "{backlog}", "{unix}"),
    probe=_missing_node,
    transports=frozenset({"tcp", "unix"}),
)
