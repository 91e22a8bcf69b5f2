"""Compare matching cases of two runs, or of two backends within one run.

For each pair and metric (msgs/s and p99) compare reports:

- the ratio B/A of the medians, with two intervals: the exact Hodges-Lehmann
  confidence interval for the ratio (``echobench.benchmarks.compare._effect`` says why that one and
  not a bootstrap) and the *range over the repeats*, min(B)/max(A) to
  max(B)/min(A), the most and least favourable pairing of a B repeat with an A one;
- the two-sided exact Mann-Whitney U p over the repeats and, adjusted over every
  test of the whole table (``echobench.benchmarks.compare._correction``), ``p_adjusted``;
- the verdict. A change is called only when it survives the correction *and* its
  interval lies wholly outside the noise band, a factor of ``1 + threshold``
  either way (2% by default, pyperf's "not significant" band): a significant 0.5%
  difference is real but too small to act on;
- what could have been seen: the smallest change the repeats would have called in
  80% of runs like this one (``echobench.benchmarks.compare._detectable``), or why none could be.

:func:`judge` does the table-wide part and returns a :class:`Table` (with
``as_json``). :func:`compare_runs` and :func:`compare_backends` return one, judged;
the command judges every comparison it prints together, so that the correction
covers the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from echobench.benchmarks.compare._correction import METHODS, NAMES, adjust
from echobench.benchmarks.compare._detectable import POWER, Rule, log_spread
from echobench.benchmarks.compare._effect import Interval, ratio_interval
from echobench.benchmarks.compare._mannwhitney import mann_whitney, smallest_p
from echobench.benchmarks.compare._runview import CaseView, Run, slice_label
from echobench.servers._errors import UserError

ALPHA = 0.05
THRESHOLD = 0.02
NO_DATA = "no data"
NOT_ENOUGH = "not enough repetitions"
NOT_SIGNIFICANT = "not significant"
WITHIN_NOISE = "within noise band"
CHANGED = "changed"
CaseKey = tuple[str, str, int, int, float | None, int, int]


@dataclass(frozen=True)
class Criteria:
    alpha: float = ALPHA
    correction: str = "bh"
    threshold: float = THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise UserError(f"--alpha must be between 0 and 1, not {self.alpha:g}")
        if self.correction not in METHODS:
            raise UserError(
                f"--correction: unknown {self.correction!r} (choose from {', '.join(METHODS)})"
            )
        if not 0.0 <= self.threshold < 1.0:
            raise UserError(f"--threshold must be from 0% to under 100%, not {self.threshold:g}")

    @property
    def confidence(self) -> float:
        return 1.0 - self.alpha

    def level(self, tests: int) -> float:
        """The raw p a change needs to survive correction if it were the table's only one."""
        return self.alpha if self.correction == "none" else self.alpha / max(1, tests)


@dataclass(frozen=True)
class Ratio:
    """Ratio of medians B/A with the range over the repeats (``low``/``high``)."""

    median: float | None
    low: float | None
    high: float | None

    def text(self, separator: str = " ") -> str:
        if self.median is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.median:.3f}"
        return f"{self.median:.3f}{separator}[{self.low:.3f}-{self.high:.3f}]"


@dataclass(frozen=True)
class Effect:
    """One metric of one pair of cases: how large the change is, and whether it is called."""

    metric: str
    n_a: int
    n_b: int
    ratio: Ratio
    interval: Interval
    p: float | None
    #: Pooled standard deviation of the log repeats (``None``: no spread to estimate).
    spread: float | None
    #: Set by :func:`judge`: the p adjusted over the whole table, the verdict, and the
    #: relative change the repeats would call with 80% power (``None``: none).
    p_adjusted: float | None = None
    verdict: str = NOT_SIGNIFICANT
    detectable: float | None = None
    #: The raw p a lone change needed to survive the table's correction.
    level: float | None = None

    @property
    def floor(self) -> float:
        """The smallest p these repeat counts can give."""
        return smallest_p(self.n_a, self.n_b)

    @property
    def significant(self) -> bool:
        """The change is called: significant after correction and clear of the noise band."""
        return self.verdict == CHANGED

    def short(self) -> str:
        if self.verdict == NO_DATA:
            return NO_DATA
        if self.verdict == NOT_ENOUGH:
            return f"{NOT_ENOUGH} ({self.n_a} vs {self.n_b}: p >= {self.floor:.2g})"
        assert self.p is not None and self.p_adjusted is not None
        word = {CHANGED: "yes", WITHIN_NOISE: "within noise"}.get(self.verdict, "no")
        return f"{word}, p={self.p:.2g} adj {self.p_adjusted:.2g}"

    def could_see(self) -> str:
        """The smallest change these repeats would call, in words."""
        if self.verdict in (NO_DATA, NOT_ENOUGH):
            return "no change can be called"
        if self.detectable is not None:
            return f"could detect > {self.detectable * 100:.0f}%"
        if self.level is not None and self.floor >= self.level:
            return f"cannot survive the correction (needs p < {self.level:.2g})"
        if self.interval.confidence is None:
            return "no interval at this confidence"
        return "no spread to judge"

    def text(self) -> str:
        return f"{self.short()}; {self.could_see()}"


def ratio_lines(effect: Effect, confidence: float) -> list[str]:
    """The ratio, its interval and its range over the repeats, a line each (tables, pages)."""
    r, ci = effect.ratio, effect.interval
    if r.median is None:
        return ["n/a"]
    lines = [f"{r.median:.3f}"]
    if ci.low is not None and ci.high is not None:
        lines.append(f"CI {ci.low:.3f}-{ci.high:.3f}")
    else:
        lines.append(f"no {confidence * 100:g}% CI")
    if r.low is not None and r.high is not None:
        lines.append(f"[{r.low:.3f}-{r.high:.3f}]")
    return lines


@dataclass(frozen=True)
class Pair:
    a: CaseView
    b: CaseView
    throughput: Effect
    p99: Effect

    @property
    def label(self) -> str:
        return self.a.label

    @property
    def effects(self) -> tuple[Effect, Effect]:
        return (self.throughput, self.p99)


@dataclass
class Comparison:
    a_name: str
    b_name: str
    pairs: list[Pair] = field(default_factory=list)
    failed: list[tuple[CaseView, CaseView]] = field(default_factory=list)
    only_a: list[CaseView] = field(default_factory=list)
    only_b: list[CaseView] = field(default_factory=list)


@dataclass(frozen=True)
class Table:
    """Every comparison judged together: one correction over all their tests."""

    comparisons: list[Comparison]
    settings: Criteria
    tests: int
    significant: int
    changed: int

    def effects(self) -> Iterator[tuple[Comparison, Pair, Effect]]:
        for comparison in self.comparisons:
            for pair in comparison.pairs:
                for effect in pair.effects:
                    yield comparison, pair, effect

    def summary(self) -> str:
        s = self.settings
        cases = sum(len(c.pairs) for c in self.comparisons)
        text = (
            f"{self.tests} test(s) over {cases} matched case(s), corrected with "
            f"{NAMES[s.correction]} at {s.alpha:g}: {self.significant} significant, "
            f"{self.changed} change(s) called (interval outside +-{s.threshold * 100:g}%)"
        )
        level = s.level(self.tests)
        hopeless = [e for _, _, e in self.effects() if e.p is not None and e.floor >= level]
        if hopeless:
            text += (
                f". {len(hopeless)} of them could not survive the correction as the table's "
                f"only change (their repeats cannot give p < {level:.2g}); that takes "
                f"{repeats_needed(level)} or more repeats a side"
            )
        return text

    def as_json(self) -> dict[str, Any]:
        s = self.settings
        entries = []
        for comparison, pair, effect in self.effects():
            interval = effect.interval
            entries.append(
                {
                    "a": comparison.a_name,
                    "b": comparison.b_name,
                    "case": pair.b.id,
                    "case_a": pair.a.id,
                    "metric": effect.metric,
                    "repeats": [effect.n_a, effect.n_b],
                    "ratio": effect.ratio.median,
                    "ci": ([interval.low, interval.high] if interval.low is not None else None),
                    "ci_confidence": interval.confidence,
                    "hodges_lehmann": interval.estimate,
                    "range": (
                        [effect.ratio.low, effect.ratio.high]
                        if effect.ratio.low is not None
                        else None
                    ),
                    "p": effect.p,
                    "p_adjusted": effect.p_adjusted,
                    "significant": effect.significant,
                    "verdict": effect.verdict,
                    "detectable_change": effect.detectable,
                    "client_bound": pair.a.client_bound or pair.b.client_bound,
                }
            )
        not_compared = []
        for comparison in self.comparisons:
            for a, b in comparison.failed:
                which = " and ".join(n for n, case in (("A", a), ("B", b)) if not case.ok)
                not_compared.append({"case": b.id, "reason": f"failed in {which}"})
            not_compared += [{"case": c.id, "reason": "only in A"} for c in comparison.only_a]
            not_compared += [{"case": c.id, "reason": "only in B"} for c in comparison.only_b]
        return {
            "correction": s.correction,
            "correction_name": NAMES[s.correction],
            "alpha": s.alpha,
            "threshold": s.threshold,
            "confidence": s.confidence,
            "power": POWER,
            "tests": self.tests,
            "significant_after_correction": self.significant,
            "changes_called": self.changed,
            "comparisons": entries,
            "not_compared": not_compared,
        }


def repeats_needed(level: float) -> int:
    """The fewest repeats a side (equal sides) whose smallest p is under ``level``."""
    n = 1
    while smallest_p(n, n) >= level and n < 100:
        n += 1
    return n


def ratio(
    a: Sequence[float], b: Sequence[float], a_mid: float | None, b_mid: float | None
) -> Ratio:
    if a_mid is None or b_mid is None or a_mid <= 0:
        return Ratio(None, None, None)
    if not a or not b or min(a) <= 0:
        return Ratio(b_mid / a_mid, None, None)
    return Ratio(b_mid / a_mid, min(b) / max(a), max(b) / min(a))


def effect(
    metric: str,
    a: Sequence[float],
    b: Sequence[float],
    a_mid: float | None,
    b_mid: float | None,
    confidence: float = 1.0 - ALPHA,
) -> Effect:
    """The unjudged effect: ratio, interval and raw p (:func:`judge` adds the rest)."""
    usable = bool(a) and bool(b) and min([*a, *b]) > 0
    return Effect(
        metric=metric,
        n_a=len(a),
        n_b=len(b),
        ratio=ratio(a, b, a_mid, b_mid),
        interval=ratio_interval(a, b, confidence),
        p=mann_whitney(a, b).p if usable else None,
        spread=log_spread(a, b) if usable else None,
        verdict=NOT_SIGNIFICANT if usable else NO_DATA,
    )


def pair(a: CaseView, b: CaseView, confidence: float = 1.0 - ALPHA) -> Pair:
    return Pair(
        a=a,
        b=b,
        throughput=effect(
            "messages_per_second",
            a.throughputs,
            b.throughputs,
            a.throughput(),
            b.throughput(),
            confidence,
        ),
        p99=effect("p99_us", a.p99s, b.p99s, a.p99(), b.p99(), confidence),
    )


def _verdict(effect: Effect, p_adjusted: float, settings: Criteria) -> str:
    if effect.floor >= settings.alpha:
        return NOT_ENOUGH
    if p_adjusted >= settings.alpha:
        return NOT_SIGNIFICANT
    low, high = effect.interval.low, effect.interval.high
    band = 1.0 + settings.threshold
    if low is not None and high is not None and (low > band or high < 1.0 / band):
        return CHANGED
    return WITHIN_NOISE


def judge(
    comparisons: Sequence[Comparison], settings: Criteria | None = None, *, detect: bool = True
) -> Table:
    """Correct every test of ``comparisons`` together and give each effect its verdict (and,
    with ``detect``, the change it could have detected)."""
    settings = settings or Criteria()
    raw = [
        (ci, pi, name, getattr(p, name))
        for ci, c in enumerate(comparisons)
        for pi, p in enumerate(c.pairs)
        for name in ("throughput", "p99")
    ]
    tested = [(ci, pi, name, e) for ci, pi, name, e in raw if e.p is not None]
    adjusted = adjust([e.p for *_, e in tested], settings.correction)
    level = settings.level(len(tested))
    rule = Rule(level, settings.confidence, settings.threshold)
    judged: dict[tuple[int, int, str], Effect] = {}
    for (ci, pi, name, e), p_adjusted in zip(tested, adjusted, strict=True):
        detectable = None
        if detect and e.spread is not None:
            detectable = rule.detectable(e.n_a, e.n_b, e.spread)
        judged[(ci, pi, name)] = replace(
            e,
            p_adjusted=p_adjusted,
            verdict=_verdict(e, p_adjusted, settings),
            detectable=detectable,
            level=level,
        )
    result = []
    for ci, c in enumerate(comparisons):
        pairs = [
            replace(
                p,
                throughput=judged.get((ci, pi, "throughput"), p.throughput),
                p99=judged.get((ci, pi, "p99"), p.p99),
            )
            for pi, p in enumerate(c.pairs)
        ]
        result.append(replace(c, pairs=pairs))
    effects = list(judged.values())
    return Table(
        comparisons=result,
        settings=settings,
        tests=len(tested),
        significant=sum(
            e.p_adjusted is not None and e.p_adjusted < settings.alpha and e.verdict != NOT_ENOUGH
            for e in effects
        ),
        changed=sum(e.significant for e in effects),
    )


def _match(
    a_cases: dict[CaseKey, CaseView],
    b_cases: dict[CaseKey, CaseView],
    result: Comparison,
    settings: Criteria,
) -> Comparison:
    for key, a in a_cases.items():
        b = b_cases.get(key)
        if b is None:
            result.only_a.append(a)
        elif a.ok and b.ok:
            result.pairs.append(pair(a, b, settings.confidence))
        else:
            result.failed.append((a, b))
    result.only_b = [b for key, b in b_cases.items() if key not in a_cases]
    return result


def _key(case: CaseView, with_backend: bool = True) -> CaseKey:
    return (case.backend if with_backend else "", *case.slice_key)


def compare_runs(a: Run, b: Run, settings: Criteria | None = None) -> Table:
    """Cases of ``b`` against the same cases (backend and parameters) of ``a``, judged on
    their own; :func:`judge` the comparisons of several tables to correct over them all."""
    settings = settings or Criteria()
    comparison = _match(
        {_key(c): c for c in a.cases},
        {_key(c): c for c in b.cases},
        Comparison(a.path, b.path),
        settings,
    )
    return judge([comparison], settings)


def compare_backends(run: Run, baseline: str, settings: Criteria | None = None) -> Table:
    """Every other backend of ``run`` against ``baseline`` on the same parameters, judged
    together."""
    settings = settings or Criteria()
    backends = run.backends()
    if baseline not in backends:
        raise UserError(
            f"backend {baseline!r} is not in {run.path} (it has: {', '.join(backends)})"
        )
    base = {_key(c, False): c for c in run.cases if c.backend == baseline}
    comparisons = [
        _match(
            base,
            {_key(c, False): c for c in run.cases if c.backend == other},
            Comparison(baseline, other),
            settings,
        )
        for other in backends
        if other != baseline
    ]
    return judge(comparisons, settings)


def case_text(case: CaseView) -> str:
    return f"{case.backend}: {slice_label(case.slice_key)}"


def short_text(case: CaseView) -> str:
    """``backend 64B 10c closed``: narrow enough for a table on an 80-column terminal."""
    loop = "closed" if case.rate is None else f"{case.rate:g}/s"
    transport = "" if case.transport == "tcp" else f" {case.transport}"
    return f"{case.backend} {case.size}B {case.connections}c {loop}{transport}"
