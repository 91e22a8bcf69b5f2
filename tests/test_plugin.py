"""The three ways to add a backend, end to end: a plugin package, an external command.

(The third way, a file in ``servers/`` or on ``ECHOBENCH_BACKEND_PATH``, is what
``test_new_backend`` exercises with the scaffold's output.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from echobench.servers._launch import echobench_command

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLUGIN = EXAMPLES / "echobench-plugin-example"


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False, env=env)


def _verify_json(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The failed checks of ``verify --json`` output, as readable lines."""
    report = json.loads(result.stdout)
    return [f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["passed"]]


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv that sees this echobench and its dependencies, with the plugin installed.

    ``--system-site-packages`` alone does not reach them when the tests run from
    a venv themselves (it exposes the base interpreter's packages), so a .pth
    file adds this environment's site directory; nothing is downloaded.
    """
    root = tmp_path_factory.mktemp("plugin")
    venv = root / "venv"
    venv_argv = [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip"]
    made = _run([*venv_argv, str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site_dir = Path(purelib.stdout.strip())
    here = sysconfig.get_paths()["purelib"]
    (site_dir / "echobench-host.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    # The console script pip writes for echobench, so servers start in this venv.
    script = venv / "bin" / "echobench"
    script.write_text(
        f"#!{python}\nimport sys\nfrom echobench._cli import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    # Build from a copy: setuptools writes build files next to the sources.
    source = shutil.copytree(PLUGIN, root / "src")
    installed = _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            str(source),
        ]
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


@pytest.mark.slow
def test_plugin_is_listed_through_its_entry_point_and_verifies(plugin_venv: Path) -> None:
    echobench = str(plugin_venv / "bin" / "echobench")
    listed = _run([echobench, "list", "--json"])
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    row = rows["asyncio-buffered"]
    assert row["available"], row["reason"]
    assert row["origin"] == "entry point asyncio-buffered = echobench_plugin_example"
    assert "asyncio-protocol" in rows  # the built-ins are still there beside it

    verified = _run([echobench, "verify", "asyncio-buffered", "--json"])
    failed = _verify_json(verified)
    assert verified.returncode == 0 and not failed, failed or verified.stderr


@pytest.mark.slow
def test_plugin_imports_echobench_by_its_one_name(plugin_venv: Path) -> None:
    # The plugin's module, loaded in its venv: its Backend is echobench.servers', and the
    # folders behind echobench are not importable under names of their own.
    script = (
        "import importlib.util, sys\n"
        "import echobench_plugin_example as plugin\n"
        "from echobench.servers import Backend\n"
        "assert isinstance(plugin.BACKEND, Backend), type(plugin.BACKEND)\n"
        "assert plugin.Backend is Backend\n"
        "print([n for n in ('servers', 'clients', 'benchmarks') if importlib.util.find_spec(n)])\n"
    )
    python = str(plugin_venv / "bin" / "python")
    # Away from the checkout: ``python -c`` puts the working directory on sys.path.
    done = subprocess.run(
        [python, "-c", script], cwd=plugin_venv, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_plugin_is_not_installed_here() -> None:
    """The plugin reaches only the venv it is installed into (the test above)."""
    listed = _run([*echobench_command(), "list", "--json"])
    assert "asyncio-buffered" not in {row["name"] for row in json.loads(listed.stdout)}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_external_node_backend_verifies() -> None:
    env = {**os.environ, "ECHOBENCH_BACKEND_PATH": str(EXAMPLES / "node-echo")}
    verified = _run([*echobench_command(), "verify", "node-echo", "--quick", "--json"], env=env)
    failed = _verify_json(verified)
    assert verified.returncode == 0 and not failed, failed or verified.stderr


def test_external_backend_without_its_executable_is_unavailable() -> None:
    env = {
        **os.environ,
        "ECHOBENCH_BACKEND_PATH": str(EXAMPLES / "node-echo"),
        "PATH": str(Path(sys.executable).parent),  # python and echobench, but no node
    }
    listed = _run([*echobench_command(), "list", "--json"], env=env)
    row = next(r for r in json.loads(listed.stdout) if r["name"] == "node-echo")
    assert not row["available"]
    assert "'node' executable is not on PATH" in row["reason"]
    served = _run([*echobench_command(), "serve", "node-echo"], env=env)
    assert served.returncode == 2
    assert "cannot run here" in served.stderr and "Traceback" not in served.stderr
