"""The backend contract, and the uniform socket set-up every backend shares.

Every backend receives a listener that was created here, so that they all get
the same SO_REUSEADDR and listen backlog; each sets TCP_NODELAY on the
connections it accepts (asyncio and uvloop do it by themselves). A backend's
``serve`` function:

* calls ``ctx.ready()`` once it accepts connections (prints ``READY host:port``);
* echoes every byte back in order, with nothing added;
* stops reading a connection while its writes are backed up (flow control);
* on EOF from the peer, flushes what it has and closes;
* returns promptly after SIGTERM or SIGINT, having closed the listener.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import resource
import socket
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any

from echobench.servers._errors import UserError

#: One listen backlog for every backend, so no server wins by queueing deeper.
BACKLOG = 1024
#: How much one read asks for, for the backends that choose it themselves.
READ_SIZE = 65536


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    unix: str | None = None
    tls: bool = False
    certfile: str | None = None
    keyfile: str | None = None
    backlog: int = BACKLOG
    reuse_port: bool = False
    options: dict[str, str] = field(default_factory=dict)
    #: vmbench's readline mode: newline-framed messages, echoed a line at a time.
    readline: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``host:port`` or ``[v6]:port`` as printed in a READY line."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {text!r}")
    return host.strip("[]"), int(port)


def raise_fd_limit() -> int:
    """Lift the soft fd limit to the hard one; thousands of idle clients need it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft


def bind_listener(config: ServeConfig, *, join: bool = False) -> socket.socket:
    """Create, bind and listen with the settings every backend shares.

    With ``config.reuse_port`` the socket gets SO_REUSEPORT so that worker
    processes can ``join`` the port. The first socket claims the port
    exclusively first: without that, a second server started on the same
    fixed port would silently share it instead of failing.
    """
    if config.unix is not None:
        return _bind_unix(config)
    if not config.allow_remote and not is_loopback(config.host):
        raise UserError(
            f"refusing to bind non-loopback address {config.host!r}: an open echo server is an "
            "abuse vector; pass --allow-remote if you mean it"
        )
    if not 0 <= config.port <= 65535:
        raise UserError(f"port must be between 0 and 65535, not {config.port}")
    try:
        infos = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UserError(f"cannot resolve host {config.host!r}: {exc.strerror}") from None
    family, socktype, proto, _, address = infos[0]
    if config.reuse_port and not join:
        address = _claim(family, socktype, proto, address, config)
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if config.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        where = format_address(config.host, config.port)
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"address {where} is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UserError(f"address {where} is not available on this machine") from None
        raise UserError(f"cannot listen on {where}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _claim(family: int, socktype: int, proto: int, address: Any, config: ServeConfig) -> Any:
    """Bind without SO_REUSEPORT to prove the port is free; return the bound address."""
    probe = socket.socket(family, socktype, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        return probe.getsockname()
    except OSError as exc:
        where = format_address(config.host, config.port)
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"address {where} is already in use") from None
        raise UserError(f"cannot listen on {where}: {exc.strerror}") from None
    finally:
        probe.close()


def _bind_unix(config: ServeConfig) -> socket.socket:
    path = config.unix
    assert path is not None
    if os.path.exists(path):
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale socket from a dead server
        else:
            raise UserError(f"unix socket {path} is already in use")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(config.backlog)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on unix socket {path}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def set_nodelay(sock: socket.socket) -> None:
    """TCP_NODELAY on an accepted connection; a no-op for Unix sockets."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@dataclass
class ServeContext:
    """What a backend's ``serve`` function gets."""

    config: ServeConfig
    listener: socket.socket
    ssl_context: ssl.SSLContext | None = None
    _announced: bool = False
    _address: str = ""

    def __post_init__(self) -> None:
        # Read now: a loop may take the listener over (rloop detaches it from its
        # socket object), and READY must still name the address.
        self._address = self._listener_address()

    def ready(self) -> None:
        """Print the one READY line; call it once the server accepts."""
        if self._announced:
            return
        self._announced = True
        sys.stdout.write(f"READY {self.address}\n")
        sys.stdout.flush()

    @property
    def address(self) -> str:
        return self._address

    def _listener_address(self) -> str:
        if self.config.unix is not None:
            return f"unix:{self.config.unix}"
        host, port = self.listener.getsockname()[:2]
        return format_address(host, port)

    def option(self, name: str, default: str) -> str:
        return self.config.options.get(name, default)
