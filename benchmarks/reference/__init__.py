"""The reference load clients: independent instruments that ``echobench load`` is measured against.

One module per client (``native_client``, ``minimal_client``, ``vmbench_client``), each exporting a
``CLIENT`` (``_client.ReferenceClient``: its name, its label, and how it drives a
server at a given shape); ``_client.reference_clients()`` finds them by scanning this
folder, so adding a reference client is one new file. The client ceiling
(``truth._ceiling``) measures every one of them beside ``echobench load``.

May import ``echobench.servers`` and ``echobench.clients``; nothing of the other
``echobench.benchmarks`` rooms (they build on this one).
"""
