"""What orchestrates, draws and checks the instrument: one room per concern.

- ``runner``: the ``run`` command (plan, matrix, measurement, placement, results
  file and its schema). A new runner dimension goes here.
- ``compare``: what results files say: the view of a run every output reads, its
  rankings, and compare's statistics. A new statistic goes here.
- ``charts``: the figures (the ``plot`` command). A new chart goes here: one module
  and one line in ``charts._catalog``.
- ``report``: what a person reads: the HTML report and compare's terminal table (the
  ``report`` and ``compare`` commands).
- ``truth``: the instruments that check the instrument: reference clients, the
  client's ceiling, runner agreement, the published numbers and the README's and
  docs/ tables. A new reference client goes here.
- ``suites/`` (not a package): the pytest-benchmark suites, ``pytest benchmarks/suites``.

Imports go one way, floor by floor: ``runner``, then ``compare``, ``charts``,
``report``, and ``truth`` on top; a room may import the rooms below it, never those
above. All of them may import ``echobench.servers`` and ``echobench.clients``, never
the other way round.
"""
