"""Hosts in network namespaces on one machine: a fleet to test and measure the cluster on.

Each host is a network namespace of its own with one address on a veth pair whose other
end is a port of a bridge; the bridge lives in one more namespace (the switch), so the
machine's own namespace gains no interface, route or address. Every address comes from
198.18.0.0/15, the range RFC 2544 reserves for network benchmark testing, and from no
other range: traffic between the hosts never leaves the switch.

A link is shaped with ``tbf`` (a rate) on both of its ends; a delay needs ``netem``,
which some kernels lack (``delay`` raises ``NoNetem`` with the kernel's reason then).

Processes run in a host through ``ip netns exec``, each in its own session. ``close``
kills every process left in every namespace of the fleet (the kernel lists them:
``ip netns pids``) and deletes the namespaces, which takes the veth pairs and the
bridge with them; it runs on failure too, and on SIGINT/SIGTERM while a fleet is up.
Namespaces are named ``ebfleet<pid>-<host>``; a fleet left by a process that no
longer exists (SIGKILL) is removed by the next fleet made on the machine.

May import ``echobench.servers``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

#: The fleet's network: RFC 2544's benchmark range, a /24 of it per fleet.
NETWORK = ipaddress.ip_network("198.18.0.0/24")
BENCHMARK_RANGE = ipaddress.ip_network("198.18.0.0/15")
PREFIX = "ebfleet"
SWITCH = "switch"
#: Seconds any one ``ip``/``tc`` command may take.
COMMAND_SECONDS = 10.0


class NoNetem(RuntimeError):
    """This kernel cannot delay a link (no ``sch_netem``)."""


def why_not() -> str | None:
    """Why namespaces cannot be made here, or ``None`` if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"no `{tool}` command (install iproute2)"
    probe = f"{PREFIX}probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done


def _namespaces() -> list[str]:
    listed = _ip("ip", "netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in listed if line.strip()]


def _pids(namespace: str) -> list[int]:
    out = _ip("ip", "netns", "pids", namespace, check=False).stdout
    return [int(word) for word in out.split()]


def _kill_all(namespace: str) -> None:
    """SIGKILL every process in ``namespace`` until none is left (a dying process may
    have forked a child that the next look finds)."""
    deadline = time.monotonic() + COMMAND_SECONDS
    while (pids := _pids(namespace)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _remove(namespace: str) -> None:
    _kill_all(namespace)
    _ip("ip", "netns", "del", namespace, check=False)


def sweep_orphans() -> list[str]:
    """Remove the namespaces of fleets whose process is gone; returns their names."""
    removed = []
    for namespace in _namespaces():
        if not namespace.startswith(PREFIX):
            continue
        owner = namespace[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            _remove(namespace)
            removed.append(namespace)
    return removed


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    port: str  # the bridge port (in the switch) that leads to this host

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]


@dataclass
class Fleet:
    """Hosts on one switch; ``close`` (also called by ``fleet()``) removes them all."""

    tag: str
    hosts: dict[str, Host] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)

    @property
    def switch(self) -> str:
        return f"{self.tag}-{SWITCH}"

    def add_host(self, name: str) -> Host:
        address = str(NETWORK.network_address + len(self.hosts) + 1)
        assert ipaddress.ip_address(address) in BENCHMARK_RANGE
        host = Host(name, f"{self.tag}-{name}", address, f"p{len(self.hosts)}")
        _ip("ip", "netns", "add", host.namespace)
        self.hosts[name] = host
        # Both ends are made in their namespaces: no interface ever appears in this one.
        _ip(
            *("ip", "link", "add", "eth0", "netns", host.namespace, "type", "veth"),
            *("peer", "name", host.port, "netns", self.switch),
        )
        inside = ("ip", "-n", host.namespace)
        _ip(*inside, "addr", "add", f"{address}/{NETWORK.prefixlen}", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip("ip", "-n", self.switch, "link", "set", host.port, "master", "br0", "up")
        return host

    def start(
        self,
        host: str,
        command: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """``command`` on ``host``, in its own session, its output in ``log``."""
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.hosts[host].argv(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=None if env is None else {**os.environ, **env},
            )
        self.processes.append(process)
        return process

    def run(
        self, host: str, command: Sequence[str], timeout: float, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """``command`` on ``host`` to its end (killed, with its host's other processes
        left alone, if it overruns ``timeout``)."""
        process = subprocess.Popen(
            self.hosts[host].argv(command), text=True, start_new_session=True, **kwargs
        )
        self.processes.append(process)
        try:
            out, err = process.communicate(timeout=timeout)
        except BaseException:
            _kill_group(process)
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def shape(self, host: str, mbit: float) -> None:
        """Limit ``host``'s link to ``mbit`` megabits a second, each way (``tbf``)."""
        rate = f"{mbit:g}mbit"
        # A burst of a few full frames and a queue of about 20 ms at the rate.
        burst = max(16 * 1514, round(mbit * 1e6 / 8 / 250))
        for namespace, device in self._ends(host):
            _ip(
                *("tc", "-n", namespace, "qdisc", "replace", "dev", device, "root", "tbf"),
                *("rate", rate, "burst", str(burst), "latency", "20ms"),
            )

    def unshape(self, host: str) -> None:
        """Give ``host``'s link back its default queue (no rate, no delay)."""
        for namespace, device in self._ends(host):
            _ip("tc", "-n", namespace, "qdisc", "del", "dev", device, "root", check=False)

    def delay(self, host: str, ms: float) -> None:
        """Delay ``host``'s link by ``ms`` each way (``netem``); ``NoNetem`` where the
        kernel has none."""
        for namespace, device in self._ends(host):
            done = _ip(
                *("tc", "-n", namespace, "qdisc", "replace", "dev", device, "root", "netem"),
                *("delay", f"{ms:g}ms"),
                check=False,
            )
            if done.returncode != 0:
                raise NoNetem(f"tc netem: {done.stderr.strip() or 'not available'}")

    def _ends(self, host: str) -> list[tuple[str, str]]:
        entry = self.hosts[host]
        return [(entry.namespace, "eth0"), (self.switch, entry.port)]

    def lose(self, host: str) -> None:
        """The host goes away at once: every process on it is killed and its namespace,
        with its link, deleted (its peers see their connections to it reset)."""
        self.lost.add(host)
        _remove(self.hosts[host].namespace)

    def close(self) -> None:
        for process in self.processes:
            _kill_group(process)
        for host in self.hosts.values():
            _remove(host.namespace)
        _remove(self.switch)
        for process in self.processes:
            try:
                process.wait(COMMAND_SECONDS)
            except subprocess.TimeoutExpired:
                pass


def _kill_group(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def fleet(hosts: Sequence[str]) -> Iterator[Fleet]:
    """A fleet of ``hosts`` (names) on one switch, torn down on exit, also when the block
    fails or SIGINT/SIGTERM arrives (which then raise ``KeyboardInterrupt`` and
    ``SystemExit`` in the main thread, as Python does for SIGINT)."""
    sweep_orphans()
    made = Fleet(f"{PREFIX}{os.getpid()}-{len(_namespaces())}")
    previous = _on_signals()
    try:
        _ip("ip", "netns", "add", made.switch)
        made.hosts = {}
        _ip("ip", "-n", made.switch, "link", "add", "br0", "type", "bridge")
        _ip("ip", "-n", made.switch, "link", "set", "br0", "up")
        for name in hosts:
            made.add_host(name)
        yield made
    finally:
        made.close()
        _restore(previous)


def _on_signals() -> dict[int, Any]:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous: dict[int, Any] = {}
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, terminate)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
