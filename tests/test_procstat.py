"""``/proc/<pid>/stat`` split after the command name, whatever the name holds: read
from a real process that named itself with spaces and parentheses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from echobench.benchmarks.runner._procstat import FLAGS, RSS, STARTTIME, after_comm

NAMED = """
import sys, time
with open("/proc/self/comm", "w") as handle:
    handle.write("a) b (c) 1 2")
print("named", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_a_name_with_spaces_and_parentheses_does_not_shift_the_fields() -> None:
    with subprocess.Popen([sys.executable, "-c", NAMED], stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None and p.stdout.readline() == "named\n"
        try:
            with open(f"/proc/{p.pid}/stat", "rb") as handle:
                assert b"(a) b (c) 1 2)" in handle.read()  # the kernel kept it whole
            fields = after_comm(f"/proc/{p.pid}/stat")
            mine = after_comm("/proc/self/stat")
        finally:
            p.kill()
    assert fields[0] in (b"S", b"R")  # asleep, or just about to be
    assert int(fields[RSS]) > 0  # an interpreter's resident pages, not a name's word
    # Started after this process, by the same clock; a user task, not a kernel thread.
    assert int(fields[STARTTIME]) >= int(mine[STARTTIME])
    assert not int(fields[FLAGS]) & 0x00200000  # PF_KTHREAD
    with pytest.raises(OSError):
        after_comm("/proc/0/stat")
