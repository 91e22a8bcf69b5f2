"""``echobench repeatability``: do two runs of the same code agree, is injected contention
caught, and what does measuring interference cost? (the measures of issue 19)

Three parts, each a sequence of ``echobench run`` processes as users run them, their files
kept beside the result:

- **aa** (A/A agreement): two back-to-back runs of one matrix, ``repeat`` repeats each.
  For every case disturbed in neither run, B/A of the medians (``compare``'s ratio, with
  its Hodges-Lehmann interval). The claim: every one within ``AA_BAND`` (0.90-1.10).
- **contention**: a run of one case, then the same run while a normal-priority busy loop
  pinned to the server's CPU runs for ``busy_s`` seconds, starting ``busy_after_s`` in.
  The claim: the repeats it overlapped are disturbed and measured again once it stopped,
  and the case's median lands within 10% of the clean run's.
- **awake** (the 1-connection column): 64 B at one connection over ``AWAKE_BACKENDS``,
  two runs with the server's CPUs let idle and two kept awake (``--awake``), alternately;
  whether each ranking repeats (Spearman's rho between its two runs) and which backend
  leads; and at 32 connections what the busy loop costs (awake/idle medians). It judges
  nothing: it is the evidence ``--awake auto`` was chosen on.
- **overhead**: alternating runs of one case with the measurement on and off
  (``--no-interference``), ``pairs`` of each. The claim: the measurement costs under 1%
  of the msgs/s: it holds when the 95% interval of on/off (Hodges-Lehmann) lies above
  0.99, fails when it lies below, and is not settled in between (more pairs narrow it).
  The readings' own cost (``read_ms`` of each repeat) is reported beside it.

Numbers measured in a noisy period are not judged: a part whose host check found the host
busy, or most of whose repeats were disturbed, says so instead of passing or failing
(``noisy``), and ``echobench publish`` reports it.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from echobench.benchmarks.compare._comparison import compare_runs, effect
from echobench.benchmarks.compare._runview import load_run
from echobench.benchmarks.runner._environment import now
from echobench.benchmarks.runner._interference import disturbed
from echobench.benchmarks.runner._isolation import usable_cpus
from echobench.benchmarks.runner._results_schema import load_results, write_results
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command

FILE = "repeatability.json"
#: Where the runs' own files go, beside ``FILE``.
RUNS = "repeatability"
BEGIN, END = "<!-- repeatability:begin -->", "<!-- repeatability:end -->"
AA_BAND = (0.90, 1.10)
CONTENTION_TOLERANCE = 0.10
OVERHEAD_TOLERANCE = 0.01
PARTS = ("aa", "contention", "overhead", "awake")
#: The 1-connection study's backends: the one that "led" the published column idle, its
#: family's plainest, the fastest loops, a thread per connection, and the native ceiling.
AWAKE_BACKENDS = (
    "anyio-asyncio",
    "asyncio-streams",
    "asyncio-protocol",
    "uvloop-protocol",
    "trio",
    "native",
    "selectors",
    "threads",
)
#: And the ones whose 32-connection cost of the busy loop it measures.
AWAKE_COST_BACKENDS = ("asyncio-protocol", "uvloop-protocol", "native")
#: A part most of whose repeats were disturbed measured the host, not the claim.
NOISY_SHARE = 0.5


@dataclass(frozen=True)
class Params:
    #: The A/A matrix: the one the issue's two runs disagreed twofold on, at 6 repeats.
    backends: tuple[str, ...] = ("asyncio-streams", "uvloop-streams", "tornado")
    sizes: tuple[int, ...] = (1024,)
    connections: tuple[int, ...] = (10,)
    repeat: int = 6
    duration: float = 1.0
    warmup: float = 0.5
    #: The case that contention and overhead measure (its backend; the matrix's first
    #: size and connection count).
    backend: str = "asyncio-streams"
    #: The busy loop starts this long after the run's first repeat, for this long.
    busy_after_s: float = 0.5
    busy_s: float = 8.0
    pairs: int = 20
    parts: tuple[str, ...] = PARTS
    #: ``--quiet-timeout`` of the A/A runs (None: the runner's default).
    quiet_timeout: float | None = None

    def matrix(self) -> list[str]:
        return [
            *("--backends", ",".join(self.backends)),
            *("--sizes", ",".join(map(str, self.sizes))),
            *("--connections", ",".join(map(str, self.connections))),
            *("--duration", f"{self.duration:g}", "--warmup", f"{self.warmup:g}"),
        ]

    def one_case(self, repeat: int) -> list[str]:
        """The case contention and overhead measure, unverified and without a host check
        (contention's busy loop would be waited out by it)."""
        return [
            *("--backends", self.backend, "--sizes", str(self.sizes[0])),
            *("--connections", str(self.connections[0]), "--repeat", str(repeat)),
            *("--duration", f"{self.duration:g}", "--warmup", f"{self.warmup:g}"),
            *(*_pinned(), "--no-verify", "--host-check", "0"),
        ]


#: Proves the instrument in about two minutes; settles nothing.
QUICK = Params(
    backends=("asyncio-streams",),
    duration=0.5,
    warmup=0.2,
    busy_after_s=0.2,
    busy_s=3.0,
    pairs=3,
    quiet_timeout=20.0,
)


@dataclass
class Runs:
    """Where the runs' files go, and how each was made."""

    folder: Path
    made: list[dict[str, Any]] = field(default_factory=list)

    def run(self, name: str, options: Sequence[str]) -> dict[str, Any]:
        out = self.folder / f"{name}.json"
        argv = [*echobench_command(), "run", *options, "--out", str(out)]
        started = time.time()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"echobench run for {name} exited with {done.returncode}: {tail[0]}")
        # The runs are kept for their numbers; their interval logs are not.
        shutil.rmtree(out.with_name(f"{out.stem}-hlog"), ignore_errors=True)
        doc = load_results(out)
        for case in doc["cases"]:
            for record in case["repeats"]:
                record.pop("hlog", None)
        write_results(out, doc)
        self.made.append(
            {"name": name, "file": f"{self.folder.name}/{out.name}", "started": started}
        )
        return doc


def _cpus() -> tuple[int, int]:
    cpus = usable_cpus()
    if len(cpus) < 2:
        raise UserError("repeatability needs two CPUs: one for the server, one for the client")
    return cpus[0], cpus[1]


def _pinned() -> list[str]:
    server, client = _cpus()
    return ["--server-cpus", str(server), "--client-cpus", str(client)]


def interference_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What the host took during a run: its host check, and over its repeats the worst
    and the median steal and run delay per side, and how many were disturbed."""
    repeats = [r for case in doc["cases"] for r in case["repeats"]]
    figures: dict[str, Any] = {}
    for kind in ("steal_pct", "run_delay_pct"):
        for side in ("server", "client"):
            values = [
                v
                for r in repeats
                if (v := ((r.get("interference") or {}).get(kind) or {}).get(side)) is not None
            ]
            if values:
                figures[f"{kind}_{side}"] = {
                    "median": round(statistics.median(values), 2),
                    "max": round(max(values), 2),
                }
    check = doc["environment"].get("host_check") or {}
    quiet = check.get("quiet")
    if quiet is False and (check.get("waited") or {}).get("quiet"):
        quiet = True  # it waited until the host was quiet
    return {
        "host_check": check.get("said") or check.get("skipped"),
        "host_quiet": quiet,
        "repeats": len(repeats),
        "disturbed_repeats": sum(1 for r in repeats if disturbed(r)),
        "disturbed_cases": sum(
            1 for c in doc["cases"] if (c.get("summary") or {}).get("disturbed")
        ),
        **figures,
    }


def _noisy(seen: Sequence[dict[str, Any]]) -> str | None:
    """Why numbers measured with this interference are not to be judged, or None."""
    for figures in seen:
        if figures["host_quiet"] is False:
            return f"the host was busy when a run started ({figures['host_check']})"
    total = sum(f["repeats"] for f in seen)
    hit = sum(f["disturbed_repeats"] for f in seen)
    if total and hit > NOISY_SHARE * total:
        return f"{hit} of {total} repeats were disturbed"
    return None


def aa(params: Params, runs: Runs) -> dict[str, Any]:
    options = [*params.matrix(), "--repeat", str(params.repeat), *_pinned()]
    if params.quiet_timeout is not None:
        options += ["--quiet-timeout", f"{params.quiet_timeout:g}"]
    docs = [runs.run("aa-a", options), runs.run("aa-b", options)]
    seen = [interference_of(d) for d in docs]
    table = compare_runs(load_run(runs.folder / "aa-a.json"), load_run(runs.folder / "aa-b.json"))
    rows = []
    for comparison in table.comparisons:
        for pair in comparison.pairs:
            ratio = pair.throughput.ratio.median
            interval = pair.throughput.interval
            excluded = "disturbed" if pair.a.disturbed or pair.b.disturbed else None
            rows.append(
                {
                    "case": pair.b.id,
                    "a": pair.a.throughput(),
                    "b": pair.b.throughput(),
                    "ratio": ratio,
                    "interval": [interval.low, interval.high],
                    "excluded": excluded,
                    "within": None
                    if excluded or ratio is None
                    else AA_BAND[0] <= ratio <= AA_BAND[1],
                }
            )
    judged = [r for r in rows if r["within"] is not None]
    return {
        "runs": seen,
        "cases": rows,
        "judged": len(judged),
        "holds": bool(judged) and all(r["within"] for r in judged),
        "noisy": _noisy(seen),
    }


@dataclass
class BusyLoop:
    """A normal-priority busy process on ``cpu`` for ``seconds``, from ``after_s`` after
    the run writing ``results`` has recorded its first repeat (so that it falls in the
    run's repeats, not its start-up); a thread starts it and reaps it. ``ran`` is when it
    ran, by the wall clock."""

    cpu: int
    results: Path
    after_s: float
    seconds: float
    ran: list[float] = field(default_factory=list)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _first_repeat(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            try:
                cases = json.loads(self.results.read_text()).get("cases") or []
            except (OSError, ValueError):
                cases = []
            if any(case.get("repeats") for case in cases):
                return True
            time.sleep(0.1)
        return False

    def _run(self) -> None:
        if not self._first_repeat(time.monotonic() + 120):
            return
        time.sleep(self.after_s)
        code = f"import time\nt = time.time()\nwhile time.time() - t < {self.seconds}: pass"
        process = subprocess.Popen([sys.executable, "-c", code])
        self.ran.append(time.time())
        try:
            os.sched_setaffinity(process.pid, {self.cpu})
        except OSError:
            pass
        process.wait()
        self.ran.append(time.time())


def contention(params: Params, runs: Runs) -> dict[str, Any]:
    options = params.one_case(params.repeat)
    if params.quiet_timeout is not None:
        options += ["--quiet-timeout", f"{params.quiet_timeout:g}"]
    clean = runs.run("contention-clean", options)
    server, _ = _cpus()
    loop = BusyLoop(
        server, runs.folder / "contention-busy.json", params.busy_after_s, params.busy_s
    )
    thread = loop.start()
    busy = runs.run("contention-busy", options)
    thread.join()
    if len(loop.ran) < 2:
        raise UserError("the contention run ended before its busy loop could start")
    busy_from, busy_until = loop.ran
    (case,) = busy["cases"]
    overlapped = []
    for record in case["repeats"]:
        figures = record.get("interference") or {}
        load = record.get("load") or {}
        opened, closed = _timestamp(load["started_at"]), _timestamp(load["finished_at"])
        if opened < busy_until and closed > busy_from:
            overlapped.append(
                {
                    "repeat": record["repeat"],
                    "attempt": record.get("attempt", 0),
                    "disturbed": bool(figures.get("disturbed")),
                    "run_delay_pct_server": (figures.get("run_delay_pct") or {}).get("server"),
                    "not_remeasured": figures.get("not_remeasured"),
                }
            )
    flagged = [o for o in overlapped if o["disturbed"]]
    again = {(o["repeat"]) for o in flagged} <= {
        r["repeat"] for r in case["repeats"] if r.get("attempt", 0) > 0
    }
    clean_median = clean["cases"][0]["summary"]["messages_per_second"]["median"]
    busy_median = case["summary"]["messages_per_second"]["median"]
    ratio = busy_median / clean_median if clean_median else None
    seen = [interference_of(clean)]
    return {
        "runs": [*seen, interference_of(busy)],
        "busy_cpu": server,
        "busy_s": params.busy_s,
        "overlapped": overlapped,
        "flagged": len(flagged),
        "measured_again": again,
        "clean_median": clean_median,
        "busy_median": busy_median,
        "ratio": ratio,
        "holds": bool(flagged)
        and again
        and ratio is not None
        and abs(ratio - 1.0) <= CONTENTION_TOLERANCE,
        # Only the clean run must be quiet: the other is disturbed on purpose.
        "noisy": _noisy(seen),
    }


def _timestamp(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def overhead(params: Params, runs: Runs) -> dict[str, Any]:
    base = [*params.one_case(1), "--quiet-timeout", "0", "--disturbed-retries", "0"]
    on: list[float] = []
    off: list[float] = []
    reads: list[float] = []
    seen = []
    for index in range(params.pairs):
        # Alternate which goes first, so that a drift favours neither.
        order = ("on", "off") if index % 2 == 0 else ("off", "on")
        for mode in order:
            flag = "--interference" if mode == "on" else "--no-interference"
            doc = runs.run(f"overhead-{index}-{mode}", [*base, flag])
            rate = doc["cases"][0]["summary"]["messages_per_second"]["median"]
            (on if mode == "on" else off).append(float(rate))
            if mode == "on":
                seen.append(interference_of(doc))
                reads += [
                    float((r.get("interference") or {}).get("read_ms") or 0.0)
                    for r in doc["cases"][0]["repeats"]
                ]
    figures = effect("messages_per_second", off, on, statistics.median(off), statistics.median(on))
    low, high = figures.interval.low, figures.interval.high
    floor = 1.0 - OVERHEAD_TOLERANCE
    return {
        "runs": seen,
        "on": on,
        "off": off,
        "ratio": figures.ratio.median,
        "interval": [low, high],
        "read_ms": reads,
        "holds": low is not None and low >= floor,
        "unsettled": low is None or high is None or low < floor <= high,
        "noisy": _noisy(seen),
    }


def _spearman(a: dict[str, float], b: dict[str, float]) -> float | None:
    names = sorted(set(a) & set(b))
    n = len(names)
    if n < 3:
        return None
    rank_a = {x: i for i, x in enumerate(sorted(names, key=lambda x: -a[x]))}
    rank_b = {x: i for i, x in enumerate(sorted(names, key=lambda x: -b[x]))}
    return 1 - 6 * sum((rank_a[x] - rank_b[x]) ** 2 for x in names) / (n * (n * n - 1))


def _medians(doc: dict[str, Any]) -> dict[str, float]:
    return {
        c["backend"]: float(c["summary"]["messages_per_second"]["median"])
        for c in doc["cases"]
        if c.get("summary")
    }


def awake(params: Params, runs: Runs) -> dict[str, Any]:
    """The evidence for ``--awake auto``: the 1-connection ranking idle and awake, and the
    busy loop's cost at 32 connections."""
    common = [
        *("--sizes", "64", "--repeat", "3", "--duration", "1", "--warmup", "0.3"),
        *(*_pinned(), "--no-verify", "--host-check", "1"),
        *("--quiet-timeout", "20", "--disturbed-retries", "1"),
    ]
    one = [*common, "--backends", ",".join(AWAKE_BACKENDS), "--connections", "1"]
    many = [*common, "--backends", ",".join(AWAKE_COST_BACKENDS), "--connections", "32"]
    found: dict[str, list[dict[str, float]]] = {}
    seen = []
    for label, options in (("one", one), ("many", many)):
        for index in range(2):
            for mode in ("idle", "awake"):
                flag = "--awake" if mode == "awake" else "--no-awake"
                doc = runs.run(f"awake-{label}-{mode}-{index}", [*options, flag])
                found.setdefault(f"{label}-{mode}", []).append(_medians(doc))
                seen.append(interference_of(doc))
    column = {}
    for mode in ("idle", "awake"):
        first, second = found[f"one-{mode}"]
        column[mode] = {
            "medians": found[f"one-{mode}"],
            "rho": _spearman(first, second),
            "leader": [max(m, key=lambda b: m[b]) for m in (first, second)],
        }
    cost = {}
    for backend in AWAKE_COST_BACKENDS:
        idle = [m[backend] for m in found["many-idle"] if backend in m]
        kept = [m[backend] for m in found["many-awake"] if backend in m]
        if idle and kept:
            cost[backend] = statistics.median(kept) / statistics.median(idle)
    return {"runs": seen, "one_connection": column, "cost_at_32": cost, "noisy": _noisy(seen)}


def repeatability(params: Params, folder: Path | None = None) -> dict[str, Any]:
    """Measure the parts asked for; their runs' files go to ``folder`` (else a temporary
    folder, removed after)."""
    started = now()
    with tempfile.TemporaryDirectory(prefix="echobench-repeatability-") as scratch:
        where = folder or Path(scratch) / RUNS
        where.mkdir(parents=True, exist_ok=True)
        runs = Runs(where)
        parts = {
            name: {"aa": aa, "contention": contention, "overhead": overhead, "awake": awake}[name](
                params, runs
            )
            for name in params.parts
        }
    return {
        "schema": "echobench.repeatability",
        "schema_version": 1,
        "started_at": started,
        "finished_at": now(),
        "params": asdict(params),
        "runs": runs.made if folder is not None else [],
        **parts,
    }


def verdicts(doc: dict[str, Any]) -> list[str]:
    """What the numbers contradict, or why they were not judged (each a line)."""
    said = []
    for part, claim in (
        ("aa", f"two runs' medians within {AA_BAND[0]:.2f}-{AA_BAND[1]:.2f}"),
        ("contention", "the busy loop's repeats flagged, measured again, median within 10%"),
        ("overhead", "the measurement costs under 1% of the msgs/s"),
    ):
        result = doc.get(part)
        if result is None or part == "awake":
            continue
        if result.get("noisy"):
            said.append(f"{part}: not judged, measured in a noisy period: {result['noisy']}")
        elif result.get("unsettled"):
            said.append(f"{part}: not settled: its interval spans the claim; measure more pairs")
        elif not result["holds"]:
            said.append(f"{part}: the claim ({claim}) does not hold")
    return said


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _seen(runs: Sequence[dict[str, Any]]) -> str:
    """The worst interference over some runs' repeats, and how many were disturbed."""

    def worst(kind: str) -> float | None:
        values = [
            figures[f"{kind}_{side}"]["max"]
            for figures in runs
            for side in ("server", "client")
            if f"{kind}_{side}" in figures
        ]
        return max(values) if values else None

    hit = sum(f["disturbed_repeats"] for f in runs)
    total = sum(f["repeats"] for f in runs)
    return (
        f"steal up to {_pct(worst('steal_pct'))}, run delay up to {_pct(worst('run_delay_pct'))}, "
        f"{hit} of {total} repeats disturbed"
    )


def render_table(doc: dict[str, Any]) -> str:
    """The docs' section: each part's figures, the interference its runs saw, the verdict."""
    params = doc["params"]
    lines = [
        f"Measured {doc['started_at'][:16]} (`echobench repeatability`): "
        f"{', '.join(params['backends'])} at {', '.join(map(str, params['sizes']))} B x "
        f"{', '.join(map(str, params['connections']))} connections, {params['repeat']} "
        f"repeats of {params['duration']:g} s.",
        "",
    ]
    part = doc.get("aa")
    if part:
        lines += [
            f"**A/A** ({_verdict(part)}): two back-to-back runs; run A: "
            f"{_seen(part['runs'][:1])}; run B: {_seen(part['runs'][1:])}.",
            "",
            "| case | run A msgs/s | run B msgs/s | B/A | 95% interval | |",
            "| --- | ---: | ---: | ---: | --- | --- |",
        ]
        for row in part["cases"]:
            low, high = row["interval"]
            span = "-" if low is None or high is None else f"{low:.3f}-{high:.3f}"
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3f}"
            mark = row["excluded"] or ("within" if row["within"] else "OUTSIDE")
            lines.append(
                f"| {row['case']} | {row['a'] or 0:,.0f} | {row['b'] or 0:,.0f} | {ratio} | "
                f"{span} | {mark} |"
            )
        lines.append("")
    part = doc.get("contention")
    if part:
        ratio = "-" if part["ratio"] is None else f"{part['ratio']:.3f}"
        lines += [
            f"**Injected contention** ({_verdict(part)}): a busy loop on the server's CPU "
            f"{part['busy_cpu']} for {part['busy_s']:g} s flagged {part['flagged']} of the "
            f"{len(part['overlapped'])} repeats it overlapped"
            + (", each measured again after it stopped" if part["measured_again"] else "")
            + f"; the case's median {part['busy_median']:,.0f} msgs/s against "
            f"{part['clean_median']:,.0f} in a clean run ({ratio}). Clean run: "
            f"{_seen(part['runs'][:1])}.",
            "",
        ]
    part = doc.get("awake")
    if part:
        lines += _awake_lines(part)
    part = doc.get("overhead")
    if part:
        low, high = part["interval"]
        span = "" if low is None or high is None else f", 95% interval {low:.3f}-{high:.3f}"
        reads = part.get("read_ms") or []
        cost = (
            f"; the two readings of a repeat took {statistics.median(reads):.2f} ms (median), "
            "outside its window"
            if reads
            else ""
        )
        lines += [
            f"**Overhead** ({_verdict(part)}): {len(part['on'])} runs with the measurement "
            f"and {len(part['off'])} without, alternately: median msgs/s on/off "
            f"{part['ratio']:.3f}{span}{cost}; {_seen(part['runs'])}.",
        ]
    return "\n".join(lines).rstrip()


def _verdict(part: dict[str, Any]) -> str:
    if part.get("noisy"):
        return f"not judged: measured in a noisy period, {part['noisy']}"
    if part.get("unsettled"):
        return "not settled: the interval spans 0.99; more pairs narrow it"
    return "holds" if part["holds"] else "does NOT hold"


def _awake_lines(part: dict[str, Any]) -> list[str]:
    """The 1-connection study: each backend's median per run, idle and awake."""
    idle, kept = part["one_connection"]["idle"], part["one_connection"]["awake"]
    names = sorted(kept["medians"][0], key=lambda b: -kept["medians"][0][b])
    noisy = (
        f" Not to be read: measured in a noisy period, {part['noisy']}."
        if part.get("noisy")
        else ""
    )
    lines = [
        f"**The 1-connection column** (64 B, one connection, 3 repeats of 1 s; two runs "
        f"each way, alternately; {_seen(part['runs'])}).{noisy}",
        "",
        "| backend | idle run 1 | idle run 2 | awake run 1 | awake run 2 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        cells = [m.get(name) for m in (*idle["medians"], *kept["medians"])]
        lines.append(
            f"| `{name}` | "
            + " | ".join("-" if v is None else f"{v / 1000:,.1f}k" for v in cells)
            + " |"
        )

    def rho(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    cost = ", ".join(f"`{b}` {r:.2f}x" for b, r in part["cost_at_32"].items())
    lines += [
        "",
        f"Idle, the ranking's two runs agree with Spearman's rho {rho(idle['rho'])}, led by "
        f"`{idle['leader'][0]}` and `{idle['leader'][1]}`; awake, rho {rho(kept['rho'])}, led "
        f"by `{kept['leader'][0]}` and `{kept['leader'][1]}`. At 32 connections, awake "
        f"against idle: {cost}.",
        "",
    ]
    return lines
