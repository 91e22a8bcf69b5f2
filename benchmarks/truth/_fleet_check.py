"""The fleet's measures of success, measured on hosts in network namespaces (``_fleet``).

On the secured cluster the docs' recipe builds (``cluster-certs``, a TLS-only
scheduler, a worker on each of two client hosts and one on the server's host holding
the ``server`` resource), it measures:

- **start spread**: ``loads`` runs of ``echobench load --cluster`` (two shards, one per
  client host, each host with its own monotonic clock) against ``native`` on the server
  host, after one not counted; each run's ``cluster.start_spread_us`` (as recorded, on
  Dask's clock estimate) and ``clock_uncertainty_us``, and the true spread (the clocks'
  offsets are known here). The claim: under 5 ms as recorded.
- **merged = sum of the shards**: in every one of those runs, the merged histogram is
  re-derived from the shards' own histograms (HDR ``decode_and_add``) and compared at
  every recorded value, and the message counts summed.
- **a shaped link**: client1's link limited to ``mbit`` with ``tbf``; one run with
  4 KiB messages. The claim: the shard behind it moves its payload under the link's
  rate, and the output names the network (``cluster.network_limited``, the
  ``NETWORK-BOUND`` line), not the server.
- **a refused client**: a client whose certificate the cluster's CA did not sign; the
  claim: refused, exit 2, one line.
- **the server host measured**: ``echobench run --cluster`` with no ``--connect`` over
  ``backends``: the server-host worker starts each one and measures it; the claim:
  every repeat has the server's CPU, and the verdicts are judged from both sides.

The machine's steal over the whole measurement is recorded with it (``/proc/stat``).

May import ``echobench.servers``, ``echobench.clients`` and the runner.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from echobench.benchmarks.runner import _environment, _interference
from echobench.benchmarks.truth._fleet import (
    CLIENT_HOSTS,
    CLOCK_STEP_S,
    HOSTS,
    DaskFleet,
    dask_fleet,
)
from echobench.clients._certs import make_certs
from echobench.servers._errors import UserError

FILE = "fleet.json"
BEGIN, END = "<!-- fleet:begin -->", "<!-- fleet:end -->"
#: The start spread the fleet must stay under.
SPREAD_LIMIT_US = 5000.0
PORT = 9000


@dataclass(frozen=True)
class Params:
    loads: int = 10
    connections: int = 16
    size: int = 64
    duration: float = 3.0
    warmup: float = 0.5
    mbit: float = 20.0
    shaped_size: int = 4096
    backends: tuple[str, ...] = ("native", "asyncio-protocol")
    run_duration: float = 3.0
    repeat: int = 3


#: ``echobench publish --quick``: proves the pipeline in about a minute, publishes nothing.
QUICK = Params(loads=3, duration=1.0, warmup=0.2, run_duration=1.0, repeat=1)


def _recorded(encoded: Sequence[str], highest: int) -> list[tuple[int, int]]:
    histogram = HdrHistogram(1, highest, 3)
    for data in encoded:
        histogram.decode_and_add(data)
    return [
        (v.value_iterated_to, v.count_at_value_iterated_to)
        for v in histogram.get_recorded_iterator()
    ]


def _load(fleet: DaskFleet, scratch: Path, args: Sequence[str]) -> tuple[dict[str, Any], str]:
    out = scratch / "load.json"
    out.unlink(missing_ok=True)
    done = fleet.echobench(
        [
            *("load", "--host", fleet.host("server"), "--port", str(PORT)),
            *fleet.cluster_args(),
            *args,
            *("--json", str(out), "-q"),
        ],
        120,
    )
    if not out.exists():
        raise UserError(f"echobench load --cluster failed: {done.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result, done.stderr


def _true_spread_us(fleet: DaskFleet, shards: list[dict[str, Any]]) -> float | None:
    """The shards' real start spread, from their own monotonic clocks and the offsets the
    fleet gave those clocks (known here, where every host's wall clock is the machine's):
    what the engine achieved, without the error of Dask's estimate."""
    names = {fleet.host(name): name for name in CLIENT_HOSTS}
    starts = []
    for shard in shards:
        if shard["lost"]:
            return None
        offset_ns = HOSTS.index(names[shard["host"]]) * CLOCK_STEP_S * 10**9
        local = round(shard["start_offset_us"] * 1e3) - shard["clock_shift_ns"]
        starts.append(local - offset_ns)
    return round((max(starts) - min(starts)) / 1e3, 3)


def _spreads(fleet: DaskFleet, scratch: Path, params: Params) -> list[dict[str, Any]]:
    rows = []
    # One load first, not counted, as a server is primed: the first after the cluster
    # starts pays for connections and code paths the later ones find ready.
    for index in range(params.loads + 1):
        result, _ = _load(
            fleet,
            scratch,
            [
                *("-c", str(params.connections), "-s", str(params.size)),
                *("-d", f"{params.duration:g}", "--warmup", f"{params.warmup:g}"),
            ],
        )
        shards = result["shards"]
        highest = result["histogram"]["highest"]
        merged = _recorded([result["histogram"]["data"]], highest)
        summed = _recorded([s["histogram"]["data"] for s in shards if s["histogram"]], highest)
        rows.append(
            {
                "warmup": index == 0,
                "complete": result["complete"],
                "hosts": sorted(s["host"] for s in shards),
                "clocks": result["cluster"]["hosts"],
                "start_spread_us": result["cluster"]["start_spread_us"],
                "true_start_spread_us": _true_spread_us(fleet, shards),
                "clock_uncertainty_us": result["cluster"]["clock_uncertainty_us"],
                "messages_per_second": result["messages_per_second"],
                "messages": result["messages"],
                "shard_messages": [s["messages"] for s in shards],
                "merged_equals_sum": merged == summed
                and result["messages"] == sum(s["messages"] or 0 for s in shards),
                "recorded_values": len(merged),
            }
        )
        print(
            f"load {index}/{params.loads}{' (warm-up)' if index == 0 else ''}: start spread "
            f"{result['cluster']['start_spread_us'] / 1000:.2f} ms, truly "
            f"{(rows[-1]['true_start_spread_us'] or 0) / 1000:.2f} ms",
            file=sys.stderr,
        )
    return rows


def _shaped(fleet: DaskFleet, scratch: Path, params: Params) -> dict[str, Any]:
    fleet.net.shape("client1", params.mbit)
    try:
        result, stderr = _load(
            fleet,
            scratch,
            [
                *("-c", str(params.connections), "-s", str(params.shaped_size)),
                *("-d", f"{params.duration:g}", "--warmup", f"{params.warmup:g}"),
            ],
        )
    finally:
        fleet.net.unshape("client1")
    by_host = {s["host"]: s for s in result["shards"]}
    shaped, free = by_host[fleet.host("client1")], by_host[fleet.host("client2")]
    line = next((x for x in stderr.splitlines() if "NETWORK-BOUND" in x), None)
    payload = shaped["messages_per_second"] * params.shaped_size * 8 / 1e6
    return {
        "mbit": params.mbit,
        "size": params.shaped_size,
        "shaped_messages_per_second": shaped["messages_per_second"],
        "shaped_payload_mbit_per_s": round(payload, 3),
        "free_messages_per_second": free["messages_per_second"],
        "shaped_link": shaped["link"],
        "free_link": free["link"],
        "network_limited": result["cluster"]["network_limited"],
        "named": line is not None and fleet.host("client1") in line,
        "line": line,
        "under_rate": payload <= params.mbit,
    }


def _refused(fleet: DaskFleet, scratch: Path) -> dict[str, Any]:
    assert fleet.certs is not None
    make_certs(scratch / "other")
    intruder = scratch / "intruder"
    intruder.mkdir()
    shutil.copy(fleet.certs / "ca.pem", intruder / "ca.pem")
    for name in ("client.pem", "client-key.pem"):
        shutil.copy(scratch / "other" / name, intruder / name)
    done = fleet.echobench(
        [
            *("load", "--host", fleet.host("server"), "--port", str(PORT), "-d", "1"),
            *("--cluster", fleet.address, "--cluster-certs", str(intruder)),
        ],
        60,
    )
    lines = done.stderr.strip().splitlines()
    return {
        "exit_status": done.returncode,
        "lines": len(lines),
        "line": lines[0] if lines else None,
        "refused": done.returncode == 2 and len(lines) == 1 and "refused" in lines[0],
    }


def _server_host(fleet: DaskFleet, scratch: Path, params: Params) -> dict[str, Any]:
    out = scratch / "run.json"
    done = fleet.echobench(
        [
            "run",
            *fleet.cluster_args(),
            *("--backends", ",".join(params.backends), "--sizes", str(params.size)),
            *("--connections", str(params.connections)),
            *("--duration", f"{params.run_duration:g}", "--warmup", f"{params.warmup:g}"),
            *("--repeat", str(params.repeat), "--out", str(out)),
        ],
        60 + len(params.backends) * params.repeat * (params.run_duration + 30),
    )
    if not out.exists():
        raise UserError(f"echobench run --cluster failed: {done.stderr.strip()[-300:]}")
    cases = []
    for case in json.loads(out.read_text())["cases"]:
        repeats = case["repeats"]
        cases.append(
            {
                "backend": case["backend"],
                "status": case["status"],
                "verdicts": [r["verdict"] for r in repeats],
                "messages_per_second": [r["messages_per_second"] for r in repeats],
                "server_utilization": [(r["server_cpu"] or {}).get("utilization") for r in repeats],
                "client_utilization": [r["client_cpu"]["utilization"] for r in repeats],
                "server_rss_per_connection_bytes": [
                    r.get("server_rss_per_connection_bytes") for r in repeats
                ],
                "server_steal_pct": [
                    (((r.get("server_host") or {}).get("interference") or {}).get("steal_pct"))
                    for r in repeats
                ],
                "measured": bool(repeats) and all(r["server_cpu"] for r in repeats),
            }
        )
    return {"exit_status": done.returncode, "cases": cases}


def _steal(before: dict[int, Any], after: dict[int, Any]) -> float | None:
    """The machine's steal over a span, as a share of all its CPUs' time (%)."""
    stolen = total = 0
    for cpu, end in after.items():
        start = before.get(cpu)
        if start is None or end.steal is None or start.steal is None:
            return None
        stolen += end.steal - start.steal
        total += sum(end.columns) - sum(start.columns)
    return round(100 * stolen / total, 2) if total else None


def check(params: Params) -> dict[str, Any]:
    """Measure: the ``echobench.fleet`` document."""
    started = time.monotonic()
    environment = _environment.collect(
        command_line=sys.argv, pinning={"server_cpus": [], "client_cpus": []}
    )
    before = _interference.read_stat()
    with (
        tempfile.TemporaryDirectory(prefix="echobench-fleet-") as scratch_name,
        dask_fleet(Path(scratch_name), tls=True, server_worker=True) as fleet,
        fleet.serving("native", PORT),
    ):
        scratch = Path(scratch_name)
        spreads = _spreads(fleet, scratch, params)
        shaped = _shaped(fleet, scratch, params)
        refused = _refused(fleet, scratch)
        server_host = _server_host(fleet, scratch, params)
        hosts = {name: fleet.host(name) for name in ("server", "scheduler", *CLIENT_HOSTS)}
    after = _interference.read_stat()
    environment["finished_at"] = _environment.now()
    counted = [r for r in spreads if not r["warmup"]]
    values = [r["start_spread_us"] for r in counted]
    true = [r["true_start_spread_us"] for r in counted if r["true_start_spread_us"] is not None]
    summary = {
        "start_spread_median_us": statistics.median(values),
        "start_spread_max_us": max(values),
        "true_start_spread_median_us": statistics.median(true) if true else None,
        "true_start_spread_max_us": max(true) if true else None,
        "clock_uncertainty_median_us": statistics.median(
            r["clock_uncertainty_us"] for r in counted
        ),
        "warmup_start_spread_us": spreads[0]["start_spread_us"],
        "spread_within": max(values) < SPREAD_LIMIT_US,
        "merged_equals_sum": all(r["merged_equals_sum"] for r in spreads),
        "network_named": shaped["named"] and shaped["under_rate"],
        "refused": refused["refused"],
        "server_measured": all(c["measured"] for c in server_host["cases"]),
        "steal_pct": _steal(before, after),
        "seconds": round(time.monotonic() - started, 1),
    }
    return {
        "schema": "echobench.fleet",
        "schema_version": 1,
        "params": asdict(params),
        "hosts": hosts,
        "environment": environment,
        "spreads": spreads,
        "shaped": shaped,
        "refused": refused,
        "server_host": server_host,
        "summary": summary,
    }


def shortfalls(doc: dict[str, Any]) -> list[str]:
    """The claims the measurement contradicts."""
    summary = doc["summary"]
    found = []
    if not summary["spread_within"]:
        found.append(
            f"a start spread of {summary['start_spread_max_us'] / 1000:.2f} ms, over "
            f"{SPREAD_LIMIT_US / 1000:g} ms"
        )
    for key, claim in (
        ("merged_equals_sum", "the merged histogram differed from the sum of the shards'"),
        ("network_named", "the shaped link was not named as the limit"),
        ("refused", "a client without the cluster's certificate was not refused in one line"),
        ("server_measured", "a repeat on the server host has no server CPU"),
    ):
        if not summary[key]:
            found.append(claim)
    return found


def _ms(us: float | None) -> str:
    return f"{us / 1000:.2f} ms" if us is not None else "-"


def render_table(doc: dict[str, Any]) -> str:
    params, summary = doc["params"], doc["summary"]
    shaped, refused = doc["shaped"], doc["refused"]
    environment = doc["environment"]
    steal = summary["steal_pct"]
    lines = [
        f"Measured {environment['started_at'][:10]} on one machine "
        f"({environment['cpu']['model']}, {environment['cpu']['count']} CPUs, steal "
        + (f"{steal:.1f}%" if steal is not None else "unknown")
        + f" over the {summary['seconds']:.0f} s), hosts in network namespaces: server "
        f"{doc['hosts']['server']}, scheduler {doc['hosts']['scheduler']}, client hosts "
        f"{doc['hosts']['client1']} and {doc['hosts']['client2']} (each with its own "
        "monotonic clock), the cluster secured with TLS as above.",
        "",
        "| measure | claim | measured |",
        "| --- | --- | --- |",
        f"| start spread, {params['loads']} loads of 2 shards x {params['duration']:g} s "
        f"(after one not counted) | under {SPREAD_LIMIT_US / 1000:g} ms | median "
        f"{summary['start_spread_median_us'] / 1000:.2f} ms, max "
        f"{summary['start_spread_max_us'] / 1000:.2f} ms as recorded (Dask's clock estimate, "
        f"+-{summary['clock_uncertainty_median_us'] / 1000:.1f} ms); truly "
        + _ms(summary["true_start_spread_median_us"])
        + ", max "
        + _ms(summary["true_start_spread_max_us"])
        + f"; the first load {summary['warmup_start_spread_us'] / 1000:.2f} ms |",
        f"| merged histogram = sum of the shards' | every value, every load | "
        f"{'yes' if summary['merged_equals_sum'] else 'NO'} "
        f"({sum(r['messages'] for r in doc['spreads']):,} messages) |",
        f"| client1's link shaped to {shaped['mbit']:g} Mbit/s (tbf), "
        f"{shaped['size']} B messages | payload under the rate, network named | "
        f"{shaped['shaped_payload_mbit_per_s']:.1f} Mbit/s payload each way "
        f"({shaped['shaped_messages_per_second']:,.0f} msgs/s; the unshaped host "
        f"{shaped['free_messages_per_second']:,.0f}); "
        + ("NETWORK-BOUND named" if shaped["named"] else "NOT named")
        + " |",
        f"| a client certificate the CA did not sign | refused, one line | exit "
        f"{refused['exit_status']}, {refused['lines']} line(s): "
        f"`{(refused['line'] or '').replace('|', '/')}` |",
    ]
    for case in doc["server_host"]["cases"]:
        utilization = ", ".join(
            f"{u:.2f}" if u is not None else "-" for u in case["server_utilization"]
        )
        lines.append(
            f"| `run --cluster`, `{case['backend']}` started on the server host | the "
            f"server's CPU measured | server CPU utilization {utilization}; verdicts "
            f"{', '.join(case['verdicts'])} |"
        )
    return "\n".join(lines)
