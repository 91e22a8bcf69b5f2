"""What a results file says, and what two of them say against each other: the statistics.

The view of a results file every output reads (``_runview``: a run, its cases and
repeats), the order backends are listed in (``_order``), the rankings of one run
(``_ranking``), and ``compare``'s statistics: ratios with exact Hodges-Lehmann
intervals (``_effect``), the Mann-Whitney U test (``_mannwhitney``), corrections over
every test of a table (``_correction``), the change repeats could detect
(``_detectable``), the comparison itself (``_comparison``) and its A/A self-check
(``_selfcheck``). Nothing here draws or prints.

May import ``echobench.benchmarks.runner``'s readers of the results file (its schema
and the verdict) and ``echobench.servers``; never ``echobench.benchmarks.charts``,
``echobench.benchmarks.report`` or ``echobench.benchmarks.truth`` (they build on
this room).
"""
