"""The instruments that check the instrument, and the numbers the README publishes.

The reference load clients (native C, minimal uvloop, vmbench's), the client's
ceiling, the runner's agreement with the native client, the Dask cluster's cost
against local workers, the client cores each backend needs, the sample results and
the README rewriting that puts every measured table in place.

May import ``echobench.servers``, ``echobench.clients``,
``echobench.benchmarks.runner`` and ``echobench.benchmarks.output``; nothing
imports this room except the command dispatcher.
"""
