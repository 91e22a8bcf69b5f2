"""``echobench run``: from options to a results file, case by case.

The plan (options, resumed runs, the matrix, the named scenarios), the
measurement of one case (server start, priming, the load client, CPU and memory
usage, the verdict), CPU placement, the conformance gate, the environment record,
the results file with its schema, and the latency scenario's passes (``_sweep``:
capacity probes, then an open-loop sweep planned from them by ``_sweepplan``, each
point's percentiles with their confidence intervals from ``_quantiles``, the floor and
the capacity at a latency target from ``_sweepsummary``, its table ``_sweeptable``).

May import ``echobench.servers`` and ``echobench.clients``; never
``echobench.benchmarks.compare``, ``charts``, ``report`` or ``truth`` (they build on
this room, not the other way round).
"""
