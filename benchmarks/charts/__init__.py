"""The charts: matplotlib figures of a run, a scale run, a comparison or a pytest-benchmark file.

``_catalog``, the chart registry, holds every chart of a run: its name, its draw function
and when it applies (a chart that cannot show what it is for is not drawn, and the registry says
why). Adding one is a module with its draw function and the test of when it applies,
plus one line in ``_catalog.CHARTS``. Beside them: the shared look (``_base``,
``_palette``), the inline SVG the report hovers over (``_svg``), the ``plot`` command,
and ``_figures``, the charts of any file.

May import ``echobench.benchmarks.compare`` (the run view, its order and statistics),
``echobench.benchmarks.runner``'s readers of the results file and
``echobench.servers``; never ``echobench.benchmarks.report`` or
``echobench.benchmarks.truth``.
"""
