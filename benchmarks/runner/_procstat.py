"""One process's (or thread's) ``/proc/<pid>/stat``, split into its fields.

The command name, the second field, sits in parentheses and may itself hold spaces
and parentheses (``tokio-rt-worker``'s do not, a user's ``a) b`` does), so the fields
are split after its last ``)``: ``after_comm(path)[0]`` is then field 3 (the state) of
proc(5), and field N is ``[N - 3]``. Read as bytes: ``_usage`` reads it ten times a
second beside the load client. May import only the standard library.
"""

from __future__ import annotations

#: proc(5)'s field numbers, as indexes into ``after_comm``'s list.
FLAGS = 9 - 3
UTIME = 14 - 3
STIME = 15 - 3
STARTTIME = 22 - 3
RSS = 24 - 3


def after_comm(path: str) -> list[bytes]:
    """The fields of the stat file at ``path`` from the state on; raises ``OSError``
    when it cannot be read (the process gone) and ``ValueError`` when it holds no
    command name."""
    with open(path, "rb") as handle:
        text = handle.read()
    return text[text.rindex(b")") + 1 :].split()
