"""The native C io_uring echo server (``uring_echo.c``, on liburing): native's counterpart.

Built like ``native`` (with the system C compiler on first use, cached per user) and
linked with liburing, then exec'd on the listener that echobench bound. It needs
liburing's headers (Debian: ``liburing-dev``, 2.2 or newer for provided-buffer rings
and multishot accept) and a kernel that lets this process use io_uring; without
either it is unavailable, with the reason.

Options: ``-o buffers=N`` (the provided-buffer ring's size, a power of two; default
256 buffers of 64 KiB) and ``-o taskrun=defer|coop|signal`` (default ``defer``), as for
uring-python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

from echobench.servers import Backend, ServeContext
from echobench.servers._cbuild import build, compiler, missing_compiler_reason
from echobench.servers._uring import refusal
from echobench.servers.uring_python import buffers_option, taskrun_option

SOURCE = Path(__file__).with_name("uring_echo.c")
HEADERS = (Path(__file__).with_name("echo_common.h"),)
#: What the server uses of liburing, checked without building it.
PROBE_PROGRAM = """
#include <liburing.h>
int main(void) {
    struct io_uring ring;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, 0, 0, 0, 0);
    return io_uring_register_buf_ring(&ring, 0, 0) + io_uring_buf_ring_mask(2);
}
"""


def binary() -> Path:
    """The compiled server, building it on first use."""
    return build(SOURCE, "uring_echo", HEADERS, libraries=("uring",))


@cache
def missing_liburing_reason() -> str | None:
    """Why liburing's headers cannot build the server here, or ``None``."""
    cc = compiler()
    if cc is None:
        return missing_compiler_reason()
    try:
        checked = subprocess.run(
            [cc, "-fsyntax-only", "-x", "c", "-"],
            input=PROBE_PROGRAM,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"C compiler {cc} does not run: {exc}"
    if checked.returncode != 0:
        lines = checked.stderr.strip().splitlines()
        first = next((line for line in lines if "error" in line), lines[0] if lines else "")
        return (
            "liburing's headers are missing or older than 2.2 (install liburing-dev): "
            f"{first.strip()}"
        )
    return None


def unavailable_reason() -> str | None:
    return missing_liburing_reason() or refusal()


def serve(ctx: ServeContext) -> None:
    buffers = buffers_option(ctx.config.options)
    taskrun = taskrun_option(ctx.config.options)
    path = binary()
    fd = ctx.listener.fileno()
    os.set_inheritable(fd, True)
    sys.stdout.flush()
    # The C server prints READY itself once its accept is armed.
    argv = [str(path), "--listen-fd", str(fd), "--buffers", str(buffers), "--taskrun", taskrun]
    os.execv(path, argv)


BACKEND = Backend(
    name="uring-native",
    family="uring",
    description="C io_uring echo server on liburing: multishot accept, provided-buffer "
    "receives and sends by completion (native's completion-based counterpart)",
    serve=serve,
    probe=unavailable_reason,
    transports=frozenset({"tcp", "unix"}),
    options={
        "buffers": "provided receive buffers of 64 KiB, a power of two (default 256)",
        "taskrun": "how completions are delivered: defer (default), coop or signal",
    },
)
