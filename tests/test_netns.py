"""Hosts in network namespaces leave nothing behind: not on failure, not on Ctrl-C, and
not even after SIGKILL (the next fleet made on the machine removes the orphan)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echobench.benchmarks.truth import _netns

WHY_NOT = _netns.why_not()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=str(WHY_NOT))

#: Makes a two-host fleet with a sleeper on one host, says so, and waits to be stopped.
SCRIPT = """
import sys, time
from pathlib import Path
from echobench.benchmarks.truth._netns import fleet
with fleet(["a", "b"]) as net:
    sleeper = net.start("b", ["sleep", "600"], Path(sys.argv[1]))
    print(net.tag, sleeper.pid, net.hosts["b"].address, flush=True)
    time.sleep(600)
"""


def _ours(tag: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(tag + "-")]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_hosts_reach_each_other_only_on_the_benchmark_range(tmp_path: Path) -> None:
    with _netns.fleet(["a", "b"]) as net:
        addresses = [host.address for host in net.hosts.values()]
        assert all(a.startswith("198.18.") for a in addresses)
        ping = net.run(
            "a",
            [
                sys.executable,
                "-c",
                "import socket, sys; socket.create_connection((sys.argv[1], 9), 2)",
                addresses[1],
            ],
            10,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Nothing listens on port 9 there: refused, i.e. the host answered.
        assert "ConnectionRefusedError" in ping.stderr
        tag = net.tag
        made = [*(host.namespace for host in net.hosts.values()), net.switch]
        assert sorted(_ours(tag)) == sorted(made)
    assert _ours(tag) == []


def test_a_failing_block_tears_everything_down(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), _netns.fleet(["a"]) as net:
        sleeper = net.start("a", ["sleep", "600"], tmp_path / "log")
        tag = net.tag
        raise RuntimeError("boom")
    assert _ours(tag) == []
    assert sleeper.wait(5) == -signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_owner_leaves_no_host_behind(tmp_path: Path, sig: int) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    tag, pid, _ = owner.stdout.readline().split()
    assert _ours(tag) and _alive(int(pid))
    owner.send_signal(sig)
    owner.wait(30)
    owner.stdout.close()
    assert owner.stderr is not None
    owner.stderr.close()
    if sig == signal.SIGKILL:
        # Nothing ran in the owner: its hosts and their processes stay until the next
        # fleet made here sweeps them away.
        left = _ours(tag)
        assert len(left) == 3 and _alive(int(pid))
        assert set(_netns.sweep_orphans()) >= set(left)
    assert _ours(tag) == []
    deadline = time.monotonic() + 5
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(int(pid))
    assert os.path.exists(tmp_path / "log")
