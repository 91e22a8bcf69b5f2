"""The reference clients the client-ceiling benchmark compares ours with, and its table."""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path

import pytest

from echobench.benchmarks import reference
from echobench.benchmarks.publish import _step_run
from echobench.benchmarks.publish._pages import published_block
from echobench.benchmarks.reference._client import Shape, reference_clients
from echobench.benchmarks.reference.minimal_client import CLIENT as MINIMAL
from echobench.benchmarks.runner._hostcheck import host_line
from echobench.benchmarks.truth import _agreement, _ceiling
from echobench.servers import UserError
from echobench.servers._launch import running_server

PUBLISHED = Path(__file__).parent.parent / "results" / "published"


def test_every_reference_client_measures_a_real_server_through_the_interface() -> None:
    clients = {client.name: client for client in reference_clients()}
    assert {"native", "minimal", "vmbench"} <= set(clients)
    cpu = [max(os.sched_getaffinity(0))]
    with running_server("uvloop-protocol") as server:
        for name, client in clients.items():
            if client.unavailable() is not None:
                continue  # the native client without a compiler: test_native says so
            shape = Shape(connections=2, size=256, duration=0.3, warmup=0.05)
            report = client.run(server.host, server.port, shape, cpu)
            assert report["messages"] > 0, name
            assert report["messages_per_second"] > 0, name
            assert 0.25 <= report["elapsed_s"] <= 1.0, name
            if name == "minimal":
                assert report["messages_per_second"] == pytest.approx(
                    report["messages"] / report["elapsed_s"], rel=1e-6
                )


def test_a_new_file_is_a_reference_client_the_ceiling_measures(tmp_path: Path) -> None:
    folder = Path(reference.__file__).parent
    name = f"zz_probe_{os.getpid()}"
    (folder / f"{name}.py").write_text(
        "from echobench.benchmarks.reference._client import ReferenceClient\n"
        f"CLIENT = ReferenceClient(name={name!r}, label='a probe', run=lambda *a: {{}},\n"
        "                         at_scale=False)\n"
    )
    try:
        importlib.invalidate_caches()
        assert name in [client.name for client in reference_clients()]
        variants: _ceiling.Variants = {}
        _ceiling._add_references(variants, None, 1.0, [])
        assert variants[name][0] == "a probe"
        at_scale: _ceiling.Variants = {}
        _ceiling._add_references(at_scale, None, 1.0, [], _ceiling.SCALE_SHAPE)
        assert name not in at_scale and "vmbench" not in at_scale
    finally:
        (folder / f"{name}.py").unlink()
        sys.modules.pop(f"echobench.benchmarks.reference.{name}", None)


def test_reference_client_errors_are_one_line() -> None:
    with pytest.raises(UserError, match="CPU list is empty"):
        MINIMAL.run("127.0.0.1", 9, Shape(connections=1, size=8, duration=0.1, warmup=0), [])
    with pytest.raises(UserError, match="minimal client failed"):
        MINIMAL.run("127.0.0.1", 9, Shape(connections=1, size=8, duration=0.1, warmup=0), None)


def test_ceiling_table_is_generated_from_the_published_file() -> None:
    data = json.loads((PUBLISHED / _ceiling.FILE).read_text())
    table = _ceiling.render_table(data)
    assert "native C client" in table and "vmbench" in table and "minimal uvloop" in table
    for row in table.splitlines():
        if row.startswith("| echobench load, 1 worker, verify+latency on"):
            assert row.split("|")[2].strip().split(" ")[0].replace(",", "").isdigit()
            break
    else:
        pytest.fail("the table lacks our client's row")


def _between(begin: str, end: str) -> str:
    return published_block(Path(__file__).parent.parent, begin, end)


def test_readme_numbers_are_the_published_files_rendered() -> None:
    # The README's measured tables are regenerated from results/published, never typed.
    ceiling = json.loads((PUBLISHED / _ceiling.FILE).read_text())
    # Each table carries the sentence of the host it was measured on, as publish writes it.
    assert _between(_ceiling.BEGIN, _ceiling.END) == (
        _ceiling.render_table(ceiling) + host_line(ceiling.get("host"))
    ).strip("\n")
    agreement = json.loads((PUBLISHED / _agreement.FILE).read_text())
    assert _between(_agreement.BEGIN, _agreement.END) == (
        _agreement.render_table(agreement) + host_line(agreement.get("host"))
    ).strip("\n")
    run = json.loads((PUBLISHED / _step_run.FILE).read_text())
    assert _between(_step_run.BEGIN, _step_run.END) == (
        _step_run.render(run, "results/published/run.json").strip("\n")
    )


def test_ceiling_table_shows_the_clients_at_scale_with_their_ratio() -> None:
    data = json.loads((PUBLISHED / _ceiling.FILE).read_text())
    row = {"median": 1.0, "min": 1.0, "max": 1.0, "runs": [1.0]}

    def variant(label: str, rate: float) -> dict:
        return {"label": label, "cpus": [1], "messages_per_second": {**row, "median": rate},
                "cpu_us_per_message": row}  # fmt: skip

    data["scale"] = {
        "connections": 10000, "size": 64, "warmup_s": 1.0, "ours_1w_vs_native": 0.812,
        "variants": {"ours-1w": variant("ours at scale", 81200.0),
                     "native": variant("native at scale", 100000.0)},
    }  # fmt: skip
    table = _ceiling.render_table(data)
    assert "At scale: the same server and rounds, 10,000 connections x 64 B" in table
    assert "| ours at scale | 81,200 (1-1) |" in table
    assert "native client: **0.812** (goal: 0.8 or better)" in table
    # The published file without scale rows renders as before (older files stay readable).
    del data["scale"]
    assert "At scale" not in _ceiling.render_table(data)
