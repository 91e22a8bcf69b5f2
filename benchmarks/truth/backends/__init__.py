"""Servers the instruments measure that are not paradigms: a known capacity for
``echobench latency-check`` (``ratelimited``). Each module exports a ``BACKEND``; no run
lists them, since they live outside ``servers/``: an instrument points
``ECHOBENCH_BACKEND_PATH`` at this folder.

May import ``echobench.servers`` only.
"""
