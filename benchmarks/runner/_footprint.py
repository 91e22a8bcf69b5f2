"""The server's memory per connection: its whole process tree's RSS before the load
client connects, and again once every connection is open, accepted and idle.

The load client (``echobench load --hold``) opens its connections, says so, and waits;
meanwhile the server may still be accepting them (a full backlog, a thread being
started per connection), so the reading waits until the server's tree holds a
descriptor for each (bounded), then until its RSS stops moving, and only then lets the
load start. A server that never accepts them all is read as it is, and says so.
"""

from __future__ import annotations

import select
import subprocess
import time
from collections.abc import Callable
from typing import IO, Any

import psutil

#: How long the server may take to accept every connection, beyond a base second.
ACCEPT_SECONDS_PER_1000 = 1.0
#: RSS readings this far apart that differ by less than ``SETTLED_BYTES`` are settled.
SETTLE_INTERVAL_S = 0.1
SETTLED_BYTES = 64 * 1024
SETTLE_LIMIT_S = 2.0


class Stopped(Exception):
    """The runner is stopping, or the load client ended before it connected."""


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_usage(pid: int) -> tuple[int, int]:
    """(RSS in bytes, open descriptors) summed over the process tree of ``pid``."""
    rss = fds = 0
    for process in _tree(pid):
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                fds += process.num_fds()
        except psutil.Error:
            continue
    return rss, fds


def settled_usage(pid: int) -> tuple[int, int]:
    """``tree_usage`` once the descriptor count holds still (the priming connection, just
    closed by the client, may still be open on the server's side)."""
    usage = tree_usage(pid)
    until = time.monotonic() + SETTLE_LIMIT_S / 4
    while time.monotonic() < until:
        time.sleep(SETTLE_INTERVAL_S / 2)
        previous, usage = usage, tree_usage(pid)
        if usage[1] == previous[1]:
            break
    return usage


def wait_connected(
    client: subprocess.Popen[bytes], deadline: float, stopping: Callable[[], bool]
) -> None:
    """Wait for the held load client's ``connected N`` line."""
    stdout: IO[bytes] | None = client.stdout
    assert stdout is not None
    while time.monotonic() < deadline:
        if stopping():
            raise Stopped("interrupted")
        if select.select([stdout], [], [], 0.1)[0]:
            line = stdout.readline()
            if line.startswith(b"connected"):
                return
            if not line:
                # Its stdout closed as it exits: reap it, so the caller sees that it ended
                # (and why: its exit status) rather than a client still running.
                try:
                    client.wait(2)
                except subprocess.TimeoutExpired:
                    pass
            raise Stopped("the load client ended before its connections were open")
        if client.poll() is not None:
            raise Stopped("the load client ended before its connections were open")
    raise Stopped("the load client did not finish connecting in time")


def read_connected(
    pid: int, before: tuple[int, int], connections: int, stopping: Callable[[], bool]
) -> dict[str, Any]:
    """The footprint fields of a repeat, read once ``connections`` are open and idle."""
    rss_before, fds_before = before
    deadline = time.monotonic() + 1.0 + ACCEPT_SECONDS_PER_1000 * connections / 1000
    rss, fds = tree_usage(pid)
    while fds - fds_before < connections and time.monotonic() < deadline and not stopping():
        time.sleep(SETTLE_INTERVAL_S)
        rss, fds = tree_usage(pid)
    accepted = fds - fds_before >= connections
    settle_until = time.monotonic() + SETTLE_LIMIT_S
    while time.monotonic() < settle_until and not stopping():
        time.sleep(SETTLE_INTERVAL_S)
        previous, (rss, _) = rss, tree_usage(pid)
        if abs(rss - previous) < SETTLED_BYTES:
            break
    return {
        "server_rss_before_bytes": rss_before,
        "server_rss_connected_bytes": rss,
        "server_rss_per_connection_bytes": round((rss - rss_before) / connections, 1),
        "server_accepted_all": accepted,
    }
