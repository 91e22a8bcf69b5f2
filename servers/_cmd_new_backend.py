"""``echobench new-backend``: scaffold a backend module that passes verification as generated.

Each template is the framework's plainest idiomatic echo server with flow
control, half-close and a clean stop already right, importing only the public
``servers`` API, so the user starts from green and edits from there.
"""

from __future__ import annotations

import argparse
import re

HELP = "scaffold a new backend module that passes `echobench verify` as generated"

_HEADER = '''"""{name}: an echobench backend (scaffolded by `echobench new-backend`; edit freely).

Check it with `echobench verify {name}` after every change; the contract is in
docs/backends.md ("The contract").
"""

from __future__ import annotations

'''

_ASYNCIO = """import asyncio
import signal
from typing import cast

from echobench.servers import Backend, ServeContext


class EchoProtocol(asyncio.Protocol):
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # the transport flushes what it holds, then closes

    # Flow control: stop reading from a peer that is not reading our echoes.
    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def main(ctx: ServeContext) -> None:
    loop = asyncio.get_running_loop()
    # ctx.listener is already bound and listening; ctx.ssl_context is set with --tls.
    # create_server listens again, with a backlog of 100 unless given the contract's.
    server = await loop.create_server(
        EchoProtocol, sock=ctx.listener, ssl=ctx.ssl_context, backlog=ctx.config.backlog
    )
    ctx.ready()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def serve(ctx: ServeContext) -> None:
{run}


BACKEND = Backend(
    name="{name}",
    family="{family}",
    description="{description}",
    serve=serve,{requires}
    transports=frozenset({{"tcp", "unix", "tls"}}),
)
"""

_RUN_ASYNCIO = """    with asyncio.Runner() as runner:
        runner.run(main(ctx))"""

_RUN_UVLOOP = """    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(ctx))"""

_TRIO = """import signal

import trio

from echobench.servers import READ_SIZE, Backend, ServeContext


async def echo(stream: trio.abc.Stream) -> None:
    try:
        while data := await stream.receive_some(READ_SIZE):
            await stream.send_all(data)  # waits for the peer: the flow control
    except trio.BrokenResourceError:
        pass  # a reset ends only this connection


async def main(ctx: ServeContext) -> None:
    listener: trio.abc.Listener[trio.abc.Stream] = trio.SocketListener(
        trio.socket.from_stdlib_socket(ctx.listener)
    )
    if ctx.ssl_context is not None:
        listener = trio.SSLListener(listener, ctx.ssl_context)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, echo, [listener])
            ctx.ready()
            async for _ in signals:
                break
            nursery.cancel_scope.cancel()


def serve(ctx: ServeContext) -> None:
    trio.run(main, ctx)


BACKEND = Backend(
    name="{name}",
    family="{family}",
    description="{description}",
    serve=serve,
    requires=("trio",),
    transports=frozenset({{"tcp", "unix", "tls"}}),
)
"""

_GEVENT = """import signal
import socket
from typing import Any

import gevent
import gevent.event
import gevent.socket
from gevent.server import StreamServer

from echobench.servers import READ_SIZE, Backend, ServeContext


def echo(sock: Any, address: object) -> None:
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while data := sock.recv(READ_SIZE):
            sock.sendall(data)  # blocks this greenlet until the peer reads: flow control
    except OSError:
        pass  # a reset ends only this connection
    finally:
        sock.close()


def serve(ctx: ServeContext) -> None:
    # StreamServer takes a gevent socket; a dup leaves ctx.listener to echobench.
    listener = gevent.socket.fromfd(ctx.listener.fileno(), ctx.listener.family, socket.SOCK_STREAM)
    server = StreamServer(listener, echo)
    stop = gevent.event.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, stop.set)
    server.start()
    ctx.ready()
    stop.wait()
    server.stop(timeout=0.2)


BACKEND = Backend(
    name="{name}",
    family="{family}",
    description="{description}",
    serve=serve,
    requires=("gevent",),
    transports=frozenset({{"tcp", "unix"}}),
)
"""

#: family -> (template, how serve() runs it); uvloop is the asyncio template on uvloop.
TEMPLATES: dict[str, tuple[str, str]] = {
    "asyncio": (_ASYNCIO, _RUN_ASYNCIO),
    "uvloop": (_ASYNCIO, _RUN_UVLOOP),
    "trio": (_TRIO, ""),
    "gevent": (_GEVENT, ""),
}

_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="backend name: lowercase letters, digits and hyphens")
    parser.add_argument(
        "--family",
        default="asyncio",
        choices=sorted(TEMPLATES),
        help="framework to start from (default: asyncio)",
    )
    parser.add_argument(
        "--dir",
        help="where to write NAME.py (default: the servers/ package, where the registry "
        "finds it; elsewhere, point ECHOBENCH_BACKEND_PATH at the directory)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")


def render(name: str, family: str) -> str:
    """The module text for backend ``name`` of ``family``."""
    template, run = TEMPLATES[family]
    requires = '\n    requires=("uvloop",),' if family == "uvloop" else ""
    body = template.format(
        name=name,
        family=family,
        description=f"{family} echo server (scaffolded; describe what it does)",
        run=run,
        requires=requires,
    )
    return _HEADER.format(name=name) + body


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from echobench import servers
    from echobench.servers._errors import UserError
    from echobench.servers._registry import PATH_VARIABLE, discover

    name: str = args.name
    if not _NAME.fullmatch(name):
        raise UserError(
            f"backend name {name!r} must be lowercase letters, digits and single hyphens, "
            "starting with a letter (e.g. my-echo)"
        )
    taken = next((b for b in discover() if b.name == name), None)
    if taken is not None:
        raise UserError(f"a backend named {name!r} already exists ({taken.origin}); pick another")
    directory = Path(args.dir) if args.dir else Path(servers.__file__).parent
    if not directory.is_dir():
        raise UserError(f"--dir {directory} is not a directory")
    path = directory / f"{name.replace('-', '_')}.py"
    if path.exists() and not args.force:
        raise UserError(f"{path} already exists (use --force to overwrite it)")
    try:
        path.write_text(render(name, args.family))
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror} (choose another --dir)") from None
    print(f"wrote {path}")
    in_package = directory.resolve() == Path(servers.__file__).parent.resolve()
    prefix = "" if in_package else f"{PATH_VARIABLE}={directory} "
    print(f"next: {prefix}echobench verify {name}")
    return 0
