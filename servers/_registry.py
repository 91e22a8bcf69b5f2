"""Finds backends: modules in ``servers/`` and the ``echobench.backends`` entry points.

``ECHOBENCH_BACKEND_PATH`` (directories separated by ``os.pathsep``) adds
directories whose ``*.py`` files are scanned the same way: a quick way to try a
backend file without installing anything, and how the tests add deliberately
broken backends.

Modules whose names start with ``_`` are the package's own machinery and are
skipped. A module that fails to import is listed as a broken, unavailable
backend with the reason, so one bad plugin never hides the others.

``NAME@MODULE:FACTORY`` names backend NAME's code on another asyncio loop
(``asyncio-protocol@rloop:new_event_loop``): wherever a backend name is taken,
for the backends that declare ``serve_on_loop``. The loop is made once here,
before anything starts, so that a wrong one is a one-line error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import traceback
from dataclasses import replace
from functools import cache
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from echobench.servers._backend import Backend, LoopServeFunction, ServeFunction
from echobench.servers._errors import UserError

if TYPE_CHECKING:
    from echobench.servers._contract import ServeContext

ENTRY_POINT_GROUP = "echobench.backends"
PATH_VARIABLE = "ECHOBENCH_BACKEND_PATH"


def _backends_of(obj: object, origin: str) -> list[Backend]:
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "BACKEND", None)
    if isinstance(obj, Backend):
        return [_with_origin(obj, origin)]
    raise TypeError(f"{origin} exports no Backend object (expected a module-level BACKEND)")


def _with_origin(backend: Backend, origin: str) -> Backend:
    if backend.origin:
        return backend
    return replace(backend, origin=origin)


def _broken(name: str, origin: str, exc: BaseException) -> Backend:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Backend(
        name=name,
        family="broken",
        description=f"failed to load from {origin}",
        probe=lambda: f"failed to load: {last}",
        origin=origin,
    )


def _scan_package() -> list[Backend]:
    # This module's own folder, not the package's __path__: the package imports this
    # module, and this module importing the package back would make a cycle.
    package_dir = str(Path(__file__).parent)
    found: list[Backend] = []
    for info in sorted(pkgutil.iter_modules([package_dir]), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module_name = f"echobench.servers.{info.name}"
        try:
            module = importlib.import_module(module_name)
            found.extend(_backends_of(module, module_name))
        except Exception as exc:
            found.append(_broken(info.name.replace("_", "-"), module_name, exc))
    return found


def _scan_path() -> list[Backend]:
    found: list[Backend] = []
    for directory in filter(None, os.environ.get(PATH_VARIABLE, "").split(os.pathsep)):
        for path in sorted(Path(directory).glob("*.py")):
            if path.name.startswith("_"):
                continue
            module_name = f"echobench_extra_backends.{path.stem}"
            origin = str(path)
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                found.extend(_backends_of(module, origin))
            except Exception as exc:
                found.append(_broken(path.stem.replace("_", "-"), origin, exc))
    return found


def _scan_entry_points() -> list[Backend]:
    found: list[Backend] = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry.name} = {entry.value}"
        try:
            found.extend(_backends_of(entry.load(), origin))
        except Exception as exc:
            found.append(_broken(entry.name, origin, exc))
    return found


@cache
def discover() -> tuple[Backend, ...]:
    """Every backend: built-in, then ``ECHOBENCH_BACKEND_PATH``, then plugins; first name wins."""
    seen: dict[str, Backend] = {}
    for backend in _scan_package() + _scan_path() + _scan_entry_points():
        seen.setdefault(backend.name, backend)
    return tuple(seen.values())


def available_backends() -> list[Backend]:
    return [b for b in discover() if b.available]


def get_backend(name: str) -> Backend:
    base, at, loop = name.partition("@")
    for backend in discover():
        if backend.name == base:
            return on_loop(backend, loop) if at else backend
    known = ", ".join(b.name for b in discover())
    raise UserError(f"unknown backend {base!r} (known: {known})")


def _serving_on(serve_on_loop: LoopServeFunction, loop: str) -> ServeFunction:
    def serve(ctx: ServeContext) -> None:
        serve_on_loop(ctx, loop)

    return serve


def on_loop(backend: Backend, loop: str) -> Backend:
    """``backend``'s code on the asyncio loop ``loop`` (``MODULE:FACTORY``), checked now."""
    if backend.serve_on_loop is None:
        takers = ", ".join(b.name for b in discover() if b.serve_on_loop is not None)
        raise UserError(
            f"backend {backend.name!r} does not take an asyncio loop: @MODULE:FACTORY works "
            f"for {takers}"
        )
    from echobench.servers._aio import check_loop, loop_spec

    described = check_loop(loop)
    spec = str(described["spec"])
    # A loop a registered backend runs on keeps that backend's family; any other is
    # an outside one.
    families = {
        loop_spec(b.loop).partition(":")[0]: b.family for b in discover() if b.loop is not None
    }
    return replace(
        backend,
        name=f"{backend.name}@{spec}",
        family=families.get(spec.partition(":")[0], "external"),
        description=f"{backend.name}'s code on {spec} ({described['package']} "
        f"{described['version']})",
        serve=_serving_on(backend.serve_on_loop, spec),
        loop=spec,
        serve_on_loop=None,
        # What this loop fails is for the checks to find, not for the base backend to say.
        known_failures={},
        requires=(),
        origin=f"{backend.origin} on loop {spec}",
    )


def require_available(name: str) -> Backend:
    backend = get_backend(name)
    reason = backend.unavailable_reason()
    if reason is not None:
        raise UserError(f"backend {name!r} cannot run here: {reason}")
    return backend
