"""Idle connections (``--idle N``): opened with the others, silent through the window.

The classic C10K question is whether a few busy connections keep their speed
while thousands of idle ones stay open. Idle connections send nothing until the
window has closed; then each sends one short probe, distinct per connection, and
counts as held only if it is still open and echoes the probe back intact within
the timeout. Anything else (the server closed or reset it, it stopped echoing, or
it echoed something else) counts as dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from echobench.clients._protocol import nodelay


class IdleConnection(asyncio.Protocol):
    def __init__(self, index: int) -> None:
        self.probe = b"idle %d;" % index
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.closed = False
        self.answered: asyncio.Future[bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        nodelay(transport)

    def data_received(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= len(self.probe) or not self.probe.startswith(self.received):
            self._answer(bytes(self.received) == self.probe)

    def eof_received(self) -> bool:
        self._lost()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        self.closed = True
        self._answer(False)

    def _answer(self, ok: bool) -> None:
        if self.answered is not None and not self.answered.done():
            self.answered.set_result(ok)

    async def check(self, timeout: float) -> bool:
        """Still open, and echoes the probe (sent only now) within ``timeout`` seconds."""
        if self.closed or self.received or self.transport is None:
            return False  # closed during the window, or the server sent unasked-for bytes
        self.answered = asyncio.get_running_loop().create_future()
        self.transport.write(self.probe)
        try:
            return await asyncio.wait_for(self.answered, timeout)
        except TimeoutError:
            return False

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def check_all(conns: list[IdleConnection], timeout: float) -> tuple[int, int]:
    """How many of ``conns`` are held, and how many the server closed (probed at once)."""
    if not conns:
        return 0, 0
    answers = await asyncio.gather(*(conn.check(timeout) for conn in conns))
    return sum(answers), sum(conn.closed for conn in conns)


def idle_field(requested: int, held: int, closed: int) -> dict[str, Any]:
    """``dropped`` is every idle connection not held; ``closed`` those of them the server
    closed or reset (the rest stayed open but did not echo the probe in time)."""
    return {"requested": requested, "held": held, "dropped": requested - held, "closed": closed}
