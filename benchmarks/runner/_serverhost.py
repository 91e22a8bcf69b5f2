"""The server's host in the cluster: a Dask worker there serves and measures the server.

A worker started on the server's host with the ``server`` resource
(``dask worker ... --resources server=1``) runs one task per repeat, ``serve_case``,
which does there what the runner does beside a local server: it starts ``echobench
serve`` (on the CPUs a local run would give the server, with the task's own thread on
the others), primes it, samples its process tree's CPU and memory ten times a second,
reads its memory per connection once the load's connections are open and idle, and
reads the steal and run delay its CPUs saw (``_interference``) at every sample. With
``--connect`` to that host it attaches to the server listening on the port instead of
starting one. The runner talks to the task over two Dask queues (the footprint request,
then the load's measured window) and gets every figure back in the task's result; the
server's CPU is taken over exactly the load's window, put on the server host's clock by
Dask's estimate of its offset from the scheduler's.

Nothing outlives the runner: the task stops when the runner says so, when its key is
released (the runner's client went away), or at a deadline the runner sets; the server
it started dies with the worker process (``PR_SET_PDEATHSIG``) should that die first.

May import ``echobench.servers`` and ``echobench.clients``.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psutil

from echobench.benchmarks.runner import _footprint, _interference
from echobench.benchmarks.runner._isolation import pin_self, plan, usable_cpus
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._usage import TreeSampler
from echobench.clients._cluster import SERVER_RESOURCE, Member, connect, members
from echobench.servers._errors import UserError
from echobench.servers._launch import RunningServer, ServerStartError, start_server

#: How often the task samples the server's tree and reads its CPUs' interference (a
#: reading of /proc/stat and the server's threads: a fraction of a millisecond).
SAMPLE_SECONDS = 0.1
#: How long the runner waits for the server host to answer a request.
ANSWER_SECONDS = 60.0

#: Execs its arguments in place, as a process that gets SIGKILL when its parent (the
#: worker's thread that started it) dies: a killed worker leaves no server behind.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@dataclass(frozen=True)
class ServeSpec:
    backend: str
    extra_args: tuple[str, ...]
    tls: bool
    run_id: str
    attach_port: int | None  # --connect: sample the server on this port, start none
    lifetime_s: float  # the task ends by itself after this long, whatever happens
    #: ``--max-interference``: over it, the server's CPUs make a repeat disturbed.
    threshold_pct: float = _interference.DEFAULT_THRESHOLD_PCT

    @property
    def inbox(self) -> str:
        return f"echobench-{self.run_id}-to-server"

    @property
    def outbox(self) -> str:
        return f"echobench-{self.run_id}-from-server"


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` on this host (the root of its tree)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    pids = {
        c.pid
        for c in connections
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }
    if not pids:
        return None
    # A server that forks workers: they all listen; the one whose parent does not is
    # the root of the tree.
    for pid in pids:
        try:
            if psutil.Process(pid).ppid() not in pids:
                return pid
        except psutil.Error:
            continue
    return min(pids)


def serve_case(spec: ServeSpec) -> dict[str, Any]:
    """The Dask task on the server's host (see the module's docstring)."""
    from distributed import Queue, get_worker

    worker = get_worker()
    key = worker.get_current_task()
    inbox, outbox = Queue(spec.inbox), Queue(spec.outbox)
    host = worker.address.rsplit("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    placement = plan(usable_cpus())
    deadline = time.monotonic() + spec.lifetime_s
    server: RunningServer | None = None
    try:
        if spec.attach_port is not None:
            pid = listening_pid(spec.attach_port)
            if pid is None:
                outbox.put(("error", f"nothing listens on port {spec.attach_port} on {host}"))
                return {"error": "no server"}
            port, cpus = spec.attach_port, sorted(psutil.Process(pid).cpu_affinity() or [])
        else:
            try:
                server = start_server(
                    spec.backend,
                    host=host,
                    port=0,
                    extra_args=["--allow-remote", *spec.extra_args],
                    cpus=placement.server_cpus,
                    prefix=[sys.executable, "-c", _DIE_WITH_PARENT],
                )
                prime(host, server.port, None, spec.tls)
            except (ServerStartError, UserError) as exc:
                tail = exc.stderr if isinstance(exc, ServerStartError) else ""
                outbox.put(("error", str(exc), tail))
                return {"error": str(exc)}
            pid, port, cpus = server.pid, server.port, list(placement.server_cpus)
        # This thread samples beside the load's side of the host, off the server's CPUs.
        pin_self(placement.client_cpus if spec.attach_port is None else usable_cpus())
        before = _footprint.settled_usage(pid)
        outbox.put(("ready", host, port, pid, cpus))
        return _serve(spec, worker, key, inbox, outbox, pid, cpus, before, server, deadline)
    finally:
        if server is not None:
            server.close()


def _serve(
    spec: ServeSpec,
    worker: Any,
    key: Any,
    inbox: Any,
    outbox: Any,
    pid: int,
    cpus: list[int],
    before: tuple[int, int],
    server: RunningServer | None,
    deadline: float,
) -> dict[str, Any]:
    sampler = TreeSampler(pid)
    sides = {"server": _interference.Side(tuple(cpus), (pid,))}
    snapshots: list[tuple[float, _interference.Snapshot]] = []
    while time.monotonic() < deadline and _wanted(worker, key):
        sampler.sample()
        try:
            snapshots.append((time.time(), _interference.snapshot(sides)))
        except (OSError, ValueError):
            pass
        for message in inbox.get(batch=True):
            if message[0] == "footprint":
                stopping = lambda: time.monotonic() > deadline  # noqa: E731
                outbox.put(
                    ("footprint", _footprint.read_connected(pid, before, message[1], stopping))
                )
            elif message[0] == "finish":
                sampler.sample()
                return _figures(
                    sampler,
                    snapshots,
                    sides,
                    worker,
                    message[1],
                    message[2],
                    server,
                    cpus,
                    spec.threshold_pct,
                )
        time.sleep(SAMPLE_SECONDS)
    return {"error": "the runner went away before the repeat ended"}


def _wanted(worker: Any, key: Any) -> bool:
    """Whether the scheduler still wants this task (its client is still there)."""
    task = worker.state.tasks.get(key)
    return task is not None and task.state not in ("cancelled", "released", "forgotten")


def _figures(
    sampler: TreeSampler,
    snapshots: list[tuple[float, _interference.Snapshot]],
    sides: dict[str, _interference.Side],
    worker: Any,
    window: tuple[str, str] | None,
    elapsed: float,
    server: RunningServer | None,
    cpus: list[int],
    threshold_pct: float,
) -> dict[str, Any]:
    # The load's window is on the scheduler's clock; this host's is behind it by Dask's
    # estimate of the offset.
    delay = float(worker.scheduler_delay)
    between = None
    interference = None
    if window is not None:
        start = datetime.fromisoformat(window[0]).timestamp() - delay
        end = datetime.fromisoformat(window[1]).timestamp() - delay
        between = sampler.between(start, end)
        # The readings that span the window most closely from inside it.
        inside = [s for at, s in snapshots if start <= at <= end]
        if len(inside) >= 2:
            interference = _interference.between(
                inside[0], inside[-1], sides, threshold_pct
            ).as_dict()
    return {
        "window": between,
        "busiest": sampler.busiest(elapsed),
        "processes": sampler.processes,
        "peak_rss": sampler.peak_rss(),
        "cpus": cpus,
        "interference": interference,
        "clock_offset_s": delay,
        "alive": server.alive() if server is not None else True,
        "exit_status": server.process.returncode if server is not None else None,
        "stderr_tail": server.stderr_tail() if server is not None else None,
        "hostname": socket.gethostname(),
    }


class NoServerWorker(UserError):
    """The cluster has no worker holding the ``server`` resource."""


class ServerHost:
    """The runner's end: its own Dask client, and the worker on the server's host."""

    def __init__(self, address: str, certs: str | None) -> None:
        self.address = address
        self.client = connect(address, certs)
        found = [m for m in members(self.client).values() if m.serves]
        if not found:
            self.client.close()
            raise NoServerWorker(
                f"the Dask cluster at {address} has no worker on the server's host: start one "
                f"there with: dask worker {address} --nthreads 1 --resources "
                f"{SERVER_RESOURCE}=1"
            )
        self.worker: Member = sorted(found, key=lambda m: m.address)[0]

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def serving(
        self,
        backend: str,
        extra_args: list[str],
        tls: bool,
        attach_port: int | None,
        lifetime_s: float,
        stopping: Callable[[], bool],
        threshold_pct: float = _interference.DEFAULT_THRESHOLD_PCT,
    ) -> Iterator[RemoteServer]:
        from distributed import Queue

        spec = ServeSpec(
            backend,
            tuple(extra_args),
            tls,
            uuid.uuid4().hex,
            attach_port,
            lifetime_s,
            threshold_pct,
        )
        inbox = Queue(spec.inbox, client=self.client)
        outbox = Queue(spec.outbox, client=self.client)
        future = self.client.submit(
            serve_case,
            spec,
            key=f"echobench-serve-{spec.run_id}",
            workers=[self.worker.address],
            resources={SERVER_RESOURCE: 1},
            allow_other_workers=False,
            pure=False,
        )
        try:
            message = _answer(outbox, future, "ready", stopping)
            _, address, port, pid, cpus = message[:5]
            yield RemoteServer(
                self,
                future,
                inbox,
                outbox,
                str(address),
                int(port),
                int(pid),
                list(cpus),
                stopping,
                attach_port is None,
            )
        finally:
            if not future.done():
                inbox.put(("finish", None, 0.0))
                try:
                    future.result(timeout=10)
                except Exception:
                    self.client.cancel([future])


class RemoteFailure(Exception):
    """The server host could not serve or measure; ``stderr`` holds the server's tail."""

    def __init__(self, error: str, stderr: str | None = None) -> None:
        super().__init__(error)
        self.stderr = stderr


class Interrupted(Exception):
    pass


def _answer(outbox: Any, future: Any, kind: str, stopping: Callable[[], bool]) -> tuple[Any, ...]:
    deadline = time.monotonic() + ANSWER_SECONDS
    while time.monotonic() < deadline:
        if stopping():
            raise Interrupted
        for message in outbox.get(batch=True):
            if message[0] == "error":
                raise RemoteFailure(message[1], message[2] if len(message) > 2 else None)
            if message[0] == kind:
                return tuple(message)
        if future.done():
            status = future.status
            why = repr(future.exception()) if status == "error" else f"its task was {status}"
            raise RemoteFailure(f"the server host's worker stopped: {why}")
        time.sleep(SAMPLE_SECONDS / 2)
    raise RemoteFailure(f"the server host did not answer ({kind}) in {ANSWER_SECONDS:.0f}s")


@dataclass
class RemoteServer:
    host: ServerHost
    future: Any
    inbox: Any
    outbox: Any
    address: str
    port: int
    pid: int
    cpus: list[int]
    stopping: Callable[[], bool]
    started: bool  # False: it attached to a server already there (--connect)

    @property
    def worker(self) -> Member:
        return self.host.worker

    def footprint(self, connections: int) -> dict[str, Any]:
        self.inbox.put(("footprint", connections))
        answer: dict[str, Any] = _answer(self.outbox, self.future, "footprint", self.stopping)[1]
        return answer

    def finish(self, window: tuple[str, str] | None, elapsed: float) -> dict[str, Any]:
        """Every figure the server host took, over the load's measured window."""
        self.inbox.put(("finish", list(window) if window else None, elapsed))
        result: dict[str, Any] = self.future.result(timeout=ANSWER_SECONDS)
        if "error" in result:
            raise RemoteFailure(f"the server host: {result['error']}")
        return result
