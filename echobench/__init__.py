"""echobench: equivalent TCP echo servers under one load generator, compared.

The one installed name; the code lives in the repository's top-level folders,
each importable only through this package:

- ``echobench.servers`` (``servers/``): what is measured. One module per backend
  exporting ``BACKEND``, the serving contract, the registry and the conformance
  checks. The public API for backend authors: ``from echobench.servers import
  Backend, ServeContext``.
- ``echobench.clients`` (``clients/``): what measures. The verifying load
  generator behind ``echobench load``: ``from echobench.clients import LoadConfig,
  run_load``.
- ``echobench.benchmarks`` (``benchmarks/``): what orchestrates, draws and checks
  the instrument: the runner, the output (charts, report, compare) and the truth
  instruments.

``echobench._cli`` is the ``echobench`` command's dispatcher. Lower layers never
import higher ones: servers imports nothing of clients or benchmarks; clients
imports only servers.
"""
