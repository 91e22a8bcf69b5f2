"""What an instrument's command prints and writes: its rendering on stdout, and with
``--json PATH`` its record (``-``: on stdout, instead of the rendering); its exit status
says whether the record contradicts a claim."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the measurement as JSON to PATH ('-': stdout, instead of the text)",
    )


def report(
    args: argparse.Namespace,
    data: dict[str, Any],
    render: Callable[[dict[str, Any]], str],
    missed: Callable[[dict[str, Any]], list[str]],
) -> int:
    from echobench.benchmarks.runner._results_schema import emit_json

    if args.json != "-":
        print(render(data))
    if args.json is not None:
        emit_json(args.json, data)
    return 1 if missed(data) else 0
