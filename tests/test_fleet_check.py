"""The fleet step's table and claims, from a real document (``fixtures/fleet_quick.json``:
``echobench publish --only fleet --quick --root COPY`` on a copy of the checkout, then
``COPY/results/published/fleet.json``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from echobench.benchmarks.truth._fleet_check import render_table, shortfalls

DOC: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "fleet_quick.json").read_text()
)


def test_the_table_says_each_claim_and_what_was_measured() -> None:
    table = render_table(DOC)
    assert (
        "| start spread, 3 loads of 2 shards x 1 s (after one not counted) | under 5 ms | "
        "median 2.22 ms, max 3.56 ms as recorded (Dask's clock estimate, +-1.9 ms); truly "
        "0.97 ms, max 3.41 ms; the first load 0.44 ms |"
    ) in table
    assert "| merged histogram = sum of the shards' | every value, every load | yes" in table
    assert "NETWORK-BOUND named" in table and "shaped to 20 Mbit/s (tbf)" in table
    assert "exit 2, 1 line(s): `echobench load: error: the Dask scheduler" in table
    assert "`native` started on the server host" in table
    assert "steal 0.0%" in table and "198.18.0.3 and 198.18.0.4" in table
    assert shortfalls(DOC) == []


def test_each_claim_the_numbers_contradict_is_named() -> None:
    doc = copy.deepcopy(DOC)
    doc["summary"].update(
        start_spread_max_us=6200.0,
        spread_within=False,
        merged_equals_sum=False,
        network_named=False,
        refused=False,
        server_measured=False,
    )
    found = shortfalls(doc)
    assert found[0] == "a start spread of 6.20 ms, over 5 ms"
    assert DOC["spreads"][0]["warmup"] and not any(r["warmup"] for r in DOC["spreads"][1:])
    assert len(found) == 5
