"""``echobench verify``: the conformance checks against one backend, as a pass/fail table."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from echobench.servers._conformance import CheckResult

HELP = "run the conformance checks against one backend; exit 0 only when all pass"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="backend name (see: echobench list)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--check",
        action="append",
        metavar="CHECK",
        help="run only this check (repeatable); default: all of them",
    )
    which.add_argument(
        "--quick", action="store_true", help="run only the quick checks that gate benchmark runs"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def serve_args(args: argparse.Namespace) -> list[str]:
    """Extra ``echobench serve`` arguments for the server under test (transports go here)."""
    return []


def selected_checks(args: argparse.Namespace) -> Sequence[str] | None:
    from echobench.servers._conformance import QUICK_CHECKS

    if args.quick:
        return QUICK_CHECKS
    return args.check  # None: all


def run(args: argparse.Namespace) -> int:
    from echobench.servers._conformance import factory_for, run_checks
    from echobench.servers._registry import get_backend

    factory = factory_for(args.name, serve_args(args))  # unknown or unavailable: UserError
    known = dict(get_backend(args.name).known_failures)
    names = selected_checks(args)
    if args.json:
        results = run_checks(factory, names)
        print(json.dumps(_as_json(args.name, results, known), indent=2))
    else:
        from rich.console import Console

        console = Console()
        with console.status(f"verifying {args.name}…"):
            results = run_checks(factory, names)
        _print_table(console, args.name, results, known)
    # A known failure is still a failure: the backend does not honour the contract.
    return 0 if all(result.passed for result in results) else 1


def _as_json(name: str, results: list[CheckResult], known: dict[str, str]) -> dict[str, object]:
    checks: list[dict[str, object]] = []
    for result in results:
        entry: dict[str, object] = asdict(result)
        if not result.passed and result.name in known:
            entry["known"] = known[result.name]
        checks.append(entry)
    return {"backend": name, "passed": all(result.passed for result in results), "checks": checks}


def _print_table(
    console: Console, name: str, results: list[CheckResult], known: dict[str, str]
) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"echobench verify {name}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("detail")
    for result in results:
        verdict = "[green]pass[/green]" if result.passed else "[bold red]FAIL[/bold red]"
        detail = result.detail
        if not result.passed and result.name in known:
            detail += f" (known: {known[result.name]})"
        table.add_row(result.name, verdict, f"{result.seconds:.2f}", escape(detail))
    console.print(table)
    failed = [result.name for result in results if not result.passed]
    if failed:
        known_now = [name for name in failed if name in known]
        note = (
            f"; {len(known_now)} known to {name}'s framework, measured anyway by run"
            if known_now
            else ""
        )
        console.print(f"[bold red]{len(failed)} of {len(results)} checks failed{note}[/bold red]")
    else:
        console.print(f"[green]all {len(results)} checks passed[/green]")
