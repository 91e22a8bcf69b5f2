"""One repeat of one case: start the backend, drive it with ``echobench load``, stop it.

The server and the load client each run in their own session, so stopping a
case (or an interrupted runner) kills their whole process groups and nothing
survives. The runner never measures anything itself; the numbers are the load
client's, plus the server's CPU and memory from ``echobench.benchmarks.runner._usage``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from echobench.benchmarks.runner import _environment, _footprint, _verdict
from echobench.benchmarks.runner._awake import keep_awake
from echobench.benchmarks.runner._edges import Edges
from echobench.benchmarks.runner._interference import DEFAULT_THRESHOLD_PCT
from echobench.benchmarks.runner._isolation import Placement, pin_self
from echobench.benchmarks.runner._matrix import Case
from echobench.benchmarks.runner._prime import prime
from echobench.benchmarks.runner._serverhost import (
    Interrupted as RemoteInterrupted,
)
from echobench.benchmarks.runner._serverhost import (
    RemoteFailure,
    RemoteServer,
    ServerHost,
)
from echobench.benchmarks.runner._shield import quiet_kernel, shield
from echobench.benchmarks.runner._usage import TreeSampler
from echobench.clients._config import default_workers
from echobench.clients._display import nothing_measured
from echobench.clients._load_schema import (
    EXIT_CORRUPTED,
    EXIT_ERRORS,
    EXIT_USAGE,
    LAG_INSTANT_KEYS,
)
from echobench.clients._priority import OPEN_LOOP_NICE
from echobench.servers._errors import UserError
from echobench.servers._launch import (
    RunningServer,
    ServerStartError,
    echobench_command,
    start_server,
)

#: Rough cost of one repeat beyond warm-up and measurement (server and client start-up).
OVERHEAD_SECONDS = 1.5
#: How often the server's CPU is sampled while the load runs.
SAMPLE_SECONDS = 0.1
#: How long the runner sleeps at a time inside a measured window (it still notices a
#: Ctrl-C or a client that ended within this).
WINDOW_SLEEP_SECONDS = 0.25
#: What the load client may take beyond warm-up and measurement (start-up, connecting,
#: writing its JSON) before it is presumed hung and killed.
CLIENT_SLACK_SECONDS = 30.0
#: Extra time allowed per 1,000 connections for the connect storm and the memory reading.
CONNECT_SECONDS_PER_1000 = 3.0


class CaseFailed(Exception):
    def __init__(self, error: str, stderr_tail: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.stderr_tail = stderr_tail


class Interrupted(Exception):
    """The runner was asked to stop; whatever this case started is already gone."""


@dataclass(frozen=True)
class MeasureSettings:
    duration: float
    warmup: float
    workers: int | None  # None: one per client CPU (``_isolation.load_workers``)
    placement: Placement  # a one-process server's; ``placements`` has those that differ
    connect: tuple[str, int] | None = None
    placements: Mapping[str, Placement] = field(default_factory=dict)
    server_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cluster: str | None = None  # the load runs on this Dask cluster (``load --cluster``)
    cluster_certs: str | None = None  # its client certificate (``load --cluster-certs``)
    #: Where each repeat's HdrHistogram interval log goes (``echobench load --hlog``): a
    #: folder beside the results file, so the file refers to it by a relative path.
    hlog_dir: Path | None = None
    #: Keep the server's CPUs from idling while it is measured (``_awake``): always, never,
    #: or ``"auto"``: for the cases whose server idles between messages (``awake_for``).
    awake: bool | str = False
    #: Keep the rest of the machine off the load client's CPUs (``_shield``): always,
    #: never, or ``"auto"``: for open-loop cases, whose send lag is a latency.
    shield: bool | str = False
    #: The cluster's worker on the server's host (``_serverhost``): it starts the server
    #: there (or, with ``connect`` to that host, finds it) and measures it.
    server_host: ServerHost | None = None
    #: Steal or run delay over this percentage of the window on either side makes a
    #: repeat disturbed (``_interference``).
    max_interference: float = DEFAULT_THRESHOLD_PCT
    #: False (``--no-interference``): /proc is not read at the windows' edges, to measure
    #: what reading it costs.
    interference: bool = True

    def placement_for(self, backend: str) -> Placement:
        return self.placements.get(backend, self.placement)


def unmeasured(why: str | None) -> dict[str, Any]:
    """The ``interference`` of a repeat whose host could not be read, and why."""
    return {"steal_pct": {}, "run_delay_pct": {}, "disturbed": False, "unmeasured": why}


def awake_for(case: Case, awake: bool | str) -> bool:
    """Whether ``--awake`` keeps the server's CPUs awake for ``case``. ``"auto"`` does for a
    closed loop at one connection and an open loop, where the server idles between messages
    and a halted vCPU's wake-up dominated the figure, and not for a closed loop at more
    connections, where the server seldom idles and the busy loop cost a fast one up to 15%
    (docs/interference.md, "The 1-connection column")."""
    if awake == "auto":
        return case.rate is not None or case.connections == 1
    return bool(awake)


def shield_for(case: Case, shielding: bool | str) -> bool:
    """Whether ``--shield`` shields the load client's CPUs for ``case``: ``"auto"`` for an
    open loop, where a stall of the client is a send lag and so a latency."""
    return case.rate is not None if shielding == "auto" else bool(shielding)


def hlog_name(case: Case, repeat: int, attempt: int = 0) -> str:
    again = f".a{attempt}" if attempt else ""  # a disturbed repeat measured again
    return f"{case.id.replace('/', '_')}.r{repeat}{again}.hlog"


def load_argv(
    case: Case,
    settings: MeasureSettings,
    *,
    host: str,
    port: int,
    unix: str | None,
    json_path: str,
    hold: bool = False,
    hlog: Path | None = None,
) -> list[str]:
    argv = [*echobench_command(), "load"]
    if unix is not None:
        argv += ["--unix", unix]
    else:
        argv += ["--host", host, "--port", str(port)]
    argv += [
        "--connections",
        str(case.connections),
        "--size",
        str(case.size),
        "--duration",
        f"{settings.duration:g}",
        "--warmup",
        f"{settings.warmup:g}",
    ]
    if case.idle:
        argv += ["--idle", str(case.idle)]
    if case.readline:
        argv += ["--readline", str(case.readline)]
    if case.rate is not None:
        argv += ["--rate", f"{case.rate:g}"]
    if settings.cluster is not None:
        argv += ["--cluster", settings.cluster]
        if settings.cluster_certs is not None:
            argv += ["--cluster-certs", settings.cluster_certs]
        if settings.workers is not None:
            argv += ["--workers", str(settings.workers)]
    else:
        placement = settings.placement_for(case.backend)
        workers = default_workers(settings.workers, len(placement.client_cpus), case.connections)
        argv += ["--workers", str(workers), "--cpus", ",".join(map(str, placement.client_cpus))]
        if case.rate is not None:
            # A schedule's sends delayed by another task on the client's CPU count against
            # the server: the client keeps its CPU first (``clients/_priority``).
            argv += ["--nice", str(OPEN_LOOP_NICE)]
    if case.transport == "tls":
        argv.append("--tls")
    if hold:
        argv.append("--hold")
    if hlog is not None:
        argv += ["--hlog", str(hlog)]
    return [*argv, "--json", json_path, "--quiet"]


def _tail(handle: IO[bytes], limit: int = 4000) -> str:
    handle.flush()
    handle.seek(0, os.SEEK_END)
    handle.seek(max(0, handle.tell() - limit))
    return handle.read().decode("utf-8", "replace")


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "no output"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass


def server_args(
    case: Case, unix_path: str | None, options: Mapping[str, str] | None = None
) -> list[str]:
    args = [arg for key, value in (options or {}).items() for arg in ("-o", f"{key}={value}")]
    if case.readline:
        args.append("--readline")
    if case.transport == "unix":
        assert unix_path is not None
        return [*args, "--unix", unix_path]
    return [*args, "--tls"] if case.transport == "tls" else args


def _edges(
    settings: MeasureSettings, placement: Placement, local_server: bool, spinners: list[int]
) -> Edges:
    """What reads the host at the window's edges: the CPUs of the sides this host runs."""
    measured = settings.interference
    return Edges(
        settings.max_interference,
        placement.server_cpus if local_server and measured else None,
        placement.client_cpus if settings.cluster is None and measured else None,
        spinners,
    )


def measure(
    case: Case,
    repeat: int,
    settings: MeasureSettings,
    *,
    stopping: Callable[[], bool],
    attempt: int = 0,
) -> dict[str, Any]:
    """Run one repeat and return its record; raise ``CaseFailed`` or ``Interrupted``.
    ``attempt`` counts the times it is measured again after being disturbed."""
    if settings.server_host is not None:
        return _measure_on_server_host(
            case, repeat, settings, settings.server_host, stopping, attempt
        )
    started_at = _environment.now()
    placement = settings.placement_for(case.backend)
    pin_self(placement.client_cpus)  # the runner samples beside the client, off the server
    kept = awake_for(case, settings.awake) and settings.connect is None
    awake_cpus = placement.server_cpus if kept else ()
    # By polling where the guest can: a spinner makes every wake-up of the server an
    # interrupt sent from the client's CPU (``_awake``). The CPUs, and the kernel's bound
    # periodic work made short (``_shield``), are let go with the case, however it ends.
    shielding = settings.cluster is None and shield_for(case, settings.shield)
    with (
        keep_awake(awake_cpus, how="poll") as awake,
        shield(placement.client_cpus if shielding else []) as shielded,
        quiet_kernel() as quieted,
        tempfile.TemporaryDirectory(prefix="echobench-run-") as scratch,
    ):
        unix_path = os.path.join(scratch, "echo.sock") if case.transport == "unix" else None
        server = _local_server(case, settings, placement.server_cpus, unix_path)
        try:
            if stopping():
                raise Interrupted
            host, port, address = _reach(case, settings, server, unix_path)
            logs = settings.hlog_dir
            hlog = None if logs is None else logs / hlog_name(case, repeat, attempt)
            edges = _edges(settings, placement, server is not None, awake.pids)
            try:
                record = _drive(
                    case,
                    settings,
                    server,
                    host,
                    port,
                    unix_path,
                    scratch,
                    hlog,
                    stopping=stopping,
                    edges=edges,
                )
            except BaseException:
                if hlog is not None:
                    hlog.unlink(missing_ok=True)  # a failed repeat leaves no log behind
                raise
        finally:
            if server is not None:
                server.close()
                if server.process.stdout is not None:
                    server.process.stdout.close()  # close() leaves the READY pipe open
    record = {
        "repeat": repeat,
        "attempt": attempt,
        "started_at": started_at,
        "server_address": address,
        "primed": settings.connect is None,
        **record,
    }
    record["placement"].update(
        awake_cpus=list(awake.cpus), awake_how=awake.how, kernel_quieted=quieted
    )
    if shielded.cpus or shielded.warning:
        record["placement"]["shield"] = shielded.brief()
    record["interference"] = edges.record() or unmeasured(edges.missing)
    if hlog is not None and hlog.exists():
        record["hlog"] = f"{hlog.parent.name}/{hlog.name}"
    return record


def _local_server(
    case: Case, settings: MeasureSettings, cpus: tuple[int, ...], unix_path: str | None
) -> RunningServer | None:
    """The case's server, started here on its CPUs; None for a ``--connect`` server."""
    if settings.connect is not None:
        return None
    try:
        return start_server(
            case.backend,
            cpus=cpus,
            extra_args=server_args(case, unix_path, settings.server_options.get(case.backend)),
        )
    except ServerStartError as exc:
        raise CaseFailed(str(exc), exc.stderr) from None


def _reach(
    case: Case, settings: MeasureSettings, server: RunningServer | None, unix_path: str | None
) -> tuple[str, int, str]:
    """Where the load goes (host, port, and the address to record); a server started here
    is primed first (``_prime``)."""
    if server is None:
        assert settings.connect is not None
        host, port = settings.connect
        return host, port, f"{host}:{port}"
    host, port = ("", 0) if unix_path else (server.host, server.port)
    try:
        prime(host, port, unix_path, case.transport == "tls")
    except UserError as exc:
        raise CaseFailed(str(exc), server.stderr_tail()) from None
    return host, port, server.address


def _measure_on_server_host(
    case: Case,
    repeat: int,
    settings: MeasureSettings,
    server_host: ServerHost,
    stopping: Callable[[], bool],
    attempt: int = 0,
) -> dict[str, Any]:
    """One repeat against a server the cluster's worker on the server's host started (or,
    with ``--connect``, found) and measured there; its interference is the server's CPUs'
    as that host read them (the load ran on the cluster: no client side here)."""
    started_at = _environment.now()
    if case.transport == "unix":
        raise CaseFailed("a Unix socket does not reach across hosts: use tcp or tls")
    pin_self(settings.placement_for(case.backend).client_cpus)
    attach = settings.connect[1] if settings.connect is not None else None
    lifetime = (
        settings.warmup
        + settings.duration
        + 2 * CLIENT_SLACK_SECONDS
        + CONNECT_SECONDS_PER_1000 * case.total_connections / 1000
    )
    hlog = None
    if settings.hlog_dir is not None:
        hlog = settings.hlog_dir / hlog_name(case, repeat, attempt)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="echobench-run-") as scratch,
            server_host.serving(
                case.backend,
                server_args(case, None, settings.server_options.get(case.backend)),
                case.transport == "tls",
                attach,
                lifetime,
                stopping,
                settings.max_interference,
            ) as remote,
        ):
            record = _drive(
                case,
                settings,
                None,
                remote.address,
                remote.port,
                None,
                scratch,
                hlog,
                stopping=stopping,
                remote=remote,
            )
    except RemoteFailure as exc:
        if hlog is not None:
            hlog.unlink(missing_ok=True)
        raise CaseFailed(str(exc), exc.stderr) from None
    except RemoteInterrupted:
        raise Interrupted from None
    except BaseException:
        if hlog is not None:
            hlog.unlink(missing_ok=True)
        raise
    record = {
        "repeat": repeat,
        "attempt": attempt,
        "started_at": started_at,
        "server_address": f"{remote.address}:{remote.port}",
        "primed": attach is None,
        **record,
    }
    record["placement"]["awake_cpus"] = []
    record["placement"]["awake_how"] = None
    record["interference"] = (record.get("server_host") or {}).get("interference") or unmeasured(
        "the server's host could not read its CPUs"
    )
    if hlog is not None and hlog.exists():
        record["hlog"] = f"{hlog.parent.name}/{hlog.name}"
    return record


def _drive(
    case: Case,
    settings: MeasureSettings,
    server: RunningServer | None,
    host: str,
    port: int,
    unix_path: str | None,
    scratch: str,
    hlog: Path | None,
    *,
    stopping: Callable[[], bool],
    remote: RemoteServer | None = None,
    edges: Edges | None = None,
) -> dict[str, Any]:
    json_path = os.path.join(scratch, "load.json")
    # The load client pauses once connected so the server's footprint can be read, here
    # or by the server host's worker; a local one also says when its window opens, so the
    # host can be read at its edges (a cluster's shards give no interference here).
    held = server is not None or remote is not None or settings.cluster is None
    argv = load_argv(
        case,
        settings,
        host=host,
        port=port,
        unix=unix_path,
        json_path=json_path,
        hold=held,
        hlog=hlog,
    )
    sampler = TreeSampler(server.pid) if server is not None else None
    before = _footprint.settled_usage(server.pid) if server is not None and held else None
    footprint: dict[str, Any] = {}
    placement = settings.placement_for(case.backend)
    with tempfile.TemporaryFile() as client_stderr:
        client = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if held else subprocess.DEVNULL,
            stdout=subprocess.PIPE if held else subprocess.DEVNULL,
            stderr=client_stderr,
            start_new_session=True,
        )
        try:
            try:
                os.sched_setaffinity(client.pid, set(placement.client_cpus))
            except OSError:
                pass  # it inherits the runner's own pinning anyway
            allowed = (
                settings.warmup
                + settings.duration
                + CLIENT_SLACK_SECONDS
                + CONNECT_SECONDS_PER_1000 * case.total_connections / 1000
            )
            deadline = time.monotonic() + allowed
            if held:
                footprint = _connected_footprint(
                    case, client, server, remote, before, deadline, stopping
                )
            if held and edges is not None and settings.cluster is None and client.poll() is None:
                sides = edges.sides(sampler.pids() if sampler else (), client.pid)
                assert client.stdout is not None
                edges.announced(client.stdout, sides, stopping)
            _wait(client, server, sampler, edges, deadline, allowed, stopping)
        finally:
            _kill_group(client)  # after a normal exit it still catches a stray grandchild
            for pipe in (client.stdin, client.stdout):
                if pipe is not None:
                    pipe.close()
        client_tail = _tail(client_stderr)
    load = _read_load(Path(json_path))
    figures = _check_load(case, server, remote, load, client.returncode, client_tail)
    assert load is not None
    return {**_record(load, sampler, server, settings, placement, remote, figures), **footprint}


def _connected_footprint(
    case: Case,
    client: subprocess.Popen[bytes],
    server: RunningServer | None,
    remote: RemoteServer | None,
    before: Any,
    deadline: float,
    stopping: Callable[[], bool],
) -> dict[str, Any]:
    """Hold the load client once connected and read the server's footprint meanwhile:
    here, on the server's host, or (a remote server) nothing."""
    if server is not None and before is not None:
        pid = server.pid
        return _hold(
            client,
            lambda: _footprint.read_connected(pid, before, case.total_connections, stopping),
            deadline,
            stopping,
            server.stderr_tail,
        )
    if remote is not None:
        return _hold(
            client,
            lambda: remote.footprint(case.total_connections),
            deadline,
            stopping,
            lambda: None,
        )
    return _hold(client, dict, deadline, stopping, lambda: None)


def _wait(
    client: subprocess.Popen[bytes],
    server: RunningServer | None,
    sampler: TreeSampler | None,
    edges: Edges | None,
    deadline: float,
    allowed: float,
    stopping: Callable[[], bool],
) -> None:
    """Until the load client exits: sample the server's usage and read the host at the
    window's edges; stop at the deadline or when asked to.

    Inside an announced window the runner, on the client's CPU, only sleeps: the server's
    CPU over the window comes from the samples taken with the edges' readings. With a
    sample every 0.1 s inside it (0.03 ms each), the largest send lag of an open loop
    against ``native`` in 1.5 s windows was a median 0.47 ms (12 windows, 20k and 60k
    msgs/s, 2026-12-04); sleeping only, 0.21 ms, as with no runner at all."""
    while client.poll() is None:
        if stopping():
            raise Interrupted
        if time.monotonic() > deadline:
            raise CaseFailed(
                f"the load client did not finish within {allowed:.0f}s; killed it",
                server.stderr_tail() if server else None,
            )
        inside = edges is not None and edges.inside()
        if sampler is not None and not inside:
            sampler.sample()
        until_edge = edges.until_next() if edges is not None else None
        pause = WINDOW_SLEEP_SECONDS if inside else SAMPLE_SECONDS
        time.sleep(pause if until_edge is None else min(pause, until_edge))
        if edges is not None and edges.read_due() and sampler is not None:
            sampler.sample()
    if sampler is not None:
        sampler.sample()


def _check_load(
    case: Case,
    server: RunningServer | None,
    remote: RemoteServer | None,
    load: dict[str, Any] | None,
    status: int | None,
    client_tail: str,
) -> dict[str, Any] | None:
    """Raise ``CaseFailed`` unless the server lived and the load client measured, whole
    and uncorrupted; a server host's figures, if it has one."""
    if server is not None and not server.alive():
        tail = server.stderr_tail()
        raise CaseFailed(
            f"backend {case.backend!r} died mid-case (exit status {server.process.returncode}): "
            f"{_last_line(tail)}",
            tail,
        )
    figures = None
    if remote is not None:
        figures = remote.finish(_window(load), float((load or {}).get("elapsed_s") or 0.0))
        if not figures["alive"]:
            tail = figures["stderr_tail"]
            raise CaseFailed(
                f"backend {case.backend!r} died mid-case on the server's host (exit status "
                f"{figures['exit_status']}): {_last_line(tail)}",
                tail,
            )
    if status == EXIT_CORRUPTED or (load is not None and load.get("corrupted")):
        raise CaseFailed(
            f"the load client found corrupted echoes: {_last_line(client_tail)}",
            server.stderr_tail() if server else None,
        )
    empty = nothing_measured(load) if load is not None else None
    if empty is not None:
        raise CaseFailed(empty, server.stderr_tail() if server else None)
    if load is not None and status == EXIT_ERRORS:
        errors = {k: v for k, v in (load.get("errors") or {}).items() if v}
        stopped = f", stopped: {load['stop_reason']}" if load.get("stop_reason") else ""
        raise CaseFailed(
            f"the load client saw errors {errors or '(none counted)'}{stopped}",
            server.stderr_tail() if server else None,
        )
    if status != 0 or load is None:
        what = "could not connect or was misused" if status == EXIT_USAGE else "failed"
        raise CaseFailed(
            f"the load client {what} (exit status {status}): {_last_line(client_tail)}",
            server.stderr_tail() if server else None,
        )
    if not load.get("complete", False):
        raise CaseFailed(
            f"the load client stopped early: {load.get('stop_reason') or 'no reason given'}",
            server.stderr_tail() if server else None,
        )
    return figures


def _hold(
    client: subprocess.Popen[bytes],
    read: Callable[[], dict[str, Any]],
    deadline: float,
    stopping: Callable[[], bool],
    server_tail: Callable[[], str | None],
) -> dict[str, Any]:
    """Read the server's footprint (``read``) while the held client's connections sit
    idle, then let the load start; ``{}`` when the client ended first (its exit status
    says why)."""
    try:
        _footprint.wait_connected(client, deadline, stopping)
        footprint = read()
    except _footprint.Stopped as exc:
        if stopping():
            raise Interrupted from None
        if client.poll() is None:
            raise CaseFailed(str(exc), server_tail()) from None
        return {}
    if stopping():
        raise Interrupted
    assert client.stdin is not None
    try:
        client.stdin.write(b"go\n")
        client.stdin.close()
    except OSError:
        pass  # it is gone; its exit status says why
    return footprint


def _read_load(path: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _client_window(load: dict[str, Any], sampler: TreeSampler) -> dict[str, float] | None:
    """Server CPU over the client's own measured window, when the samples cover it."""
    try:
        start = datetime.fromisoformat(str(load["started_at"])).timestamp()
        end = datetime.fromisoformat(str(load["finished_at"])).timestamp()
    except (KeyError, ValueError):
        return None
    return sampler.between(start, end)


def _window(load: dict[str, Any] | None) -> tuple[str, str] | None:
    if load is None or not load.get("started_at") or not load.get("finished_at"):
        return None
    return str(load["started_at"]), str(load["finished_at"])


def _server_cpu(
    window: dict[str, float] | None, busiest: dict[str, float], cpus: int, processes: int
) -> dict[str, Any]:
    """The repeat's ``server_cpu``: over the client's window, else the busiest as long."""
    source = "client-window"
    if window is None:
        window, source = busiest, "busiest-window"
    cores = _verdict.capacity(cpus, processes)
    return {
        **window,
        "window_source": source,
        "capacity": cores,
        "utilization": window["cores_used"] / cores,
    }


def _without_lag_instants(load: dict[str, Any]) -> dict[str, Any]:
    """When each lag was read serves a kernel trace of the same run (``echobench
    client-lag``); a repeat has none, and a thousand instants a point would swell a
    sweep's file."""
    if not load.get("rate"):
        return load
    rate = {k: v for k, v in load["rate"].items() if k not in LAG_INSTANT_KEYS}
    return {**load, "rate": rate}


def _record(
    load: dict[str, Any],
    sampler: TreeSampler | None,
    server: RunningServer | None,
    settings: MeasureSettings,
    placement: Placement,
    remote: RemoteServer | None = None,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    load = _without_lag_instants(load)
    elapsed = float(load.get("elapsed_s") or settings.duration)
    server_cpu: dict[str, Any] | None = None
    rss: int | None = None
    server_cpus: list[int] | None = None
    processes: int | None = None
    if sampler is not None and server is not None:
        server_cpu = _server_cpu(
            _client_window(load, sampler),
            sampler.busiest(elapsed),
            len(placement.server_cpus),
            sampler.processes,
        )
        rss = sampler.peak_rss()
        server_cpus, processes = list(placement.server_cpus), sampler.processes
    elif figures is not None:
        processes = int(figures["processes"])
        server_cpu = _server_cpu(
            figures["window"], figures["busiest"], len(figures["cpus"]), processes
        )
        rss, server_cpus = int(figures["peak_rss"]), list(figures["cpus"])
    client_cpu = dict(load.get("client_cpu") or {})
    workers = int((load.get("params") or {}).get("workers") or settings.workers or 1)
    cluster = load.get("cluster")
    if cluster is not None:
        # The client's CPUs are the cluster's: one core per shard, as many as its hosts have.
        client_cores = max(1, int(cluster.get("client_capacity") or workers))
    else:
        client_cores = _verdict.capacity(len(placement.client_cpus), workers)
    client_cpu["capacity"] = client_cores
    client_cpu["utilization"] = float(client_cpu.get("cores_used") or 0.0) / client_cores
    latency = load.get("latency_us") or {}
    server_utilization = server_cpu["utilization"] if server_cpu else None
    open_loop = _open_loop(load, elapsed, latency.get("p99"))
    network = bool((cluster or {}).get("network_limited"))
    if open_loop is None:
        verdict = _verdict.verdict(
            server_utilization, client_cpu["utilization"], network_limited=network
        )
    else:
        verdict = _verdict.open_loop_verdict(
            server_utilization, open_loop["client_behind"], network
        )
    connect = load.get("connect") or {}
    fairness = load.get("fairness") or {}
    idle = load.get("idle") or {}
    return {
        "connect_seconds": connect.get("seconds"),
        "connect_per_second": connect.get("per_second"),
        "jain": fairness.get("jain"),
        "starved": fairness.get("starved"),
        "idle_dropped": idle.get("dropped"),
        "idle_closed": idle.get("closed"),
        "messages_per_second": float(load["messages_per_second"]),
        "p99_us": latency.get("p99"),
        "placement": {
            "server_cpus": server_cpus,
            "client_cpus": list(placement.client_cpus) if cluster is None else None,
            "server_processes": processes,
            "load_workers": workers,
            "cluster": settings.cluster,
        },
        "server_cpu": server_cpu,
        "server_rss_peak_bytes": rss,
        "server_host": _server_host_field(remote, figures),
        "client_cpu": client_cpu,
        "open_loop": open_loop,
        "verdict": verdict,
        "load": load,
    }


def _server_host_field(
    remote: RemoteServer | None, figures: dict[str, Any] | None
) -> dict[str, Any] | None:
    if remote is None or figures is None:
        return None
    return {
        "worker": remote.worker.address,
        "host": remote.worker.host,
        "hostname": figures["hostname"],
        "started": remote.started,
        "clock_offset_s": figures["clock_offset_s"],
        "interference": figures["interference"],
    }


def _open_loop(
    load: dict[str, Any], window_s: float, p99_us: float | None
) -> dict[str, Any] | None:
    """Whether an open-loop repeat held its rate, and whether its client kept its schedule."""
    rate = load.get("rate")
    if not isinstance(rate, dict):
        return None
    lag = float(rate.get("max_send_lag_us") or 0.0)
    pause = client_pause_us(load.get("client_pauses") or {})
    return {
        "target": float(rate["target"]),
        "achieved": float(rate["achieved"]),
        "met": bool(rate["met"]),
        "max_send_lag_us": lag,
        "max_pause_us": pause,
        "late_messages": rate.get("late_messages"),
        "messages": int(load.get("messages") or 0),
        "lag_limit_us": round(_verdict.lag_limit_us(window_s, p99_us), 3),
        # The client's own pauses hold up its sends as its lag does.
        "client_behind": _verdict.behind_schedule(max(lag, pause), window_s, p99_us),
    }


def client_pause_us(pauses: dict[str, Any]) -> float:
    """The load client's longest own pause in the window [µs]: a step of its recorder,
    a garbage collection, or its parent's work on an interval."""
    keys = ("max_fold_us", "gc_max_pause_us", "parent_max_us")
    return max(float(pauses.get(key) or 0.0) for key in keys)
