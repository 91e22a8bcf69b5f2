"""pytest-benchmark: the event-loop primitives the echo servers are built from.

Per loop: callback scheduling, future creation and resolution, task switching,
and a small send plus receive over a socketpair. pytest-benchmark calls plain
functions, so each round hands the loop a batch of ``OPS`` operations and
runs it to completion; the loop (and its sockets) are made once per module,
so loop start-up is never timed. Results are grouped by loop; the time per
operation is a round's time divided by ``extra_info["operations_per_round"]``
(``echobench plot`` does that division).

Twisted's reactor cannot be restarted once stopped, so it is driven by its own
``iterate()`` (run what is due, then poll once) until the batch is done: the
same two steps its main loop repeats. Tornado runs on asyncio, so its future
*is* asyncio's; only its own layers (``add_callback``, ``gen.moment``,
``IOStream``) are measured.

    pytest benchmarks/suites/bench_loop_primitives.py --benchmark-json out.json
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_benchmark.fixture import BenchmarkFixture

OPS = 1000
MESSAGE = b"m" * 64

Round = Callable[[], None]


def _chain(schedule: Callable[[Callable[[], None]], object], finish: Callable[[], None]) -> None:
    """Schedule OPS callbacks one after another with ``schedule``, then call ``finish``."""
    remaining = OPS

    def tick() -> None:
        nonlocal remaining
        remaining -= 1
        if remaining:
            schedule(tick)
        else:
            finish()

    schedule(tick)


def _socketpair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


class AsyncioDriver:
    """asyncio's own loop, or any loop with its API (uvloop)."""

    family = "asyncio"

    def __init__(self) -> None:
        self.loop = self._new_loop()
        self.a, self.b = _socketpair()

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.SelectorEventLoop()

    def close(self) -> None:
        self.a.close()
        self.b.close()
        self.loop.close()

    def call_soon(self) -> Round:
        loop = self.loop

        def round_() -> None:
            done = loop.create_future()
            _chain(loop.call_soon, lambda: done.set_result(None))
            loop.run_until_complete(done)

        return round_

    def future(self) -> Round | None:
        loop = self.loop

        async def batch() -> None:
            for _ in range(OPS):
                future = loop.create_future()
                loop.call_soon(future.set_result, None)
                await future  # resolved by the loop: creation, scheduling, wake-up

        return lambda: loop.run_until_complete(batch())

    def task_switch(self) -> Round:
        loop = self.loop

        async def ping() -> None:
            for _ in range(OPS // 2):
                await asyncio.sleep(0)  # the documented way to yield to other tasks

        async def batch() -> None:
            await asyncio.gather(ping(), ping())

        return lambda: loop.run_until_complete(batch())

    def socket_io(self) -> Round:
        loop, a, b = self.loop, self.a, self.b
        size = len(MESSAGE)

        async def batch() -> None:
            for _ in range(OPS):
                await loop.sock_sendall(a, MESSAGE)
                received = 0
                while received < size:
                    received += len(await loop.sock_recv(b, size - received))

        return lambda: loop.run_until_complete(batch())


class UvloopDriver(AsyncioDriver):
    family = "uvloop"

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        import uvloop

        return uvloop.new_event_loop()


class TornadoDriver(AsyncioDriver):
    """Tornado's own layers over the asyncio loop it runs on."""

    family = "tornado"

    def __init__(self) -> None:
        super().__init__()
        from tornado.iostream import IOStream

        async def make() -> tuple[Any, Any]:
            # IOStream binds to the running IOLoop, so it is made inside the loop.
            return IOStream(self.a), IOStream(self.b)

        self.sender, self.receiver = self.loop.run_until_complete(make())

    def close(self) -> None:
        self.sender.close()
        self.receiver.close()
        self.loop.run_until_complete(asyncio.sleep(0))  # let the streams unregister
        self.loop.close()

    def call_soon(self) -> Round:
        from tornado.ioloop import IOLoop

        loop = self.loop

        async def batch() -> None:
            done = loop.create_future()
            _chain(IOLoop.current().add_callback, lambda: done.set_result(None))
            await done

        return lambda: loop.run_until_complete(batch())

    def future(self) -> Round | None:
        return None  # tornado.concurrent.Future is asyncio.Future: nothing of Tornado's own

    def task_switch(self) -> Round:
        from tornado import gen

        # Tornado's own coroutines: a native coroutine's yield is asyncio.sleep(0), measured
        # under asyncio; gen.coroutine's "yield gen.moment" is what Tornado adds.
        @gen.coroutine
        def ping() -> Iterator[Any]:
            for _ in range(OPS // 2):
                yield gen.moment

        async def batch() -> None:
            await gen.multi([ping(), ping()])

        return lambda: self.loop.run_until_complete(batch())

    def socket_io(self) -> Round:
        size = len(MESSAGE)

        async def batch() -> None:
            for _ in range(OPS):
                await self.sender.write(MESSAGE)
                await self.receiver.read_bytes(size)

        return lambda: self.loop.run_until_complete(batch())


class TwistedDriver:
    """Twisted's default reactor (epoll on Linux), iterated until each batch is done."""

    family = "twisted"

    def __init__(self) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.a, self.b = _socketpair()
        self._received = 0
        self._want = 0
        self._done: Callable[[], None] | None = None
        self.sender, self.receiver = self._adopt()

    def _adopt(self) -> tuple[Any, Any]:
        from twisted.internet.protocol import Factory, Protocol

        driver = self

        class Receiver(Protocol):
            def dataReceived(self, data: bytes) -> None:
                driver._received += len(data)
                if driver._received >= driver._want and driver._done is not None:
                    driver._done()

        sender_proto = Protocol()
        receiver_proto = Receiver()
        self.reactor.adoptStreamConnection(
            self.a.fileno(), socket.AF_UNIX, Factory.forProtocol(lambda: sender_proto)
        )
        self.reactor.adoptStreamConnection(
            self.b.fileno(), socket.AF_UNIX, Factory.forProtocol(lambda: receiver_proto)
        )
        # adoptStreamConnection duplicates the descriptors; ours are no longer needed.
        self.a.close()
        self.b.close()
        self._spin(lambda: sender_proto.transport is not None)
        return sender_proto, receiver_proto

    def _spin(self, finished: Callable[[], bool]) -> None:
        while not finished():
            self.reactor.iterate(0)

    def close(self) -> None:
        self.sender.transport.loseConnection()
        self.receiver.transport.loseConnection()
        for _ in range(10):
            self.reactor.iterate(0)

    def call_soon(self) -> Round:
        reactor = self.reactor

        def round_() -> None:
            finished = False

            def finish() -> None:
                nonlocal finished
                finished = True

            _chain(lambda tick: reactor.callLater(0, tick), finish)
            self._spin(lambda: finished)

        return round_

    def future(self) -> Round:
        from twisted.internet.defer import Deferred

        def round_() -> None:
            resolved = 0

            def count(value: object) -> object:
                nonlocal resolved
                resolved += 1
                return value

            for _ in range(OPS):
                deferred: Deferred[object] = Deferred()
                deferred.addCallback(count)
                # Resolved by the reactor, as asyncio's futures are by their loop.
                self.reactor.callLater(0, deferred.callback, None)
            self._spin(lambda: resolved == OPS)

        return round_

    def task_switch(self) -> Round:
        from twisted.internet.defer import Deferred
        from twisted.internet.task import deferLater

        reactor = self.reactor

        def round_() -> None:
            finished = 0

            async def ping() -> None:
                nonlocal finished
                for _ in range(OPS // 2):
                    await deferLater(reactor, 0)  # the reactor's "yield to others"
                finished += 1

            Deferred.fromCoroutine(ping())
            Deferred.fromCoroutine(ping())
            self._spin(lambda: finished == 2)

        return round_

    def socket_io(self) -> Round:
        size = len(MESSAGE)

        def round_() -> None:
            sent = 0

            def next_message() -> None:
                nonlocal sent
                if sent < OPS:
                    sent += 1
                    self._want += size
                    self.sender.transport.write(MESSAGE)

            self._done = next_message
            next_message()
            self._spin(lambda: sent == OPS and self._received >= self._want)
            self._done = None

        return round_


DRIVERS: dict[str, type[AsyncioDriver] | type[TwistedDriver]] = {
    "asyncio": AsyncioDriver,
    "uvloop": UvloopDriver,
    "tornado": TornadoDriver,
    "twisted": TwistedDriver,
}
OPERATIONS = {
    "call_soon": "callback scheduling",
    "future": "future created and resolved by the loop",
    "task_switch": "switch between two tasks",
    "socket_io": "64 B sendall + recv over a socketpair",
}


@pytest.fixture(scope="module", params=list(DRIVERS))
def driver(request: pytest.FixtureRequest) -> Iterator[AsyncioDriver | TwistedDriver]:
    made = DRIVERS[request.param]()
    try:
        yield made
    finally:
        made.close()


def _measure(benchmark: BenchmarkFixture, driver: AsyncioDriver | TwistedDriver, op: str) -> None:
    round_ = getattr(driver, op)()
    if round_ is None:
        pytest.skip(f"{driver.family} has no {OPERATIONS[op]} of its own")
    ops = OPS // 2 * 2 if op == "task_switch" else OPS
    round_()  # once untimed: proves the batch completes, and warms caches
    benchmark.group = f"loop: {driver.family}"
    benchmark.extra_info.update(
        loop=driver.family,
        family=driver.family,
        operation=OPERATIONS[op],
        operations_per_round=ops,
    )
    benchmark(round_)


def test_call_soon(benchmark: BenchmarkFixture, driver: AsyncioDriver | TwistedDriver) -> None:
    _measure(benchmark, driver, "call_soon")


def test_future(benchmark: BenchmarkFixture, driver: AsyncioDriver | TwistedDriver) -> None:
    _measure(benchmark, driver, "future")


def test_task_switch(benchmark: BenchmarkFixture, driver: AsyncioDriver | TwistedDriver) -> None:
    _measure(benchmark, driver, "task_switch")


def test_socket_io(benchmark: BenchmarkFixture, driver: AsyncioDriver | TwistedDriver) -> None:
    _measure(benchmark, driver, "socket_io")
