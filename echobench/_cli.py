"""The ``echobench`` command: one entry point, a subcommand per job.

Each subcommand lives in the package that owns its work and exposes ``HELP``,
``configure(parser)`` and ``run(args) -> int``; those modules keep their heavy
imports inside ``run`` so that ``echobench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn

from echobench.servers._errors import UserError

COMMANDS: dict[str, str] = {
    "list": "echobench.servers._cmd_list",
    "serve": "echobench.servers._cmd_serve",
    "verify": "echobench.servers._cmd_verify",
    "new-backend": "echobench.servers._cmd_new_backend",
    "load": "echobench.clients._cmd_load",
    "cluster-certs": "echobench.clients._cmd_cluster_certs",
    "run": "echobench.benchmarks.runner._cmd_run",
    "doctor": "echobench.benchmarks.runner._cmd_doctor",
    "plot": "echobench.benchmarks.charts._cmd_plot",
    "report": "echobench.benchmarks.report._cmd_report",
    "compare": "echobench.benchmarks.report._cmd_compare",
    "ceiling": "echobench.benchmarks.truth._cmd_ceiling",
    "agreement": "echobench.benchmarks.truth._cmd_agreement",
    "repeatability": "echobench.benchmarks.truth._cmd_repeatability",
    "publish": "echobench.benchmarks.publish._cmd_publish",
    "soak": "echobench.benchmarks.truth._cmd_soak",
    "latency-check": "echobench.benchmarks.truth._cmd_latency_check",
    "client-lag": "echobench.benchmarks.truth._cmd_client_lag",
}


class OneLineParser(argparse.ArgumentParser):
    """Bad options get one line on stderr and exit status 2, not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="echobench",
        description="Compare event-driven networking paradigms in Python: equivalent TCP echo "
        "servers driven by a verifying load generator, with results, charts and comparisons.",
        epilog="Start with: echobench list; echobench run --quick; echobench plot RESULTS.json",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


#: Commands whose SIGTERM is their own business: a server's contract is to exit 0 on it.
OWN_SIGTERM = frozenset({"serve"})


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous: signal.Handlers | int | object | None = None
    installed = False
    if args.command not in OWN_SIGTERM and threading.current_thread() is threading.main_thread():
        # SIGTERM takes the path Ctrl-C takes, so a command stops the servers and clients it
        # started (their ``finally`` blocks run) instead of dying and orphaning them.
        previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        installed = True
    try:
        status: int = args._run(args)
    except UserError as exc:
        print(f"echobench {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"echobench {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return 1  # stdout closed early (| head): not worth a traceback
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)  # type: ignore[arg-type]
    return status


if __name__ == "__main__":
    sys.exit(main())
