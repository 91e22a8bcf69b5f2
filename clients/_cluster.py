"""The parent of a cluster load (``echobench load --cluster``): shards on Dask distributed.

The connections are split into one shard per Dask worker process, exactly as local
runs split them over workers (shard ``i`` of ``n`` owns ``connections_of(i)``). Each
shard is a task pinned to its worker that runs one ordinary load worker
(``echobench.clients._shard``). Dask is the only coordinator: the tasks, the readiness queue,
the ``start`` variable (one instant on the scheduler's clock every shard starts
at), the ``stop`` event and the worker
membership the parent watches are all the engine's; nothing here opens a socket of
its own to the workers.

The shards' windows are put on one time base, the scheduler's clock, with Dask's own
per-worker estimate of the clock offset (taken from its heartbeats, good to about half
a heartbeat round trip), and then merged by ``echobench.clients._run.merge_results``, the very
function that merges local workers, so every field of a local result means the same
here. A worker lost mid-run leaves a result that is ``complete: false`` and names it;
the surviving shards are still merged.

With ``--hlog`` the shards relay each latency interval's counts over the run's queue,
already on the scheduler's clock, and the parent merges interval ``k`` of every shard
into one log (``_intervals``, as for local workers): all shards open their windows
from one agreed instant, so interval ``k`` covers the same span on every host to within
the start spread and the clock uncertainty, both recorded and far below an interval;
each shard's whole-window histogram is in ``shards``.

Each shard also reports what its host's link carried and whether its queue held
packets back (``_link``): a client link that limited the run is named in
``cluster.network_limited``.

May import ``_certs``, ``_config``, ``_connect``, ``_histogram``, ``_intervals``,
``_run`` and ``_shard``; imports
``distributed`` only when a run starts, so ``echobench load`` works without it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from time import monotonic_ns
from typing import Any

from echobench.clients._certs import CertFiles
from echobench.clients._config import LoadConfig, validate
from echobench.clients._connect import CONNECT_ATTEMPTS, CONNECT_CONCURRENCY, connect_field
from echobench.clients._histogram import Counts, histogram_field, merge_encoded, summarize
from echobench.clients._intervals import Intervals
from echobench.clients._run import (
    OnConnected,
    ProgressSink,
    StopSignals,
    describe,
    interval_sink,
    merge_results,
)
from echobench.clients._shard import ShardSpec, run_shard
from echobench.servers._errors import UserError

#: Dask settings for a cluster that only drives load: environment variables for
#: ``dask scheduler`` and ``dask worker`` (docs/cluster.md). Dask's defaults
#: wake each of its processes many times a second (a 10 ms sampling profiler, a 20 ms
#: event-loop tick, psutil system and memory monitors, work stealing); a scheduler and
#: two idle workers took about a tenth of a core with them and a hundredth without,
#: cycles taken from the load processes on the same CPUs. None of them matters to tasks
#: pinned to their workers that run for seconds.
QUIET_DASK = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "5s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    "DASK_DISTRIBUTED__SCHEDULER__WORK_STEALING": "False",
}
#: Seconds to reach the scheduler before giving up.
CONNECT_TIMEOUT_S = 10.0
#: How far ahead of the scheduler's clock the shards' common start instant is set: the
#: time for the word to reach every shard (a busy machine took up to 7 ms; one across
#: a WAN, tens).
CLUSTER_START_MARGIN_S = 0.25
#: Seconds a TLS scheduler has to accept or refuse this client's certificate.
TLS_VERDICT_S = 2.0
#: The Dask resource that marks a worker on the server's host (``--resources server=1``):
#: it never runs a load shard.
SERVER_RESOURCE = "server"
#: How often the parent polls the queue and the tasks, and the cluster's membership.
POLL_SECONDS = 0.2
MEMBERSHIP_SECONDS = 1.0


@dataclass(frozen=True)
class Member:
    """A Dask worker process as the scheduler sees it; ``instance`` (its scratch directory,
    fresh for every process) tells a restarted worker from the one that was lost."""

    address: str
    host: str
    instance: str
    serves: bool = False  # holds the ``server`` resource: it runs the server, not load


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UserError(
            "--cluster needs Dask distributed: pip install 'echobench[cluster]'"
        ) from None
    return distributed


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Keep Dask's log lines (reconnect attempts, closing comms) off the user's stderr:
    every failure this module cares about is reported as one line of its own."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def security(address: str, certs: str | None) -> Any:
    """The ``distributed.Security`` the parent connects with: the client certificate in
    ``certs`` (a folder made by ``echobench cluster-certs``), else Dask's own
    configuration (``distributed.comm.tls.*``); ``UserError`` when a ``tls://`` address
    has no certificate to show."""
    distributed = _import_distributed()
    if certs is not None:
        files = CertFiles(Path(certs))
        missing = files.missing("client")
        if missing:
            raise UserError(
                f"--cluster-certs {certs}: no {', '.join(p.name for p in missing)} there "
                "(make them with: echobench cluster-certs DIR)"
            )
        if not address.startswith("tls://"):
            raise UserError(
                f"--cluster-certs secures a tls:// scheduler, not {address} "
                "(start it with: dask scheduler --protocol tls ...)"
            )
        return distributed.Security(
            tls_ca_file=str(files.ca),
            tls_client_cert=str(files.cert("client")),
            tls_client_key=str(files.key("client")),
            require_encryption=True,
        )
    configured = distributed.Security()
    if address.startswith("tls://") and not (configured.tls_ca_file and configured.tls_client_cert):
        raise UserError(
            f"{address} needs a client certificate: give --cluster-certs DIR (from echobench "
            "cluster-certs) or set distributed.comm.tls.ca-file and .client.cert/.key in "
            "Dask's configuration"
        )
    if configured.require_encryption and not address.startswith("tls://"):
        raise UserError(
            "Dask's configuration requires encryption (distributed.comm.require-encryption), "
            f"so {address} cannot be used: give a tls:// address"
        )
    return configured


def _probe(address: str, secured: Any) -> None:
    """Fail at once, with the system's reason, when nothing listens at a TCP address, or
    when a TLS scheduler refuses this client's certificate (or shows one the client's CA
    did not sign); Dask itself would retry until its timeout and then only say that it
    timed out."""
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme not in ("tcp", "tls"):
        return
    host, port = parse_host_port(location)
    try:
        raw = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except socket.gaierror as exc:
        raise UserError(f"cannot resolve the scheduler's host {host!r}: {exc.strerror}") from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler at {address}: {why}") from None
    if scheme == "tcp":
        raw.close()
        return
    context = secured.get_connection_args("client")["ssl_context"]
    try:
        with context.wrap_socket(raw) as tls:
            # A TLS 1.3 server judges the client's certificate after the handshake has
            # completed on this side: its verdict is the first thing read. An accepted
            # client reads Dask's own greeting instead.
            tls.settimeout(TLS_VERDICT_S)
            tls.recv(1)
    except ssl.SSLCertVerificationError as exc:
        raise UserError(
            f"the Dask scheduler at {address} showed a certificate that this client's CA "
            f"did not sign ({exc.verify_message})"
        ) from None
    except ssl.SSLError as exc:
        raise UserError(
            f"the Dask scheduler at {address} refused this client's certificate "
            f"({exc.reason or exc.strerror}): it takes only those its cluster's CA signed"
        ) from None
    except (TimeoutError, ConnectionResetError, BrokenPipeError):
        pass  # no verdict in time, or a reset: Dask's own connect reports what it finds
    finally:
        raw.close()


def connect(address: str, certs: str | None = None) -> Any:
    """A ``distributed.Client`` for ``address``; ``UserError`` (exit 2) if unreachable or
    refused."""
    distributed = _import_distributed()
    if "://" not in address:
        raise UserError(
            f"--cluster takes an address like tls://HOST:8786 or tcp://HOST:8786, not {address!r}"
        )
    secured = security(address, certs)
    _probe(address, secured)
    try:
        return distributed.Client(
            address, timeout=CONNECT_TIMEOUT_S, set_as_default=False, security=secured
        )
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"cannot reach the Dask scheduler at {address}: {reason}") from None


def members(client: Any) -> dict[str, Member]:
    info = client.scheduler_info(n_workers=-1)
    return {
        address: Member(
            address,
            str(worker.get("host", "")),
            str(worker.get("local_directory", "")),
            SERVER_RESOURCE in (worker.get("resources") or {}),
        )
        for address, worker in info["workers"].items()
    }


def run_cluster_load(
    config: LoadConfig,
    address: str,
    progress: ProgressSink | None = None,
    *,
    shards: int | None = None,
    certs: str | None = None,
    on_connected: OnConnected | None = None,
) -> dict[str, Any]:
    """Run one load spread over the Dask cluster at ``address``; the result of ``run_load``
    plus ``cluster`` and ``shards`` (schema: ``echobench.clients._load_schema``).

    ``shards`` limits how many worker processes take part (default: all of them but
    those on the server's host, which hold the ``server`` resource); ``certs`` is the
    folder of ``echobench cluster-certs`` for a ``tls://`` scheduler; ``on_connected``
    is called, as by ``run_load``, once every shard's connections are open and before
    any shard starts.
    """
    distributed = _import_distributed()
    with _quiet_dask():
        client = connect(address, certs)
        try:
            everyone = members(client)
            cluster = {a: m for a, m in everyone.items() if not m.serves}
            if not cluster:
                raise UserError(
                    f"the Dask cluster at {address} has no workers"
                    + (" but the server host's" if everyone else "")
                    + f" (start some on the client hosts with: dask worker {address} --nthreads 1)"
                )
            chosen = _choose(cluster, shards, config.connections, address)
            config = replace(config, workers=len(chosen), cpus=None)
            validate(config)
            with StopSignals() as signals:
                # Shards relay their intervals on the scheduler's clock: the log's times
                # are wall times by that clock, hence no offset here.
                intervals = Intervals(
                    len(chosen),
                    0,
                    path=config.hlog,
                    header=f"echobench load {describe(config)}, {len(chosen)} cluster "
                    "shard(s); values in ns",
                    sink=None if progress is None else interval_sink(progress),
                )
                relay = config.latency and (config.hlog is not None or progress is not None)
                run = _ClusterRun(distributed, client, config, chosen, intervals, relay)
                try:
                    return run.drive(signals, progress, address, len(cluster), on_connected)
                finally:
                    run.close()
                    intervals.finish(time.time_ns())
        finally:
            client.close()


def _choose(
    cluster: dict[str, Member], shards: int | None, connections: int, address: str
) -> list[Member]:
    ordered = sorted(cluster.values(), key=lambda m: (m.host, m.address))
    if shards is None:
        return ordered[: max(1, min(len(ordered), connections))]
    if shards > len(ordered):
        raise UserError(
            f"--workers {shards}: the Dask cluster at {address} has only {len(ordered)} "
            "worker process(es)"
        )
    return ordered[:shards]


class _ClusterRun:
    def __init__(
        self,
        distributed: Any,
        client: Any,
        config: LoadConfig,
        chosen: list[Member],
        intervals: Intervals,
        relay_intervals: bool,
    ) -> None:
        self.intervals = intervals
        self.client = client
        self.config = config
        self.chosen = chosen
        run_id = uuid.uuid4().hex
        ranks: dict[str, int] = {}
        self.specs = []
        for index, member in enumerate(chosen):
            rank = ranks[member.host] = ranks.get(member.host, -1) + 1
            held = len(config.connections_of(index)) + len(config.idle_of(index))
            setup = config.timeout * CONNECT_ATTEMPTS * (1 + held / CONNECT_CONCURRENCY) + 30
            self.specs.append(ShardSpec(config, index, run_id, rank, setup, relay_intervals))
        self.setup_timeout = max(spec.setup_timeout for spec in self.specs)
        spec = self.specs[0]
        self.queue = distributed.Queue(spec.queue_name, client=client)
        self.start = distributed.Variable(spec.start_name, client=client)
        self.stop = distributed.Event(spec.stop_name, client=client)
        self.futures = {
            spec.index: client.submit(
                run_shard,
                spec,
                key=f"echobench-shard-{spec.index}-{run_id}",
                workers=[member.address],
                allow_other_workers=False,
                pure=False,
            )
            for spec, member in zip(self.specs, chosen, strict=True)
        }
        self.lost: dict[int, str] = {}
        self._last_check = 0.0

    def describe(self, index: int) -> str:
        member = self.chosen[index]
        return f"shard {index} (Dask worker {member.address} on {member.host})"

    def close(self) -> None:
        # Also after a run that went well: the shards' stop watchers return at once.
        self.stop.set()
        self.start.set(-1.0)  # releases shards still waiting: no start
        pending = [f for f in self.futures.values() if not f.done()]
        if pending:
            self.client.cancel(pending)

    def _gone(self) -> list[int]:
        """Shards whose worker has left the cluster (or restarted), checked now and then."""
        now = time.monotonic()
        if now - self._last_check < MEMBERSHIP_SECONDS:
            return []
        self._last_check = now
        current = members(self.client)
        return [
            i
            for i, member in enumerate(self.chosen)
            if i in self.futures and current.get(member.address) != member
        ]

    def _abort_interrupted(self) -> KeyboardInterrupt:
        self.stop.set()
        self.start.set(-1.0)
        return KeyboardInterrupt()

    def _abort(self, error: str) -> UserError:
        self.stop.set()
        self.start.set(-1.0)
        return UserError(error)

    def _await_ready(self, signals: StopSignals) -> dict[int, dict[str, int]]:
        """Every shard's connect statistics (on the scheduler's clock) once all are ready."""
        ready: dict[int, dict[str, int]] = {}
        deadline = time.monotonic() + self.setup_timeout
        target = self.config.target
        while len(ready) < len(self.chosen):
            if signals.received is not None:
                raise self._abort_interrupted()
            if time.monotonic() > deadline:
                raise self._abort(f"the cluster's shards did not finish connecting to {target}")
            for message in self.queue.get(batch=True):
                if message[0] == "ready":
                    ready[int(message[1])] = message[2]
                elif message[0] == "error":
                    raise self._abort(f"{self.describe(int(message[1]))}: {message[2]}")
            for index in self._gone():
                raise self._abort(f"{self.describe(index)} left the cluster before the start")
            for index, future in self.futures.items():
                if future.status in ("error", "cancelled"):
                    raise self._abort(f"{self.describe(index)} failed: {_failure(future)}")
            time.sleep(POLL_SECONDS / 2)
        return ready

    def drive(
        self,
        signals: StopSignals,
        progress: ProgressSink | None,
        address: str,
        cluster_size: int,
        on_connected: OnConnected | None = None,
    ) -> dict[str, Any]:
        config = self.config
        ready = self._await_ready(signals)
        if on_connected is not None:
            connect = connect_field(list(ready.values()))
            assert connect is not None
            on_connected(connect, lambda: signals.received is not None)
            if signals.received is not None:
                raise self._abort_interrupted()
        # One instant on the scheduler's clock, far enough ahead for the word to reach
        # every shard; each starts at it by its own clock (``_shard``).
        self.start.set(float(self.client.run_on_scheduler(time.time)) + CLUSTER_START_MARGIN_S)
        t0 = monotonic_ns() + round(CLUSTER_START_MARGIN_S * 1e9)
        if progress is not None:
            progress.started(t0, config.warmup, config.duration)
        outputs: dict[int, dict[str, Any]] = {}
        pending = dict(self.futures)
        ticks: dict[int, list[int]] = {}
        nominal_end = t0 + round((config.warmup + config.duration) * 1e9)
        # A shard closes its window by itself; past this, something is wedged.
        overdue = nominal_end + round((config.timeout + 10) * 1e9)
        stop_sent = False
        interrupted: int | None = None
        while pending:
            if signals.received is not None and not stop_sent:
                interrupted = signals.received
                self.stop.set()
                stop_sent = True
                overdue = min(overdue, monotonic_ns() + 5_000_000_000)
            if monotonic_ns() > overdue:
                if stop_sent:
                    for index in pending:
                        self._lose(index, f"{self.describe(index)} sent no result")
                    break
                self.stop.set()
                stop_sent = True
                overdue = monotonic_ns() + 5_000_000_000
            self._collect(pending, outputs)
            self._relay(ticks, progress)
            if progress is not None:
                progress.refresh()
            if pending:
                time.sleep(POLL_SECONDS)
        # Intervals a lost shard never sent are logged with the others' counts alone.
        self.intervals.finish(time.time_ns())
        if progress is not None:
            progress.finished()
        result = self._merge(outputs, interrupted, address, cluster_size)
        if config.latency:
            result["latency_intervals"] = self.intervals.summary(config.interval)
        return result

    def _collect(self, pending: dict[int, Any], outputs: dict[int, dict[str, Any]]) -> None:
        """Take the shards that finished (or failed, or were lost) out of ``pending``; their
        results into ``outputs``."""
        for index, future in list(pending.items()):
            if not future.done():
                continue
            del pending[index]
            if future.status != "finished":
                self._lose(index, f"{self.describe(index)} failed: {_failure(future)}")
                continue
            output = future.result()
            if "error" in output:
                self._lose(index, f"{self.describe(index)}: {output['error']}")
            else:
                outputs[index] = output
        for index in self._gone():
            if index in pending:
                del pending[index]
                self._lose(index, f"{self.describe(index)} was lost mid-run")

    def _relay(self, ticks: dict[int, list[int]], progress: ProgressSink | None) -> None:
        """The shards' messages: each second's count to the progress line once every shard
        has sent it, and each latency interval into the log."""
        for message in self.queue.get(batch=True):
            if message[0] == "tick":
                got = ticks.setdefault(int(message[2]), [])
                got.append(int(message[3]))
                if progress is not None and len(got) == len(self.chosen) - len(self.lost):
                    progress.second(int(message[2]), sum(got))
            elif message[0] == "interval" and int(message[1]) not in self.lost:
                _, _, k, wire, start, end = message
                self.intervals.add(int(k), Counts.from_wire(wire), int(start), int(end))

    def _lose(self, index: int, why: str) -> None:
        self.lost[index] = why
        self.intervals.drop_worker()

    def _merge(
        self,
        outputs: dict[int, dict[str, Any]],
        interrupted: int | None,
        address: str,
        cluster_size: int,
    ) -> dict[str, Any]:
        parts, connects = _common_time_base(outputs)
        result = merge_results(
            self.config, parts, 0, interrupted, connect_field(connects), missing_why=self.lost
        )
        first = min((p["win_start_ns"] for p in parts.values()), default=0)
        shards = []
        for index, member in enumerate(self.chosen):
            entry: dict[str, Any] = {
                "shard": index,
                "worker": member.address,
                "host": member.host,
                "connections": len(self.config.connections_of(index)),
            }
            part = parts.get(index)
            if part is None:
                entry.update(dict.fromkeys(_PART_FIELDS), lost=True, error=self.lost.get(index))
                entry.update(hostname=None, clock_shift_ns=None, link=None)
            else:
                entry.update(_shard_figures(part, first), lost=False, error=None)
                entry["hostname"] = outputs[index]["host"]
                entry["clock_shift_ns"] = part["clock_shift_ns"]
                entry["link"] = outputs[index].get("link")
            shards.append(entry)
        offsets = [s["start_offset_us"] for s in shards if s["start_offset_us"] is not None]
        clocks = {o["clock"] for o in outputs.values()}
        # Cores the shards could keep busy: one each, as many as their host lets them use.
        on_host: dict[str, list[int]] = {}
        for output in outputs.values():
            on_host.setdefault(output["clock"], []).append(int(output["cpus"]))
        capacity = sum(min(len(cpus), max(cpus)) for cpus in on_host.values())
        # Across hosts the offsets rest on Dask's clock estimates, good to half a round trip.
        latencies = [float(o["latency_s"]) for o in outputs.values()] if len(clocks) > 1 else [0]
        result["params"]["cluster"] = address
        result["cluster"] = {
            "scheduler": address,
            "workers": cluster_size,
            "shards": len(self.chosen),
            "lost": sorted(self.lost),
            "start_spread_us": max(offsets) if offsets else None,
            "hosts": len(clocks),
            "client_capacity": capacity,
            "clock_uncertainty_us": round(max(latencies) / 2 * 1e6, 3) if outputs else None,
            "warnings": _housekeeping(outputs),
            "network_limited": [s["shard"] for s in shards if (s["link"] or {}).get("limited")],
        }
        result["shards"] = shards
        return result


def _housekeeping(outputs: dict[int, dict[str, Any]]) -> list[str]:
    noisy = sum(1 for output in outputs.values() if output.get("dask_profiler"))
    if not noisy:
        return []
    return [
        f"{noisy} of {len(outputs)} Dask worker(s) ran with Dask's default housekeeping (its "
        "sampling profiler on), which takes CPU beside the load: start workers and scheduler "
        "with the settings in docs/cluster.md"
    ]


def _failure(future: Any) -> str:
    """Why a shard's task did not finish: its exception, or what became of it."""
    if future.status == "error":
        return repr(future.exception())
    return f"its task was {future.status}"


#: What a shard entry reports from its own result (nulls for a lost shard).
_PART_FIELDS = (
    "messages",
    "messages_per_second",
    "client_cpu",
    "start_offset_us",
    "latency_us",
    "histogram",
    "complete",
    "stop_reason",
)


def _shard_figures(part: dict[str, Any], first_start_ns: int) -> dict[str, Any]:
    elapsed = max(0, part["win_end_ns"] - part["win_start_ns"]) / 1e9
    cpu = part["user_s"] + part["system_s"]
    histogram = merge_encoded([part["histogram"]]) if part["histogram"] is not None else None
    figures = {
        "messages": part["messages"],
        "messages_per_second": round(part["messages"] / elapsed, 3) if elapsed else 0.0,
        "client_cpu": {
            "user_s": round(part["user_s"], 6),
            "system_s": round(part["system_s"], 6),
            "seconds": round(cpu, 6),
            "cores_used": round(cpu / elapsed, 4) if elapsed else 0.0,
        },
        "start_offset_us": round((part["win_start_ns"] - first_start_ns) / 1e3, 3),
        "latency_us": summarize(histogram) if histogram is not None else None,
        "histogram": histogram_field(histogram) if histogram is not None else None,
        "complete": part["complete"],
        "stop_reason": part["stop_reason"],
    }
    assert set(figures) == set(_PART_FIELDS)
    return figures


def _common_time_base(
    outputs: dict[int, dict[str, Any]],
) -> tuple[dict[int, dict[str, Any]], list[dict[str, int]]]:
    """The shards' results and connect statistics with their monotonic clock readings
    moved to the scheduler's clock.

    A host's shards share one monotonic clock, so they get one shift (the mean of their
    estimates): their offsets from each other stay exact, and only hosts differ by Dask's
    estimate of their clock offset.
    """
    by_clock: dict[str, list[int]] = {}
    for output in outputs.values():
        shift = int(output["mono_to_wall_ns"]) + round(float(output["scheduler_delay_s"]) * 1e9)
        by_clock.setdefault(output["clock"], []).append(shift)
    shifts = {clock: round(sum(s) / len(s)) for clock, s in by_clock.items()}
    parts = {}
    connects = []
    for index, output in outputs.items():
        shift = shifts[output["clock"]]
        part = dict(output["result"])
        part["win_start_ns"] += shift
        part["win_end_ns"] += shift
        part["clock_shift_ns"] = shift
        parts[index] = part
        connect = dict(output["connect"])
        connect["start_ns"] += shift
        connect["end_ns"] += shift
        connects.append(connect)
    return parts, connects
