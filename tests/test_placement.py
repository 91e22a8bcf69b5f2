"""Where the server and the load client run, and how many load workers, on any machine.

Pure functions over a list of CPUs, so 4-, 8- and 64-CPU machines are checked here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_echobench
from echobench.benchmarks.runner._isolation import Placement, plan, plan_run
from echobench.benchmarks.runner._matrix import Case
from echobench.benchmarks.runner._measure import MeasureSettings, load_argv, server_args
from echobench.clients._config import default_workers
from echobench.servers._errors import UserError
from echobench.servers._launch import running_server
from echobench.servers._registry import get_backend


def _cpus(n: int) -> list[int]:
    return list(range(n))


def _processes(backend: str, **options: str) -> int | None:
    return get_backend(backend).processes(options)


def test_a_backend_declares_its_processes_from_its_options() -> None:
    assert _processes("asyncio-protocol") == 1
    assert _processes("native") == 1
    assert _processes("uvloop-multiprocess", workers="4") == 4
    assert _processes("uvloop-multiprocess") is None  # one per CPU it is given
    with pytest.raises(UserError, match="positive integer"):
        _processes("uvloop-multiprocess", workers="lots")


@pytest.mark.parametrize(
    ("cpus", "processes", "server", "client"),
    [
        # Two CPUs: one each, whatever the backend, as always.
        (2, 1, [0], [1]),
        (2, None, [0], [1]),
        # One process, one CPU; the client gets every other one.
        (4, 1, [0], [1, 2, 3]),
        (8, 1, [0], _cpus(8)[1:]),
        (64, 1, [0], _cpus(64)[1:]),
        # A server of N worker processes gets N CPUs.
        (4, 2, [0, 1], [2, 3]),
        (8, 4, [0, 1, 2, 3], [4, 5, 6, 7]),
        (64, 8, _cpus(8), _cpus(64)[8:]),
        # One worker per CPU it is given: half the machine.
        (8, None, [0, 1, 2, 3], [4, 5, 6, 7]),
        (64, None, _cpus(32), _cpus(64)[32:]),
    ],
)
def test_the_server_gets_a_cpu_per_process_and_the_client_the_rest(
    cpus: int, processes: int | None, server: list[int], client: list[int]
) -> None:
    placement = plan(_cpus(cpus), server_processes=processes)
    assert list(placement.server_cpus) == server
    assert list(placement.client_cpus) == client
    assert not placement.warnings


def test_more_server_processes_than_cpus_leave_the_client_one() -> None:
    placement = plan(_cpus(4), server_processes=6)
    assert placement.server_cpus == (0, 1, 2) and placement.client_cpus == (3,)
    assert "6 processes share 3 CPU(s)" in placement.warnings[0]


def test_cpus_asked_for_still_override() -> None:
    placement = plan(_cpus(8), server_cpus=[2, 3], server_processes=1)
    assert placement.server_cpus == (2, 3) and placement.client_cpus == (0, 1, 4, 5, 6, 7)
    default, per_backend = plan_run(
        _cpus(8), client_cpus=[7], processes={"uvloop-multiprocess": 4, "native": 1}
    )
    assert default.client_cpus == (7,) and per_backend == {}


def test_a_run_places_each_backend_by_its_processes() -> None:
    default, per_backend = plan_run(
        _cpus(8),
        processes={"asyncio-protocol": 1, "native": 1, "uvloop-multiprocess": 4},
    )
    assert default == Placement((0,), tuple(range(1, 8)))
    assert per_backend == {"uvloop-multiprocess": Placement((0, 1, 2, 3), (4, 5, 6, 7))}
    # On two CPUs every backend shares the one placement; a crowded server still says so.
    assert plan_run(_cpus(2), processes={"native": 1, "uvloop-multiprocess": None})[1] == {}
    default, per_backend = plan_run(_cpus(2), processes={"native": 1, "uvloop-multiprocess": 2})
    assert per_backend == {} and default.as_dict() == {"server_cpus": [0], "client_cpus": [1]}
    assert "2 processes share 1 CPU" in default.warnings[0]


@pytest.mark.parametrize(
    ("client_cpus", "connections", "asked", "workers"),
    [
        (1, 32, None, 1),  # two CPUs: one client CPU, one worker, as always
        (3, 32, None, 3),
        (7, 32, None, 7),
        (63, 32, None, 32),  # never more workers than connections
        (63, 1, None, 1),
        (7, 32, 2, 2),  # --workers overrides
    ],
)
def test_one_load_worker_per_client_cpu(
    client_cpus: int, connections: int, asked: int | None, workers: int
) -> None:
    assert default_workers(asked, client_cpus, connections) == workers


def _argv(
    settings: MeasureSettings, backend: str, connections: int = 32, rate: float | None = None
) -> list[str]:
    case = Case(backend, "native", "tcp", 64, connections, rate)
    return load_argv(case, settings, host="127.0.0.1", port=1, unix=None, json_path="x.json")


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_runner_pins_one_load_worker_to_each_client_cpu() -> None:
    default, per_backend = plan_run(_cpus(8), processes={"native": 1, "uvloop-multiprocess": 4})
    settings = MeasureSettings(
        duration=1.0, warmup=0.1, workers=None, placement=default, placements=per_backend
    )
    native = _argv(settings, "native")
    assert _option(native, "--workers") == "7" and _option(native, "--cpus") == "1,2,3,4,5,6,7"
    multi = _argv(settings, "uvloop-multiprocess")
    assert _option(multi, "--workers") == "4" and _option(multi, "--cpus") == "4,5,6,7"
    assert _option(_argv(settings, "native", connections=1), "--workers") == "1"
    # An open loop's workers keep their CPU before other tasks; a closed loop's, as is.
    assert _option(_argv(settings, "native", rate=5000.0), "--nice") == "-20"
    assert "--nice" not in native
    # A cluster runs the load elsewhere: no local CPUs; --workers only when asked for.
    remote = MeasureSettings(
        duration=1.0,
        warmup=0.1,
        workers=None,
        placement=Placement((), (0, 1)),
        connect=("10.0.0.1", 7),
        cluster="tcp://10.0.0.2:8786",
    )
    argv = _argv(remote, "far")
    assert _option(argv, "--cluster") == "tcp://10.0.0.2:8786"
    assert "--cpus" not in argv and "--workers" not in argv


def test_server_options_reach_the_server() -> None:
    case = Case("uvloop-multiprocess", "uvloop", "tls", 64, 32, None)
    assert server_args(case, None, {"workers": "4"}) == ["-o", "workers=4", "--tls"]


def test_load_runs_one_worker_per_cpu_by_default(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    with running_server("asyncio-protocol") as server:
        result = run_echobench(
            *("load", "--port", str(server.port), "--cpus", "0,1", "-c", "4", "-s", "64"),
            *("-d", "0.3", "--warmup", "0", "-q", "--json", str(out)),
        )
    assert result.returncode == 0, result.stderr
    params = json.loads(out.read_text())["params"]
    assert params["workers"] == 2 and params["cpus"] == [0, 1]
