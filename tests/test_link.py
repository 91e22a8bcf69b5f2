"""A client link judged from its counters, and the verdict that names the network."""

from __future__ import annotations

from typing import Any

from echobench.benchmarks.runner import _verdict
from echobench.clients._link import interface_to, link_field, read, reading_dict


def _reading(**changes: Any) -> dict[str, Any]:
    base = {
        "interface": "eth0",
        "speed_mbit": 1000,
        "qdisc": "fq_codel",
        "at_ns": 0,
        "bytes_out": 0,
        "bytes_in": 0,
        "packets_out": 0,
        "held_back": 0,
    }
    return {**base, **changes}


def test_a_queue_that_held_packets_back_or_a_link_at_line_rate_is_the_limit() -> None:
    second = 1_000_000_000
    roomy = link_field(
        _reading(), _reading(at_ns=second, bytes_out=10**6, packets_out=1000, held_back=9)
    )
    assert roomy is not None and not roomy["limited"] and roomy["out_mbit_per_s"] == 8.0
    held = link_field(_reading(), _reading(at_ns=second, packets_out=1000, held_back=10))
    assert held is not None and held["limited"] and held["held_back_share"] == 0.01
    full = link_field(_reading(), _reading(at_ns=second, bytes_in=115 * 10**6))
    assert full is not None and full["limited"] and full["in_mbit_per_s"] == 920.0
    unknown_speed = link_field(
        _reading(speed_mbit=0), _reading(speed_mbit=0, at_ns=second, bytes_in=10**9)
    )
    assert unknown_speed is not None and not unknown_speed["limited"]
    assert unknown_speed["speed_mbit"] is None
    assert link_field(None, _reading()) is None
    assert link_field(_reading(), _reading(interface="eth1")) is None


def test_loopback_is_found_and_read() -> None:
    assert interface_to("127.0.0.1", 9) == "lo"
    reading = reading_dict(read("lo"))
    assert reading is not None and reading["interface"] == "lo" and reading["packets_out"] >= 0
    assert read("no-such-interface") is None


def test_network_only_when_no_cpu_was_saturated() -> None:
    assert _verdict.verdict(0.3, 0.4, network_limited=True) == "network"
    assert _verdict.verdict(None, 0.4, network_limited=True) == "network"
    assert _verdict.verdict(0.95, 0.4, network_limited=True) == "server"
    assert _verdict.verdict(0.3, 0.95, network_limited=True) == "client"
    assert _verdict.verdict(0.3, 0.4) == "neither"
    assert _verdict.open_loop_verdict(None, False, True) == "network"
    assert _verdict.overall(["network", "neither"]) == "network"
