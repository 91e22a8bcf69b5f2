"""The backend object every module in ``servers/`` exports as ``BACKEND``."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from echobench.servers._contract import ServeContext

ServeFunction = Callable[["ServeContext"], None]
#: A serve function that takes the asyncio loop to run on, as ``MODULE:FACTORY``.
LoopServeFunction = Callable[["ServeContext", str], None]


@dataclass(frozen=True)
class Backend:
    """A named echo server that honours the contract (see ``echobench.servers._contract``).

    ``serve`` is either a callable or a ``"module:function"`` string; the string
    form keeps the framework import lazy, so that listing backends never imports
    every framework and a missing one only marks its own backend unavailable.

    ``command`` makes an *external* backend: an executable honouring the contract
    on its own (``{host}`` and ``{port}`` are substituted). ``requires`` names
    import modules that must be importable; ``probe`` may return a reason why the
    backend cannot run here (for example: no C compiler), or ``None``.
    ``reuse_port`` gives the listener SO_REUSEPORT, so that worker processes
    can listen on the same port with sockets of their own.
    ``process_count`` says how many processes serve, given the ``-o`` options, for a
    backend that forks workers; ``None`` from it means one per CPU the server is given.
    Unset, the backend serves from one process. The runner places the server on as many
    CPUs as it has processes (see ``processes``).
    ``loop`` names the asyncio event loop the backend runs on (``MODULE:FACTORY``, or a
    short name of ``echobench.servers._aio.LOOPS``), recorded with its version in the
    results. ``serve_on_loop`` is the backend's code with the loop as a parameter: it
    makes ``NAME@MODULE:FACTORY`` run that code on any asyncio loop, with no file of its own.
    ``readline`` says it has vmbench's readline mode (``serve --readline``:
    newline-framed messages read with ``readline()`` and echoed a line at a time).
    ``known_failures`` maps a conformance check the backend is known to fail to why (a
    defect of its framework, not of this code): ``verify`` still fails it and says why,
    the runner's gate measures the backend anyway and records the failure beside its
    numbers, and the test suite expects exactly that failure (so a fix upstream shows).
    """

    name: str
    family: str
    description: str
    serve: ServeFunction | str | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    transports: frozenset[str] = frozenset({"tcp"})
    command: Sequence[str] | None = None
    probe: Callable[[], str | None] | None = None
    options: dict[str, str] = field(default_factory=dict)
    origin: str = ""
    reuse_port: bool = False
    process_count: Callable[[Mapping[str, str]], int | None] | None = None
    loop: str | None = None
    serve_on_loop: LoopServeFunction | None = None
    known_failures: Mapping[str, str] = field(default_factory=dict)
    readline: bool = False

    def processes(self, options: Mapping[str, str]) -> int | None:
        """Processes that serve with these options; ``None``: one per CPU it is given."""
        return 1 if self.process_count is None else self.process_count(options)

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here, or ``None`` when it can."""
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                hint = f" (install: {self.install_hint})" if self.install_hint else ""
                return f"missing package '{module}'{hint}"
        if self.probe is not None:
            return self.probe()
        return None

    @property
    def available(self) -> bool:
        return self.unavailable_reason() is None

    def load_serve(self) -> ServeFunction:
        """Resolve ``serve`` to a callable, importing the framework now."""
        if self.serve is None:
            raise TypeError(f"backend {self.name!r} is external and has no in-process serve")
        if callable(self.serve):
            return self.serve
        module_name, _, attr = self.serve.partition(":")
        module = importlib.import_module(module_name)
        function: ServeFunction = getattr(module, attr)
        return function
