"""A load cluster on hosts in network namespaces (``_netns``): Dask as a user runs it.

Hosts: ``server`` (the echo server, and optionally a Dask worker holding the ``server``
resource), ``scheduler`` (the Dask scheduler; ``echobench`` itself runs there, as on
the machine a user measures from) and ``client1``, ``client2`` (one single-threaded Dask
worker each). Every host has its own address and, through a time namespace, its own
monotonic clock (offset by whole hours), so the shards' clocks differ as on separate
machines and the cluster must put their windows on one time base by Dask's estimate.

With ``tls=True`` the cluster is made as ``echobench cluster-certs`` says to make it:
a fresh CA, ``dask scheduler --protocol tls`` and workers with their certificates;
``echobench`` connects with ``--cluster-certs``.

Used by the test suite and by the ``fleet`` publish step.

May import ``echobench.servers`` and ``echobench.clients``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echobench.benchmarks.truth import _netns
from echobench.clients._certs import CertFiles, make_certs
from echobench.clients._cluster import QUIET_DASK, SERVER_RESOURCE
from echobench.servers._launch import RunningServer, echobench_command, start_server

HOSTS = ("server", "scheduler", "client1", "client2")
CLIENT_HOSTS = ("client1", "client2")
SCHEDULER_PORT = 8786
#: Each host's monotonic clock runs this many seconds ahead of the previous host's.
CLOCK_STEP_S = 3600
#: Seconds the cluster may take to come up (a busy 2-core machine starts Python slowly).
START_SECONDS = 60.0


@dataclass
class DaskFleet:
    net: _netns.Fleet
    scratch: Path
    address: str  # the scheduler's, tcp:// or tls://
    certs: Path | None  # the folder of ``cluster-certs`` when the cluster uses TLS
    workers: dict[str, str]  # host -> its worker's log

    def host(self, name: str) -> str:
        return self.net.hosts[name].address

    def cluster_args(self) -> list[str]:
        """``--cluster`` (and ``--cluster-certs``) as an ``echobench`` command takes them."""
        certs = ["--cluster-certs", str(self.certs)] if self.certs is not None else []
        return ["--cluster", self.address, *certs]

    def echobench(
        self, args: Sequence[str], timeout: float, stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.CompletedProcess[str]:
        """``echobench ARGS`` on the scheduler's host, to its end."""
        return self.net.run(
            "scheduler",
            [*echobench_command(), *args],
            timeout,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def popen(self, args: Sequence[str]) -> subprocess.Popen[str]:
        """``echobench ARGS`` on the scheduler's host, stdin and stdout piped, stderr to a log."""
        log = (self.scratch / "echobench.log").open("ab")
        process: subprocess.Popen[str] = subprocess.Popen(
            self.net.hosts["scheduler"].argv([*echobench_command(), *args]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        log.close()
        self.net.processes.append(process)  # type: ignore[arg-type]
        return process

    @contextmanager
    def serving(self, backend: str, port: int) -> Iterator[RunningServer]:
        """``echobench serve`` on the server's host, reachable at its address."""
        server = start_server(
            backend,
            host=self.host("server"),
            port=port,
            extra_args=["--allow-remote"],
            prefix=self.net.hosts["server"].argv([]),
        )
        try:
            yield server
        finally:
            server.close()


def _clocked(index: int, command: Sequence[str]) -> list[str]:
    """``command`` in a time namespace whose monotonic clock is ``index`` hours ahead."""
    if index == 0:
        return list(command)
    offset = str(index * CLOCK_STEP_S)
    return ["unshare", "--time", "--monotonic", offset, "--boottime", offset, *command]


def _wait_for(
    logs: dict[str, Path], text: str, processes: Sequence[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + START_SECONDS
    waiting = dict(logs)
    while waiting:
        for name, log in list(waiting.items()):
            if text in log.read_text(errors="replace"):
                del waiting[name]
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Dask process exited ({process.args!r}); see {logs}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{', '.join(waiting)} did not log {text!r} in {START_SECONDS}s")
        time.sleep(0.05)


@contextmanager
def dask_fleet(
    scratch: Path, *, tls: bool = False, server_worker: bool = False
) -> Iterator[DaskFleet]:
    """The namespace fleet with a Dask scheduler and a worker on each client host (and,
    with ``server_worker``, one holding the ``server`` resource on the server's host);
    everything is torn down on exit, however the block ends."""
    dask = str(Path(sys.executable).with_name("dask"))
    with _netns.fleet(HOSTS) as net:
        certs = None
        protocol = "tcp"
        if tls:
            certs = scratch / "certs"
            make_certs(certs, [net.hosts["scheduler"].address])
            protocol = "tls"
        files = CertFiles(certs) if certs is not None else None

        def tls_options(role: str) -> list[str]:
            if files is None:
                return []
            return [
                *("--tls-ca-file", str(files.ca), "--tls-cert", str(files.cert(role))),
                *("--tls-key", str(files.key(role))),
            ]

        scheduler_ip = net.hosts["scheduler"].address
        address = f"{protocol}://{scheduler_ip}:{SCHEDULER_PORT}"
        common = ["--no-dashboard"]
        started = [
            net.start(
                "scheduler",
                [
                    *(dask, "scheduler", "--protocol", protocol, "--host", scheduler_ip),
                    *("--port", str(SCHEDULER_PORT), *common, *tls_options("scheduler")),
                ],
                scratch / "scheduler.log",
                QUIET_DASK,
            )
        ]
        worker_hosts = [*CLIENT_HOSTS, *(["server"] if server_worker else [])]
        logs = {}
        for name in worker_hosts:
            logs[name] = scratch / f"worker-{name}.log"
            resources = ["--resources", f"{SERVER_RESOURCE}=1"] if name == "server" else []
            command = [
                *(dask, "worker", address, "--nthreads", "1", "--no-nanny"),
                *("--host", net.hosts[name].address, "--protocol", protocol),
                *("--local-directory", str(scratch / f"dask-{name}"), *common),
                *resources,
                *tls_options("worker"),
            ]
            started.append(
                net.start(name, _clocked(HOSTS.index(name), command), logs[name], QUIET_DASK)
            )
        _wait_for(logs, "Registered to:", started)
        yield DaskFleet(net, scratch, address, certs, {n: str(p) for n, p in logs.items()})
