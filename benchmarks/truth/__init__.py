"""The instruments that check the instrument.

The client's ceiling (``echobench ceiling``: ``echobench load`` beside every reference
client), the runner's agreement with the native client (``echobench agreement``), the
soak (``echobench soak``), the latency scenario against a server of known capacity
(``echobench latency-check``), the open-loop client's send lag at half its capacity
(``echobench client-lag``), the Dask cluster's cost against local workers, the client
cores each backend needs, and the network-namespace fleet the cluster tests run in. A
new instrument goes here; what it publishes goes in ``echobench.benchmarks.publish``.

May import ``echobench.servers``, ``echobench.clients`` and the rooms below this one,
``echobench.benchmarks.reference``, ``runner``, ``compare`` and ``charts``; never
``echobench.benchmarks.publish``, which builds on this room.
"""
