"""What the asyncio-family backends share: the loop choice and the stop signal.

The uvloop and rloop backends reuse the asyncio modules' code and change only the
loop factory, so any difference between them measures the loop, nothing else. A
loop is named as ``MODULE:FACTORY`` (``rloop:new_event_loop``), or by one of the
short names in ``LOOPS``; ``check_loop`` is what ``BACKEND@MODULE:FACTORY`` runs
before a server starts, so that a loop that cannot be imported or is no asyncio
loop is a one-line error, not a server that dies on start.
"""

from __future__ import annotations

import asyncio
import importlib
import platform
import signal
from collections.abc import Callable, Coroutine
from importlib import metadata
from typing import Any

from echobench.servers._errors import UserError

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

#: Short names for the loops the built-in backends run on.
LOOPS = {
    # epoll on Linux; what asyncio.run uses here.
    "asyncio": "asyncio:SelectorEventLoop",
    "uvloop": "uvloop:new_event_loop",
    "rloop": "rloop:new_event_loop",
}


def loop_spec(loop: str) -> str:
    """``MODULE:FACTORY`` for a short name or a spec; a malformed spec is a ``UserError``."""
    spec = LOOPS.get(loop, loop)
    module, colon, factory = spec.partition(":")
    if not (colon and module and factory) or ":" in factory:
        raise UserError(f"loop {loop!r} is not MODULE:FACTORY (for example rloop:new_event_loop)")
    return spec


def loop_factory(loop: str) -> LoopFactory:
    """The callable that makes ``loop``'s event loop (a short name or ``MODULE:FACTORY``)."""
    spec = loop_spec(loop)
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a broken third-party module may raise anything on import
        raise UserError(
            f"loop {spec}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UserError(f"loop {spec}: {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise UserError(f"loop {spec}: {attribute!r} is a {type(target).__name__}, not a factory")
    factory: LoopFactory = target
    return factory


def check_loop(loop: str) -> dict[str, str | None]:
    """Make ``loop``'s event loop once and close it; returns what the results record of it.

    Raises ``UserError`` when the factory cannot be imported, fails, or makes
    something that is not an ``asyncio.AbstractEventLoop``.
    """
    spec = loop_spec(loop)
    factory = loop_factory(spec)
    try:
        made = factory()
    except Exception as exc:
        raise UserError(f"loop {spec}: the factory failed ({type(exc).__name__}: {exc})") from None
    try:
        if not isinstance(made, asyncio.AbstractEventLoop):
            raise UserError(
                f"loop {spec}: the factory returned an object of type "
                f"{type(made).__name__}, not an asyncio event loop"
            )
    finally:
        close = getattr(made, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                pass  # a loop that cannot close is still described; serving will tell
    return describe_loop(spec)


def describe_loop(loop: str) -> dict[str, str | None]:
    """The loop's spec, module, class-providing distribution and its version."""
    spec = loop_spec(loop)
    module = spec.partition(":")[0]
    top = module.split(".")[0]
    if top == "asyncio":
        python = platform.python_version()
        return {"spec": spec, "module": module, "package": "python", "version": python}
    distributions = metadata.packages_distributions().get(top, [top])
    for name in distributions:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        return {"spec": spec, "module": module, "package": name, "version": version}
    imported = importlib.import_module(top)
    found = getattr(imported, "__version__", None)
    return {
        "spec": spec,
        "module": module,
        "package": top,
        "version": str(found) if found is not None else None,
    }


async def wait_for_stop_signal() -> None:
    """Return once SIGTERM or SIGINT arrives."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(main: Callable[[], Coroutine[Any, Any, None]], loop: str) -> None:
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        runner.run(main())
