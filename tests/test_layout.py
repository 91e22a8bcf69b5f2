"""One installed name, one path per file, rooms that import one way, no import cycles.

pyproject.toml maps the top-level ``servers/``, ``clients/`` and ``benchmarks/`` folders
into the one installed name ``echobench`` (setuptools' ``package-dir``); these tests hold
the promises that mapping makes: the wheel installs only ``echobench``, every file is
imported under one name from its one real path, the type check sees every file once, and
every subpackage keeps to what its docstring says it may import.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
import traceback
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_NAMES = ("servers", "clients", "benchmarks")
MAPPED = ("echobench", *OLD_NAMES)


def _typecheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typecheck", ROOT / "scripts" / "typecheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: Every installed module by dotted name, read from pyproject.toml's mapping (the same list
#: the type check gets); the pytest-benchmark suites, not installed, are left out here.
MODULES: dict[str, Path] = {
    name: path for name, path in _typecheck().modules().items() if name.startswith("echobench")
}


def _modules(package_dir: Path, name: str) -> dict[str, Path]:
    """Every module of a package laid out in its own folder, by its dotted name."""
    found: dict[str, Path] = {}
    for directory, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if (Path(directory, d) / "__init__.py").exists()]
        parts = [name, *Path(directory).relative_to(package_dir).parts]
        for file in files:
            if file.endswith(".py"):
                stem = file[:-3]
                found[".".join(parts if stem == "__init__" else [*parts, stem])] = Path(
                    directory, file
                )
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Which of the modules each one imports: at the top, inside functions, and under
    ``TYPE_CHECKING`` alike (a cycle hidden in any of them is still a cycle)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".")
                    anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that reach each other through imports (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other() -> None:
    graph = import_graph(MODULES)
    assert len(graph) > 100, "the walk missed the mapped folders"
    assert cycles(graph) == []


def test_the_cycle_check_sees_cycles_hidden_anywhere(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import thing\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    (package / "c.py").write_text("def f():\n    from . import d\n")
    (package / "d.py").write_text("import pkg.c\n")
    (package / "e.py").write_text("from pkg import a\n")  # reaches a cycle, is in none
    found = cycles(import_graph(_modules(package, "pkg")))
    assert found == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"]]


#: The floors, lowest first: a room may import the ones below it, never those above.
FLOORS = (
    "echobench.servers",
    "echobench.clients",
    "echobench.benchmarks.reference",
    "echobench.benchmarks.runner",
    "echobench.benchmarks.compare",
    "echobench.benchmarks.charts",
    "echobench.benchmarks.report",
    "echobench.benchmarks.truth",
    "echobench.benchmarks.publish",
)
#: What each room may not import (its docstring says why).
FORBIDDEN = {room: FLOORS[i + 1 :] for i, room in enumerate(FLOORS)}
#: Rooms on one floor that still keep apart: the runner needs no reference client.
FORBIDDEN["echobench.benchmarks.runner"] += ("echobench.benchmarks.reference",)
FORBIDDEN["echobench.servers"] += ("echobench.benchmarks",)
FORBIDDEN["echobench.clients"] += ("echobench.benchmarks",)


def test_rooms_import_only_what_their_docstrings_allow() -> None:
    graph = import_graph(MODULES)
    broken = [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for room, forbidden in FORBIDDEN.items()
        if module == room or module.startswith(room + ".")
        for target in targets
        if target.startswith(forbidden)
    ]
    assert broken == []
    into_publish = [
        module
        for module, targets in graph.items()
        if not module.startswith("echobench.benchmarks.publish")
        and module != "echobench._cli"
        and any(t.startswith("echobench.benchmarks.publish") for t in targets)
    ]
    assert into_publish == []


def test_benchmarks_holds_only_its_rooms() -> None:
    # A new module goes into the room of its concern (benchmarks/__init__.py says which).
    loose = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.suffix == ".py")
    assert loose == ["__init__.py"]
    rooms = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.is_dir())
    assert [r for r in rooms if r != "__pycache__"] == [
        "charts",
        "compare",
        "publish",
        "reference",
        "report",
        "runner",
        "suites",
        "truth",
    ]
    suites = ROOT / "benchmarks" / "suites"
    assert not (suites / "__init__.py").exists()  # pytest imports them as top-level bench_*
    assert {p.name for p in suites.glob("*.py")} == {p.name for p in suites.glob("bench_*.py")}


def test_every_subpackage_says_what_it_is_for_and_may_import() -> None:
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert doc, f"{module} has no docstring"
        if module != "echobench":
            assert "import" in doc.lower(), f"{module}'s docstring does not say what it may import"


def test_one_name_per_module_in_one_process(tmp_path: Path) -> None:
    # Outside the checkout, so nothing on sys.path could reach the folders by their own names.
    script = textwrap.dedent(
        """
        import importlib, json, os, sys
        from echobench._cli import main

        for name in {names!r}:
            if not name.endswith("__main__"):  # that one runs the command
                importlib.import_module(name)
        assert main(["list", "--json"]) == 0
        assert main(["publish", "--list"]) == 0
        old = sorted(m for m in sys.modules if m.split(".")[0] in {old!r})
        files = {{}}
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if name.startswith("echobench") and path:
                files.setdefault(path, []).append(name)
        twice = {{p: n for p, n in files.items() if len(n) > 1}}
        print("RESULT", json.dumps([old, twice, files]))
        """
    ).format(names=sorted(MODULES), old=set(OLD_NAMES))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    old, twice, files = json.loads(done.stdout.splitlines()[-1].removeprefix("RESULT "))
    assert old == [] and twice == {}
    # Each under the name the mapping gives it, from its one real path (no link in it).
    loaded = {names[0]: Path(path) for path, names in files.items()}
    expected = {name: path for name, path in MODULES.items() if not name.endswith("__main__")}
    assert loaded == expected


def test_a_traceback_names_the_file_at_its_one_path() -> None:
    from echobench.servers import UserError, get_backend

    with pytest.raises(UserError) as raised:
        get_backend("no-such-backend")
    frames = [Path(frame.filename) for frame in traceback.extract_tb(raised.tb)]
    assert ROOT / "servers" / "_registry.py" in frames
    assert all(frame.resolve() == frame for frame in frames)


def test_the_old_names_are_not_importable_outside_the_checkout(tmp_path: Path) -> None:
    for name in OLD_NAMES:
        done = subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True
        )
        assert "ModuleNotFoundError" in done.stderr, (name, done.stderr)


def test_a_new_file_in_servers_is_a_backend_without_reinstalling() -> None:
    servers = importlib.import_module("echobench.servers")
    assert Path(str(servers.__file__)).parent == ROOT / "servers"
    name = f"zz_layout_probe_{os.getpid()}"
    probe = ROOT / "servers" / f"{name}.py"
    probe.write_text(
        "from echobench.servers import Backend\n"
        f"BACKEND = Backend(name={name!r}, family='baseline', description='probe',\n"
        "                  serve='echobench.servers.threads:serve')\n"
    )
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "echobench", "list", "--json"],
            cwd=ROOT.parent,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[name]["available"] and rows[name]["origin"] == f"echobench.servers.{name}"


def test_the_wheel_holds_only_echobench(tmp_path: Path) -> None:
    # Built from a copy: setuptools writes build/ and egg-info next to the sources.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "results", "build", "*.egg-info", "__pycache__", ".*_cache"
    )
    shutil.copytree(ROOT, source, symlinks=True, ignore=ignore)
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("echobench-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert archive.read(top_level).decode().split() == ["echobench"]
    tops = {name.split("/")[0] for name in names}
    dist_info = [top for top in tops if top.endswith(".dist-info")]
    assert len(dist_info) == 1 and tops == {"echobench", *dist_info}
    assert not [n for n in names if n.startswith("echobench/") and n.endswith("/")]
    # Every module of the three folders, as a real file under its one name.
    expected = {
        f"echobench/{path.relative_to(ROOT).as_posix()}"
        for folder in OLD_NAMES
        for path in (ROOT / folder).rglob("*.py")
        if "suites" not in path.parts and "__pycache__" not in path.parts
    }
    assert expected <= set(names)
    # The C servers travel with the header they share.
    servers = ("native_echo.c", "uring_echo.c", "echo_common.h")
    assert {f"echobench/servers/{name}" for name in servers} <= set(names)
    assert "echobench/py.typed" in names
    assert "echobench/benchmarks/reference/native_client.c" in names
    assert not [n for n in names if "/suites/" in n]  # run from the checkout, not installed


def test_no_two_modules_share_a_name() -> None:
    # A name says what a module holds: the same one in two rooms (two _schema, two
    # _report) says it twice about different things.
    stems: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            stems.setdefault(path.stem, []).append(name)
    assert {stem: names for stem, names in stems.items() if len(names) > 1} == {}


def test_backends_import_the_public_api_as_plugins_do() -> None:
    # The in-tree backends take Backend, ServeContext and the contract's helpers from
    # echobench.servers, as a plugin must; only their shared family helpers are private.
    private = ("echobench.servers._backend", "echobench.servers._contract")
    backends = [p for p in (ROOT / "servers").glob("[a-z]*.py")]
    assert len(backends) >= 18
    wrong = [
        f"{path.name}: {node.module}"
        for path in backends
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module in private
    ]
    assert wrong == []


#: The longest a function may be; argparse set-up (a command's ``configure``) is a list of
#: options, longer by nature, and exempt.
MAX_FUNCTION_LINES = 80


def test_no_function_is_over_80_lines() -> None:
    long = [
        f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
        and not (path.stem.startswith("_cmd_") and node.name == "configure")
    ]
    assert long == []


def test_the_mapping_lists_every_package_on_disk() -> None:
    # setuptools installs only the packages listed; a folder missing there would be left
    # out of the wheel (an editable install would still find it, and hide the gap).
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {f"echobench.{name}": name for name in OLD_NAMES}
    on_disk = {"echobench"} | {
        ".".join(["echobench", *init.parent.relative_to(ROOT).parts])
        for folder in OLD_NAMES
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert sorted(config["packages"]) == sorted(on_disk)


def test_the_type_check_sees_every_file_once_under_its_installed_name() -> None:
    checked = _typecheck().modules()
    files = {
        path
        for folder in MAPPED
        for path in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert sorted(checked.values()) == sorted(files)  # each once: names are a dict's keys
    suites = {name for name, path in checked.items() if "suites" in path.parts}
    assert suites == {"bench_loop_primitives", "bench_roundtrip"}  # pytest's names for them
    for name, path in checked.items():
        if name.startswith("echobench"):
            spec = importlib.util.find_spec(name)
            assert spec and spec.origin == str(path), name  # what the import system finds


def test_no_file_is_a_link() -> None:
    links = []
    for directory, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in {".git", ".venv", "node_modules"}]
        links += [Path(directory, n) for n in dirs + files if Path(directory, n).is_symlink()]
    assert links == []
