"""Start a backend for a test, closing everything the launcher opened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from servers._launch import RunningServer, start_server


@contextmanager
def launched(
    name: str, extra_args: Sequence[str] = (), timeout: float = 60
) -> Iterator[RunningServer]:
    """``echobench serve NAME`` for the duration of the block.

    The start timeout is generous: the native backend compiles on first use,
    and the machine is shared.
    """
    server = start_server(name, extra_args=extra_args, timeout=timeout)
    try:
        yield server
    finally:
        server.close()
        # RunningServer.close leaves the READY pipe open; close it to avoid a ResourceWarning.
        if server.process.stdout is not None:
            server.process.stdout.close()
