"""What the asyncio-family backends share: the loop choice and the stop signal.

The uvloop backends reuse the asyncio modules' code and change only the loop
factory, so any difference between the two measures the loop, nothing else.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def loop_factory(loop: str) -> LoopFactory:
    if loop == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if loop == "asyncio":
        return asyncio.SelectorEventLoop  # epoll on Linux; what asyncio.run uses here
    raise ValueError(f"unknown loop {loop!r}")


async def wait_for_stop_signal() -> None:
    """Return once SIGTERM or SIGINT arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(main: Callable[[], Coroutine[Any, Any, None]], loop: str) -> None:
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main())
