"""What charts, the report and compare read from a results file.

The runner's file (``runner._results_schema``) is validated by its own loader, then
read here by key with defaults, so a file from an interrupted run (no summary
yet, a repeat without a histogram, a ``--connect`` run without server CPU)
still draws what it holds. A pytest-benchmark JSON file is recognised by its
keys and returned as such.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from echobench.benchmarks.runner import _verdict
from echobench.benchmarks.runner._interference import counted, disturbed
from echobench.servers._errors import UserError


@dataclass(frozen=True)
class Repeat:
    messages_per_second: float
    p99_us: float | None
    messages: int | None
    server_cpu_seconds: float | None
    server_cores_used: float | None
    per_second: tuple[int, ...]
    histogram: dict[str, Any] | None
    verdict: str
    #: Throughput [msg/s] in each interval of the measured window: the load's ``series``
    #: (per 100 ms) when it has one, else its ``per_second``; ``series_interval_s`` long each.
    series: tuple[float, ...] = ()
    series_interval_s: float = 1.0
    #: The repeat's HdrHistogram interval log, relative to the results file's folder.
    hlog: str | None = None
    #: Open loop: whether the load met its target rate (None in a closed loop).
    rate_met: bool | None = None

    @property
    def messages_per_server_cpu_second(self) -> float | None:
        # As the runner's summary computes it (msgs/s over cores used), so that a repeat's
        # figure and the stored median agree; a single repeat must show no spread.
        if self.server_cores_used:
            return self.messages_per_second / self.server_cores_used
        if self.messages is None or not self.server_cpu_seconds:
            return None
        return self.messages / self.server_cpu_seconds


@dataclass(frozen=True)
class CaseView:
    id: str
    backend: str
    family: str
    transport: str
    size: int
    connections: int
    rate: float | None
    mode: str
    status: str
    error: str | None
    stderr_tail: str | None
    repeats: tuple[Repeat, ...]
    summary: dict[str, Any] = field(repr=False)
    idle: int = 0  # extra silent connections held open (``--connections A+I``)
    #: Repeats in the file that the host disturbed and that ``repeats`` leaves out.
    disturbed_repeats: int = 0
    readline: int = 0  # vmbench's readline mode: lines per message (0: plain bytes)

    @property
    def ok(self) -> bool:
        return bool(self.repeats)

    @property
    def slice_key(self) -> tuple[str, int, int, float | None, int, int]:
        """The case's parameters without the backend: what backends are compared on."""
        return (self.transport, self.size, self.connections, self.rate, self.idle, self.readline)

    @property
    def throughputs(self) -> list[float]:
        return [r.messages_per_second for r in self.repeats]

    @property
    def p99s(self) -> list[float]:
        return [r.p99_us for r in self.repeats if r.p99_us is not None]

    def _stat(self, metric: str, stat: str, values: list[float]) -> float | None:
        # From the repeats when they are here, so that medians, ranges and tests agree;
        # the stored summary covers files whose repeats lack the field.
        if values:
            if stat == "median":
                return statistics.median(values)
            return min(values) if stat == "min" else max(values)
        stored = self.summary.get(metric)
        if isinstance(stored, dict) and stored.get(stat) is not None:
            return float(stored[stat])
        return None

    def throughput(self, stat: str = "median") -> float | None:
        return self._stat("messages_per_second", stat, self.throughputs)

    def p99(self, stat: str = "median") -> float | None:
        return self._stat("p99_us", stat, self.p99s)

    @property
    def cv(self) -> float | None:
        stored = self.summary.get("messages_per_second")
        if isinstance(stored, dict) and stored.get("cv") is not None:
            return float(stored["cv"])
        values = self.throughputs
        if len(values) < 2:
            return None
        return statistics.stdev(values) / statistics.fmean(values)

    @property
    def disturbed(self) -> bool:
        """Some repeat stayed disturbed (the host took its CPUs and it could not be measured
        again cleanly): the case's numbers are not to be compared."""
        return bool(self.summary.get("disturbed"))

    @property
    def unstable(self) -> bool:
        if "unstable" in self.summary:
            return bool(self.summary["unstable"])
        cv = self.cv
        return cv is not None and cv > 0.05

    @property
    def verdict(self) -> str | None:
        if self.summary.get("verdict"):
            return str(self.summary["verdict"])
        verdicts = [r.verdict for r in self.repeats if r.verdict]
        return _verdict.overall(verdicts) if verdicts else None

    @property
    def client_bound(self) -> bool:
        """The load client limited the msgs/s: verdict ``client``, or ``both`` saturated."""
        if "client_bound" in self.summary:
            return bool(self.summary["client_bound"])
        return _verdict.client_limited(self.verdict)

    @property
    def overloaded(self) -> bool:
        """An open-loop case whose target rate was not met (in most repeats)."""
        if "overloaded" in self.summary:
            return bool(self.summary["overloaded"])
        met = [r.rate_met for r in self.repeats if r.rate_met is not None]
        return bool(met) and 2 * met.count(False) >= len(met)

    @property
    def both_saturated(self) -> bool:
        """Server and client both saturated: the msgs/s is a lower bound for the server."""
        return self.verdict == "both"

    @property
    def efficiencies(self) -> list[float]:
        """Messages per server CPU-second, one per repeat that measured server CPU."""
        values = [r.messages_per_server_cpu_second for r in self.repeats]
        return [v for v in values if v is not None]

    @property
    def efficiency(self) -> float | None:
        stored = self.summary.get("messages_per_server_cpu_second")
        if stored is not None:
            return float(stored)
        values = self.efficiencies
        return statistics.median(values) if values else None

    @property
    def label(self) -> str:
        """The parameters in words, for tables and panel titles."""
        return slice_label(self.slice_key)


def slice_label(key: tuple[str, int, int, float | None, int, int]) -> str:
    transport, size, connections, rate, idle, readline = key
    loop = "closed loop" if rate is None else f"open loop {rate:g} msg/s"
    plural = "" if connections == 1 else "s"
    held = f" (+{idle:,} idle)" if idle else ""
    message = f"{readline} lines of {size} B (readline)" if readline else f"{size} B"
    return f"{message}, {connections} connection{plural}{held}, {loop}" + (
        "" if transport == "tcp" else f", {transport}"
    )


@dataclass(frozen=True)
class Run:
    path: str
    environment: dict[str, Any]
    config: dict[str, Any]
    cases: tuple[CaseView, ...]
    not_run: tuple[str, ...]
    complete: bool
    #: The latency scenario's plan and summary (``runner._results_schema``); {} in other runs.
    latency: dict[str, Any] = field(default_factory=dict)
    #: The conformance gate's outcome per backend (``_schema``); {} without it.
    verification: dict[str, Any] = field(default_factory=dict)
    #: ``placement.awake_how`` of every repeat that kept the server's CPUs awake.
    awake_hows: tuple[str | None, ...] = ()

    def known_failures(self, backend: str) -> list[str]:
        """The checks ``backend`` failed through a known defect of its framework."""
        return [str(c) for c in (self.verification.get(backend) or {}).get("known_failures") or ()]

    def backends(self) -> list[str]:
        """Backends in chart order: by family, then registry order (see ``_palette``)."""
        from echobench.benchmarks.compare._order import backend_order

        return backend_order({c.backend: c.family for c in self.cases})

    def families(self) -> dict[str, str]:
        return {c.backend: c.family for c in self.cases}

    def env_summary(self) -> str:
        return env_summary(self.environment)


def env_summary(env: dict[str, Any]) -> str:
    """One line: Python, CPU, date, commit; what every chart carries."""
    python = env.get("python") or {}
    cpu = env.get("cpu") or {}
    git = env.get("git") or {}
    parts = []
    if python:
        parts.append(f"{python.get('implementation', 'Python')} {python.get('version', '?')}")
    if cpu:
        parts.append(f"{cpu.get('model') or 'unknown CPU'}, {cpu.get('count', '?')} CPUs")
    started = env.get("started_at")
    if started:
        parts.append(str(started)[:10])
    commit = git.get("commit")
    if commit:
        parts.append(f"commit {str(commit)[:8]}{' (dirty)' if git.get('dirty') else ''}")
    return " · ".join(parts) if parts else "environment not recorded"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _repeat(raw: dict[str, Any]) -> Repeat | None:
    load = raw.get("load") or {}
    mps = _number(raw.get("messages_per_second", load.get("messages_per_second")))
    if mps is None:
        return None
    p99 = _number(raw.get("p99_us", (load.get("latency_us") or {}).get("p99")))
    cpu = raw.get("server_cpu") or {}
    cpu_seconds = _number(cpu.get("seconds"))
    if cpu_seconds is None and cpu.get("user_s") is not None:
        cpu_seconds = float(cpu.get("user_s") or 0.0) + float(cpu.get("system_s") or 0.0)
    messages = load.get("messages")
    histogram = load.get("histogram")
    per_second = tuple(int(v) for v in load.get("per_second") or ())
    series, interval = _series(load.get("series"))
    if not series:
        series, interval = tuple(float(v) for v in per_second), 1.0
    return Repeat(
        messages_per_second=mps,
        p99_us=p99,
        messages=int(messages) if isinstance(messages, int | float) else None,
        server_cpu_seconds=cpu_seconds,
        server_cores_used=_number(cpu.get("cores_used")),
        per_second=per_second,
        histogram=histogram if isinstance(histogram, dict) and histogram.get("data") else None,
        verdict=str(raw.get("verdict") or ""),
        series=series,
        series_interval_s=interval,
        hlog=raw["hlog"] if isinstance(raw.get("hlog"), str) else None,
        rate_met=bool(rate["met"]) if isinstance(rate := load.get("rate"), dict) else None,
    )


def _series(raw: object) -> tuple[tuple[float, ...], float]:
    """``{"interval_s", "counts"}`` as msg/s per interval; ``()`` when absent or unusable,
    so that a file from an older or a newer load generator falls back to ``per_second``."""
    if not isinstance(raw, dict):
        return (), 1.0
    interval = _number(raw.get("interval_s"))
    counts = raw.get("counts")
    if interval is None or interval <= 0 or not isinstance(counts, list):
        return (), 1.0
    values = [_number(c) for c in counts]
    if not values or any(v is None or v < 0 for v in values):
        return (), 1.0
    return tuple(float(v or 0.0) / interval for v in values), interval


def _family_of(backend: str) -> str:
    try:
        from echobench.servers._registry import get_backend

        return get_backend(backend).family
    except Exception:
        return "external"


def _case(raw: dict[str, Any]) -> CaseView:
    # The clean repeats alone, as the runner's summary counts them (every one when none is
    # clean; the case is then marked disturbed).
    measured = raw.get("repeats") or ()
    kept = counted(measured)
    repeats = tuple(r for r in (_repeat(x) for x in kept) if r is not None)
    rate = _number(raw.get("rate"))
    backend = str(raw["backend"])
    return CaseView(
        id=str(raw.get("id") or backend),
        backend=backend,
        family=str(raw.get("family") or _family_of(backend)),
        transport=str(raw.get("transport") or "tcp"),
        size=int(raw["size"]),
        connections=int(raw["connections"]),
        rate=rate,
        mode=str(raw.get("mode") or ("closed" if rate is None else "open")),
        status=str(raw.get("status") or ("ok" if repeats else "failed")),
        error=raw.get("error"),
        stderr_tail=raw.get("stderr_tail"),
        repeats=repeats,
        summary=raw.get("summary") or {},
        idle=int(raw.get("idle") or 0),
        disturbed_repeats=sum(1 for r in measured if disturbed(r)),
        readline=int(raw.get("readline") or 0),
    )


def is_pytest_benchmark(doc: object) -> bool:
    return isinstance(doc, dict) and "benchmarks" in doc and "machine_info" in doc


def read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a results file") from None
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None


def run_from_doc(doc: object, where: str) -> Run:
    from echobench.benchmarks.runner._results_schema import validate

    valid = validate(doc, where)
    try:
        cases = tuple(_case(raw) for raw in valid["cases"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: a case lacks a usable field ({exc})") from None
    return Run(
        path=where,
        environment=valid.get("environment") or {},
        config=valid.get("config") or {},
        cases=cases,
        not_run=tuple(str(x) for x in valid.get("not_run") or ()),
        complete=bool(valid.get("complete")),
        latency=valid.get("latency") or {},
        verification=valid.get("verification") or {},
        awake_hows=tuple(
            (r.get("placement") or {}).get("awake_how")
            for c in valid.get("cases") or ()
            for r in c.get("repeats") or ()
            if (r.get("placement") or {}).get("awake_cpus")
        ),
    )


def load_run(path: str | Path) -> Run:
    """Read an ``echobench run`` results file; anything else is a one-line ``UserError``."""
    doc = read_json(path)
    if is_pytest_benchmark(doc):
        raise UserError(f"{path} is a pytest-benchmark file; this command needs an echobench run")
    return run_from_doc(doc, str(path))
