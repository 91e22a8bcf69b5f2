"""What every chart test checks on a Figure and on a written image."""

from __future__ import annotations

import struct
from pathlib import Path

from matplotlib.figure import Figure

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RUN_SMALL = FIXTURES / "run_small.json"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def expected_pixels(figure: Figure) -> tuple[int, int]:
    width, height = figure.get_size_inches() * figure.dpi
    return round(width), round(height)


def visible_axes(figure: Figure) -> list:  # type: ignore[type-arg]
    return [ax for ax in figure.axes if ax.get_visible() and ax.has_data()]


def assert_units_on_axes(figure: Figure) -> None:
    axes = visible_axes(figure)
    assert axes, "no axes with data"
    for ax in axes:
        for label in (ax.get_xlabel(), ax.get_ylabel()):
            if label:
                assert "[" in label and "]" in label, f"no unit in axis label {label!r}"
        # A horizontal-bar chart labels its categories with tick labels, not a y label.
        assert ax.get_xlabel(), "x axis has no label"


def legend_labels(figure: Figure) -> list[str]:
    assert figure.legends, "figure has no legend"
    return [t.get_text() for legend in figure.legends for t in legend.get_texts()]


def title_text(figure: Figure) -> str:
    return figure._suptitle.get_text() if figure._suptitle is not None else ""
