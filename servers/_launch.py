"""Start a backend as a real subprocess through ``echobench serve``, as users do.

The server runs in its own session (process group), so stopping it, or a
runner that is interrupted, never leaves a process behind.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from echobench.servers._contract import parse_address
from echobench.servers._errors import UserError


def echobench_command() -> list[str]:
    """argv prefix that runs the ``echobench`` CLI of this installation."""
    script = Path(sys.executable).with_name("echobench")
    if script.exists():
        return [str(script)]
    found = shutil.which("echobench")
    if found:
        return [found]
    return [sys.executable, "-m", "echobench"]


class ServerStartError(UserError):
    """The server exited or never printed READY; ``stderr`` holds its tail."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass
class RunningServer:
    name: str
    process: subprocess.Popen[bytes]
    address: str
    _stderr: IO[bytes] = field(repr=False)
    stop_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def host(self) -> str:
        return parse_address(self.address)[0]

    @property
    def port(self) -> int:
        return parse_address(self.address)[1]

    @property
    def unix_path(self) -> str | None:
        return self.address[5:] if self.address.startswith("unix:") else None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.flush()
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - limit))
        return self._stderr.read().decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Signal the server, wait for it, and kill its group if it lingers.

        Returns the exit status; ``stop_seconds`` records how long the stop took.
        """
        started = time.monotonic()
        if self.process.poll() is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.stop_seconds = time.monotonic() - started
        self.kill_group()
        return self.process.returncode

    def kill(self) -> None:
        self.kill_group()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def kill_group(self) -> None:
        """SIGKILL anything left in the server's session (workers it forked)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        if self.alive():
            self.stop()
        else:
            self.kill_group()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def _read_ready(process: subprocess.Popen[bytes], timeout: float) -> str | None:
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buffer = b""
    try:
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return None
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                return None
            buffer += chunk
    finally:
        selector.close()
    line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    return line


def start_server(
    name: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    extra_args: Sequence[str] = (),
    cpus: Iterable[int] | None = None,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> RunningServer:
    """Start ``echobench serve NAME`` and wait for its READY line.

    ``prefix`` runs it through a command that execs it in place (``ip netns exec NS``),
    so the pid and the session are still the server's."""
    argv = [
        *prefix,
        *echobench_command(),
        *("serve", name, "--host", host, "--port", str(port), *extra_args),
    ]
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        env=env,
    )
    if cpus is not None:
        try:
            os.sched_setaffinity(process.pid, set(cpus))
        except OSError:
            pass  # it may already have exited; the READY wait reports that
    line = _read_ready(process, timeout)
    server = RunningServer(name=name, process=process, address="", _stderr=stderr)
    if line is None or not line.startswith("READY "):
        server.kill()  # also reaps anything it forked before dying
        tail = server.stderr_tail()
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        server.close()
        if line is None:
            why = (
                f"exited with status {process.returncode}"
                if process.returncode is not None
                else f"printed no READY line within {timeout:g}s"
            )
        else:
            why = f"printed {line!r} instead of READY"
        raise ServerStartError(f"backend {name!r} failed to start: {why}: {last}", tail)
    server.address = line.split(" ", 1)[1]
    return server


@contextmanager
def running_server(name: str, **kwargs: object) -> Iterator[RunningServer]:
    server = start_server(name, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.close()
