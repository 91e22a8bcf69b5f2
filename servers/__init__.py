"""Echo server backends under one contract, and the registry that finds them."""

from servers._backend import Backend
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
    "ENTRY_POINT_GROUP",
    "READ_SIZE",
    "Backend",
    "ServeConfig",
    "ServeContext",
    "UserError",
    "available_backends",
    "discover",
    "get_backend",
    "require_available",
]
