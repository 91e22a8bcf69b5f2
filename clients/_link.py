"""Whether a client host's own link limited a run: its interface's counters, read twice.

A shard reads the interface its traffic to the server leaves by (the one that holds the
source address the kernel picks for the server) when the run starts and when it ends:
bytes and packets each way, from the kernel's interface statistics, and the root queueing
discipline's counts of packets it held back (``overlimits``: a shaper such as ``tbf``
made a packet wait for its rate; ``requeues``: the device's queue was full, a link at
line rate; ``drops``), from ``tc -s -j qdisc``. The link limited the run when its queue
held packets back often enough for the packets sent (``HELD_BACK_SHARE``) or it carried
nearly its nominal speed either way (``LINE_RATE_SHARE``).

What this cannot see: a bottleneck past this host's own interface (a switch, the
server's link). There the load's latency and TCP's retransmissions show it, not these
counters.

May import nothing of ``echobench`` but its errors.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

#: Times the queue held a packet back, per packet sent, that call the link the limit (a
#: packet may be held back more than once: a shaper counts each time one had to wait).
HELD_BACK_SHARE = 0.01
#: Share of the interface's nominal speed that counts as running at line rate.
LINE_RATE_SHARE = 0.9


@dataclass(frozen=True)
class LinkReading:
    interface: str
    speed_mbit: int  # 0: unknown (the kernel reports none, as for loopback)
    qdisc: str | None  # the root queueing discipline's kind; None when it keeps no counts
    at_ns: int
    bytes_out: int
    bytes_in: int
    packets_out: int
    held_back: int  # overlimits + requeues + drops of the root qdisc


def interface_to(host: str, port: int) -> str | None:
    """The interface holding the source address this host uses to reach ``host``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)  # a UDP connect sends nothing: it only picks a route
            source = probe.getsockname()[0]
    except (OSError, IndexError):
        return None
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.address.split("%")[0] == source for a in addresses):
            return name
    return None


def _qdisc(interface: str) -> tuple[str | None, int]:
    if shutil.which("tc") is None:
        return None, 0
    try:
        done = subprocess.run(
            ["tc", "-s", "-j", "qdisc", "show", "dev", interface],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        qdiscs = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None, 0
    for qdisc in qdiscs:
        if qdisc.get("root") and qdisc.get("kind") != "noqueue":
            held = sum(int(qdisc.get(key, 0)) for key in ("overlimits", "requeues", "drops"))
            return str(qdisc["kind"]), held
    return None, 0


def read(interface: str) -> LinkReading | None:
    counters = psutil.net_io_counters(pernic=True).get(interface)
    if counters is None:
        return None
    stats = psutil.net_if_stats().get(interface)
    kind, held = _qdisc(interface)
    return LinkReading(
        interface=interface,
        speed_mbit=int(stats.speed) if stats is not None else 0,
        qdisc=kind,
        at_ns=time.monotonic_ns(),
        bytes_out=counters.bytes_sent,
        bytes_in=counters.bytes_recv,
        packets_out=counters.packets_sent,
        held_back=held,
    )


def link_field(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A shard's ``link``: what its interface carried between two readings (``asdict`` of
    ``LinkReading``) and whether it was the limit; None without both readings."""
    if before is None or after is None or before["interface"] != after["interface"]:
        return None
    seconds = max(1e-9, (after["at_ns"] - before["at_ns"]) / 1e9)
    packets = after["packets_out"] - before["packets_out"]
    held = max(0, after["held_back"] - before["held_back"])
    out_mbit = (after["bytes_out"] - before["bytes_out"]) * 8 / seconds / 1e6
    in_mbit = (after["bytes_in"] - before["bytes_in"]) * 8 / seconds / 1e6
    speed = after["speed_mbit"]
    held_share = held / packets if packets > 0 else 0.0
    at_line_rate = speed > 0 and max(out_mbit, in_mbit) >= LINE_RATE_SHARE * speed
    return {
        "interface": after["interface"],
        "speed_mbit": speed or None,
        "qdisc": after["qdisc"],
        "seconds": round(seconds, 3),
        "out_mbit_per_s": round(out_mbit, 3),
        "in_mbit_per_s": round(in_mbit, 3),
        "packets_out": packets,
        "held_back": held,
        "held_back_share": round(held_share, 4),
        "limited": held_share >= HELD_BACK_SHARE or at_line_rate,
    }


def reading_dict(reading: LinkReading | None) -> dict[str, Any] | None:
    return asdict(reading) if reading is not None else None
