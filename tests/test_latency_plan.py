"""The latency sweep's plan and summary as pure functions: capacity, caps, common rates,
the client's lag rule, and capacity at a latency target."""

from __future__ import annotations

from typing import Any

import pytest

from echobench.benchmarks.runner import _sweepplan, _verdict
from echobench.benchmarks.runner._matrix import Case, parse_duration_us, parse_percentages
from echobench.benchmarks.runner._sweepplan import Measured, slo_capacity
from echobench.servers._errors import UserError

PROBE = Case("b", "baseline", "tcp", 64, 32, None)


def point(rate: float, p99: float, overloaded: bool = False, client: bool = False) -> Measured:
    return Measured(f"b/{rate:g}", rate, p99, overloaded, client)


def test_slo_capacity_interpolates_between_the_last_good_and_the_first_bad_point() -> None:
    points = [point(1000, 100), point(5000, 200), point(9000, 600), point(10000, 1600, True)]
    slo = slo_capacity(points, 1000.0, capped=False)
    # Linear in p99 from (9000, 600) to (10000, 1600): 1000 µs is 40% of the way.
    assert slo["messages_per_second"] == pytest.approx(9400.0)
    assert slo["interpolated"] and not slo["at_least"]
    assert slo["between"] == ["b/9000", "b/10000"] and slo["p99_us"] == 1000.0


def test_slo_capacity_is_a_lower_bound_when_every_point_met_the_target() -> None:
    slo = slo_capacity([point(1000, 100), point(2000, 150)], 1000.0, capped=True)
    assert slo["messages_per_second"] == 2000 and slo["at_least"] and not slo["interpolated"]
    assert slo["client_bound"]  # the sweep was capped by the client: it could go no higher


def test_points_the_client_could_not_hold_never_count() -> None:
    points = [point(1000, 100), point(2000, 120, client=True), point(3000, 5000, True)]
    slo = slo_capacity(points, 1000.0, capped=False)
    # 2000 is not the server's: the estimate runs from 1000 toward 3000, not from 2000.
    assert slo["between"] == ["b/1000", "b/3000"] and slo["client_bound"]
    assert 1000 < slo["messages_per_second"] < 2000
    only_client = slo_capacity([point(1000, 100, client=True)], 1000.0, capped=False)
    assert only_client["messages_per_second"] is None and only_client["client_bound"]
    assert "client fell behind" in only_client["reason"]


def test_an_overloaded_point_fails_the_target_even_with_a_low_p99() -> None:
    slo = slo_capacity([point(1000, 100), point(2000, 150, overloaded=True)], 1000.0, False)
    assert slo["messages_per_second"] == 1000 and not slo["interpolated"]


def test_no_slo_capacity_when_the_lowest_load_already_misses() -> None:
    slo = slo_capacity([point(1000, 4000), point(2000, 9000)], 1000.0, capped=False)
    assert slo["messages_per_second"] is None
    assert "lowest rate measured (1,000 msg/s" in slo["reason"]


def test_a_noisy_low_point_does_not_hide_the_higher_good_ones() -> None:
    points = [point(1000, 2500), point(2000, 300), point(3000, 400), point(4000, 9000, True)]
    slo = slo_capacity(points, 1000.0, capped=False)
    assert 3000 < slo["messages_per_second"] < 4000


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


def entry(rate_per_second: list[int], client_bound: bool = False) -> dict[str, Any]:
    return {
        "id": PROBE.id,
        "repeats": [
            {
                "messages_per_second": sum(rate_per_second) / len(rate_per_second),
                "load": {"per_second": rate_per_second},
            }
        ],
        "summary": {"verdict": "both" if client_bound else "server", "client_bound": client_bound},
    }


def test_capacity_is_the_median_second_of_the_probe() -> None:
    cap = _sweepplan.capacity(entry([9000, 12000, 10000]))
    assert cap is not None
    assert cap["messages_per_second"] == 10000 and cap["sample"] == "second"
    assert _sweepplan.capacity(None) is None
    assert _sweepplan.hold_check_case(PROBE, cap, [0.5, 1.0]) is None


def test_a_client_bound_capacity_caps_the_sweep_at_what_the_open_loop_client_held() -> None:
    cap = _sweepplan.capacity(entry([200_000, 210_000, 205_000], client_bound=True))
    assert cap is not None
    hold = _sweepplan.hold_check_case(PROBE, cap, [0.5, 1.0])
    assert hold is not None and hold.rate == 205_000.0
    behind = {
        "repeats": [{}],
        "summary": {"client_bound": True, "messages_per_second": {"median": 150_000.0}},
    }
    base = _sweepplan.base_rate(cap, behind, [0.5, 1.0])
    assert base == {"messages_per_second": 150_000.0, "capped": True, "client_ceiling": 150_000.0}
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
