"""Misbehaving echo servers for the load generator's tests, run as real subprocesses.

``python tests/_fault_servers.py MODE [VALUE ...]`` listens on 127.0.0.1 (a free port)
and prints ``READY host:port``. Plain blocking sockets and threads: one reader and one
writer thread per connection, the reader stamping each chunk with the time it may be
echoed. Modes:

* ``echo``                 a plain echo;
* ``delay SECONDS``        every byte is echoed SECONDS after it arrived;
* ``ratelimit BPS [DELAY]`` a fixed capacity: one queue shared by every connection serves
                           BPS bytes a second in arrival order, and each chunk is echoed
                           DELAY seconds (default 0) after its service ends; the queue
                           starts empty again whenever no connection is open (so one
                           server serves a sweep of runs, as with ``--connect``);
* ``freeze PERIOD LENGTH`` echoes stop for the last LENGTH seconds of every PERIOD;
* ``pause SECONDS``        nothing is echoed until SECONDS after the first connection;
* ``corrupt EVERY``        flips one byte in every EVERY bytes of each stream;
* ``pieces N``             echoes in N-byte sends;
* ``swap``                 echoes each connection's bytes to its pair (0<->1, 2<->3 ...);
* ``silent``               reads and never echoes;
* ``serve_first N``        echoes on the first N connections accepted, reads and drops the rest;
* ``idle_close SECONDS``   closes a connection that has sent nothing for SECONDS;
* ``slow_accept SECONDS``  a backlog of 1 and no accept() for SECONDS: the kernel drops
                           the SYNs that do not fit, and the clients retransmit them;
* ``die SECONDS``          the process exits SECONDS after the first connection.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HERE = os.path.abspath(__file__)


class Server:
    def __init__(self, mode: str, values: list[float]) -> None:
        self.mode = mode
        self.values = values
        self.first_connection: float | None = None
        self.queues: list[queue.Queue[tuple[float, bytes] | None]] = []
        self.lock = threading.Lock()
        self.open_connections = 0
        self.busy_until = 0.0  # ratelimit: when the shared queue's last chunk is served

    def serve(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1 if self.mode == "slow_accept" else 1024)
        host, port = listener.getsockname()
        print(f"READY {host}:{port}", flush=True)
        if self.mode == "slow_accept":
            time.sleep(self.values[0])
        while True:
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.first_connection is None:
                    self.first_connection = time.monotonic()
                    if self.mode == "die":
                        threading.Timer(self.values[0], os._exit, (1,)).start()
                index = len(self.queues)
                self.queues.append(queue.Queue())
                self.open_connections += 1
            threading.Thread(target=self.read, args=(conn, index), daemon=True).start()
            threading.Thread(target=self.write, args=(conn, index), daemon=True).start()

    def target_queue(self, index: int) -> queue.Queue[tuple[float, bytes] | None]:
        if self.mode == "swap":
            partner = index ^ 1
            with self.lock:
                if partner < len(self.queues):
                    return self.queues[partner]
        return self.queues[index]

    def read(self, conn: socket.socket, index: int) -> None:
        offset = 0
        every = int(self.values[0]) if self.mode == "corrupt" else 0
        if self.mode == "idle_close":
            conn.settimeout(self.values[0])
        while True:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                try:
                    conn.shutdown(socket.SHUT_RDWR)  # idle too long: the writer closes it
                except OSError:
                    pass
                data = b""
            except OSError:
                data = b""
            if not data:
                with self.lock:
                    self.open_connections -= 1
                    if not self.open_connections:
                        self.busy_until = 0.0
                self.queues[index].put(None)
                return
            if self.mode == "silent" or (self.mode == "serve_first" and index >= self.values[0]):
                continue
            now = time.monotonic()
            send_at = now
            if self.mode == "delay":
                send_at = now + self.values[0]
            elif self.mode == "ratelimit":
                send_at = self.served_at(now, len(data))
            elif self.mode == "pause":
                assert self.first_connection is not None
                send_at = max(now, self.first_connection + self.values[0])
            elif self.mode == "corrupt":
                buffer = bytearray(data)
                for i in range(len(buffer)):
                    if (offset + i) % every == every - 1:
                        buffer[i] ^= 0x5A
                data = bytes(buffer)
            offset += len(data)
            self.target_queue(index).put((send_at, data))

    def served_at(self, now: float, size: int) -> float:
        """When a chunk that arrived at ``now`` leaves the shared fixed-rate queue, plus DELAY."""
        rate = self.values[0]
        delay = self.values[1] if len(self.values) > 1 else 0.0
        with self.lock:
            self.busy_until = max(now, self.busy_until) + size / rate
            return self.busy_until + delay

    def write(self, conn: socket.socket, index: int) -> None:
        pieces = int(self.values[0]) if self.mode == "pieces" else 0
        while True:
            item = self.queues[index].get()
            if item is None:
                break
            send_at, data = item
            self.wait_until(send_at)
            try:
                if pieces:
                    for i in range(0, len(data), pieces):
                        conn.sendall(data[i : i + pieces])
                else:
                    conn.sendall(data)
            except OSError:
                break
        try:
            conn.close()
        except OSError:
            pass

    def wait_until(self, send_at: float) -> None:
        while True:
            now = time.monotonic()
            if now < send_at:
                time.sleep(send_at - now)
                continue
            if self.mode != "freeze":
                return
            period, length = self.values
            assert self.first_connection is not None
            phase = (now - self.first_connection) % period
            if phase < period - length:
                return
            time.sleep(period - phase)


@dataclass
class FaultServer:
    process: subprocess.Popen[str]
    host: str
    port: int


@contextmanager
def fault_server(mode: str, *values: float) -> Iterator[FaultServer]:
    """Run a fault server in a subprocess for the duration of the block."""
    process = subprocess.Popen(
        [sys.executable, HERE, mode, *map(str, values)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"fault server {mode} did not start: {line!r}")
        host, _, port = line[6:].rpartition(":")
        yield FaultServer(process, host, int(port))
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def main(argv: list[str]) -> None:
    Server(argv[0], [float(v) for v in argv[1:]]).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
