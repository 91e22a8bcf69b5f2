"""Machine-wide settings survive no run that was killed: real processes take hold of a
setting and are SIGKILLed, and the next run puts it back; a setting two live runs hold
is put back only when the last of them leaves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from echobench.benchmarks.runner import _awake, _journal, _shield
from echobench.benchmarks.runner._journal import held, repair

#: Takes hold of a setting (argv: journal, path, value), says so, then waits for a line
#: on stdin (or to be killed): another run, in another process.
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from echobench.benchmarks.runner import _journal
    _journal.JOURNAL = Path(sys.argv[1])
    with _journal.held() as changes:
        changes.write(Path(sys.argv[2]), sys.argv[3])
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "run" / "settings.json"
    monkeypatch.setattr(_journal, "JOURNAL", where)
    return where


@pytest.fixture
def setting(tmp_path: Path) -> Path:
    path = tmp_path / "knob"
    path.write_text("0")
    return path


def _holding(code: str, *args: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line.startswith("holding"), line
    return child


def _killed(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL


def test_a_killed_runs_setting_is_put_back_by_the_next(journal: Path, setting: Path) -> None:
    child = _holding(HOLDER, str(journal), str(setting), "2000000")
    assert setting.read_text() == "2000000"
    _killed(child)
    assert setting.read_text() == "2000000"  # nothing of its own way out ran
    assert repair() == [str(setting)]
    assert setting.read_text() == "0"
    assert not journal.exists()
    assert repair() == []


def test_a_setting_is_put_back_when_the_last_live_run_leaves(journal: Path, setting: Path) -> None:
    child = _holding(HOLDER, str(journal), str(setting), "7")
    try:
        with held() as changes:
            # What it was before the first run took it, not what that run made it.
            assert changes.write(setting, "7") == "0"
            with held() as inner:
                inner.write(setting, "7")
            assert setting.read_text() == "7"  # the outer block still holds it
        assert setting.read_text() == "7"  # the other run still holds it
        assert repair() == []  # and it is alive: nothing to put right
    finally:
        child.communicate("leave\n", timeout=10)
        assert child.returncode == 0
    assert setting.read_text() == "0"
    assert not journal.exists()


def test_a_reused_pid_is_not_taken_for_the_run_that_had_it(journal: Path, setting: Path) -> None:
    pid, started = _journal.me()
    setting.write_text("4096")
    journal.parent.mkdir(parents=True)
    entry = {"before": "262144", "holders": [[pid, started - 1]]}
    journal.write_text(json.dumps({"files": {str(setting): entry}, "threads": []}))
    assert repair() == [str(setting)]
    assert setting.read_text() == "262144"


#: Shields a CPU (argv), quiets the kernel and keeps CPUs awake, says so, then
#: waits to be killed: a real run's way in, with no way out.
KILLED_RUN = textwrap.dedent(
    """
    import sys
    from echobench.benchmarks.runner._awake import keep_awake
    from echobench.benchmarks.runner._shield import shield
    cpu = int(sys.argv[1])
    with shield([cpu]), keep_awake([cpu], how="poll"):
        print("holding", flush=True)
        sys.stdin.readline()
    """
)


def _machine() -> dict[str, str]:
    """What a run changes and must put back: the settings, interrupts and workqueues."""
    paths = [_shield.WORKQUEUE, *(_shield.SYSCTL / name for name in _shield.SYSCTLS)]
    paths += [_awake.HALTPOLL / name for name in _awake.POLL_SETTINGS]
    paths += [irq / "smp_affinity" for irq in Path("/proc/irq").glob("[0-9]*")]
    found = {}
    for path in paths:
        try:
            found[str(path)] = path.read_text()
        except OSError:
            continue
    return found


@pytest.fixture
def sleeper() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child.pid
    child.kill()
    child.wait()


@pytest.mark.skipif(_shield.unavailable() is not None, reason=str(_shield.unavailable()))
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_a_killed_runs_shield_and_polling_are_put_back(sleeper: int) -> None:
    before, mask = _machine(), os.sched_getaffinity(sleeper)
    cpu = max(mask)
    # The sleeper is no child of the killed run's: it is moved off, as a stranger is.
    child = _holding(KILLED_RUN, str(cpu))
    try:
        assert os.sched_getaffinity(sleeper) == mask - {cpu}
        changed = {p for p, text in _machine().items() if before.get(p) != text}
    finally:
        _killed(child)
    assert changed  # the run did change the machine, and left it so
    assert {p for p, text in _machine().items() if before.get(p) != text} == changed
    assert set(repair()) == changed
    assert _machine() == before
    assert os.sched_getaffinity(sleeper) == mask


def test_other_live_runs_are_named_and_the_dead_are_not(journal: Path, setting: Path) -> None:
    assert _journal.others() == []
    child = _holding(HOLDER, str(journal), str(setting), "5")
    try:
        with held() as changes:
            changes.write(setting, "5")
            assert _journal.others() == [child.pid]  # itself is no other
    finally:
        _killed(child)
    assert _journal.others() == []  # dead: its setting put back instead
    assert setting.read_text() == "0"
