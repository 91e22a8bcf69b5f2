"""The namespace fleet secured as the README says: ``echobench cluster-certs``, a TLS-only
scheduler and workers with their certificates, ``--cluster tls://`` with
``--cluster-certs``; a client without the cluster's certificate is refused in one line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import AS_MEASURED, CliResult, assert_one_line_error, run_echobench
from echobench.benchmarks.truth import _netns
from echobench.benchmarks.truth._fleet import CLIENT_HOSTS, DaskFleet, dask_fleet
from echobench.clients._certs import make_certs
from echobench.servers._launch import RunningServer

pytest.importorskip("distributed")
WHY_NOT = _netns.why_not()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))]

PORT = 9000


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskFleet]:
    with dask_fleet(tmp_path_factory.mktemp("tls-fleet"), tls=True, server_worker=True) as made:
        yield made


@pytest.fixture(scope="module")
def server(fleet: DaskFleet) -> Iterator[RunningServer]:
    with fleet.serving("asyncio-protocol", PORT) as running:
        yield running


def _load(fleet: DaskFleet, *cluster: str, out: Path | None = None) -> CliResult:
    done = fleet.echobench(
        [
            *("load", "--host", fleet.host("server"), "--port", str(PORT), "-c", "4"),
            *("-d", "0.5", "--warmup", "0.1", *cluster, "-q"),
            *(("--json", str(out)) if out is not None else ()),
        ],
        60,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_the_load_runs_over_tls_on_both_hosts(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    assert fleet.address.startswith("tls://")
    out = tmp_path / "tls.json"
    done = _load(fleet, *fleet.cluster_args(), out=out)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["complete"] and result["params"]["cluster"] == fleet.address
    assert sorted(s["host"] for s in result["shards"]) == sorted(
        fleet.host(h) for h in CLIENT_HOSTS
    )


def test_a_client_certificate_from_another_ca_is_refused(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    # The cluster's CA certificate is no secret, but a client key and certificate that
    # its CA did not sign are all anyone who can reach the port can make for themselves.
    make_certs(tmp_path / "other")
    assert fleet.certs is not None
    intruder = tmp_path / "intruder"
    intruder.mkdir()
    shutil.copy(fleet.certs / "ca.pem", intruder / "ca.pem")
    for name in ("client.pem", "client-key.pem"):
        shutil.copy(tmp_path / "other" / name, intruder / name)
    done = _load(fleet, "--cluster", fleet.address, "--cluster-certs", str(intruder))
    assert_one_line_error(done, "refused this client's certificate", fleet.address)
    assert done.returncode == 2
    # And a client that trusts another CA does not take the scheduler for its own.
    done = _load(fleet, "--cluster", fleet.address, "--cluster-certs", str(tmp_path / "other"))
    assert_one_line_error(done, "showed a certificate that this client's CA did not sign")


def test_no_certificate_is_refused_before_connecting(fleet: DaskFleet) -> None:
    done = _load(fleet, "--cluster", fleet.address)
    assert_one_line_error(done, "needs a client certificate", "--cluster-certs")
    assert done.returncode == 2


def test_certificates_and_dask_settings_from_cluster_certs(tmp_path: Path) -> None:
    done = run_echobench("cluster-certs", str(tmp_path / "c"), "--host", "198.18.0.2")
    assert done.returncode == 0, done.stderr
    assert "made with cryptography" in done.stdout
    assert "dask scheduler --protocol tls --host 198.18.0.2" in done.stdout
    assert f"--tls-cert {tmp_path / 'c' / 'worker.pem'}" in done.stdout
    for key in ("ca-key.pem", "scheduler-key.pem", "worker-key.pem", "client-key.pem"):
        assert (tmp_path / "c" / key).stat().st_mode & 0o077 == 0
    again = run_echobench("cluster-certs", str(tmp_path / "c"))
    assert_one_line_error(again, "already holds a CA")


def test_run_measures_a_connect_server_through_the_server_host_worker(
    fleet: DaskFleet, server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "run.json"
    done = fleet.echobench(
        [
            *("run", "--connect", f"{fleet.host('server')}:{PORT}", "--label", "far"),
            *fleet.cluster_args(),
            *("--sizes", "64", "--connections", "4", "--duration", "0.5", "--warmup", "0.1"),
            *("--repeat", "1", "--out", str(out), *AS_MEASURED),
        ],
        120,
    )
    assert done.returncode == 0, done.stderr
    (case,) = json.loads(out.read_text())["cases"]
    (repeat,) = case["repeats"]
    assert case["status"] == "ok" and repeat["load"]["complete"]
    # The repeat's interval log, merged across the shards, lies beside the results file.
    assert (out.parent / repeat["hlog"]).stat().st_size > 0
    # The worker on the server's host found the server on the port and measured it.
    assert repeat["server_host"]["started"] is False
    assert repeat["server_host"]["host"] == fleet.host("server")
    assert repeat["server_cpu"]["window_source"] == "client-window"
    assert repeat["server_cpu"]["seconds"] > 0 and repeat["server_rss_peak_bytes"] > 0
    assert repeat["server_rss_per_connection_bytes"] is not None
    assert sorted(s["host"] for s in repeat["load"]["shards"]) == sorted(
        fleet.host(h) for h in CLIENT_HOSTS
    )
