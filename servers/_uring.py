"""Whether this kernel lets this process use io_uring, for both io_uring backends.

The one question is asked of the kernel itself: ``io_uring_setup`` is called with a
tiny ring, as a server would, and its errno says why not (a kernel without it, a
sysctl that disables it, a seccomp profile that blocks it). Both servers need
multishot accept and provided-buffer rings, which came in Linux 5.19; an older
kernel is refused by its version, since it would accept a ring and then fail the
first accept.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import re
from functools import cache

#: ``io_uring_setup`` has one number on every architecture Linux gives it to.
SYS_IO_URING_SETUP = 425
#: ``sizeof(struct io_uring_params)``.
PARAMS_SIZE = 120
#: Multishot accept and provided-buffer rings.
NEEDED_KERNEL = (5, 19)
DISABLED_SYSCTL = "/proc/sys/kernel/io_uring_disabled"


@cache
def refusal() -> str | None:
    """Why io_uring cannot serve here, or ``None`` when it can."""
    if platform.system() != "Linux":
        return f"io_uring is Linux-only (this is {platform.system()})"
    release = platform.release()
    found = re.match(r"(\d+)\.(\d+)", release)
    if found and (int(found[1]), int(found[2])) < NEEDED_KERNEL:
        need = ".".join(map(str, NEEDED_KERNEL))
        return (
            f"Linux {release} lacks multishot accept and provided-buffer rings "
            f"(io_uring needs {need} or newer here)"
        )
    return setup_refusal()


def setup_refusal() -> str | None:
    """Why ``io_uring_setup`` fails for this process, or ``None`` when it makes a ring."""
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(PARAMS_SIZE)
    fd = libc.syscall(SYS_IO_URING_SETUP, ctypes.c_uint(4), params)
    if fd >= 0:
        os.close(fd)
        return None
    code = ctypes.get_errno()
    name = errno.errorcode.get(code, str(code))
    if code == errno.ENOSYS:
        return f"this kernel has no io_uring (io_uring_setup: {name})"
    if code == errno.EPERM:
        why = _why_eperm()
        return f"the kernel refuses io_uring to this process (io_uring_setup: {name}; {why})"
    return f"io_uring_setup failed: {name} ({os.strerror(code)})"


def _why_eperm() -> str:
    try:
        with open(DISABLED_SYSCTL) as file:
            setting = file.read().strip()
    except OSError:
        setting = ""
    if setting in ("1", "2"):
        return f"sysctl kernel.io_uring_disabled = {setting}"
    return "a seccomp profile or security module blocks it"
