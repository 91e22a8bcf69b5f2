"""``echobench publish``: the published numbers, and the pages they are rendered into.

A step (``_step``: ``Context`` and ``Step``) measures into ``results/published/`` and
renders its part of README.md or a docs/ page from those files alone (``_pages``
finds the page that holds the part's markers). One module per step, ``_step_NAME``,
listed in ``_cmd_publish.STEPS`` in the order they run: adding one is a module and a
line there (docs/publishing.md says what a step must do).

May import every other room (it is the top floor); nothing imports it except the
command dispatcher.
"""
