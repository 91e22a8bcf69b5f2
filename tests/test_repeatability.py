"""``echobench repeatability``'s judgement and table, and publish's word on a noisy run.

The instrument itself runs ``echobench run`` for minutes; its parts are exercised by the
runner's own tests. Here: what it concludes from the figures, and that a noisy period is
never passed off as a verdict.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import assert_one_line_error, run_echobench
from echobench.benchmarks.publish._step import noise
from echobench.benchmarks.truth._repeatability import (
    _noisy,
    interference_of,
    render_table,
    verdicts,
)


def _run(disturbed: list[bool], quiet: bool = True) -> dict[str, Any]:
    """A results document with one case whose repeats were disturbed as given."""
    repeats = [
        {
            "repeat": i,
            "interference": {
                "steal_pct": {"server": 30.0 if hit else 0.2, "client": 0.1},
                "run_delay_pct": {"server": 0.0, "client": 1.0},
                "disturbed": hit,
            },
        }
        for i, hit in enumerate(disturbed)
    ]
    return {
        "environment": {
            "host_check": {
                "quiet": quiet,
                "busy": [] if quiet else ["steal 12% on CPU 0"],
                "said": "steal up to 12.0%",
            }
        },
        "cases": [
            {
                "id": "x/tcp/1024B/10c/closed",
                "repeats": repeats,
                "summary": {"disturbed": any(disturbed)},
            }
        ],
    }


def test_interference_of_a_run_sums_up_what_the_host_took() -> None:
    seen = interference_of(_run([False, True, False]))
    assert seen["repeats"] == 3 and seen["disturbed_repeats"] == 1 and seen["disturbed_cases"] == 1
    assert seen["steal_pct_server"] == {"median": 0.2, "max": 30.0}
    assert seen["run_delay_pct_client"] == {"median": 1.0, "max": 1.0}
    assert seen["host_quiet"] is True


def test_a_noisy_period_is_not_judged() -> None:
    quiet = interference_of(_run([False] * 6))
    assert _noisy([quiet, quiet]) is None
    # Disturbed repeats are measured again: a few do not make the period noisy, most do.
    assert _noisy([quiet, interference_of(_run([True] * 4 + [False] * 2))]) is None
    assert _noisy([interference_of(_run([True] * 7 + [False]))]) == "7 of 8 repeats were disturbed"
    busy = interference_of(_run([False] * 6, quiet=False))
    assert _noisy([busy]) == "the host was busy when a run started (steal up to 12.0%)"


def _doc(**parts: Any) -> dict[str, Any]:
    params = {"backends": ["asyncio-streams"], "sizes": [1024], "connections": [10]}
    return {
        "started_at": "2026-12-02T17:00:00",
        "params": {**params, "repeat": 6, "duration": 1},
        **parts,
    }


QUIET_RUN = interference_of(_run([False] * 6))


def _aa(ratio: float, noisy: str | None = None) -> dict[str, Any]:
    row = {
        "case": "asyncio-streams/tcp/1024B/10c/closed",
        "a": 50_000.0,
        "b": 50_000.0 * ratio,
        "ratio": ratio,
        "interval": [ratio - 0.02, ratio + 0.02],
        "excluded": None,
        "within": 0.9 <= ratio <= 1.1,
    }
    return {
        "runs": [QUIET_RUN, QUIET_RUN],
        "cases": [row],
        "judged": 1,
        "holds": row["within"],
        "noisy": noisy,
    }


def test_verdicts_say_what_fails_and_what_was_not_judged() -> None:
    assert verdicts(_doc(aa=_aa(1.03))) == []
    assert verdicts(_doc(aa=_aa(0.46))) == [
        "aa: the claim (two runs' medians within 0.90-1.10) does not hold"
    ]
    noisy = _doc(aa=_aa(0.46, noisy="9 of 12 repeats were disturbed"))
    assert verdicts(noisy) == [
        "aa: not judged, measured in a noisy period: 9 of 12 repeats were disturbed"
    ]
    table = render_table(noisy)
    assert (
        "**A/A** (not judged: measured in a noisy period, 9 of 12 repeats were disturbed)" in table
    )
    assert (
        "| asyncio-streams/tcp/1024B/10c/closed | 50,000 | 23,000 | 0.460 | 0.440-0.480 | OUTSIDE |"
        in table
    )
    overhead = {
        "runs": [QUIET_RUN],
        "on": [99.0, 100.0],
        "off": [100.0, 100.0],
        "ratio": 0.995,
        "interval": [0.99, 1.0],
        "holds": True,
        "noisy": None,
    }
    said = render_table(_doc(overhead=overhead))
    assert "**Overhead** (holds): 2 runs with the measurement and 2 without" in said
    assert "0.995, 95% interval 0.990-1.000" in said


def test_publish_reports_a_run_measured_in_a_noisy_period() -> None:
    assert noise(_run([False, False]), "run.json") == []
    said = noise(_run([True, False], quiet=False), "run.json")
    assert said[0].startswith(
        "run.json: the host was busy when the run started (steal 12% on CPU 0)"
    )
    assert said[1].startswith("run.json: 1 of 1 case(s) disturbed by the host, marked (D)")
    waited = _run([False])
    waited["environment"]["host_check"]["quiet"] = False
    waited["environment"]["host_check"]["waited"] = {"quiet": True}
    assert noise(waited, "run.json") == []  # it waited until the host was quiet


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "bb"], "--parts"),
        (["--repeat", "3"], "--repeat must be at least 6"),
        (["--pairs", "0"], "--pairs must be at least 1"),
    ],
)
def test_bad_options_get_one_line(argv: list[str], message: str) -> None:
    assert_one_line_error(run_echobench("repeatability", *argv), message)


def test_an_instrument_outside_the_runner_records_its_host() -> None:
    import os

    from echobench.benchmarks.runner._hostcheck import host_line, host_noise, watched

    cpus = sorted(os.sched_getaffinity(0))
    with watched(cpus, check_s=0.2) as host:
        pass
    assert set(host["before"]) >= {"steal_pct", "other_work_pct", "wakeup_us", "said", "quiet"}
    assert sorted(host["during"]["steal_pct"]) == [str(c) for c in cpus]
    assert "noisy" in host
    quiet = {
        "before": {"quiet": True, "said": "steal up to 0.0%"},
        "during": {"steal_pct": {"0": 1.0}},
    }
    assert host_noise(quiet) is None
    assert host_line(quiet) == " Host before it: steal up to 0.0%; steal while it ran up to 1.0%."
    stolen = {**quiet, "during": {"steal_pct": {"0": 1.0, "1": 23.5}}}
    assert host_noise(stolen) == "steal reached 23.5% of a CPU while it ran"
    busy = {"before": {"quiet": False, "busy": ["other work 40% on CPU 1"]}}
    assert host_noise(busy) == "the host was busy before it (other work 40% on CPU 1)"
    assert host_line(None) == ""


def test_the_awake_study_renders_each_run_and_judges_nothing() -> None:
    idle = [
        {"native": 12_800.0, "anyio-asyncio": 14_900.0},
        {"native": 13_500.0, "anyio-asyncio": 14_400.0},
    ]
    kept = [
        {"native": 21_500.0, "anyio-asyncio": 16_300.0},
        {"native": 19_800.0, "anyio-asyncio": 16_100.0},
    ]
    part = {
        "runs": [QUIET_RUN],
        "one_connection": {
            "idle": {"medians": idle, "rho": 1.0, "leader": ["anyio-asyncio", "anyio-asyncio"]},
            "awake": {"medians": kept, "rho": 1.0, "leader": ["native", "native"]},
        },
        "cost_at_32": {"native": 0.855},
        "noisy": None,
    }
    doc = _doc(awake=part)
    assert verdicts(doc) == []
    table = render_table(doc)
    assert "| `native` | 12.8k | 13.5k | 21.5k | 19.8k |" in table
    assert "led by `anyio-asyncio` and `anyio-asyncio`; awake, rho 1.00, led by `native`" in table
    assert "At 32 connections, awake against idle: `native` 0.85x." in table
