"""The answer a report leads with: per group of comparable cases, backends ranked.

A ranking holds the cases of one group (by default: one message size, connection
count, transport and loop mode) sorted best first, failed last, and one sentence
saying what the data lets a reader conclude. The sentence never claims more than
the verdicts allow: a figure measured while the load client was saturated is only
a bound for the server (a lower bound on msg/s, an upper bound on latency), so a
ratio built on it is qualified ("at least", "at most") or withheld, and a lead
within the repeats' range is called level, not won.

Rankings are pluggable: a scenario whose cases are not compared by the default
grouping (``run.config["scenario"]``) registers its own ``Ranker`` in ``RANKERS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from echobench.benchmarks.compare._runview import CaseView, Run

#: The backend a leader is measured against when it is in the group: the standard
#: library's documented high-level API, where someone choosing a stack starts from.
REFERENCE = "asyncio-streams"

Values = tuple[float, float, float]  # median, low, high over the repeats


@dataclass(frozen=True)
class Metric:
    """What a ranking sorts by, and how its sentence speaks of it."""

    name: str  # axis and column title
    unit: str
    higher_is_better: bool
    values: Callable[[CaseView], Values | None]
    #: How a sentence says "better than": ``2.1x asyncio-streams``, ``2.1x lower p99 than``.
    versus: str = ""
    #: Whether a case's figure is only a bound for the server (it could have done
    #: better), and why: by default, its load client was saturated.
    bounded: Callable[[CaseView], bool] = lambda case: case.client_bound
    why_bound: str = "the load client saturated"
    #: Whether ``values`` gives a range over the repeats; without one no lead is judged.
    spread: bool = True
    #: What that range is, as a sentence says two cases are level within it.
    within: str = "the repeats' range"
    #: What a case without a value shows instead of a bar.
    missing: Callable[[CaseView], str] = lambda case: "failed" if not case.ok else "not measured"

    @property
    def bound(self) -> str:
        """What a client-limited figure is for the server: it could only have done better."""
        return "lower bound" if self.higher_is_better else "upper bound"


def _throughput(case: CaseView) -> Values | None:
    median, low, high = case.throughput(), case.throughput("min"), case.throughput("max")
    if median is None or low is None or high is None:
        return None
    return median, low, high


def _p99(case: CaseView) -> Values | None:
    median, low, high = case.p99(), case.p99("min"), case.p99("max")
    if median is None or low is None or high is None:
        return None
    return median, low, high


THROUGHPUT = Metric("median msg/s", "msg/s", True, _throughput)
P99 = Metric("median p99 latency", "µs", False, _p99, versus=" lower p99 than")


def _memory(case: CaseView) -> Values | None:
    value = case.summary.get("server_rss_per_connection_bytes")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value), float(value), float(value)


#: The runner stores only the median over the repeats: no spread to judge a lead by.
MEMORY = Metric(
    "server memory per connection",
    "B",
    False,
    _memory,
    versus=" less memory than",
    bounded=lambda case: False,  # a saturated client does not change the server's memory
    spread=False,
)


def starved(case: CaseView) -> float:
    """Connections that completed no echo in the window (median over the repeats), 0 if none."""
    value = case.summary.get("starved")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def idle(case: CaseView) -> int:
    # Silent connections held open beside the busy ones (``--idle``); files and
    # readers from before the field have none.
    return int(getattr(case, "idle", 0) or 0)


def overloaded(case: CaseView) -> bool:
    """An open-loop case whose target rate was not met: its latency is not at that load."""
    return case.overloaded


def marks(case: CaseView) -> list[str]:
    """What the charts write on a case's bar, in the same words."""
    if not case.ok:
        return ["failed"]
    said = []
    if case.client_bound:
        said.append("client+server saturated" if case.both_saturated else "client-bound")
    if case.overloaded:
        share = case.summary.get("achieved_share")
        said.append(f"overloaded{f' ({share:.0%} achieved)' if share else ''}")
    if case.unstable:
        cv = case.cv
        said.append(f"unstable{f' {cv:.0%}' if cv is not None else ''}")
    if case.disturbed:
        said.append("disturbed")
    if starved(case):
        said.append(f"starved {starved(case):g}")
    return said


@dataclass(frozen=True)
class Ranking:
    key: str  # stable, for anchors and tests
    title: str
    metric: Metric
    cases: tuple[CaseView, ...]  # best first, then the cases without a value
    takeaway: str

    def values(self, case: CaseView) -> Values | None:
        return self.metric.values(case) if case.ok else None


Ranker = Callable[[Run], list["Ranking"]]


def compact(value: float) -> str:
    """12.3k, 1.05M, 950: what a sentence or a bar label needs."""
    for divisor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _times(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 1.1 else f"{ratio:.1f}x"


def _overlap(metric: Metric, a: Values, b: Values) -> bool:
    """The repeats' ranges touch: neither is clearly ahead of the other."""
    return a[1] <= b[2] and b[1] <= a[2]


def _advantage(metric: Metric, leader: Values, other: Values) -> float:
    if metric.higher_is_better:
        return leader[0] / other[0] if other[0] > 0 else float("inf")
    return other[0] / leader[0] if leader[0] > 0 else float("inf")


def _against(metric: Metric, leader: CaseView, base: CaseView) -> str:
    """``2.1x asyncio-streams`` qualified by what the verdicts allow, or why not."""
    lv, bv = metric.values(leader), metric.values(base)
    assert lv is not None and bv is not None
    if _overlap(metric, lv, bv):
        return f"level with {base.backend} within {metric.within}"
    ratio = _times(_advantage(metric, lv, bv))
    what = metric.versus
    why = metric.why_bound
    if metric.bounded(leader) and metric.bounded(base):
        return (
            f"{ratio}{what} {base.backend} as measured (both {metric.bound}s: {why}, "
            "so the servers' own ratio is unknown)"
        )
    if metric.bounded(leader):
        return (
            f"at least {ratio}{what} {base.backend} ({leader.backend}'s figure is a "
            f"{metric.bound}: {why})"
        )
    if metric.bounded(base):
        return (
            f"at most {ratio}{what} {base.backend} ({base.backend}'s figure is a "
            f"{metric.bound}: {why})"
        )
    return f"{ratio}{what} {base.backend}"


def takeaway(where: str, metric: Metric, cases: list[CaseView]) -> str:
    """One sentence from the data; ``cases`` sorted best first, failed last."""
    measured = [c for c in cases if c.ok and metric.values(c) is not None]
    failed = sum(not c.ok for c in cases)
    without = len(cases) - len(measured) - failed
    if not measured and not without:
        return f"At {where}: no backend was measured ({failed} failed)."
    if not measured:
        return f"At {where}: no backend has a {metric.name} ({failed} failed)."
    leader = measured[0]
    lv = metric.values(leader)
    assert lv is not None
    figure = f"{compact(lv[0])} {metric.unit}"
    if len(measured) == 1:
        return f"At {where}: only {leader.backend} was measured ({figure})."
    values = {c.id: v for c in measured if (v := metric.values(c)) is not None}
    rivals = [c.backend for c in measured[1:] if _overlap(metric, lv, values[c.id])]
    hidden = [c.backend for c in measured[1:] if metric.bounded(c)]
    single = all(len(c.repeats) == 1 for c in measured)
    clear = not rivals and not hidden and metric.spread and not single
    head = "leads with" if clear else "measured best with"
    base = next((c for c in measured[1:] if c.backend == REFERENCE), measured[-1])
    clauses = [f"At {where}, {leader.backend} {head} {figure}, {_against(metric, leader, base)}"]
    if rivals and rivals != [base.backend]:
        clauses.append(f"level within {metric.within} with {_names(rivals)}")
    others = [name for name in hidden if name != base.backend]
    if others:
        who = _names(others) if len(others) <= 2 else f"{len(others)} others"
        clauses.append(f"{who} could do better than shown ({metric.why_bound})")
    for case in [leader] if base is leader else [leader, base]:
        if case.unstable:
            cv = case.cv
            clauses.append(f"{case.backend} was unstable{f' (CV {cv:.0%})' if cv else ''}")
        if case.disturbed:
            clauses.append(f"{case.backend} was disturbed (the host took its CPUs)")
        if starved(case):
            clauses.append(f"{case.backend} starved {starved(case):g} connection(s)")
        if overloaded(case):
            clauses.append(f"{case.backend} was overloaded (it did not meet the offered rate)")
    if single:
        clauses.append("1 repeat each, so no spread was measured")
    elif not metric.spread:
        clauses.append("medians over the repeats, whose spread is not recorded")
    if failed:
        clauses.append(f"{failed} failed")
    if without:
        nameless = [c.backend for c in cases if c.ok and metric.values(c) is None]
        clauses.append(f"no figure for {_names(nameless)}")
    return "; ".join(clauses) + "."


def _names(names: list[str]) -> str:
    if len(names) > 3:
        return f"{', '.join(names[:2])} and {len(names) - 2} more"
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else names[0]


def rank(key: str, title: str, metric: Metric, cases: list[CaseView]) -> Ranking:
    """``cases`` best first by ``metric``'s median, then those without a value."""

    def order(case: CaseView) -> tuple[int, float, str]:
        values = metric.values(case) if case.ok else None
        if values is None:
            return (1, 0.0, case.backend)
        return (0, -values[0] if metric.higher_is_better else values[0], case.backend)

    ordered = sorted(cases, key=order)
    return Ranking(key, title, metric, tuple(ordered), takeaway(title, metric, ordered))


def group_title(case: CaseView) -> str:
    plural = "" if case.connections == 1 else "s"
    words = [f"{case.size} B", f"{case.connections:,} connection{plural}"]
    if idle(case):
        words[-1] += f" among {idle(case):,} idle"
    if case.rate is not None:
        words.append(f"open loop at {case.rate:g} msg/s")
    if case.transport != "tcp":
        words.append(case.transport)
    return ", ".join(words)


def by_parameters(run: Run) -> list[Ranking]:
    """One ranking per (size, connections, idle, transport, loop): backends under one load.

    Closed-loop groups rank msg/s; an open-loop group offers every backend the same
    rate, so it ranks p99 latency instead. A group that only one backend ran (a sweep
    at rates of its own) ranks nothing, unless no group has more than one.
    """
    groups: dict[tuple[str, str, float, int, int, int], list[CaseView]] = {}
    for case in run.cases:
        key = (case.transport, case.mode, case.rate or 0.0, case.size, case.connections, idle(case))
        groups.setdefault(key, []).append(case)
    if any(len({c.backend for c in cases}) > 1 for cases in groups.values()):
        groups = {k: v for k, v in groups.items() if len({c.backend for c in v}) > 1}
    rankings = []
    for key in sorted(groups):
        cases = groups[key]
        first = cases[0]
        metric = THROUGHPUT if first.rate is None else P99
        held = f"+{idle(first)}idle" if idle(first) else ""
        slug = f"{first.transport}-{first.size}B-{first.connections}c{held}-{first.mode}"
        if first.rate is not None:
            slug += f"-{first.rate:g}"
        rankings.append(rank(slug, group_title(first), metric, cases))
    return rankings


#: Below this many connections the RSS difference is a few pages (the runner's schema).
MEMORY_FROM = 100


def with_memory(run: Run) -> list[Ranking]:
    """The default rankings, then server memory per connection at the most connections
    where two or more backends recorded it: what a scale run is for."""
    found = by_parameters(run)
    groups: dict[tuple[str, int, int, int], list[CaseView]] = {}
    for case in run.cases:
        if case.rate is None and _memory(case) and case.connections + idle(case) >= MEMORY_FROM:
            key = (case.transport, case.size, case.connections, idle(case))
            groups.setdefault(key, []).append(case)
    wide = [k for k, cases in groups.items() if len({c.backend for c in cases}) > 1]
    if wide:
        # The most connections, idle ones included, as the scale-memory chart takes them.
        key = max(wide, key=lambda k: (k[2] + k[3], k[2], k[1], k[0]))
        first = groups[key][0]
        found.append(rank(f"memory-{key[2]}c{key[3]}idle", group_title(first), MEMORY, groups[key]))
    return found


def _us(value: float) -> str:
    return f"{value / 1000:g} ms" if value >= 1000 else f"{value:g} µs"


def _floor_cases(run: Run) -> set[str]:
    """The cases of sweeps measured only as the floor: shown as the floor, never ranked."""
    found: set[str] = set()
    for sweep in run.latency.get("sweeps") or ():
        if sweep.get("floor_only"):
            found.add(str(sweep["probe"]))
            found.update(str(p["case"]) for p in sweep.get("points") or ())
    return found


def sweep_p99(run: Run) -> Metric:
    """p99 at one offered rate, with its 95% interval as the range two backends are
    compared by; a point at the floor spans the floor's interval too, so two points at
    the floor are always level: the instrument cannot tell them apart."""
    stats = {
        str(p["case"]): p["stats"]
        for sweep in run.latency.get("sweeps") or ()
        for p in sweep.get("points") or ()
        if p.get("stats")
    }

    def values(case: CaseView) -> Values | None:
        found = stats.get(case.id) or {}
        value, ci = found.get("p99_us"), found.get("p99_ci_us")
        if value is None:
            return _p99(case)
        low, high = (ci[0], ci[1]) if ci else (0.0, None)
        floor = found.get("floor_p99_ci_us")
        if found.get("at_floor") and floor:
            low = min(low, floor[0] or low)
            high = None if high is None or floor[1] is None else max(high, floor[1])
        return float(value), float(low), math.inf if high is None else float(high)

    return Metric(
        "p99 latency (95% interval)",
        "µs",
        False,
        values,
        versus=" lower p99 than",
        bounded=lambda case: bool((stats.get(case.id) or {}).get("client_bound")),
        why_bound="its client could have made that latency",
        within="their 95% intervals (or both at the floor)",
    )


def with_slo_capacity(run: Run) -> list[Ranking]:
    """A latency sweep: capacity at the p99 target first (the number an operator sizes
    hardware with), then the default rankings: the probes' msg/s and p99 at each common
    rate, judged by its interval. A sweep that stopped short of the server's limit
    (every rate it tried met the target, its open-loop client went no higher, or its
    probe's client was saturated) gives a lower bound. Two capacities whose ranges (the
    first crossing's, ``runner._sweepsummary``) overlap are level. A sweep with no rate
    under the target is left to the notes; the floor is never ranked."""
    hidden = _floor_cases(run)
    run = replace(run, cases=tuple(c for c in run.cases if c.id not in hidden))
    slos = {
        str(sweep["probe"]): (sweep.get("summary") or {}).get("slo_capacity") or {}
        for sweep in run.latency.get("sweeps") or ()
        if sweep.get("probe")
    }

    def values(case: CaseView) -> Values | None:
        slo = slos.get(case.id, {})
        value = slo.get("messages_per_second")
        if not isinstance(value, int | float):
            return None
        low, high = slo.get("range") or (value, value)
        return (
            float(value),
            float(low) if low is not None else 0.0,
            float(high) if high is not None else math.inf,
        )

    def bounded(case: CaseView) -> bool:
        slo = slos.get(case.id, {})
        return bool(slo.get("at_least") or slo.get("client_bound") or case.client_bound)

    target = run.latency.get("slo_p99_us")
    under = f"p99 under {_us(float(target))}" if isinstance(target, int | float) else "the target"
    metric = Metric(
        f"offered msg/s held with {under}",
        "msg/s",
        True,
        values,
        bounded=bounded,
        why_bound="the sweep stopped short of the server's limit",
        spread=any("range" in slo for slo in slos.values()),
        within="their first-crossing ranges",
    )
    groups: dict[tuple[str, int, int], list[CaseView]] = {}
    for case in run.cases:
        if values(case) is not None:
            groups.setdefault((case.transport, case.size, case.connections), []).append(case)
    found = [
        rank(
            f"slo-{transport}-{size}B-{connections}c",
            f"{under}, {group_title(cases[0])}",
            metric,
            cases,
        )
        for (transport, size, connections), cases in sorted(groups.items())
    ]
    p99 = sweep_p99(run)
    for ranking in by_parameters(run):
        first = ranking.cases[0]
        if first.rate is not None:
            ranking = rank(ranking.key, ranking.title, p99, list(ranking.cases))
        found.append(ranking)
    return found


#: Scenario name (``config["scenario"]`` of a run) -> how its cases are ranked.
RANKERS: dict[str, Ranker] = {"scale": with_memory, "latency": with_slo_capacity}


def rankings(run: Run) -> list[Ranking]:
    scenario = run.config.get("scenario")
    ranker = RANKERS.get(str(scenario), by_parameters) if scenario else by_parameters
    return ranker(run)
