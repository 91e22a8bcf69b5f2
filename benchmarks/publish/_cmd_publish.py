"""``echobench publish``: regenerate every published number, chart and table.

Each step (``_publish`` says what one is) measures into ``results/published/`` and
then renders its table (in README.md or a docs/ page) from those files alone;
``--render-only`` skips the measuring. Steps run in the order of ``STEPS``; a step
that fails is reported and the others still run, so one broken instrument never
costs the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "regenerate every published number, chart and table (on a quiet machine)"

#: The publishing steps in the order they run: name -> the module exposing ``STEP``.
STEPS: dict[str, str] = {
    "ceiling": "echobench.benchmarks.publish._step_ceiling",
    "agreement": "echobench.benchmarks.publish._step_agreement",
    "repeatability": "echobench.benchmarks.publish._step_repeatability",
    "soak": "echobench.benchmarks.publish._step_soak",
    "client-lag": "echobench.benchmarks.publish._step_client_lag",
    "run": "echobench.benchmarks.publish._step_run",
    "client-cores": "echobench.benchmarks.publish._step_client_cores",
    "cluster": "echobench.benchmarks.publish._step_cluster",
    "fleet": "echobench.benchmarks.publish._step_fleet",
    "report": "echobench.benchmarks.publish._step_report",
    "scale": "echobench.benchmarks.publish._step_scale",
    "latency": "echobench.benchmarks.publish._step_latency",
    "vmbench": "echobench.benchmarks.publish._step_vmbench",
    "uring": "echobench.benchmarks.publish._step_uring",
    "latency-repeat": "echobench.benchmarks.publish._step_latency_repeat",
    "latency-check": "echobench.benchmarks.publish._step_latency_check",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", metavar="STEP,STEP", help="run only these steps (see --list)")
    parser.add_argument("--skip", metavar="STEP,STEP", help="run every step but these")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="measure nothing: rewrite the published tables and charts from the published files",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="each step's smallest settings: proves the pipeline in minutes; the numbers "
        "it writes are not worth publishing",
    )
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="the checkout whose results/published/, README.md and docs/ are rewritten "
        "(default: the one echobench is installed from, editable)",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write what each step did as JSON to PATH ('-': stdout, instead of the summary)",
    )


def _selected(args: argparse.Namespace) -> list[str]:
    from echobench.benchmarks.runner._matrix import parse_names
    from echobench.servers._errors import UserError

    if args.only is not None and args.skip is not None:
        raise UserError("give --only or --skip, not both")
    names = list(STEPS)
    if args.only is not None:
        only = parse_names(args.only, "only", names)
        names = [name for name in names if name in only]
    if args.skip is not None:
        skip = parse_names(args.skip, "skip", names)
        names = [name for name in names if name not in skip]
    if not names:
        raise UserError("--skip leaves no step to run")
    return names


def _root(args: argparse.Namespace) -> Path:
    from echobench.servers._errors import UserError

    # The checkout: echobench/ links to benchmarks/, so this file resolves inside it.
    root = Path(args.root) if args.root else Path(__file__).resolve().parents[2]
    if not (root / "README.md").is_file() or not (root / "results").is_dir():
        raise UserError(
            f"{root} is not an echobench checkout (no README.md and results/): publish "
            "rewrites a source tree; run it from one installed with pip install -e, or "
            "give --root"
        )
    return root


def run(args: argparse.Namespace) -> int:
    import importlib
    import sys
    import time
    from typing import Any

    from echobench.benchmarks.publish._step import Context, Step
    from echobench.benchmarks.runner._results_schema import emit_json
    from echobench.servers._errors import UserError

    steps: list[Step] = [importlib.import_module(STEPS[name]).STEP for name in _selected(args)]
    if args.list:
        width = max(len(step.name) for step in steps) + 2
        for step in steps:
            files = ", ".join(f"results/published/{name}" for name in step.files)
            print(f"{step.name:<{width}}{step.help}")
            print(f"{'':<{width}}writes {files or 'nothing'}, then its published part")
        return 0
    root = _root(args)
    ctx = Context(root=root, quick=args.quick)
    say = sys.stderr if args.json == "-" else sys.stdout
    report: list[dict[str, Any]] = []
    for index, step in enumerate(steps, 1):
        measuring = step.measure is not None and not args.render_only
        print(
            f"publish [{index}/{len(steps)}] {step.name}: "
            f"{'measuring' if measuring else 'rendering'} ({step.help})",
            file=say,
            flush=True,
        )
        started = time.monotonic()
        entry: dict[str, Any] = {"step": step.name, "measured": False, "rendered": False}
        try:
            if measuring:
                assert step.measure is not None
                entry["contradictions"] = step.measure(ctx)
                entry["measured"] = True
            step.render(ctx)
            entry["rendered"] = True
        except UserError as exc:
            entry["error"] = str(exc)
            print(f"publish: {step.name} failed: {exc}", file=sys.stderr)
        entry["seconds"] = round(time.monotonic() - started, 1)
        for line in entry.get("contradictions", []):
            print(f"publish: {step.name}: {line}", file=sys.stderr)
        report.append(entry)
    failed = [e["step"] for e in report if "error" in e]
    contradicted = [e["step"] for e in report if e.get("contradictions")]
    print(
        f"publish: {len(report) - len(failed)} of {len(report)} step(s) done"
        + (f"; failed: {', '.join(failed)}" if failed else "")
        + (f"; numbers contradict their claim: {', '.join(contradicted)}" if contradicted else ""),
        file=say,
    )
    if args.json is not None:
        emit_json(
            args.json,
            {
                "schema": "echobench.publish",
                "schema_version": 1,
                "root": str(root),
                "quick": args.quick,
                "render_only": args.render_only,
                "steps": report,
            },
        )
    return 1 if failed or contradicted else 0
