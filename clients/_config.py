"""What a load run is asked to do, and the checks that refuse bad input early."""

from __future__ import annotations

import math
import os
import resource
from dataclasses import asdict, dataclass
from typing import Any

from echobench.clients._load_schema import SERIES_INTERVAL_NS
from echobench.clients._priority import NICE_RANGE
from echobench.servers._contract import raise_fd_limit
from echobench.servers._errors import UserError

_SUFFIXES = {"k": 1_000, "K": 1024, "KiB": 1024, "M": 1_000_000, "MiB": 1024 * 1024}


def scaled(item: str) -> str:
    """``16K`` and ``16KiB`` are 16384 bytes; ``10k`` is 10000 (for rates and counts)."""
    for suffix, factor in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if item.endswith(suffix) and item[: -len(suffix)]:
            number = float(item[: -len(suffix)])
            value = number * factor
            return str(int(value)) if value.is_integer() else str(value)
    return item


def whole_number(text: str) -> int:
    """An argparse type: ``1K`` is 1024, ``10k`` 10000, as ``echobench run`` reads them."""
    return int(scaled(text.strip()))


def number(text: str) -> float:
    """An argparse type: ``10k`` is 10000.0, as ``echobench run --rate`` reads it."""
    return float(scaled(text.strip()))


#: File descriptors a worker opens besides its connections and what it inherits: the event
#: loop's epoll and wake-up descriptors, signal pipes, the pipe to its parent, with room.
WORKER_FDS = 16


@dataclass(frozen=True)
class LoadConfig:
    """Parameters of one load run; see ``echobench.clients._load_schema`` for their meaning."""

    host: str = "127.0.0.1"
    port: int | None = None
    unix: str | None = None
    tls: bool = False
    connections: int = 10
    idle: int = 0
    size: int = 1024
    duration: float = 10.0
    warmup: float = 1.0
    rate: float | None = None
    pipeline: int = 1
    workers: int = 1
    verify: bool = True
    latency: bool = True
    timeout: float = 10.0
    cpus: tuple[int, ...] | None = None
    interval: float = 1.0
    hlog: str | None = None
    #: vmbench's readline mode: each message is this many lines of ``size`` bytes, the
    #: last byte of each a newline and no other (0: plain bytes, no framing).
    readline: int = 0
    #: The workers' nice value (``None``: as started); see ``echobench.clients._priority``.
    nice: int | None = None

    @property
    def message_bytes(self) -> int:
        """Bytes per message: ``size``, or ``readline`` lines of it."""
        return self.size * self.readline if self.readline else self.size

    @property
    def mode(self) -> str:
        return "closed" if self.rate is None else "open"

    @property
    def target(self) -> str:
        if self.unix is not None:
            return f"unix:{self.unix}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def params(self) -> dict[str, Any]:
        params = asdict(self)
        params["cpus"] = list(self.cpus) if self.cpus is not None else None
        return params

    def connections_of(self, worker: int) -> range:
        """Global indices of the connections that ``worker`` owns (spread evenly)."""
        return range(worker, self.connections, self.workers)

    def idle_of(self, worker: int) -> range:
        """Global indices (after the active ones) of the idle connections ``worker`` holds."""
        return range(self.connections + worker, self.connections + self.idle, self.workers)


def default_workers(asked: int | None, cpus: int, connections: int) -> int:
    """Load worker processes: ``asked`` if given, else one per CPU the client has (each
    pinned to its own), but no more than there are connections to share out."""
    if asked is not None:
        return asked
    return max(1, min(cpus, connections))


def validate(config: LoadConfig) -> None:
    """Raise ``UserError`` (one line) for anything that cannot run."""
    if config.unix is None:
        if config.port is None:
            raise UserError("no port given: pass --port PORT (or --unix PATH)")
        if not 1 <= config.port <= 65535:
            raise UserError(f"port must be between 1 and 65535, not {config.port}")
        if not config.host:
            raise UserError("empty --host")
    elif config.port is not None:
        raise UserError("give either --port or --unix, not both")
    if config.size < 1:
        raise UserError(f"--size must be at least 1 byte, not {config.size}")
    if config.readline < 0:
        raise UserError(f"--readline takes a number of lines, not {config.readline}")
    if config.nice is not None and config.nice not in NICE_RANGE:
        raise UserError(f"--nice must be between -20 and 19, not {config.nice}")
    if config.connections < 1:
        raise UserError(f"--connections must be at least 1, not {config.connections}")
    if config.idle < 0:
        raise UserError(f"--idle must be zero or more connections, not {config.idle}")
    if config.workers < 1:
        raise UserError(f"--workers must be at least 1, not {config.workers}")
    if config.workers > config.connections:
        raise UserError(
            f"--workers {config.workers} is more than --connections {config.connections}; "
            "each worker needs a connection"
        )
    if config.pipeline < 1:
        raise UserError(f"--pipeline must be at least 1, not {config.pipeline}")
    if not (math.isfinite(config.duration) and config.duration > 0):
        raise UserError(f"--duration must be a positive number of seconds, not {config.duration}")
    if not (math.isfinite(config.warmup) and config.warmup >= 0):
        raise UserError(f"--warmup must be zero or more seconds, not {config.warmup}")
    if not (math.isfinite(config.timeout) and config.timeout > 0):
        raise UserError(f"--timeout must be a positive number of seconds, not {config.timeout}")
    if config.rate is not None:
        if not (math.isfinite(config.rate) and config.rate > 0):
            raise UserError(f"--rate must be a positive number of messages/s, not {config.rate}")
        if config.pipeline != 1:
            raise UserError("--pipeline applies to the closed loop only; drop it with --rate")
    ticks = config.interval * 1e9 / SERIES_INTERVAL_NS
    if not (math.isfinite(ticks) and ticks >= 1 and abs(ticks - round(ticks)) < 1e-6):
        raise UserError(
            f"--hlog-interval must be a positive multiple of {SERIES_INTERVAL_NS / 1e9:g} s, "
            f"not {config.interval}"
        )
    if config.hlog is not None and not config.latency:
        raise UserError("--hlog needs latency recorded; drop --no-latency")
    if config.cpus is not None and not config.cpus:
        raise UserError("--cpus needs at least one CPU")
    check_fd_limit(config)


def fd_overhead(workers: int) -> int:
    """Descriptors one worker needs besides its connections: those open in this process
    now (a forked worker inherits them), the pipes to every worker, and its own."""
    try:
        inherited = len(os.listdir("/proc/self/fd"))
    except OSError:
        inherited = 64
    return inherited + 2 * workers + WORKER_FDS


def connections_that_fit(workers: int, limit: int | None = None) -> int:
    """The most connections (active and idle together) ``workers`` processes can open."""
    if limit is None:
        limit = raise_fd_limit()
    return max(0, limit - fd_overhead(workers)) * workers


def check_fd_limit(config: LoadConfig) -> None:
    """Refuse more connections per worker than the fd limit allows, after lifting it."""
    limit = raise_fd_limit()
    total = config.connections + config.idle
    per_worker = math.ceil(total / config.workers)
    needed = per_worker + fd_overhead(config.workers)
    if needed > limit:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard_text = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        fit = connections_that_fit(config.workers, limit)
        what = f"{total} connections" + (f" ({config.idle} of them idle)" if config.idle else "")
        raise UserError(
            f"{what} need {needed} file descriptors in each of {config.workers} worker(s) "
            f"but the limit is {limit} (hard limit {hard_text}); at most {fit} connections "
            f"fit with --workers {config.workers}: add workers or raise ulimit -Hn"
        )
