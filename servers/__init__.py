"""Echo server backends under one contract, and the registry that finds them."""

from servers._backend import Backend
from servers._conformance import (
    CHECKS,
    QUICK_CHECKS,
    CheckResult,
    ConformanceError,
    ServerFactory,
    factory_for,
    run_checks,
)
from servers._contract import BACKLOG, READ_SIZE, ServeConfig, ServeContext
from servers._errors import UserError
from servers._registry import (
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
    "discover",
    "factory_for",
    "get_backend",
    "require_available",
    "run_checks",
]
