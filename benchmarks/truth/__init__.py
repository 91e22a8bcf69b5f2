"""The instruments that check the instrument, and the numbers the README and docs/ publish.

The reference load clients (native C, minimal uvloop, vmbench's), the client's
ceiling (``echobench ceiling``), the runner's agreement with the native client
(``echobench agreement``), the Dask cluster's cost against local workers, the
client cores each backend needs, and ``echobench publish``: steps that measure
into ``results/published/`` and rewrite the README's and docs/' tables and charts from those
files (``_publish`` says how to add one). A new reference client or published
number goes here.

May import ``echobench.servers``, ``echobench.clients``,
``echobench.benchmarks.runner``, ``compare``, ``charts`` and ``report``; nothing
imports this room except the command dispatcher.
"""
