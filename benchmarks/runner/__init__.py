"""``echobench run``: from options to a results file, case by case.

The plan (options, resumed runs, the matrix), the measurement of one case
(server start, priming, the load client, CPU and memory usage, the verdict),
CPU placement, the conformance gate, the environment record, and the results
file with its schema.

May import ``echobench.servers`` and ``echobench.clients``; never
``echobench.benchmarks.output`` or ``echobench.benchmarks.truth`` (they build on
this room, not the other way round).
"""
