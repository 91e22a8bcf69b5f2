"""Compile a bundled C program on first use, and cache the binary per user.

The cache key hashes the source, the headers it includes from beside it, the
flags and libraries, and the compiler's path and version, so editing the source
or a header or changing compilers rebuilds, and nothing else does. Concurrent
first uses each compile to a temporary name and rename into place, so no process
ever executes a half-written binary.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from echobench.servers._errors import UserError

CFLAGS = ("-O2", "-Wall")
CACHE_VARIABLE = "ECHOBENCH_CACHE_DIR"


def compiler() -> str | None:
    """The system C compiler (``$CC``, else ``cc``), or ``None`` when there is none."""
    return shutil.which(os.environ.get("CC") or "cc")


def missing_compiler_reason() -> str | None:
    """Why nothing can be compiled here, or ``None`` when a compiler is present."""
    if compiler() is None:
        wanted = os.environ.get("CC") or "cc"
        return f"no C compiler found ({wanted!r} is not on PATH; install gcc or clang, or set CC)"
    return None


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "echobench" / "native"


@cache
def _compiler_version(path: str) -> str:
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"C compiler {path} does not run: {exc}") from None
    return result.stdout


def build(
    source: Path, name: str, headers: Sequence[Path] = (), libraries: Sequence[str] = ()
) -> Path:
    """Path to ``source`` compiled to an executable, compiling it if not yet cached.

    ``headers`` are the files it includes from its own folder (hashed with it);
    ``libraries`` are linked (``-l``).
    """
    cc = compiler()
    if cc is None:
        reason = missing_compiler_reason()
        raise UserError(f"cannot build {source.name}: {reason}")
    try:
        code = [path.read_bytes() for path in (source, *headers)]
    except OSError as exc:
        raise UserError(f"cannot read {exc.filename}: {exc.strerror}") from None
    links = [f"-l{library}" for library in libraries]
    key = hashlib.sha256()
    flags = " ".join([*CFLAGS, *links]).encode()
    for part in (*code, flags, cc.encode(), _compiler_version(cc).encode()):
        key.update(part)
        key.update(b"\0")
    directory = cache_dir()
    target = directory / f"{name}-{key.hexdigest()[:16]}"
    if os.access(target, os.X_OK):
        return target
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create cache directory {directory}: {exc.strerror}") from None
    fd, partial = tempfile.mkstemp(prefix=f".{name}-", dir=directory)
    os.close(fd)
    try:
        try:
            result = subprocess.run(
                [cc, *CFLAGS, "-o", partial, str(source), *links],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"{cc} failed to compile {source.name}: {exc}") from None
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
            raise UserError(f"{cc} failed to compile {source.name}: {tail[0]}")
        os.chmod(partial, 0o755)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target
