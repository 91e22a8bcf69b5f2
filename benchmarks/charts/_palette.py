"""One colour per backend family, the same in every chart; shades tell a family apart.

A backend's shade comes from its place among *all* registered backends of its
family (not only those in the file), so a backend keeps its colour from one
run's charts to the next.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping

from matplotlib.colors import to_hex, to_rgb

from echobench.benchmarks.compare._order import backend_order, family_key, registry_families

#: In the order ``_order.FAMILY_ORDER`` lists the families (a test holds them equal).
FAMILY_COLOURS: dict[str, str] = {
    "asyncio": "#1f77b4",  # blue
    "uvloop": "#2ca02c",  # green
    "rloop": "#393b79",  # indigo
    "twisted": "#ff7f0e",  # orange
    "tornado": "#9467bd",  # purple
    "gevent": "#8c564b",  # brown
    "trio": "#e377c2",  # pink
    "anyio": "#17becf",  # cyan
    "uring": "#d6a01d",  # gold
    "baseline": "#7f7f7f",  # grey
    "native": "#d62728",  # red
    "external": "#bcbd22",  # olive: plugins, commands, remote servers
}


def _shade(base: str, index: int, count: int) -> str:
    if count <= 1:
        return base
    hue, lightness, saturation = colorsys.rgb_to_hls(*to_rgb(base))
    # Spread from darker to lighter around the family colour, never to black or white.
    low, high = max(0.18, lightness - 0.2), min(0.78, lightness + 0.22)
    step = (high - low) / (count - 1)
    return to_hex(colorsys.hls_to_rgb(hue, low + step * index, saturation))


def colours(families: Mapping[str, str]) -> dict[str, str]:
    """A colour for every backend in ``families`` (name -> family)."""
    known = registry_families()
    members: dict[str, list[str]] = {}
    # Registry members first, so that a backend's shade does not depend on the file.
    everyone = {**known, **dict(families)}
    for name in backend_order(everyone):
        members.setdefault(family_key(everyone[name]), []).append(name)
    result = {}
    for name, family in families.items():
        group = members[family_key(family)]
        result[name] = _shade(FAMILY_COLOURS[family_key(family)], group.index(name), len(group))
    return result
