"""Opening the connections: a bounded storm with retries, and what it cost.

At 10,000 connections the accept storm is itself a result: how fast a server
drains its backlog differs between frameworks. Each worker keeps at most
``CONNECT_CONCURRENCY`` attempts in flight (a sliding window, so one slow
handshake does not hold up the rest) and retries an attempt that failed in a way
a busy server causes (a timeout while the backlog was full, a reset, EAGAIN on a
full Unix socket backlog). A connection that fails every attempt, or fails for
any other reason (refused, out of file descriptors), stops the run.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from time import monotonic_ns
from typing import Any, TypeVar

#: Connection attempts in flight at once per worker.
CONNECT_CONCURRENCY = 128
#: Attempts per connection before the run gives up on it.
CONNECT_ATTEMPTS = 3
#: Pause before a retry, times the attempt number (seconds).
RETRY_BACKOFF_S = 0.05

T = TypeVar("T")


def transient(exc: BaseException) -> bool:
    """A failure a retry may cure: the server was busy, not absent or broken."""
    if isinstance(exc, (TimeoutError, ConnectionResetError, ConnectionAbortedError)):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.ECONNABORTED)


@dataclass
class ConnectStats:
    """One worker's connection set-up: its span on the monotonic clock, its failures."""

    start_ns: int = 0
    end_ns: int = 0
    opened: int = 0
    failed: int = 0  # attempts that failed, whether retried or not
    retries: int = 0
    syn_retransmits: int = 0  # handshakes the kernel had to repeat (a full backlog)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def open_all(
    openers: Sequence[Callable[[], Awaitable[T]]], stats: ConnectStats, into: list[T]
) -> None:
    """Run every opener, ``CONNECT_CONCURRENCY`` at a time, appending each connection to
    ``into`` as it opens (so the caller can close them all whatever happens); the first
    connection that cannot be opened cancels the rest and is raised."""
    queue = iter(openers)

    async def lane() -> None:
        for opener in queue:
            into.append(await _attempts(opener, stats))
            stats.opened += 1

    lanes = [asyncio.ensure_future(lane()) for _ in range(min(CONNECT_CONCURRENCY, len(openers)))]
    try:
        await asyncio.gather(*lanes)
    finally:
        for task in lanes:
            task.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        stats.end_ns = monotonic_ns()


async def _attempts(opener: Callable[[], Awaitable[T]], stats: ConnectStats) -> T:
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await opener()
        except Exception as exc:
            stats.failed += 1
            if attempt == CONNECT_ATTEMPTS or not transient(exc):
                raise
            stats.retries += 1
            await asyncio.sleep(RETRY_BACKOFF_S * attempt)
    raise AssertionError("not reached")


#: ``struct tcp_info`` (linux/tcp.h): ``tcpi_total_retrans`` is the u32 at byte 100.
_TCP_INFO_SIZE = 104
_TOTAL_RETRANS = struct.Struct("=I")
_TOTAL_RETRANS_OFFSET = 100


def syn_retransmits(transport: asyncio.BaseTransport) -> int:
    """Segments the kernel retransmitted on a connection that has just opened: its SYNs
    (a server whose accept queue was full dropped them). 0 where TCP_INFO is unreadable
    (Unix sockets, other systems)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return 0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, AttributeError):
        return 0
    if len(info) < _TOTAL_RETRANS_OFFSET + 4:
        return 0
    return int(_TOTAL_RETRANS.unpack_from(info, _TOTAL_RETRANS_OFFSET)[0])


def connect_field(parts: Sequence[dict[str, int]]) -> dict[str, Any] | None:
    """The result's ``connect``: from the first worker's first attempt to the last
    worker's last connection, all workers together."""
    if not parts:
        return None
    seconds = max(0, max(p["end_ns"] for p in parts) - min(p["start_ns"] for p in parts)) / 1e9
    opened = sum(p["opened"] for p in parts)
    return {
        "connections": opened,
        "seconds": round(seconds, 6),
        "per_second": round(opened / seconds, 1) if seconds > 0 else None,
        "failed": sum(p["failed"] for p in parts),
        "retries": sum(p["retries"] for p in parts),
        "syn_retransmits": sum(p.get("syn_retransmits", 0) for p in parts),
    }
