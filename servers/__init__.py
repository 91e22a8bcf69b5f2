"""Echo server backends under one contract, and the registry that finds them.

What is measured: one small module per backend exporting ``BACKEND``, beside the
contract, the registry, the conformance checks and the ``list``, ``serve``,
``verify`` and ``new-backend`` commands. Imports nothing of ``echobench.clients``
or ``echobench.benchmarks``.

This package's names are the public API for backend authors; the in-tree backends
import from here, as plugins do (``from echobench.servers import Backend,
ServeContext``), and only their shared family helpers (``_aio``, ``_twisted_echo``)
from private modules.
"""

from echobench.servers._backend import Backend
from echobench.servers._conformance import (
    CHECKS,
    QUICK_CHECKS,
    CheckResult,
    ConformanceError,
    ServerFactory,
    factory_for,
    run_checks,
)
from echobench.servers._contract import (
    BACKLOG,
    READ_SIZE,
    ServeConfig,
    ServeContext,
    bind_listener,
    set_nodelay,
)
from echobench.servers._errors import UserError
from echobench.servers._registry import (
    ENTRY_POINT_GROUP,
    available_backends,
    discover,
    get_backend,
    require_available,
)

__all__ = [
    "BACKLOG",
    "CHECKS",
    "ENTRY_POINT_GROUP",
    "QUICK_CHECKS",
    "READ_SIZE",
    "Backend",
    "CheckResult",
    "ConformanceError",
    "ServeConfig",
    "ServeContext",
    "ServerFactory",
    "UserError",
    "available_backends",
    "bind_listener",
    "discover",
    "factory_for",
    "get_backend",
    "require_available",
    "run_checks",
    "set_nodelay",
]
