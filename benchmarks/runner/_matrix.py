"""The run's matrix: cases, their ids, and the order each repeat walks them in."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from echobench.clients._config import scaled
from echobench.servers._errors import UserError

TRANSPORTS = ("tcp", "unix", "tls")
ORDERS = ("shuffle", "fixed")

T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    backend: str
    family: str
    transport: str
    size: int
    connections: int
    rate: float | None
    idle: int = 0  # extra connections held open and silent (``--idle``)
    #: vmbench's readline mode: each message this many lines of ``size`` bytes (0: off).
    readline: int = 0

    @property
    def mode(self) -> str:
        return "closed" if self.rate is None else "open"

    @property
    def id(self) -> str:
        load = "closed" if self.rate is None else f"{format_rate(self.rate)}rps"
        count = f"{self.connections}c" + (f"+{self.idle}idle" if self.idle else "")
        lines = f"/readline{self.readline}" if self.readline else ""
        return f"{self.backend}/{self.transport}/{self.size}B/{count}/{load}{lines}"

    @property
    def total_connections(self) -> int:
        return self.connections + self.idle


def format_rate(rate: float) -> str:
    return str(int(rate)) if float(rate).is_integer() else f"{rate:g}"


def build_cases(
    backends: Sequence[tuple[str, str, Iterable[str]]],
    *,
    transports: Sequence[str],
    sizes: Sequence[int],
    connections: Sequence[int],
    rates: Sequence[float | None],
    idle: Sequence[Sequence[int]] = (),
    readline: int = 0,
    readline_backends: Collection[str] = (),
) -> tuple[list[Case], list[dict[str, str]]]:
    """Every combination, in matrix order; also the (backend, transport) pairs left out.

    ``backends`` holds ``(name, family, supported transports)``; ``idle`` holds
    ``(active, idle)`` pairs, measured after the plain connection counts. With
    ``readline`` lines, each of ``readline_backends`` (those with vmbench's readline
    mode) also gets every case in that mode, after its plain ones.
    """
    counts = [(count, 0) for count in connections] + [(a, i) for a, i in idle]
    cases: list[Case] = []
    skipped: list[dict[str, str]] = []
    for name, family, supported in backends:
        supported = frozenset(supported)
        for transport in transports:
            if transport not in supported:
                skipped.append(
                    {
                        "backend": name,
                        "transport": transport,
                        "reason": f"{name} does not support {transport}",
                    }
                )
                continue
            modes = [0, readline] if readline and name in readline_backends else [0]
            for lines in modes:
                for size in sizes:
                    for count, held in counts:
                        for rate in rates:
                            cases.append(
                                Case(name, family, transport, size, count, rate, held, lines)
                            )
    return cases, skipped


def repeat_order(cases: Sequence[Case], repeat: int, *, seed: int, order: str) -> list[Case]:
    """The order of one repeat: a fresh shuffle per repeat, so drift hits every backend alike."""
    if order == "fixed":
        return list(cases)
    shuffled = list(cases)
    random.Random(f"{seed}:{repeat}").shuffle(shuffled)
    return shuffled


def schedule(
    cases: Sequence[Case], repeats: int, *, seed: int, order: str
) -> list[tuple[int, Case]]:
    """Every (repeat, case) the run performs, in the order it performs them."""
    return [
        (repeat, case)
        for repeat in range(repeats)
        for case in repeat_order(cases, repeat, seed=seed, order=order)
    ]


# --- parsing the command line's lists ---------------------------------------------


def parse_int_list(text: str, what: str, *, minimum: int = 1) -> list[int]:
    values: list[int] = []
    for item in _items(text, what):
        try:
            value = int(scaled(item))
        except ValueError:
            raise UserError(f"--{what}: {item!r} is not a whole number") from None
        if value < minimum:
            raise UserError(f"--{what}: {value} is below the minimum of {minimum}")
        values.append(value)
    return _unique(values)


def parse_connections(text: str) -> tuple[list[int], list[list[int]]]:
    """``1,100,10+10000``: plain counts, and ``ACTIVE+IDLE`` pairs (ACTIVE busy
    connections while IDLE more stay open and silent)."""
    plain: list[int] = []
    pairs: list[list[int]] = []
    for item in _items(text, "connections"):
        active, plus, idle = item.partition("+")
        try:
            values = [int(scaled(active)), int(scaled(idle)) if plus else 0]
        except ValueError:
            raise UserError(
                f"--connections: {item!r} is neither a whole number nor ACTIVE+IDLE"
            ) from None
        if values[0] < 1 or values[1] < (1 if plus else 0):
            raise UserError(f"--connections: {item!r} is below the minimum of 1 (each side)")
        if plus:
            pairs.append(values)
        else:
            plain.append(values[0])
    return _unique(plain), _unique(pairs)


def parse_rates(text: str) -> list[float | None]:
    """``closed`` (or ``max``) is a closed loop; numbers are open-loop messages per second."""
    values: list[float | None] = []
    for item in _items(text, "rate"):
        if item.lower() in ("closed", "max", "none"):
            values.append(None)
            continue
        try:
            value = float(scaled(item))
        except ValueError:
            raise UserError(
                f"--rate: {item!r} is neither a number of messages per second nor 'closed'"
            ) from None
        if not value > 0 or value != value or value == float("inf"):
            raise UserError(f"--rate: {item!r} must be a positive number")
        values.append(value)
    return _unique(values)


def parse_percent(text: str, what: str) -> float:
    """One percentage above 0 and under 100, ``2%`` or ``2``, as the fraction 0.02."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise UserError(f"--{what} takes a percentage such as 2%, not {text!r}") from None
    if not 0.0 < value < 100.0:
        raise UserError(f"--{what} must be above 0% and under 100%, not {text!r}")
    return value / 100.0


def parse_percentages(text: str, what: str, *, highest: float = 200.0) -> list[float]:
    """``10,50,100`` percent as the fractions 0.1, 0.5, 1.0, ascending."""
    values: list[float] = []
    for item in _items(text, what):
        try:
            value = float(item.rstrip("%"))
        except ValueError:
            raise UserError(f"--{what}: {item!r} is not a percentage") from None
        if not 0 < value <= highest:
            raise UserError(f"--{what}: {item!r} must be above 0 and at most {highest:g} percent")
        values.append(value / 100)
    return sorted(_unique(values))


_TIME_UNITS_US = {"us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}


def parse_duration_us(text: str, what: str) -> float:
    """``1ms``, ``500us``, ``0.25s`` in microseconds; a bare number has no unit and is refused."""
    item = text.strip()
    for unit, factor in sorted(_TIME_UNITS_US.items(), key=lambda kv: -len(kv[0])):
        if item.endswith(unit) and item[: -len(unit)].strip():
            try:
                value = float(item[: -len(unit)]) * factor
            except ValueError:
                break
            if not (value > 0 and value != float("inf")):
                break
            return value
    raise UserError(f"--{what} takes a time with its unit, e.g. 1ms or 500us, not {text!r}")


def parse_names(text: str, what: str, allowed: Sequence[str] | None = None) -> list[str]:
    names = _unique(_items(text, what))
    if allowed is not None:
        for name in names:
            if name not in allowed:
                raise UserError(f"--{what}: unknown {name!r} (choose from {', '.join(allowed)})")
    return names


def _items(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UserError(f"--{what} needs at least one value")
    return items


def _unique(values: Iterable[T]) -> list[T]:
    seen: list[T] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
