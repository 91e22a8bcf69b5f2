"""``echobench new-backend``: the scaffold passes verification (and lint) as generated."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from echobench.servers._cmd_new_backend import TEMPLATES
from echobench.servers._launch import echobench_command


def _echobench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*echobench_command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _family_params() -> list[object]:
    params = []
    for family in sorted(TEMPLATES):
        package = None if family == "asyncio" else family  # each other template needs its own
        missing = package is not None and importlib.util.find_spec(package) is None
        marks = [pytest.mark.skip(reason=f"{package} is not installed")] if missing else []
        params.append(pytest.param(family, id=family, marks=marks))
    return params


@pytest.mark.parametrize("family", _family_params())
def test_scaffold_passes_the_quick_checks(family: str, tmp_path: Path) -> None:
    name = f"scaffolded-{family}"
    made = _echobench("new-backend", name, "--family", family, "--dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    module = tmp_path / f"scaffolded_{family}.py"
    assert module.exists()
    assert f"ECHOBENCH_BACKEND_PATH={tmp_path} echobench verify {name}" in made.stdout

    env = {**os.environ, "ECHOBENCH_BACKEND_PATH": str(tmp_path)}
    listed = json.loads(_echobench("list", "--json", env=env).stdout)
    row = next(r for r in listed if r["name"] == name)
    assert row["available"] and row["family"] == family and row["origin"] == str(module)

    verified = _echobench("verify", name, "--quick", "--json", env=env)
    report = json.loads(verified.stdout)
    failed = [f"{c['name']}: {c['detail']}" for c in report["checks"] if not c["passed"]]
    assert verified.returncode == 0 and not failed, failed


def test_scaffolds_are_lint_clean(tmp_path: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    for family in TEMPLATES:
        name = f"lint-{family}"
        made = _echobench("new-backend", name, "--family", family, "--dir", str(tmp_path))
        assert made.returncode == 0, made.stderr
    config = Path(__file__).parents[1] / "pyproject.toml"
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [str(ruff), *command, "--no-cache", "--config", str(config), str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name"], "must be lowercase letters"),
        (["asyncio-protocol"], "already exists"),
        (["fresh-one", "--dir", "/nonexistent/dir"], "is not a directory"),
        (["fresh-one", "--family", "cobol"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = _echobench("new-backend", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "mine.py"
    target.write_text("# my work\n")
    refused = _echobench("new-backend", "mine", "--dir", str(tmp_path))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert target.read_text() == "# my work\n"
    forced = _echobench("new-backend", "mine", "--dir", str(tmp_path), "--force")
    assert forced.returncode == 0 and 'name="mine"' in target.read_text()
