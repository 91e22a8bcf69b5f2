"""One shard of a cluster load, run as a task on a Dask worker (see ``echobench.clients._cluster``).

The task starts one ordinary load worker (``echobench.clients._worker.worker_main``) as a child
process of the Dask worker and relays between it and the parent over the engine:

* the child opens its connections and answers ``ready`` over its pipe; the task puts
  ``("ready", shard)`` (or ``("error", shard, message)``) on the run's Dask ``Queue``;
* the task waits on the run's ``start`` ``Variable``; once every shard is ready the
  parent sets it to one instant on the scheduler's clock, a margin ahead; the task turns
  that instant into one on its own monotonic clock by Dask's estimate of this host's
  offset from the scheduler (the estimate that also puts its results on the scheduler's
  clock), and hands it to the child. Shards on one machine thus start at the same
  instant of their shared clock, and across machines within the clocks' uncertainty,
  whatever the delay of the message that told each of them (a Dask event woke two
  shards up to 7 ms apart on a busy machine);
* the child's per-second ticks go onto the queue for the parent's live display; the
  run's ``stop`` ``Event`` asks the child to stop early;
* the task returns the child's result untouched, with what the parent needs to put
  every shard's window on one time base: the offset from the child's monotonic clock to
  this host's wall clock, and Dask's own estimate of this worker's clock offset from the
  scheduler's (``Worker.scheduler_delay``, measured on its heartbeats).

The load runs in a child process rather than in the task's thread, so that the Dask
worker's own threads (its event loop, heartbeats, sampling profiler) neither share the
GIL with the measured loop nor count in its CPU time. It is started with ``subprocess``
(a fresh interpreter running this module) because Dask runs its workers as daemonic
processes, which ``multiprocessing`` does not let have children.

May import ``_config``, ``_link``, ``_run`` and ``_worker``; imports
``distributed`` only inside the task, so the module also serves as the child's entry.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from time import monotonic_ns
from typing import Any

from echobench.clients._config import LoadConfig, check_fd_limit
from echobench.clients._link import interface_to, link_field, read, reading_dict
from echobench.clients._worker import worker_main
from echobench.servers._errors import UserError

#: How often the task looks at the child while it connects and runs.
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class ShardSpec:
    """What the parent sends each shard: the run-wide config and this shard's part."""

    config: LoadConfig  # ``workers`` is the number of shards; this shard is ``index``
    index: int
    run_id: str
    cpu_rank: int  # this shard's rank among the shards on its host: picks its CPU
    setup_timeout: float
    relay_intervals: bool = False  # put each latency interval's counts on the queue

    @property
    def queue_name(self) -> str:
        return f"echobench-{self.run_id}-queue"

    @property
    def start_name(self) -> str:
        return f"echobench-{self.run_id}-start"

    @property
    def stop_name(self) -> str:
        return f"echobench-{self.run_id}-stop"


def shard_cpu(rank: int) -> int | None:
    """The CPU for the shard of ``rank`` on this host: one each, from the worker's own set.

    Dask workers started under ``taskset`` (or a cgroup) keep their load children
    inside that set, one per CPU, as ``echobench load --workers`` does locally.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return cpus[rank % len(cpus)] if cpus else None


def clock_id() -> str:
    """Names this process's monotonic clock: shards that share it need no estimate of
    their offset. On Linux: the boot id, and the time namespace, which may offset the
    clock (containers on one machine can each have their own); the host name elsewhere."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        return socket.gethostname()
    try:
        return f"{boot} {os.readlink('/proc/self/ns/time')}"
    except OSError:
        return boot


class _Child:
    """The load worker process and the parent end of its pipe."""

    def __init__(self, spec: ShardSpec) -> None:
        from multiprocessing import Pipe

        self.pipe, child_end = Pipe()
        self.sending = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(child_end.fileno())],
            pass_fds=(child_end.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        child_end.close()
        cpu = shard_cpu(spec.cpu_rank)
        # The interval log is the parent's to write (``--hlog`` names a path over there).
        config = replace(spec.config, cpus=(cpu,) if cpu is not None else None, hlog=None)
        self.pipe.send((config, spec.index))

    def receive(self, timeout: float) -> tuple[Any, ...] | None:
        """The child's next message, ``None`` if none came in time; EOFError if it died."""
        if not self.pipe.poll(timeout):
            return None
        message: tuple[Any, ...] = self.pipe.recv()
        return message

    def send(self, message: tuple[Any, ...]) -> None:
        with self.sending:  # the task's thread and the stop watcher both send
            try:
                self.pipe.send(message)
            except OSError:
                pass  # it has gone; receive() reports that

    def close(self) -> None:
        self.pipe.close()  # the child stops on its own when its pipe closes
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def run_shard(spec: ShardSpec) -> dict[str, Any]:
    """The Dask task: one load worker driven by the parent through the engine."""
    import dask
    from distributed import Event, Queue, Variable, get_worker

    worker = get_worker()
    queue, stop = Queue(spec.queue_name), Event(spec.stop_name)
    start = Variable(spec.start_name)
    where = {
        "worker": worker.address,
        "host": socket.gethostname(),
        "clock": clock_id(),
        "cpus": len(os.sched_getaffinity(0)),
        # Dask's defaults (see QUIET_DASK) are on when this is; the parent says so.
        "dask_profiler": bool(dask.config.get("distributed.worker.profile.enabled", True)),
    }
    config = spec.config
    interface = None
    if config.unix is None and config.port is not None:
        interface = interface_to(config.host, config.port)
    child = _Child(spec)
    _watch(stop, child, spec)
    profiler = _pause_profiler(worker)
    try:
        # Each heartbeat's estimate of this host's clock offset errs by its own round
        # trip's asymmetry; their median errs less than any one of them (single ones
        # erred by up to 4 ms on a busy machine where the offset was truly 0).
        delays = [float(worker.scheduler_delay)]
        connect = _await_ready(child, spec, delays, worker)
        if isinstance(connect, str):
            queue.put(("error", spec.index, connect))
            return {**where, "error": connect}
        # Put on the scheduler's clock here, where this host's estimate is at hand.
        shift = time.time_ns() - monotonic_ns() + round(statistics.median(delays) * 1e9)
        on_scheduler = {**connect, "start_ns": connect["start_ns"] + shift}
        on_scheduler["end_ns"] = connect["end_ns"] + shift
        queue.put(("ready", spec.index, on_scheduler))
        try:
            start_at = float(start.get(timeout=spec.setup_timeout + 30))
        except TimeoutError:
            return {**where, "error": "the parent never gave the start signal"}
        if start_at < 0 or stop.is_set():
            return {**where, "error": "stopped before the start"}
        # The instant on this host's monotonic clock; one already past (the message came
        # later than the margin allowed) is now, and the shard's offset shows it.
        delays.append(float(worker.scheduler_delay))
        local = start_at - statistics.median(delays) - time.time()
        t0 = max(monotonic_ns() + round(local * 1e9), monotonic_ns() + 1_000_000)
        child.send(("start", t0))
        mono_to_wall = time.time_ns() - monotonic_ns()
        # Read within the start margin, before the child's first message goes out.
        link_before = read(interface) if interface is not None else None
        # Intervals travel on the scheduler's clock, by this host's estimate at the start.
        shift = mono_to_wall + round(statistics.median(delays) * 1e9)
        result = _relay(child, spec, queue, shift, delays, worker)
        if isinstance(result, str):
            return {**where, "error": result}
        link_after = read(interface) if interface is not None else None
        return {
            **where,
            "result": result,
            "link": link_field(reading_dict(link_before), reading_dict(link_after)),
            "connect": connect,
            "mono_to_wall_ns": mono_to_wall,
            "scheduler_delay_s": statistics.median(delays),
            "latency_s": float(worker.latency),
        }
    finally:
        profiler()
        child.close()


def _watch(stop: Any, child: _Child, spec: ShardSpec) -> None:
    """Stop the child when the parent sets ``stop``: one long-poll on the scheduler for the
    whole run, rather than a request every few hundred milliseconds. The parent sets it
    when a run ends, too, so the watcher never outlives its run by long."""
    config = spec.config
    longest = spec.setup_timeout + config.warmup + config.duration + config.timeout + 60
    stop.client  # noqa: B018 - binds the task's client here, where get_client() works

    def wait() -> None:
        try:
            if stop.wait(timeout=longest):
                child.send(("stop", "stopped early by the parent"))
        except Exception:
            pass  # the worker is closing; the run ends without this watcher

    threading.Thread(target=wait, name=f"echobench-stop-{spec.index}", daemon=True).start()


def _pause_profiler(worker: Any) -> Callable[[], None]:
    """Pause the Dask worker's sampling profiler while the shard runs; returns the resume.

    It would wake the worker every 10 ms to sample the task's thread (which only relays),
    on the same CPUs as the load process it is meant to leave alone.
    """
    callback = getattr(worker, "periodic_callbacks", {}).get("profile")
    if callback is None or not callback.is_running():
        return lambda: None
    worker.loop.add_callback(callback.stop)
    return lambda: worker.loop.add_callback(callback.start)


def _await_ready(
    child: _Child, spec: ShardSpec, delays: list[float], worker: Any
) -> dict[str, int] | str:
    """The child's connect statistics once it is connected, or why it is not; meanwhile
    Dask's estimates of this host's clock offset go into ``delays``."""
    deadline = time.monotonic() + spec.setup_timeout
    while time.monotonic() < deadline:
        delays.append(float(worker.scheduler_delay))
        try:
            message = child.receive(POLL_SECONDS)
        except (EOFError, OSError):
            return "the load worker exited while connecting"
        if message is not None:
            if message[0] == "ready":
                stats: dict[str, int] = message[2]
                return stats
            return str(message[1])
    return f"did not finish connecting to {spec.config.target} in {spec.setup_timeout:.0f}s"


def _relay(
    child: _Child, spec: ShardSpec, queue: Any, shift: int, delays: list[float], worker: Any
) -> dict[str, Any] | str:
    """Relay the child's messages until its result; meanwhile note Dask's estimate of this
    host's clock offset (refreshed on every heartbeat) into ``delays``."""
    while True:
        delays.append(float(worker.scheduler_delay))
        try:
            message = child.receive(POLL_SECONDS)
        except (EOFError, OSError):
            return "the load worker exited without a result"
        if message is not None:
            if message[0] == "result":
                result: dict[str, Any] = message[1]
                return result
            if message[0] == "tick":
                queue.put(("tick", spec.index, int(message[1]), int(message[2])))
            elif message[0] == "interval" and spec.relay_intervals:
                _, k, counts, start, end = message
                queue.put(("interval", spec.index, k, counts.to_wire(), start + shift, end + shift))


def _child_main(fd: int) -> None:
    pipe = Connection(fd)
    config, index = pipe.recv()
    try:
        check_fd_limit(config)  # also lifts the soft limit, as the parent does locally
    except UserError as exc:
        pipe.send(("error", str(exc)))
        return
    worker_main(pipe, config, index)


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
