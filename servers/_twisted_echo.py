"""The Twisted echo protocol, independent of the reactor it runs on.

``twisted`` runs it on the default reactor (epoll on Linux) and
``twisted-asyncio`` on the asyncio reactor, so any difference between the two
measures the reactor, nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

from servers._contract import ServeContext

if TYPE_CHECKING:
    from twisted.internet.posixbase import PosixReactorBase


@implementer(IHalfCloseableProtocol)
class Echo(Protocol):
    # A tcp.Server or unix.Server: both are producers and consumers and have
    # setTcpNoDelay (a no-op on Unix sockets); Protocol types it more loosely.
    transport: Any

    def connectionMade(self) -> None:
        transport = self.transport
        transport.setTcpNoDelay(True)
        # The transport produces (reads) and consumes (writes): registered as
        # its own streaming producer, it pauses reading while its write buffer
        # is over bufferSize and resumes once that drains. This is Twisted's
        # flow control; without it a peer that never reads grows our buffer.
        transport.registerProducer(transport, True)

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def readConnectionLost(self) -> None:
        # The peer sent EOF. A transport with a producer registered never
        # closes, so unregister first; loseConnection then flushes what is
        # buffered and closes. Without IHalfCloseableProtocol, Twisted would
        # drop the buffered echo on EOF.
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass  # we never half-close our side


def make_factory() -> Factory:
    factory: Factory = Factory.forProtocol(Echo)
    factory.noisy = False  # no log line per start/stop
    return factory


def serve_on_reactor(ctx: ServeContext, reactor: PosixReactorBase) -> None:
    """Adopt the contract's listener and run ``reactor`` until SIGTERM/SIGINT.

    ``reactor.run()`` installs Twisted's own SIGTERM and SIGINT handlers, which
    stop the reactor; the listener is closed by ``servers._serve``.
    """
    reactor.adoptStreamPort(ctx.listener.fileno(), ctx.listener.family, make_factory())
    reactor.callWhenRunning(ctx.ready)
    reactor.run()
