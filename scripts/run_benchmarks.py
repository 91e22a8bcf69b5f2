"""Thin launcher: ``python scripts/run_benchmarks.py [run options]`` is ``echobench run``."""

from __future__ import annotations

import sys

from echobench._cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
