"""compare: the rank test on synthetic data, the matching of cases, and the command."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from _chartcheck import RUN_SMALL, png_size
from test_compare_stats import synthetic_case

from echobench._cli import main
from echobench.benchmarks.compare._comparison import (
    NOT_ENOUGH,
    Comparison,
    Effect,
    compare_backends,
    compare_runs,
    judge,
    pair,
)
from echobench.benchmarks.compare._mannwhitney import _doubled_midranks, mann_whitney, smallest_p
from echobench.benchmarks.compare._runview import load_run, run_from_doc


def significance(a: list[float], b: list[float]) -> Effect:
    """The throughput effect of one synthetic pair, judged alone."""
    pairs = [pair(synthetic_case("x", a), synthetic_case("x", b))]
    return judge([Comparison("a", "b", pairs)]).comparisons[0].pairs[0].throughput


def test_equal_distributions_are_not_significant() -> None:
    rng = random.Random(7)
    a = [rng.lognormvariate(10, 0.05) for _ in range(8)]
    b = [rng.lognormvariate(10, 0.05) for _ in range(8)]
    result = significance(a, b)
    assert result.verdict == "not significant" and result.p is not None and result.p > 0.05


def test_clearly_shifted_distributions_are_significant() -> None:
    rng = random.Random(8)
    a = [rng.lognormvariate(10, 0.05) for _ in range(6)]
    b = [x * 1.3 for x in (rng.lognormvariate(10, 0.05) for _ in range(6))]
    result = significance(a, b)
    assert result.verdict == "changed" and result.p is not None and result.p < 0.01


@pytest.mark.parametrize(("n1", "n2"), [(1, 10), (2, 2), (3, 3), (3, 4)])
def test_too_few_repetitions_says_so(n1: int, n2: int) -> None:
    # Even perfectly separated samples: this few repeats cannot show anything at 5%.
    result = significance([1.0 + i for i in range(n1)], [100.0 + i for i in range(n2)])
    assert result.verdict == NOT_ENOUGH and not result.significant
    assert "p >=" in result.short()


def test_smallest_p_is_the_exact_bound() -> None:
    assert smallest_p(3, 3) == pytest.approx(0.1)
    assert smallest_p(4, 4) == pytest.approx(2 / 70)
    assert mann_whitney([1, 2, 3, 4], [5, 6, 7, 8]).p == pytest.approx(smallest_p(4, 4))


def test_exact_p_matches_the_textbook_value() -> None:
    # All of B above all of A, 5 and 5: p = 2 / C(10, 5).
    result = mann_whitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result.exact and result.u == 0 and result.p == pytest.approx(2 / 252)


def test_exact_p_with_ties_matches_full_enumeration() -> None:
    rng = random.Random(3)
    for _ in range(5):
        a = [float(rng.randint(0, 6)) for _ in range(6)]
        b = [float(rng.randint(2, 8)) for _ in range(5)]
        ranks = _doubled_midranks(a + b)
        observed = sum(ranks[:6])
        mean = sum(ranks) * 6 / 11
        combos = list(itertools.combinations(ranks, 6))
        extreme = sum(abs(sum(c) - mean) >= abs(observed - mean) - 1e-9 for c in combos)
        assert mann_whitney(a, b).p == pytest.approx(extreme / len(combos))


def test_large_samples_use_the_normal_approximation() -> None:
    rng = random.Random(4)
    a = [rng.gauss(0, 1) for _ in range(40)]
    b = [rng.gauss(1, 1) for _ in range(40)]
    result = mann_whitney(a, b)
    assert not result.exact and result.p < 0.001


def _scaled_copy(tmp_path: Path, factor: float, backend: str, keep: int = 5) -> Path:
    doc: dict[str, Any] = json.loads(RUN_SMALL.read_text())
    for case in doc["cases"]:
        case["repeats"] = case["repeats"][:keep]
        if case["backend"] == backend:
            for repeat in case["repeats"]:
                repeat["messages_per_second"] *= factor
    # A case only the first file has, and one only the second has.
    doc["cases"] = [c for c in doc["cases"] if c["id"] != "selectors/tcp/64B/1c/closed"]
    extra = json.loads(json.dumps(doc["cases"][0]))
    extra["id"] = extra["id"].replace("64B", "4096B")
    extra["size"] = 4096
    doc["cases"].append(extra)
    path = tmp_path / f"b-{factor}-{keep}.json"
    path.write_text(json.dumps(doc))
    return path


def test_runs_are_matched_and_nothing_is_dropped(tmp_path: Path) -> None:
    a = load_run(RUN_SMALL)
    b = load_run(_scaled_copy(tmp_path, 1.25, "uvloop-streams"))
    result = compare_runs(a, b).comparisons[0]
    assert [c.id for c in result.only_a] == ["selectors/tcp/64B/1c/closed"]
    assert [c.id for c in result.only_b] == ["asyncio-protocol/tcp/4096B/1c/closed"]
    assert [x.id for x, _ in result.failed] == ["tornado/tcp/1024B/10c/closed"]
    assert len(result.pairs) + len(result.only_a) + len(result.failed) == len(a.cases)
    for matched in result.pairs:
        ratio = matched.throughput.ratio
        assert ratio.low is not None and ratio.high is not None and ratio.median is not None
        assert ratio.low <= ratio.median <= ratio.high
        if matched.b.backend == "uvloop-streams":
            assert ratio.median == pytest.approx(1.25)
            # 5 vs 5 repeats: p >= 0.0079, but surviving the correction over the table's
            # 64 tests needs a lone change to reach 0.05 / 64.
            assert matched.throughput.p == pytest.approx(2 / 252)
            assert matched.throughput.verdict == "not significant"
            assert "cannot survive the correction" in matched.throughput.could_see()
        else:
            assert ratio.median == pytest.approx(1.0)
            assert matched.throughput.verdict == "not significant"


def test_backends_within_one_run() -> None:
    run = load_run(RUN_SMALL)
    comparisons = compare_backends(run, "asyncio-streams").comparisons
    assert {c.b_name for c in comparisons} == set(run.backends()) - {"asyncio-streams"}
    uvloop = next(c for c in comparisons if c.b_name == "uvloop-protocol")
    closed = [p for p in uvloop.pairs if p.a.rate is None]
    assert len(closed) == 4 and all(
        p.throughput.ratio.median and p.throughput.ratio.median > 1.5 for p in closed
    )
    # uvloop-protocol has an open-loop case that asyncio-streams lacks: listed, not dropped.
    assert [c.rate for c in uvloop.only_b] == [5000.0]


def test_cli_compare_prints_the_table_and_draws_the_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich wraps to the terminal; give it a wide one
    b = _scaled_copy(tmp_path, 1.25, "uvloop-streams")
    chart = tmp_path / "ratio.png"
    assert main(["compare", str(RUN_SMALL), str(b), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "only in A" in out and "selectors" in out
    assert "only in B" in out and "4096 B" in out
    assert "failed in A and B" in out
    assert "no, p=0.0079" in out and "64 test(s)" in out and "0 significant" in out
    # 5 repeats a side cannot reach 0.05 / 64: the summary says what it would take.
    assert "64 of them could not survive the correction" in out
    assert "that takes 7 or more repeats a side" in out
    assert png_size(chart)[0] == 1300
    # Without correction the same 25% gain is called, and its interval is shown.
    assert main(["compare", str(RUN_SMALL), str(b), "--correction", "none"]) == 0
    out = capsys.readouterr().out
    assert "yes, p=0.0079" in out and "CI 1.2" in out and "no correction" in out


def test_cli_compare_with_three_repeats_says_not_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "220")
    a = _scaled_copy(tmp_path, 1.0, "none", keep=3)
    b = _scaled_copy(tmp_path, 2.0, "uvloop-streams", keep=3)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert NOT_ENOUGH in out and "yes, p=" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", str(RUN_SMALL)], "give two or more results files"),
        (["compare", str(RUN_SMALL), "--baseline", "nope"], "'nope' is not in"),
        (["compare", str(RUN_SMALL), str(RUN_SMALL), "--baseline", "twisted"], "ONE results"),
        (["compare", str(RUN_SMALL), str(RUN_SMALL), "--chart", "x.gif"], "must end in .png"),
    ],
)
def test_cli_compare_bad_input(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_reader_tolerates_a_case_without_summary() -> None:
    doc = json.loads(RUN_SMALL.read_text())
    for case in doc["cases"]:
        case["summary"] = None
    run = run_from_doc(doc, "no-summary")
    case = next(c for c in run.cases if c.unstable)
    assert case.backend == "twisted" and case.efficiency is not None


def test_cli_compare_json_to_stdout_replaces_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = _scaled_copy(tmp_path, 1.25, "uvloop-streams")
    assert main(["compare", str(RUN_SMALL), str(b), "--json", "-", "--correction", "holm"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["correction"] == "holm" and doc["tests"] == len(doc["comparisons"]) == 64
    entry = next(
        e
        for e in doc["comparisons"]
        if e["case"] == "uvloop-streams/tcp/64B/1c/closed" and e["metric"] == "messages_per_second"
    )
    assert entry["ratio"] == pytest.approx(1.25)
    low, high = entry["ci"]
    assert low < 1.25 < high and entry["p"] == pytest.approx(2 / 252)
    # Holm: the four equal smallest p of 64 are each multiplied by 64.
    assert entry["p_adjusted"] == pytest.approx(64 * 2 / 252) and entry["significant"] is False
    assert {"case": "selectors/tcp/64B/1c/closed", "reason": "only in A"} in doc["not_compared"]
    out = tmp_path / "cmp.json"
    assert main(["compare", str(RUN_SMALL), str(b), "--json", str(out)]) == 0
    assert "Mann-Whitney" in capsys.readouterr().out
    assert json.loads(out.read_text())["correction"] == "bh"


def _many_repeats(tmp_path: Path, repeats: int, cases: int = 6) -> Path:
    """A run whose first ``cases`` cases have ``repeats`` repeats each, drawn from one
    distribution per case: an A/A split can only call false changes."""
    rng = random.Random(1407)
    doc: dict[str, Any] = json.loads(RUN_SMALL.read_text())
    doc["cases"] = [c for c in doc["cases"] if c["repeats"]][:cases]
    for case in doc["cases"]:
        template = case["repeats"][0]
        case["repeats"] = []
        for index in range(repeats):
            repeat = dict(template, repeat=index)
            repeat["messages_per_second"] = template["messages_per_second"] * rng.lognormvariate(
                0, 0.03
            )
            repeat["p99_us"] = template["p99_us"] * rng.lognormvariate(0, 0.1)
            case["repeats"].append(repeat)
    path = tmp_path / f"many-{repeats}.json"
    path.write_text(json.dumps(doc))
    return path


def test_self_check_on_enough_repeats_stays_at_the_nominal_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _many_repeats(tmp_path, 16)
    args = ["compare", "--self-check", str(run), "--splits", "150", "--json", "-"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["can_flag"] and doc["tests"] == 12 and doc["repeats"] == [16, 16]
    tolerance = 3 * math.sqrt(0.05 * 0.95 / 150)
    assert doc["splits_flagged"] <= 0.05 + tolerance
    # Uncorrected, about 5% of the tests fall under p < 0.05, as they should on A/A data.
    assert 0.01 < doc["tests_uncorrected"] < 0.05 + tolerance


def test_self_check_on_three_repeats_says_it_can_show_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", "--self-check", str(_many_repeats(tmp_path, 3))]) == 0
    out = capsys.readouterr().out
    assert "Nothing can be flagged" in out and "1 vs 2 repeats" in out
    assert "0 by construction" in out and "needs at least 12 repeats" in out
    assert "uncorrected rate, at least 8" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "abc"], "takes a percentage"),
        (["--threshold", "150%"], "from 0% to under 100%"),
        (["--alpha", "2"], "between 0 and 1"),
        (["--self-check", str(RUN_SMALL)], "no other files"),
    ],
)
def test_cli_compare_bad_statistics_options(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_ratio_chart_draws_each_confidence_interval_inside_its_range(tmp_path: Path) -> None:
    from echobench.benchmarks.charts._ratio import ratio_chart

    table = compare_runs(load_run(RUN_SMALL), load_run(_scaled_copy(tmp_path, 1.25, "twisted")))
    figure = ratio_chart(table.comparisons, "test")
    (ax,) = figure.axes
    intervals = {
        int(str(line.get_gid())[3:]): line.get_xdata()
        for line in ax.get_lines()
        if str(line.get_gid()).startswith("ci:")
    }
    pairs = table.comparisons[0].pairs
    assert len(intervals) == len(pairs)
    for y, (low, high) in intervals.items():
        ratio = pairs[y].throughput.ratio
        assert ratio.low is not None and ratio.high is not None
        assert ratio.low <= low <= high <= ratio.high


def test_readme_self_check_is_the_published_run_checked() -> None:
    # Regenerated by publish's run step with the README's sample results, never typed.
    from echobench.benchmarks.publish import _step_run
    from echobench.benchmarks.publish._pages import published_block

    root = Path(__file__).parent.parent
    begin, end = _step_run.SELF_CHECK_BEGIN, _step_run.SELF_CHECK_END
    shown = published_block(root, begin, end)
    run = root / _step_run.SHOWN
    assert shown == _step_run.render_self_check(run, _step_run.SHOWN)
