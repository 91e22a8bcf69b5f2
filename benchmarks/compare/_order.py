"""The order backends are listed in, everywhere: by family, then registry order, then name.

May import ``echobench.servers`` (the registry's order); nothing of charts or report.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

#: The families in the order every table, chart and ranking lists them; a backend of a
#: family not listed here (a plugin's, a remote server's) counts as ``external``.
FAMILY_ORDER = (
    "asyncio",
    "uvloop",
    "rloop",
    "twisted",
    "tornado",
    "gevent",
    "trio",
    "anyio",
    "uring",
    "baseline",
    "native",
    "external",
)


def family_key(family: str) -> str:
    return family if family in FAMILY_ORDER else "external"


@cache
def _registry_order() -> dict[str, int]:
    try:
        from echobench.servers._registry import discover

        return {b.name: i for i, b in enumerate(discover())}
    except Exception:
        return {}  # charts of a results file must not depend on this checkout's backends


@cache
def registry_families() -> dict[str, str]:
    try:
        from echobench.servers._registry import discover

        return {b.name: b.family for b in discover() if b.family != "broken"}
    except Exception:
        return {}


def backend_order(families: Mapping[str, str]) -> list[str]:
    """Backends sorted by family, then registry order, then name."""
    registry = _registry_order()

    def key(name: str) -> tuple[int, int, str]:
        family = family_key(families[name])
        return (FAMILY_ORDER.index(family), registry.get(name, len(registry)), name)

    return sorted(families, key=key)
