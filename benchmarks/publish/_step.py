"""What ``echobench publish`` is made of: steps, each owning some published numbers.

A step measures into ``results/published/`` (``measure``) and then rewrites its
table in the README or a ``docs/`` page, or draws its pictures, from those files
alone (``render``), so ``echobench publish --render-only`` puts every table back
from the published files without measuring anything, and a table can never
disagree with its file.

A step is a module-level ``STEP`` in its own module of this room, ``_step_NAME``;
``_cmd_publish.STEPS`` lists the modules in the order publish runs them. To
publish a new number: write ``_step_NAME`` with a ``STEP`` (a ``measure`` that
calls the instrument, writes ``results/published/NAME.json`` and returns what the
numbers contradict, and a ``render`` that reads only that file and calls
``ctx.rewrite``), add one line to ``STEPS``, and put its marker lines in the page
where the table belongs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from echobench.benchmarks.charts._figures import save
from echobench.benchmarks.publish._pages import rewrite
from echobench.benchmarks.runner._results_schema import write_results
from echobench.servers._errors import UserError
from echobench.servers._launch import echobench_command


@dataclass(frozen=True)
class Context:
    """Where a step publishes, and how hard it measures."""

    #: The checkout whose ``results/published/``, ``README.md`` and ``docs/`` are rewritten.
    root: Path
    #: Small settings that prove the pipeline in seconds; not numbers to publish.
    quick: bool = False

    @property
    def published(self) -> Path:
        return self.root / "results" / "published"

    def read(self, name: str, step: str) -> dict[str, Any]:
        path = self.published / name
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(
                f"no {path}: measure it first (echobench publish --only {step})"
            ) from None
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise UserError(f"{path} does not hold a JSON object")
        return doc

    def write(self, name: str, doc: dict[str, Any]) -> Path:
        path = self.published / name
        write_results(path, doc)
        return path

    def rewrite(self, begin: str, end: str, body: str) -> None:
        """Put ``body`` between the markers, in README.md or the docs/ page holding them."""
        rewrite(self.root, begin, end, body)

    def exists(self, name: str) -> bool:
        return (self.published / name).exists()


def draw(
    ctx: Context, figures: dict[str, Figure], folder: str, skipped: Mapping[str, str]
) -> list[str]:
    """Save ``figures`` as ``results/published/FOLDER/NAME.png``; remove the charts there
    that this run no longer draws (they must not show an older run's) and say why each of
    ``skipped`` was not drawn. Their names."""
    charts = ctx.published / folder
    written = set(save(figures, charts))
    for stale in sorted(set(charts.glob("*.png")) - written):
        stale.unlink()
        print(f"removed {stale}: no longer drawn", file=sys.stderr)
    for name, why in skipped.items():
        print(f"skipped chart {name}: {why}", file=sys.stderr)
    return list(figures)


def closing(findings: Iterable[str], charts: Iterable[str], folder: str) -> list[str]:
    """The lines that end a published part: its sentences, then its charts."""
    lines = []
    said = " ".join(findings)
    if said:
        lines += ["", said]
    for name in charts:
        lines += ["", f"![{name}](results/published/{folder}/{name}.png)"]
    return lines


def not_yet(step: str, name: str) -> str:
    """What a published part says until its step has published ``name``."""
    return (
        f"Not measured yet: `echobench publish --only {step}` fills this in from "
        f"`results/published/{name}`."
    )


@dataclass(frozen=True)
class Step:
    name: str
    #: One line for ``echobench publish --list``.
    help: str
    #: What it writes, relative to ``results/published/``.
    files: tuple[str, ...]
    #: Reads only the published files; rewrites its page (or draws) from them.
    render: Callable[[Context], None]
    #: Measures and writes ``files``; returns the claims its numbers contradict (each a
    #: line publish reports, and exits 1 for), or ``[]``. ``None``: nothing to measure.
    measure: Callable[[Context], list[str]] | None = None


def run_into(ctx: Context, name: str, *options: str) -> list[str]:
    """``echobench run OPTIONS`` as users run it, into ``results/published/NAME``; the
    published file is replaced only by a run that finished. Returns what makes its numbers
    noisy (``noise``): the step reports it, and publish exits 1, while the tables mark it."""
    path = ctx.published / name
    partial = ctx.published / f".{name}.publishing.json"
    process = subprocess.Popen([*echobench_command(), "run", *options, "--out", str(partial)])
    try:
        status = process.wait()
    except KeyboardInterrupt:
        # The run keeps its finished cases and stops its servers on SIGINT; wait for that.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    if status != 0:
        raise UserError(
            f"echobench run exited with status {status}; {path} is unchanged "
            f"(the run so far, if any: {partial}, resumable with echobench run --resume)"
        )
    os.replace(partial, path)
    _move_interval_logs(partial, path)
    return noise(json.loads(path.read_text()), name)


def noise(doc: dict[str, Any], name: str) -> list[str]:
    """Why a run's numbers were measured in a noisy period: a host that was busy when it
    started and did not become quiet, and cases the host disturbed (each a line)."""
    said = []
    check = (doc.get("environment") or {}).get("host_check") or {}
    if check.get("quiet") is False and not (check.get("waited") or {}).get("quiet"):
        busy = ", ".join(check.get("busy") or [])
        said.append(
            f"{name}: the host was busy when the run started ({busy}) and did not become "
            "quiet: its table says so; publish again on a quiet host"
        )
    cases = doc.get("cases") or []
    marked = [c["id"] for c in cases if (c.get("summary") or {}).get("disturbed")]
    if marked:
        said.append(
            f"{name}: {len(marked)} of {len(cases)} case(s) disturbed by the host, marked (D) "
            f"(first: {marked[0]}); publish again on a quiet host"
        )
    return said


def _move_interval_logs(partial: Path, path: Path) -> None:
    """The run's interval logs (``RESULTS-hlog/``, see ``runner._measure``) follow the file
    to its published name, and its repeats' references with them."""
    logs = partial.with_name(f"{partial.stem}-hlog")
    if not logs.is_dir():
        return
    target = path.with_name(f"{path.stem}-hlog")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(logs, target)
    doc = json.loads(path.read_text())
    for case in doc.get("cases") or ():
        for repeat in case.get("repeats") or ():
            hlog = repeat.get("hlog")
            if isinstance(hlog, str) and hlog.startswith(f"{logs.name}/"):
                repeat["hlog"] = f"{target.name}/{hlog[len(logs.name) + 1 :]}"
    write_results(path, doc)
