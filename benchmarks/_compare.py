"""Compare matching cases of two runs, or of two backends within one run.

For each pair the ratio B/A of the median throughput and of the median p99 is
given with its *range over the repeats*: from min(B)/max(A) to max(B)/min(A),
the most and least favourable pairing of a B repeat with an A repeat. (With 3
to 10 repeats a bootstrap interval would be no more trustworthy, and the range
needs no random seed.) Whether the difference is real is the two-sided
Mann-Whitney U test over the repeats; when the repeats are too few for any
outcome to reach ``alpha``, the answer is "not enough repetitions".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks._mannwhitney import mann_whitney, smallest_p
from benchmarks._runview import Case, Run, slice_label
from servers._errors import UserError

ALPHA = 0.05
NOT_ENOUGH = "not enough repetitions"

CaseKey = tuple[str, str, int, int, float | None]


@dataclass(frozen=True)
class Ratio:
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
class Significance:
    verdict: str  # "significant", "not significant", NOT_ENOUGH, or "no data"
    p: float | None = None
    detail: str = ""

    @property
    def significant(self) -> bool:
        return self.verdict == "significant"

    def text(self) -> str:
        if self.p is not None:
            return f"{self.verdict} (p={self.p:.2g})"
        return f"{self.verdict} ({self.detail})" if self.detail else self.verdict

    def short(self) -> str:
        if self.p is not None:
            return f"{'yes' if self.significant else 'no'}, p={self.p:.2g}"
        return self.verdict


@dataclass(frozen=True)
class Pair:
    a: Case
    b: Case
    throughput: Ratio
    throughput_significance: Significance
    p99: Ratio
    p99_significance: Significance

    @property
    def label(self) -> str:
        return self.a.label


@dataclass
class Comparison:
    a_name: str
    b_name: str
    pairs: list[Pair] = field(default_factory=list)
    failed: list[tuple[Case, Case]] = field(default_factory=list)
    only_a: list[Case] = field(default_factory=list)
    only_b: list[Case] = field(default_factory=list)


def ratio(
    a: Sequence[float], b: Sequence[float], a_mid: float | None, b_mid: float | None
) -> Ratio:
    if a_mid is None or b_mid is None or a_mid <= 0:
        return Ratio(None, None, None)
    if not a or not b or min(a) <= 0:
        return Ratio(b_mid / a_mid, None, None)
    return Ratio(b_mid / a_mid, min(b) / max(a), max(b) / min(a))


def significance(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> Significance:
    if not a or not b:
        return Significance("no data")
    floor = smallest_p(len(a), len(b))
    if len(a) < 2 or len(b) < 2 or floor >= alpha:
        return Significance(
            NOT_ENOUGH, detail=f"{len(a)} vs {len(b)} repeats: p cannot go below {floor:.2g}"
        )
    result = mann_whitney(a, b)
    verdict = "significant" if result.p < alpha else "not significant"
    return Significance(verdict, p=result.p)


def pair(a: Case, b: Case, alpha: float = ALPHA) -> Pair:
    return Pair(
        a=a,
        b=b,
        throughput=ratio(a.throughputs, b.throughputs, a.throughput(), b.throughput()),
        throughput_significance=significance(a.throughputs, b.throughputs, alpha),
        p99=ratio(a.p99s, b.p99s, a.p99(), b.p99()),
        p99_significance=significance(a.p99s, b.p99s, alpha),
    )


def _match(
    a_cases: dict[CaseKey, Case], b_cases: dict[CaseKey, Case], result: Comparison, alpha: float
) -> Comparison:
    for key, a in a_cases.items():
        b = b_cases.get(key)
        if b is None:
            result.only_a.append(a)
        elif a.ok and b.ok:
            result.pairs.append(pair(a, b, alpha))
        else:
            result.failed.append((a, b))
    result.only_b = [b for key, b in b_cases.items() if key not in a_cases]
    return result


def _key(case: Case, with_backend: bool = True) -> CaseKey:
    return (case.backend if with_backend else "", *case.slice_key)


def compare_runs(a: Run, b: Run, alpha: float = ALPHA) -> Comparison:
    """Cases of ``b`` against the same cases (backend and parameters) of ``a``."""
    return _match(
        {_key(c): c for c in a.cases},
        {_key(c): c for c in b.cases},
        Comparison(a.path, b.path),
        alpha,
    )


def compare_backends(run: Run, baseline: str, alpha: float = ALPHA) -> list[Comparison]:
    """Every other backend of ``run`` against ``baseline`` on the same parameters."""
    backends = run.backends()
    if baseline not in backends:
        raise UserError(
            f"backend {baseline!r} is not in {run.path} (it has: {', '.join(backends)})"
        )
    base = {_key(c, False): c for c in run.cases if c.backend == baseline}
    return [
        _match(
            base,
            {_key(c, False): c for c in run.cases if c.backend == other},
            Comparison(baseline, other),
            alpha,
        )
        for other in backends
        if other != baseline
    ]


def case_text(case: Case) -> str:
    return f"{case.backend}: {slice_label(case.slice_key)}"


def short_text(case: Case) -> str:
    """``backend 64B 10c closed``: narrow enough for a table on an 80-column terminal."""
    loop = "closed" if case.rate is None else f"{case.rate:g}/s"
    transport = "" if case.transport == "tcp" else f" {case.transport}"
    return f"{case.backend} {case.size}B {case.connections}c {loop}{transport}"
