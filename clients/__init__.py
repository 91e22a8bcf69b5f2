"""The load generator behind ``echobench load``: a verifying, latency-honest echo client.

What measures. May import ``echobench.servers`` (its errors and contract);
nothing of ``echobench.benchmarks``.
"""

from echobench.clients._cluster import run_cluster_load
from echobench.clients._config import LoadConfig
from echobench.clients._load_schema import SCHEMA, SCHEMA_VERSION
from echobench.clients._run import run_load

__all__ = ["SCHEMA", "SCHEMA_VERSION", "LoadConfig", "run_cluster_load", "run_load"]
