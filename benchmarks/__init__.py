"""What orchestrates, draws and checks the instrument: one room per concern.

- ``runner``: the ``run`` command (plan, matrix, measurement, placement, results
  file and its schema). A new runner dimension goes here.
- ``output``: what is made from results files: charts, the HTML report, compare
  and its statistics (the ``plot``, ``report`` and ``compare`` commands). A new
  chart goes here.
- ``truth``: the instruments that check the instrument: reference clients, the
  client's ceiling, runner agreement, the published numbers and the README's
  tables. A new reference client goes here.
- ``suites/`` (not a package): the pytest-benchmark suites, ``pytest benchmarks/suites``.

Imports go one way: ``output`` may import ``runner`` (the results file's schema,
the verdict); ``truth`` may import ``runner`` and ``output``; ``runner`` imports
neither. All three may import ``echobench.servers`` and ``echobench.clients``,
never the other way round.
"""
