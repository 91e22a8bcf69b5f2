"""The Twisted echo protocol, independent of the reactor it runs on.

``twisted`` runs it on the default reactor (epoll on Linux) and
``twisted-asyncio`` on the asyncio reactor, so any difference between the two
measures the reactor, nothing else. With ``--tls`` the same protocol runs
behind Twisted's TLS layer (``TLSMemoryBIOFactory``, pyOpenSSL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper
from zope.interface import implementer

from echobench.servers._contract import ServeConfig, ServeContext
from echobench.servers._errors import UserError

if TYPE_CHECKING:
    from twisted.internet.interfaces import IProtocolFactory
    from twisted.internet.posixbase import PosixReactorBase


@implementer(IHalfCloseableProtocol)
class Echo(Protocol):
    # A tcp.Server or unix.Server (producers and consumers both), or the TLS
    # layer wrapping one; Protocol types it more loosely.
    transport: Any

    def connectionMade(self) -> None:
        transport = self.transport
        if isinstance(transport, ProtocolWrapper):
            socket_transport: Any = transport.transport
            producer: Any = _ReadingBelowTLS(transport, socket_transport)
        else:
            socket_transport = producer = transport
        socket_transport.setTcpNoDelay(True)  # a no-op on Unix sockets
        # The socket transport produces (reads) and consumes (writes): registered
        # as a streaming producer it pauses reading while its write buffer is over
        # bufferSize and resumes once that drains. This is Twisted's flow control;
        # without it a peer that never reads grows our buffer. The TLS layer
        # passes the registration down to the socket, merged with its own pauses.
        transport.registerProducer(producer, True)

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def readConnectionLost(self) -> None:
        # The peer sent EOF. A transport with a producer registered never
        # closes, so unregister first; loseConnection then flushes what is
        # buffered and closes. Without IHalfCloseableProtocol, Twisted would
        # drop the buffered echo on EOF. Over TLS the TLS layer gets the EOF
        # instead: it answers a close_notify itself (see _ReadingBelowTLS) and
        # closes at once on a bare TCP EOF, which TLS treats as truncation.
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass  # we never half-close our side


@implementer(IPushProducer)
class _ReadingBelowTLS:
    """Reading on the socket under a TLS layer, as the TLS layer's producer.

    On the peer's close_notify the TLS layer answers with its own and asks the
    socket to close after flushing, telling the protocol nothing. A socket
    whose producer is paused at that moment resumes it once flushed and then
    never closes, so here a resume after that request unregisters instead.
    """

    def __init__(self, tls: Any, socket_transport: Any) -> None:
        self._tls = tls
        self._socket = socket_transport

    def pauseProducing(self) -> None:
        self._socket.pauseProducing()

    def resumeProducing(self) -> None:
        if self._socket.disconnecting:
            self._tls.unregisterProducer()
        else:
            self._socket.resumeProducing()

    def stopProducing(self) -> None:
        self._socket.stopProducing()


def make_factory() -> Factory[Any]:
    factory: Factory[Any] = Factory.forProtocol(Echo)
    factory.noisy = False  # no log line per start/stop
    return factory


def tls_factory(config: ServeConfig, wrapped: IProtocolFactory) -> Factory[Any]:
    """``wrapped`` behind TLS with the contract's certificate and key."""
    try:
        from twisted.internet.ssl import PrivateCertificate
        from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
    except ImportError:
        raise UserError("Twisted needs pyOpenSSL for --tls (pip install 'twisted[tls]')") from None
    if config.certfile is None:
        raise UserError("--tls needs a certificate (--certfile)")
    try:
        with open(config.certfile, "rb") as cert:
            pem = cert.read()
        if config.keyfile is not None:  # else the key is in the certificate file
            with open(config.keyfile, "rb") as key:
                pem += b"\n" + key.read()
        options = PrivateCertificate.loadPEM(pem).options()
    except Exception as exc:  # OSError, or pyOpenSSL's own error types
        raise UserError(f"cannot load TLS certificate {config.certfile}: {exc}") from None
    factory = TLSMemoryBIOFactory(options, False, wrapped)
    # The default protocol, BufferingTLSTransport, holds small writes until the
    # next reactor turn, and drops them if the peer's close_notify was in the
    # same read: the echo before a TLS close would be lost.
    factory.protocol = TLSMemoryBIOProtocol
    return factory


def serve_on_reactor(ctx: ServeContext, reactor: PosixReactorBase) -> None:
    """Adopt the contract's listener and run ``reactor`` until SIGTERM/SIGINT.

    ``reactor.run()`` installs Twisted's own SIGTERM and SIGINT handlers, which
    stop the reactor; the listener is closed by ``echobench.servers._serve``.
    """
    factory = make_factory()
    if ctx.config.tls:
        # Without zope's mypy plugin, mypy cannot see that Factory provides it.
        factory = tls_factory(ctx.config, cast("IProtocolFactory", factory))
    reactor.adoptStreamPort(ctx.listener.fileno(), ctx.listener.family, factory)
    reactor.callWhenRunning(ctx.ready)
    reactor.run()
