"""Placeholder: this command is being built (see the open issues)."""

from __future__ import annotations

import argparse

HELP = "(not built yet)"


def configure(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from servers._errors import UserError

    raise UserError("this command is not built yet")
