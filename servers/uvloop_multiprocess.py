"""uvloop-protocol's code in N worker processes that share the port (SO_REUSEPORT).

It shows multi-core scaling: the kernel spreads new connections over the
workers' listening sockets. Worker 0 serves the contract's listener, the
others bind their own SO_REUSEPORT sockets on the same port; on a Unix socket,
where SO_REUSEPORT does not apply, all workers accept on the one listener.
The parent prints READY once every worker accepts, forwards SIGTERM/SIGINT to
the workers as SIGTERM, and reaps them. A worker also dies with its parent
(``PR_SET_PDEATHSIG``): a launcher killed with SIGKILL, which runs no cleanup,
leaves no worker serving the port.

Option: ``-o workers=N`` (default: the CPUs this process may run on).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

from echobench.servers import Backend, ServeContext, asyncio_protocol, bind_listener
from echobench.servers._errors import UserError

#: How long workers get to stop before they are killed, and to start.
STOP_SECONDS = 3.0
START_SECONDS = 30.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
#: prctl(2)'s option that sends a signal to this process when its parent dies.
PR_SET_PDEATHSIG = 1


@dataclass
class _WorkerContext(ServeContext):
    """A worker's context: its ``ready`` tells the parent, not stdout."""

    ready_fd: int = -1

    def ready(self) -> None:
        os.write(self.ready_fd, b"+")
        os.close(self.ready_fd)


def workers_option(options: Mapping[str, str]) -> int | None:
    """``-o workers=N``; ``None`` when absent (one per CPU this process may run on)."""
    text = options.get("workers")
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"uvloop-multiprocess: workers must be a positive integer, not {text!r}")
    return int(text)


def worker_count(ctx: ServeContext) -> int:
    asked = workers_option(ctx.config.options)
    return asked if asked is not None else len(os.sched_getaffinity(0))


def _run_worker(ctx: ServeContext, index: int, ready_fd: int) -> None:
    if index == 0 or ctx.config.unix is not None:
        sock = ctx.listener
    else:
        # Same port as the parent's listener (which has SO_REUSEPORT too).
        port = ctx.listener.getsockname()[1]
        sock = bind_listener(replace(ctx.config, port=port, reuse_port=True), join=True)
        ctx.listener.close()  # only worker 0 accepts on the shared one
    worker = _WorkerContext(
        config=ctx.config, listener=sock, ssl_context=ctx.ssl_context, ready_fd=ready_fd
    )
    asyncio_protocol.serve_on(worker, "uvloop")


def _die_with(parent: int) -> None:
    """Be killed when ``parent`` dies; exit at once if it already has (it died between the
    fork and the prctl, or the kernel has no PDEATHSIG: then the check is all there is)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the parent's SIGTERM forwarding is what stops the workers
    if os.getppid() != parent:
        os._exit(1)


def _fork_worker(ctx: ServeContext, index: int, ready_write: int) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid != 0:
        return pid
    status = 0
    try:
        _die_with(parent)
        _run_worker(ctx, index, ready_write)
    except BaseException as exc:
        print(f"uvloop-multiprocess worker {index}: {exc!r}", file=sys.stderr)
        status = 1
    finally:
        sys.stderr.flush()
        # Never return into the parent's code: its cleanup is the parent's job.
        os._exit(status)


def _wait_ready(ready_read: int, workers: int) -> bool:
    deadline = time.monotonic() + START_SECONDS
    seen = 0
    while seen < workers:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([ready_read], [], [], remaining)[0]:
            return False
        chunk = os.read(ready_read, workers)
        if not chunk:
            return False  # every worker has exited or signalled
        seen += len(chunk)
    return True


def _stop_workers(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_SECONDS
    remaining = set(pids)
    while remaining and time.monotonic() < deadline:
        for pid in list(remaining):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                remaining.discard(pid)
        time.sleep(0.01)
    for pid in remaining:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def serve(ctx: ServeContext) -> None:
    workers = worker_count(ctx)
    sys.stdout.flush()  # nothing buffered may be written twice by the children
    ready_read, ready_write = os.pipe()
    pids = [_fork_worker(ctx, index, ready_write) for index in range(workers)]
    os.close(ready_write)
    # Block the stop signals and take them with sigwait, so none is lost
    # between the check and the wait; SIGCHLD says a worker died early.
    signal.pthread_sigmask(signal.SIG_BLOCK, {*STOP_SIGNALS, signal.SIGCHLD})
    try:
        if not _wait_ready(ready_read, workers):
            raise UserError("uvloop-multiprocess: a worker failed to start (see its error above)")
        ctx.ready()
        while True:
            received = signal.sigwait({*STOP_SIGNALS, signal.SIGCHLD})
            if received in STOP_SIGNALS:
                break
            # SIGCHLD: fine only if no worker has actually gone.
            if any(os.waitpid(pid, os.WNOHANG)[0] == pid for pid in pids):
                raise UserError("uvloop-multiprocess: a worker exited unexpectedly")
    finally:
        os.close(ready_read)
        _stop_workers(pids)


BACKEND = Backend(
    name="uvloop-multiprocess",
    family="uvloop",
    description="uvloop-protocol's code in N processes sharing the port (SO_REUSEPORT); "
    "-o workers=N, default: CPU count",
    serve=serve,
    loop="uvloop",
    requires=("uvloop",),
    install_hint="pip install uvloop",
    transports=frozenset({"tcp", "unix", "tls"}),
    options={"workers": "worker processes (default: the CPUs this process may run on)"},
    reuse_port=True,
    process_count=workers_option,
)
