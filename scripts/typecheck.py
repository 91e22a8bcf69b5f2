"""mypy over every module of ``echobench``, each once, under the name it is imported by.

setuptools maps the top-level ``servers/``, ``clients/`` and ``benchmarks/`` folders into
``echobench`` (``[tool.setuptools]`` in pyproject.toml), and an editable install finds them
through an import hook. mypy runs no import hooks: handed the folders, it would name
``servers/_backend.py`` ``servers._backend`` and find no ``echobench.servers``. So this
reads the same mapping and gives mypy one source per file, under its ``echobench.*`` name,
with its real path in every message. The pytest-benchmark suites (``benchmarks/suites/``,
not installed) are checked under the top-level names pytest imports them by.

Usage: ``python scripts/typecheck.py [MYPY OPTIONS]``; the options in pyproject.toml's
``[tool.mypy]`` apply as they would to plain ``mypy``.
"""

from __future__ import annotations

import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
SUITES = ROOT / "benchmarks" / "suites"


def package_directory(package: str, package_dir: dict[str, str]) -> Path:
    """Where setuptools finds ``package``: its longest mapped prefix, then one folder a part."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in package_dir:
            return ROOT.joinpath(package_dir[prefix], *parts[cut:])
    return ROOT.joinpath(package_dir.get("", ""), *parts)


def modules() -> dict[str, Path]:
    """Every module the wheel installs, by dotted name, plus the suites by pytest's names."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    found: dict[str, Path] = {}
    for package in config["packages"]:
        directory = package_directory(package, config.get("package-dir", {}))
        for path in sorted(directory.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    for path in sorted(SUITES.glob("*.py")):
        found[path.stem] = path
    return found


def main(argv: list[str]) -> int:
    from mypy import build
    from mypy.errors import CompileError
    from mypy.fscache import FileSystemCache
    from mypy.main import process_options
    from mypy.modulefinder import BuildSource
    from mypy.util import FancyFormatter, count_stats

    started = time.time()
    fscache = FileSystemCache()
    _, options = process_options(
        ["--config-file", str(PYPROJECT), *argv], require_targets=False, fscache=fscache
    )
    sources = [BuildSource(str(path), name, None) for name, path in modules().items()]
    formatter = FancyFormatter(sys.stdout, sys.stderr, options.hide_error_codes)
    messages: list[str] = []

    def flush(filename: str | None, new: list[str], serious: bool) -> None:
        messages.extend(new)
        for line in new:
            print(formatter.colorize(line) if options.color_output else line)

    blockers = False
    try:
        build.build(sources, options, None, flush, fscache, sys.stdout, sys.stderr)
    except CompileError:
        blockers = True
    errors, _, files = count_stats(messages)
    if errors:
        print(formatter.format_error(errors, files, len(sources), blockers=blockers))
        return 2 if blockers else 1
    print(formatter.format_success(len(sources), False))
    print(f"({time.time() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
