"""The latency sweep's plan and summary as pure functions: capacity, caps, common rates,
the client's lag rule, and capacity at a latency target."""

from __future__ import annotations

from typing import Any

import pytest

from echobench.benchmarks.runner import _sweepplan, _sweepsummary, _verdict
from echobench.benchmarks.runner._matrix import Case, parse_duration_us, parse_percentages
from echobench.benchmarks.runner._sweepsummary import Point, slo_capacity
from echobench.clients._pacer import LATE_THRESHOLDS_NS
from echobench.servers._errors import UserError

PROBE = Case("b", "baseline", "tcp", 64, 32, None)


def point(
    rate: float,
    p99: float,
    ci: tuple[float, float | None] | None = None,
    overloaded: bool = False,
    client: bool = False,
) -> Point:
    """A measured point; its interval defaults to 10% either side of its p99."""
    interval = [p99 * 0.9, p99 * 1.1] if ci is None else list(ci)
    stats = {"client_bound": client, "overloaded": overloaded, "p99_ci_us": interval}
    return Point(
        case=f"b/{rate:g}",
        rate=rate,
        windows=1,
        p99_us=p99,
        p99_ci_us=interval,
        overloaded=overloaded,
        client_bound=client,
        decision=_sweepsummary.decide(stats, TARGET),
    )


TARGET = 1000.0


def test_the_first_crossing_is_the_capacity_a_lucky_point_above_a_failure_does_not_count() -> None:
    # A low point fails surely; a window high up happened to pass: the first failure wins.
    points = [point(1000, 100), point(2000, 2500), point(3000, 300), point(4000, 400)]
    slo = slo_capacity(points, TARGET, capped=False)
    assert slo["rule"] == "first-crossing"
    assert slo["range"] == [1000, 2000] and slo["between"] == ["b/1000", "b/2000"]
    # Linear in p99 from (1000, 100) to (2000, 2500): 1000 µs is 37.5% of the way.
    assert slo["messages_per_second"] == pytest.approx(1375.0) and slo["interpolated"]


def test_the_range_runs_from_the_last_sure_pass_to_the_first_sure_failure() -> None:
    points = [
        point(1000, 100),
        point(5000, 200),
        point(8000, 950, ci=(800, 1200)),  # straddles the target: undecided
        point(9000, 1100, ci=(900, 1300)),  # over it by its estimate, still undecided
        point(10000, 1600),  # surely over
        point(11000, 500),  # above the first failure: never counted
    ]
    slo = slo_capacity(points, TARGET, capped=False)
    assert slo["range"] == [5000, 10000]
    assert slo["undecided"] == ["b/8000", "b/9000"]
    # The estimate crosses between 8000 and 9000, inside the range.
    assert slo["between"] == ["b/8000", "b/9000"]
    assert 8000 < slo["messages_per_second"] < 9000 and not slo["at_least"]


def test_an_undecided_point_below_a_sure_pass_keeps_the_range_low() -> None:
    # Every point must have met the target: one in doubt low down bounds the sure part.
    points = [point(1000, 100), point(2000, 900, ci=(500, 1500)), point(3000, 300)]
    slo = slo_capacity(points, TARGET, capped=False)
    assert slo["range"] == [1000, None] and slo["undecided"] == ["b/2000"]
    assert slo["at_least"] and slo["messages_per_second"] == 3000


def test_every_point_under_the_target_is_a_lower_bound() -> None:
    slo = slo_capacity([point(1000, 100), point(2000, 150)], TARGET, capped=True)
    assert slo["messages_per_second"] == 2000 and slo["at_least"] and not slo["interpolated"]
    assert slo["range"] == [2000, None]
    assert slo["client_bound"]  # the sweep was capped by the client: it could go no higher


def test_points_the_client_could_have_made_never_count() -> None:
    points = [point(1000, 100), point(2000, 120, client=True), point(3000, 5000)]
    slo = slo_capacity(points, TARGET, capped=False)
    # 2000 is not the server's: the estimate runs from 1000 toward 3000, not from 2000.
    assert slo["between"] == ["b/1000", "b/3000"] and slo["client_bound"]
    assert 1000 < slo["messages_per_second"] < 2000
    only_client = slo_capacity([point(1000, 100, client=True)], TARGET, capped=False)
    assert only_client["messages_per_second"] is None and only_client["client_bound"]
    assert "client could have made" in only_client["reason"]


def test_an_overloaded_point_fails_the_target_even_with_a_low_p99() -> None:
    slo = slo_capacity([point(1000, 100), point(2000, 150, overloaded=True)], TARGET, False)
    assert slo["messages_per_second"] == 1000 and not slo["interpolated"]
    assert slo["range"] == [1000, 2000]


def test_no_slo_capacity_when_the_lowest_load_already_misses() -> None:
    slo = slo_capacity([point(1000, 4000), point(2000, 9000)], TARGET, capped=False)
    assert slo["messages_per_second"] is None and slo["range"] == [None, 1000]
    assert "lowest rate measured (1,000 msg/s" in slo["reason"]


def test_a_point_meets_fails_or_is_undecided_by_its_interval() -> None:
    def decision(ci: list[float | None] | None, **flags: bool) -> str:
        stats = {"client_bound": False, "overloaded": False, "p99_ci_us": ci, **flags}
        return _sweepsummary.decide(stats, TARGET)

    assert decision([500, 900]) == "meets"
    assert decision([1100, 1500]) == "fails"
    assert decision([900, 1100]) == decision([500, None]) == decision(None) == "undecided"
    assert decision([100, 200], overloaded=True) == "fails"
    assert decision([100, 200], client_bound=True) == "client-bound"


def late(**counts: int) -> dict[str, int]:
    """Late-message counts by threshold (µs); unnamed thresholds count none."""
    return {str(t // 1000): counts.get(f"t{t // 1000}", 0) for t in LATE_THRESHOLDS_NS}


def test_a_window_is_the_clients_when_its_p99_lag_reaches_a_quarter_or_it_paused() -> None:
    window = {"messages": 10_000, "max_send_lag_us": 5000.0, "max_pause_us": 50.0}
    # 1% of the messages left 181 µs late or later (the threshold under a quarter of the
    # target, 250 µs): the client's p99 lag could be a quarter of the p99.
    assert _sweepsummary.client_made({**window, "late_messages": late(t181=101)}, TARGET)
    # One 5 ms stall that delayed 50 messages: far from the p99's 1% (100 messages).
    assert not _sweepsummary.client_made({**window, "late_messages": late(t181=50)}, TARGET)
    # Surely under a quarter of the target, however many.
    assert not _sweepsummary.client_made({**window, "late_messages": late(t128=900)}, TARGET)
    # A pause of its own over a quarter of the target is the client's, whatever its lag.
    paused = {**window, "max_pause_us": 300.0, "late_messages": late()}
    assert _sweepsummary.client_made(paused, TARGET)
    # An older file without the counts: its longest lag decides.
    assert _sweepsummary.client_made({"max_send_lag_us": 300.0}, TARGET)


def test_the_floor_is_interpolated_between_its_rates_and_overlap_is_at_the_floor() -> None:
    floor = {
        "points": [
            {"rate": 1000.0, "stats": {"p99_ci_us": [40.0, 60.0]}},
            {"rate": 3000.0, "stats": {"p99_ci_us": [80.0, 100.0]}},
        ]
    }
    assert _sweepsummary.floor_at(floor, 2000.0) == [60.0, 80.0]
    assert _sweepsummary.floor_at(floor, 1000.0) == [40.0, 60.0]
    assert _sweepsummary.floor_at(floor, 5000.0) is None
    assert _sweepsummary.overlaps([70.0, 90.0], [60.0, 80.0])
    assert not _sweepsummary.overlaps([85.0, 95.0], [60.0, 80.0])
    assert _sweepsummary.overlaps([85.0, 95.0], [60.0, None])  # open upward


def test_auto_target_is_four_times_the_floors_p99_at_half_load() -> None:
    latency = {
        "sweeps": [
            {
                "backend": "native",
                "transport": "tcp",
                "size": 64,
                "connections": 32,
                "points": [
                    {"case": "n/10", "fraction": 0.25, "rate": 10.0, "stats": {"p99_us": 90.0}},
                    {"case": "n/20", "fraction": 0.5, "rate": 20.0, "stats": {"p99_us": 120.0}},
                    {"case": "n/40", "fraction": 1.0, "rate": 40.0, "stats": {"p99_us": 900.0}},
                ],
            }
        ]
    }
    auto = _sweepsummary.auto_target(latency)
    assert auto is not None
    assert auto["floor_case"] == "n/20" and auto["p99_us"] == 480.0 and auto["factor"] == 4.0


@pytest.mark.parametrize(
    ("lag_us", "window_s", "p99_us", "behind"),
    [
        (9_000, 1.0, 500.0, False),  # a stall under 1% of the window
        (11_000, 1.0, 500.0, True),  # over it, and it could be the whole p99
        (19_000, 2.0, None, False),
        (300_000, 2.0, 350_000.0, True),  # a client that cannot hold the rate
        (30_000, 2.0, 400_000.0, False),  # a server whose queue grew: the p99 is its own
    ],
)
def test_the_client_is_behind_when_its_lag_could_have_made_the_p99(
    lag_us: float, window_s: float, p99_us: float | None, behind: bool
) -> None:
    assert _verdict.behind_schedule(lag_us, window_s, p99_us) is behind
    # An open loop judges the client by its lag; a saturated server still shows.
    verdict = _verdict.open_loop_verdict(0.95, behind)
    assert verdict == ("both" if behind else "server")


def test_rates_are_rounded_to_three_figures() -> None:
    assert _sweepplan.round_rate(123_456.0) == 123_000.0
    assert _sweepplan.round_rate(9_876.5) == 9_880.0
    assert _sweepplan.round_rate(0.3) == 1.0


def entry(seconds: list[list[int]], client_bound: bool = False) -> dict[str, Any]:
    """A probe's entry: one repeat per list of per-second throughputs."""
    return {
        "id": PROBE.id,
        "repeats": [
            {"repeat": r, "messages_per_second": sum(s) / len(s), "load": {"per_second": s}}
            for r, s in enumerate(seconds)
        ],
        "summary": {"verdict": "both" if client_bound else "server", "client_bound": client_bound},
    }


def test_the_probe_repeats_until_its_capacity_is_known_within_5_percent() -> None:
    one = _sweepplan.capacity(entry([[9000, 12000, 10000]]))
    assert one is not None
    # Three seconds have no 95% interval for their median: the probe goes on.
    assert one["messages_per_second"] == 10000 and one["ci"] is None
    assert _sweepplan.probe_again(one, failed=False)
    steady = _sweepplan.capacity(entry([[10000, 10100, 9950], [10050, 9990, 10020]]))
    assert steady is not None and steady["ci"] == [9950.0, 10100.0]
    assert steady["within_target"] and not _sweepplan.probe_again(steady, failed=False)
    noisy = entry([[5000, 12000, 9000], [15000, 7000, 10000]])
    cap = _sweepplan.capacity(noisy)
    assert cap is not None and not cap["within_target"]
    assert _sweepplan.probe_again(cap, failed=False)
    # ... until its repeats run out, or one fails.
    assert not _sweepplan.probe_again(cap, failed=True)
    noisy["repeats"] *= 3
    cap = _sweepplan.capacity(noisy)
    assert cap is not None and cap["repeats"] == 6 and not _sweepplan.probe_again(cap, False)
    assert _sweepplan.capacity(None) is None
    assert _sweepplan.hold_check_case(PROBE, steady, [0.5, 1.0]) is None


def test_a_client_bound_capacity_caps_the_sweep_at_what_the_open_loop_client_held() -> None:
    cap = _sweepplan.capacity(entry([[200_000, 210_000, 205_000]], client_bound=True))
    assert cap is not None
    hold = _sweepplan.hold_check_case(PROBE, cap, [0.5, 1.0])
    assert hold is not None and hold.rate == 205_000.0
    behind = {
        "repeats": [{}],
        "summary": {"client_bound": True, "messages_per_second": {"median": 150_000.0}},
    }
    base = _sweepplan.base_rate(cap, behind, [0.5, 1.0])
    assert base == {
        "messages_per_second": 150_000.0,
        "low": 150_000.0,
        "capped": True,
        "client_ceiling": 150_000.0,
    }
    held = {"repeats": [{}], "summary": {"client_bound": False}}
    assert not _sweepplan.base_rate(cap, held, [0.5, 1.0])["capped"]
    points = _sweepplan.sweep_points(PROBE, base, [0.5, 1.0], [], hold)
    # The top point offers the client's ceiling; the hold check stays, marked.
    assert [p["rate"] for p in points] == [75_000.0, 150_000.0, 205_000.0]
    assert points[-1]["hold_check"] and points[-1]["fraction"] is None


def test_common_rates_come_from_the_slowest_backend_and_merge_with_its_points() -> None:
    bases = {"fast": 200_000.0, "slow": 40_000.0}
    common = _sweepplan.common_rates(bases, [], (0.25, 0.5, 0.9))
    assert common == {
        "rates": [10_000.0, 20_000.0, 36_000.0],
        "from_backend": "slow",
        "from_rate": 40_000.0,
    }
    slow = {"messages_per_second": 40_000.0, "capped": False, "client_ceiling": None}
    points = _sweepplan.sweep_points(PROBE, slow, [0.25, 0.5, 1.0], common["rates"], None)
    # 25% and 50% of the slowest are common rates: one case each, marked both ways.
    assert [(p["rate"], p["fraction"], p["common"]) for p in points] == [
        (10_000.0, 0.25, True),
        (20_000.0, 0.5, True),
        (36_000.0, None, True),
        (40_000.0, 1.0, False),
    ]
    given = _sweepplan.common_rates(bases, [50_000.0, 5_000.0], (0.5,))
    assert given["rates"] == [5_000.0, 50_000.0] and given["from_backend"] is None
    # From a probe's interval: its low end, not one noisy second's median.
    lows = {"fast": 190_000.0, "slow": 36_000.0}
    low = _sweepplan.common_rates(bases, [], (0.5,), lows)
    assert low["rates"] == [18_000.0] and low["from_rate"] == 36_000.0


def test_fractions_and_times_from_the_command_line() -> None:
    assert parse_percentages("100,10,50%", "load-fractions") == [0.1, 0.5, 1.0]
    assert parse_duration_us("1ms", "slo-p99") == 1000.0
    assert parse_duration_us("250us", "slo-p99") == 250.0
    assert parse_duration_us("0.5s", "slo-p99") == 500_000.0
    for bad in ("5", "ms", "-1ms", "nanms"):
        with pytest.raises(UserError, match="with its unit"):
            parse_duration_us(bad, "slo-p99")
    for bad in ("0", "250", "x"):
        with pytest.raises(UserError, match="load-fractions"):
            parse_percentages(bad, "load-fractions")
