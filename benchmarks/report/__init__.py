"""What a person reads: the HTML report (``echobench report``) and compare's terminal table.

The page (``_page``: rankings first, then the charts as inline SVG, then every case),
its stylesheet and script (``_assets``), its screenshot in Chromium (``_browser``),
and the ``report`` and ``compare`` commands with compare's terminal table.

May import ``echobench.benchmarks.charts``, ``echobench.benchmarks.compare``,
``echobench.benchmarks.runner``'s readers of the results file and
``echobench.servers``; never ``echobench.benchmarks.truth``.
"""
