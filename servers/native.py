"""The native C epoll echo server (``native_echo.c``): the machine's ceiling.

It is compiled on first use with the system C compiler and cached per user
(``echobench.servers._cbuild``). The serve function then execs it on the listener that
echobench bound, so it gets the same socket settings as every Python backend,
and keeps this process's pid, so signals reach the C server directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from echobench.servers import Backend, ServeContext
from echobench.servers._cbuild import build, missing_compiler_reason

SOURCE = Path(__file__).with_name("native_echo.c")
HEADERS = (Path(__file__).with_name("echo_common.h"),)


def binary() -> Path:
    """The compiled server, building it on first use."""
    return build(SOURCE, "native_echo", HEADERS)


def serve(ctx: ServeContext) -> None:
    path = binary()
    fd = ctx.listener.fileno()
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    # The C server prints READY itself once it is in its epoll loop.
    os.execv(path, [str(path), "--listen-fd", str(fd)])


BACKEND = Backend(
    name="native",
    family="native",
    description="C epoll echo server compiled with the system compiler: the machine's ceiling",
    serve=serve,
    probe=missing_compiler_reason,
    transports=frozenset({"tcp", "unix"}),
)
