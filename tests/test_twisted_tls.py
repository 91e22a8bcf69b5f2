"""Twisted over TLS: the close and flow-control parts of the contract.

Twisted's TLS layer answers the peer's close_notify itself and tells the
protocol nothing, so the echo must already be on its way when it arrives and
the connection must still close. ``test_transports`` covers plain echo
integrity; this covers what ``echobench.servers._twisted_echo`` does beyond it. The peer
is ``ssl.MemoryBIO`` over a blocking socket, so the test decides exactly which
TLS records go out and when.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from echobench.servers._conformance import (
    FLOOD_MAX_BYTES,
    FLOOD_MAX_RSS_GROWTH,
    FLOOD_STALL_SECONDS,
    _rss,
)
from echobench.servers._launch import RunningServer, running_server
from echobench.servers._registry import discover
from echobench.servers._tls import client_context

TIMEOUT = 10.0
MiB = 1 << 20

BACKENDS = [
    pytest.param(
        backend.name,
        id=backend.name,
        marks=[pytest.mark.skip(reason=reason)] if (reason := backend.unavailable_reason()) else [],
    )
    for backend in discover()
    if backend.family == "twisted" and "tls" in backend.transports
]


class TLSPeer:
    """A TLS client whose records are produced first and sent when the test says."""

    def __init__(self, server: RunningServer) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_context().wrap_bio(
            self.incoming, self.outgoing, server_hostname="localhost"
        )
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                self._receive()
        self.sock.sendall(self.outgoing.read())

    def _receive(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return data

    def encrypt(self, plaintext: bytes) -> bytes:
        self.tls.write(plaintext)
        return self.outgoing.read()

    def close_notify(self) -> bytes:
        try:
            self.tls.unwrap()  # writes our close_notify, then wants the server's
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    def read_until_close_notify(self, expected: int) -> bytes:
        """Everything the server sends until its close_notify; fails on a bare TCP EOF."""
        received = bytearray()
        while True:
            try:
                received += self.tls.read(1 << 16)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return bytes(received)
            assert self._receive(), (
                f"TCP EOF without close_notify after {len(received)} of {expected} bytes"
            )

    def expect_tcp_eof(self) -> None:
        assert self.sock.recv(1) == b"", "data after the server's close_notify"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with running_server(request.param, extra_args=["--tls"], timeout=60.0) as running:
        yield running
        assert running.alive(), running.stderr_tail()
        assert running.stop() == 0, running.stderr_tail()


def _send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    # Sent while the test reads: a flow-controlled server stops reading from a
    # peer that does not read its echo.
    sender = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    sender.start()
    return sender


# 1 B and 1000 B arrive in one read with the close_notify; 100 kB is echoed in
# that read too, and the echo fills the write buffer, so reading is paused when
# the close_notify is handled; 4 MiB spans many reads.
@pytest.mark.parametrize("size", [1, 1000, 100_000, 4 * MiB])
def test_close_notify_after_data_gets_the_whole_echo_then_close(
    server: RunningServer, size: int
) -> None:
    peer = TLSPeer(server)
    try:
        payload = os.urandom(size)
        # The data and our close_notify go out back to back, as one stream.
        sender = _send_in_background(peer.sock, peer.encrypt(payload) + peer.close_notify())
        echoed = peer.read_until_close_notify(size)
        assert len(echoed) == size, f"echoed {len(echoed)} of {size} bytes before close_notify"
        assert echoed == payload, "the echo differs"
        peer.expect_tcp_eof()  # a timeout here: the server never closed the connection
        sender.join(TIMEOUT)
    finally:
        peer.close()


def test_flood_is_flow_controlled_and_echoed_in_order(server: RunningServer) -> None:
    peer = TLSPeer(server)
    try:
        block = os.urandom(64 * 1024)
        rss_before = _rss(server.pid)
        peak = rss_before
        sent = 0  # plaintext the server's side of the connection took
        pending = b""  # ciphertext of the block being sent
        peer.sock.settimeout(FLOOD_STALL_SECONDS)
        deadline = time.monotonic() + 3 * TIMEOUT
        while True:
            if not pending:
                pending = peer.encrypt(block)
                sent += len(block)
            try:
                pending = pending[peer.sock.send(pending) :]
            except TimeoutError:
                break  # the server stopped reading from us
            assert sent <= FLOOD_MAX_BYTES, f"took over {FLOOD_MAX_BYTES} B: no flow control"
            assert time.monotonic() < deadline, f"flood never stalled ({sent} B taken)"
            peak = max(peak, _rss(server.pid))
        growth = max(peak, _rss(server.pid)) - rss_before
        assert growth < FLOOD_MAX_RSS_GROWTH, f"server RSS grew by {growth} B while flooded"
        assert server.alive(), server.stderr_tail()

        # Reading now, the server resumes and echoes the whole stream in order.
        peer.sock.settimeout(TIMEOUT)
        sender = _send_in_background(peer.sock, pending + peer.close_notify())
        echoed = peer.read_until_close_notify(sent)
        assert len(echoed) == sent, f"echoed {len(echoed)} of {sent} bytes"
        assert echoed == block * (sent // len(block)), "the echo differs"
        peer.expect_tcp_eof()
        sender.join(TIMEOUT)
    finally:
        peer.close()
