"""The load generator behind ``echobench load``: a verifying, latency-honest echo client."""

from clients._config import LoadConfig
from clients._run import run_load
from clients._schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SCHEMA", "SCHEMA_VERSION", "LoadConfig", "run_load"]
