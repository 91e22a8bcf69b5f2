"""``echobench list``."""

from __future__ import annotations

import argparse
import json
from typing import Any

HELP = "list every backend, its family, and whether it can run here"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from echobench.servers._registry import discover

    rows: list[dict[str, Any]] = []
    for backend in discover():
        reason = backend.unavailable_reason()
        rows.append(
            {
                "name": backend.name,
                "family": backend.family,
                "description": backend.description,
                "available": reason is None,
                "reason": reason,
                "transports": sorted(backend.transports),
                "readline": backend.readline,
                "origin": backend.origin,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="echobench backends")
    for column in ("name", "family", "available", "description"):
        table.add_column(column)
    for row in rows:
        status = "yes" if row["available"] else f"no: {row['reason']}"
        # Escaped: rich would read an extra's "[all]" in an install hint as markup and drop it.
        cells = (row["name"], row["family"], status, row["description"])
        table.add_row(*(escape(cell) for cell in cells))
    Console().print(table)
    return 0
