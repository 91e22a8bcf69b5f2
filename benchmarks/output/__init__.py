"""What is made from results files: charts, the HTML report, compare, terminal tables.

The ``plot``, ``report`` and ``compare`` commands, the charts of a run and of a
pytest-benchmark file, the palette, the statistics behind compare, and the view
of a results file they all read (``_runview``).

May import ``echobench.benchmarks.runner``'s readers of the results file (its
schema and the verdict) and ``echobench.servers``; never
``echobench.benchmarks.truth``, and the runner never imports this room.
"""
