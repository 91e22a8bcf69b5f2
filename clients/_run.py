"""The parent of a load run: starts the workers together, relays progress, merges.

Workers are forked processes; each gets a pipe (see ``echobench.clients._worker``). Counts are
summed, histograms merged with HDR's own ``decode_and_add`` (never percentiles), and
the measured window is the span of the workers' actual window clock readings.
SIGINT/SIGTERM during a run stop the workers, and the partial result is returned.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from time import monotonic_ns
from types import FrameType
from typing import Any, Protocol

from echobench.clients._config import LoadConfig, validate
from echobench.clients._connect import CONNECT_ATTEMPTS, CONNECT_CONCURRENCY, connect_field
from echobench.clients._dependence import merge as merge_dependence
from echobench.clients._fairness import fairness
from echobench.clients._histogram import histogram_field, merge_encoded, summarize
from echobench.clients._idle import idle_field
from echobench.clients._intervals import Intervals
from echobench.clients._load_schema import ERROR_KINDS, SCHEMA, SCHEMA_VERSION
from echobench.clients._recorder import FOLD_SLICE
from echobench.clients._worker import SERIES_INTERVAL_NS, worker_main
from echobench.servers._errors import UserError

#: Margin between agreeing on the start instant and the instant itself.
START_MARGIN_S = 0.1
#: Share of the target rate an open-loop run must achieve to count as met. Messages still
#: in flight at the close are recorded (with their age), so a shortfall is the server's
#: queue growing, and half a percent of it is already a server that fell behind.
RATE_MET_SHARE = 0.995


class ProgressSink(Protocol):
    """What ``run_load`` tells a progress display (see ``echobench.clients._display``)."""

    def started(self, t0_ns: int, warmup: float, duration: float) -> None: ...

    def second(self, index: int, messages: int) -> None: ...

    def interval(self, index: int, seconds: float, latency: dict[str, Any] | None) -> None: ...

    def refresh(self) -> None: ...

    def finished(self) -> None: ...


class StopSignals:
    """Turns SIGINT/SIGTERM into a flag for the duration of a run (main thread only)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Workers:
    def __init__(self, config: LoadConfig) -> None:
        context = multiprocessing.get_context("fork")
        self.pipes: list[Pipe] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(config.workers):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(child_end, config, index),
                name=f"echobench-load-{index}",
                daemon=True,
            )
            process.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.processes.append(process)

    def send_all(self, message: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(message)
            except OSError:
                pass  # that worker is gone; its missing result says so

    def close(self, *, at_once: bool = False) -> None:
        """Wait for the workers to exit; ``at_once`` (a failed set-up) kills them first,
        so no half-open connection storm outlives the run."""
        for process in self.processes:
            if at_once and process.is_alive():
                process.kill()
            process.join(2.0)
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(2.0)
        for pipe in self.pipes:
            pipe.close()


#: Called once every connection is open, before the clock starts, with the ``connect``
#: field and a function that says whether the run is being stopped. An orchestrator
#: uses the pause to measure the server with every connection open and idle.
OnConnected = Callable[[dict[str, Any], Callable[[], bool]], None]
#: Called once the clock is set, with the measured window's nominal start and end
#: (``time.monotonic_ns()`` instants, one clock for every process of the host): an
#: orchestrator reads the host at the window's edges (``echobench run``'s interference).
OnWindow = Callable[[int, int], None]


def run_load(
    config: LoadConfig,
    progress: ProgressSink | None = None,
    on_connected: OnConnected | None = None,
    on_window: OnWindow | None = None,
) -> dict[str, Any]:
    """Run one load test and return its result (schema: ``echobench.clients._load_schema``).

    Raises ``UserError`` for bad input or when no connection could be opened.
    """
    validate(config)
    with StopSignals() as signals:
        workers = _Workers(config)
        failed = True
        try:
            result = _drive(config, workers, signals, progress, on_connected, on_window)
            failed = False
            return result
        finally:
            workers.close(at_once=failed)


def _drive(
    config: LoadConfig,
    workers: _Workers,
    signals: StopSignals,
    progress: ProgressSink | None,
    on_connected: OnConnected | None,
    on_window: OnWindow | None = None,
) -> dict[str, Any]:
    count = config.workers
    by_pipe = {id(pipe): i for i, pipe in enumerate(workers.pipes)}

    # Connection set-up, before any clock starts.
    ready: dict[int, dict[str, int]] = {}
    open_pipes = list(workers.pipes)
    per_worker = (config.connections + config.idle) / count
    setup_deadline = (
        time.monotonic()
        + config.timeout * CONNECT_ATTEMPTS * (1 + per_worker / CONNECT_CONCURRENCY)
        + 30
    )
    while len(ready) < count:
        if signals.received is not None:
            workers.send_all(("stop", "interrupted"))
            raise KeyboardInterrupt
        if time.monotonic() > setup_deadline:
            raise UserError(f"the client's workers did not finish connecting to {config.target}")
        for pipe in wait(open_pipes, timeout=0.2):
            assert isinstance(pipe, Pipe)
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                raise UserError("a load worker exited while connecting") from None
            if message[0] == "error":
                raise UserError(message[1])
            ready[by_pipe[id(pipe)]] = message[2]
            open_pipes.remove(pipe)
    connect = connect_field(list(ready.values()))
    if on_connected is not None:
        assert connect is not None
        on_connected(connect, lambda: signals.received is not None)
        if signals.received is not None:
            workers.send_all(("stop", "interrupted"))
            raise KeyboardInterrupt

    mono_to_wall = time.time_ns() - monotonic_ns()
    t0 = monotonic_ns() + round(START_MARGIN_S * 1e9)
    workers.send_all(("start", t0))
    if on_window is not None:
        opens = t0 + round(config.warmup * 1e9)
        on_window(opens, opens + round(config.duration * 1e9))
    if progress is not None:
        progress.started(t0, config.warmup, config.duration)
    intervals = Intervals(
        count,
        mono_to_wall,
        path=config.hlog,
        header=f"echobench load {describe(config)}; values in ns",
        sink=None if progress is None else interval_sink(progress),
    )
    intervals.window_end_ns = t0 + round((config.warmup + config.duration) * 1e9)
    try:
        results, interrupted = _collect(config, workers, signals, progress, t0, intervals)
    finally:
        intervals.finish(t0 + round(config.warmup * 1e9))
    if progress is not None:
        progress.finished()
    result = merge_results(config, results, mono_to_wall, interrupted, connect)
    result["latency_intervals"] = intervals.summary(config.interval) if config.latency else None
    result["client_pauses"]["parent_max_us"] = (
        round(intervals.in_window_max_cpu_ns / 1e3, 3) if config.latency else None
    )
    return result


def describe(config: LoadConfig) -> str:
    loop = "closed loop" if config.rate is None else f"open loop at {config.rate:g} msgs/s"
    return f"{config.target}, {loop}, {config.connections} conn x {config.size} B"


def interval_sink(progress: ProgressSink) -> Callable[[int, float, Any], None]:
    def sink(index: int, seconds: float, histogram: Any) -> None:
        progress.interval(index, seconds, summarize(histogram))

    return sink


def _collect(
    config: LoadConfig,
    workers: _Workers,
    signals: StopSignals,
    progress: ProgressSink | None,
    t0: int,
    intervals: Intervals,
) -> tuple[dict[int, dict[str, Any]], int | None]:
    count = config.workers
    by_pipe = {id(pipe): i for i, pipe in enumerate(workers.pipes)}

    results: dict[int, dict[str, Any]] = {}
    ticks: dict[int, list[int]] = {}
    nominal_end = t0 + round((config.warmup + config.duration) * 1e9)
    # A worker closes its window by itself; past this, something is wedged.
    overdue = nominal_end + round((config.timeout + 10) * 1e9)
    stop_sent = False
    interrupted: int | None = None
    open_pipes = list(workers.pipes)
    while open_pipes:
        if signals.received is not None and not stop_sent:
            interrupted = signals.received
            workers.send_all(("stop", f"interrupted by {signal.Signals(interrupted).name}"))
            stop_sent = True
            overdue = min(overdue, monotonic_ns() + 5_000_000_000)
        if monotonic_ns() > overdue:
            if not stop_sent:
                workers.send_all(("stop", "the worker overran its window"))
                stop_sent = True
                overdue = monotonic_ns() + 5_000_000_000
            else:
                break
        for pipe in wait(open_pipes, timeout=0.2):
            assert isinstance(pipe, Pipe)
            index = by_pipe[id(pipe)]
            try:
                message = pipe.recv()
            except (EOFError, OSError):
                open_pipes.remove(pipe)
                continue
            if message[0] == "tick":
                second, messages = int(message[1]), int(message[2])
                got = ticks.setdefault(second, [])
                got.append(messages)
                if progress is not None and len(got) == count:
                    progress.second(second, sum(got))
            elif message[0] == "interval":
                intervals.add(int(message[1]), message[2], int(message[3]), int(message[4]))
            elif message[0] == "result":
                results[index] = message[1]
                open_pipes.remove(pipe)
        if progress is not None:
            progress.refresh()
    return results, interrupted


def merge_results(
    config: LoadConfig,
    results: dict[int, dict[str, Any]],
    mono_to_wall: int,
    interrupted: int | None = None,
    connect: dict[str, Any] | None = None,
    missing_why: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Combine the workers' reports into one result.

    ``missing_why`` says, in words, why a worker has no report (a lost cluster shard).
    """
    parts = [results[i] for i in sorted(results)]
    missing = [i for i in range(config.workers) if i not in results]
    if parts:
        start_ns = min(p["win_start_ns"] for p in parts)
        end_ns = max(p["win_end_ns"] for p in parts)
    else:
        start_ns = end_ns = monotonic_ns()
    elapsed = max(0, end_ns - start_ns) / 1e9
    messages = sum(p["messages"] for p in parts)
    nbytes = messages * config.message_bytes
    errors = dict.fromkeys(ERROR_KINDS, 0)
    for part in parts:
        for kind, n in part["errors"].items():
            errors[kind] += n
        errors["mismatch"] += part["mismatched"]
    corrupted_bytes = sum(p["corrupted_bytes"] for p in parts)
    lost = sum(p["lost"] for p in parts)

    per_second = _sum_by_index([p["per_second"] for p in parts])
    series = _sum_by_index([p["series"] for p in parts])
    rate_per_s = messages / elapsed if elapsed > 0 else 0.0

    reasons = _stop_reasons(config, parts, missing, errors, lost, interrupted, missing_why)
    complete = not reasons and all(p["complete"] for p in parts)
    rate = _open_loop_rate(config, parts, rate_per_s)

    def iso(ns: int) -> str:
        return datetime.fromtimestamp((ns + mono_to_wall) / 1e9, UTC).isoformat()

    error_total = sum(errors.values())
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "params": config.params(),
        "mode": config.mode,
        "started_at": iso(start_ns),
        "finished_at": iso(end_ns),
        "complete": complete,
        "stop_reason": "; ".join(reasons) if reasons else None,
        "elapsed_s": round(elapsed, 6),
        "messages": messages,
        "bytes": nbytes,
        "messages_per_second": round(rate_per_s, 3),
        "mib_per_second": round(nbytes / 2**20 / elapsed, 3) if elapsed > 0 else 0.0,
        **_latency_fields(config, parts),
        "errors": errors,
        "error_total": error_total,
        "corrupted_bytes": corrupted_bytes,
        "corrupted": corrupted_bytes > 0 or errors["mismatch"] > 0,
        "per_second": per_second,
        "series": {"interval_s": SERIES_INTERVAL_NS / 1e9, "counts": series},
        "rate": rate,
        **_client_cpu(parts, elapsed, messages),
        "sent": sum(p["sent"] for p in parts) if config.rate is not None else None,
        "connections_lost": lost,
        "client_rss_peak_bytes": sum(p["max_rss_bytes"] for p in parts) if parts else None,
        "loop": parts[0]["loop"] if parts else None,
        "interrupted": signal.Signals(interrupted).name if interrupted is not None else None,
        "connect": connect,
        "fairness": fairness([n for p in parts for n in p["per_connection"]]),
        "idle": _idle(config, parts, missing),
    }


def _latency_fields(config: LoadConfig, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The merged latency: the summary and the encoded histogram (the workers' histograms
    merged exactly), values out of range, the client's own pauses and the latency's
    dependence on the schedule."""
    latency = histogram = None
    if config.latency and parts:
        merged = merge_encoded(p["histogram"] for p in parts if p["histogram"] is not None)
        latency = summarize(merged)
        histogram = histogram_field(merged)
    return {
        "latency_us": latency,
        "latency_out_of_range": sum(p["out_of_range"] for p in parts),
        "client_pauses": _pauses(parts),
        "latency_dependence": merge_dependence(
            [p["dependence"] for p in parts if p.get("dependence") is not None]
        ),
        "latency_intervals": None,  # run_load and run_cluster_load fill it in
        "histogram": histogram,
    }


def _client_cpu(parts: list[dict[str, Any]], elapsed: float, messages: int) -> dict[str, Any]:
    """The workers' CPU time, over the window and per message."""
    user = sum(p["user_s"] for p in parts)
    system = sum(p["system_s"] for p in parts)
    return {
        "client_cpu": {
            "user_s": round(user, 6),
            "system_s": round(system, 6),
            "seconds": round(user + system, 6),
            "cores_used": round((user + system) / elapsed, 4) if elapsed > 0 else 0.0,
            "pids": [p.get("pid") for p in parts],
        },
        "cpu_us_per_message": round((user + system) / messages * 1e6, 4) if messages else None,
    }


def _sum_by_index(lists: list[list[int]]) -> list[int]:
    """The workers' counts added slot by slot (a shorter list counts 0 past its end)."""
    width = max((len(counts) for counts in lists), default=0)
    return [sum(counts[k] for counts in lists if k < len(counts)) for k in range(width)]


def _stop_reasons(
    config: LoadConfig,
    parts: list[dict[str, Any]],
    missing: list[int],
    errors: dict[str, int],
    lost: int,
    interrupted: int | None,
    missing_why: Mapping[int, str] | None,
) -> list[str]:
    """Why the run is incomplete, in words: a signal, workers without a report,
    connections that ended early, and each worker's own reason."""
    reasons: list[str] = []
    if interrupted is not None:
        reasons.append(f"interrupted by {signal.Signals(interrupted).name}")
    if missing and missing_why:
        reasons += [missing_why.get(i, f"worker {i} sent no result") for i in missing]
    elif missing:
        reasons.append(f"worker(s) {', '.join(map(str, missing))} sent no result")
    if lost:
        kinds = ", ".join(
            f"{kind} {errors[kind]}"
            for kind in ("eof", "reset", "timeout", "other")
            if errors[kind]
        )
        reasons.append(f"{lost} of {config.connections} connections ended early ({kinds})")
    for part in parts:
        reason = part["stop_reason"]
        if reason and not reason.startswith("interrupted") and reason not in reasons:
            reasons.append(reason)
    return reasons


def _open_loop_rate(
    config: LoadConfig, parts: list[dict[str, Any]], rate_per_s: float
) -> dict[str, Any] | None:
    """An open loop's ``rate``: target, achieved, whether it was met, and how far the
    client fell behind its schedule; None in a closed loop."""
    if config.rate is None:
        return None
    # Each worker's own rate over its own window: the windows open a little apart, and
    # their span would understate the rate by that much.
    held = sum(
        p["messages"] * 1e9 / (p["win_end_ns"] - p["win_start_ns"])
        for p in parts
        if p["win_end_ns"] > p["win_start_ns"]
    )
    return {
        "target": config.rate,
        "achieved": round(rate_per_s, 3),
        "met": held >= RATE_MET_SHARE * config.rate,
        "in_flight_at_close": sum(p.get("in_flight_at_close", 0) for p in parts),
        "unsent_at_close": sum(p.get("unsent_at_close", 0) for p in parts),
        "late_messages": _late([p.get("late") for p in parts]),
        "max_send_lag_us": round(max((p["max_lag_ns"] for p in parts), default=0) / 1e3, 3),
        "max_send_lag_per_second_us": _per_second_max([p["lag_per_second_ns"] for p in parts]),
        "max_send_lag_per_second_at_ns": _per_second_at(parts),
        "lag_events": sorted(
            [at, round(lag / 1e3, 3)] for p in parts for at, lag in p.get("lag_events", [])
        ),
        "lag_events_dropped": sum(p.get("lag_events_dropped", 0) for p in parts),
    }


def _idle(
    config: LoadConfig, parts: list[dict[str, Any]], missing: list[int]
) -> dict[str, Any] | None:
    if not config.idle:
        return None
    if missing or any(p["idle_held"] is None for p in parts):
        return {"requested": config.idle, "held": None, "dropped": None, "closed": None}
    held = sum(p["idle_held"][0] for p in parts)
    return idle_field(config.idle, held, sum(p["idle_held"][1] for p in parts))


def _late(parts: list[dict[str, int] | None]) -> dict[str, int] | None:
    """The workers' late-message counts summed, by threshold (µs)."""
    known = [p for p in parts if p is not None]
    if not known:
        return None
    return {key: sum(p.get(key, 0) for p in known) for key in known[0]}


def _per_second_max(lists: list[list[int]]) -> list[float]:
    width = max((len(values) for values in lists), default=0)
    return [
        round(max(values[k] for values in lists if k < len(values)) / 1e3, 3) for k in range(width)
    ]


def _per_second_at(parts: list[dict[str, Any]]) -> list[int]:
    """When each second's largest lag was read, from the worker that had it."""
    width = max((len(p["lag_per_second_ns"]) for p in parts), default=0)
    ats = []
    for k in range(width):
        having = [p for p in parts if k < len(p["lag_per_second_ns"])]
        top = max(having, key=lambda p: p["lag_per_second_ns"][k])
        ats.append(top.get("lag_at_per_second_ns", [0] * width)[k])
    return ats


def _share(part_ns: int, whole_ns: int) -> float | None:
    return round(part_ns / whole_ns, 5) if whole_ns > 0 else None


def _pauses(parts: list[dict[str, Any]]) -> dict[str, Any]:
    folds = [p["recorder"] for p in parts if p["recorder"] is not None]
    collections = [sum(p["gc"]["collections"][g] for p in parts) for g in range(3)]
    held = [p.get("memory") or {} for p in parts]
    return {
        "folds": sum(f["steps"] for f in folds) if folds else None,
        "max_fold_us": round(max(f["max_step_ns"] for f in folds) / 1e3, 3) if folds else None,
        "max_fold_cpu_us": (
            round(max(f["max_step_cpu_ns"] for f in folds) / 1e3, 3) if folds else None
        ),
        "max_fold_samples": max(f["max_step_samples"] for f in folds) if folds else None,
        "fold_slice": FOLD_SLICE if folds else None,
        "fold_cpu_share": _share(
            sum(f.get("step_cpu_ns", 0) for f in folds),
            sum(p["win_end_ns"] - p["win_start_ns"] for p in parts if p["recorder"] is not None),
        )
        if folds
        else None,
        "deferred": all(f.get("deferred", False) for f in folds) if folds else None,
        "counted_after_ms": (
            round(max(f.get("after_ns", 0) for f in folds) / 1e6, 3) if folds else None
        ),
        "major_faults": sum(p.get("major_faults", 0) for p in parts),
        "preempted": sum(p.get("preempted", 0) for p in parts),
        "memory_locked": bool(held) and all(h.get("locked") for h in held),
        "huge_pages_off": bool(held) and all(h.get("huge_pages_off") for h in held),
        "memory_not_held": next((h["why_not"] for h in held if h.get("why_not")), None),
        "nice": max((p["priority"]["nice"] for p in parts if p.get("priority")), default=None),
        "nice_not_set": next(
            (p["priority"]["why_not"] for p in parts if (p.get("priority") or {}).get("why_not")),
            None,
        ),
        "gc_frozen": True,
        "gc_disabled": all(p["gc"].get("disabled", False) for p in parts) if parts else False,
        "gc_collections": collections,
        "gc_max_pause_us": round(max((p["gc"]["max_pause_ns"] for p in parts), default=0) / 1e3, 3),
    }
