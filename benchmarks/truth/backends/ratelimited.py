"""A server of known capacity, for ``echobench latency-check``: not a paradigm.

It lives outside ``servers/`` so that no run lists it; the check finds it by pointing
``ECHOBENCH_BACKEND_PATH`` at this folder. ``serve`` execs ``ratelimit_echo.c`` on the
listener echobench bound (as ``native`` does), with its rate and delay from the
backend's options: ``-o bytes_per_s=1280000 -o delay_us=200 -o burst_us=10000``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from echobench.servers import Backend, ServeContext
from echobench.servers._cbuild import build, missing_compiler_reason

SOURCE = Path(__file__).resolve().parent.parent / "ratelimit_echo.c"


def serve(ctx: ServeContext) -> None:
    path = build(SOURCE, "ratelimit_echo")
    fd = ctx.listener.fileno()
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    rate = float(ctx.option("bytes_per_s", "1280000"))
    delay = float(ctx.option("delay_us", "200"))
    burst = float(ctx.option("burst_us", "10000"))
    # The C server prints READY itself once it is in its epoll loop.
    os.execv(path, [str(path), "--listen-fd", str(fd), f"{rate:g}", f"{delay:g}", f"{burst:g}"])


BACKEND = Backend(
    name="ratelimited",
    family="check",
    description="echoes at a fixed byte rate (a 10 ms burst allowed) through one queue, then "
    "a fixed delay: a known capacity (echobench latency-check)",
    serve=serve,
    probe=missing_compiler_reason,
    transports=frozenset({"tcp"}),
)
