"""Atomic writes, stale temporary files, and the exclusive lock of a folder (held by another process)."""

import subprocess
import sys
import time

import pytest

import nnlearn as nl
from nnlearn._files import exclusive_lock, remove_stale_temporaries, write_text_atomic

HOLD = """
import sys, time
from nnlearn._files import exclusive_lock
with exclusive_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_held_by_another_process_is_refused_and_freed_when_it_dies(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        busy = f"in use by a run \\(process {child.pid}\\)"
        with pytest.raises(nl.FolderBusyError, match=busy) as err, exclusive_lock(tmp_path):
            pass
        assert isinstance(err.value, OSError)
    finally:
        child.kill()  # SIGKILL: no clean-up code runs, the kernel drops the lock
        child.wait()
    with exclusive_lock(tmp_path), pytest.raises(nl.FolderBusyError), exclusive_lock(tmp_path):
        pass  # one holder at a time, even within a process


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".weights.npz.{int(dead.stdout)}.0123abcd.tmp"
    live = tmp_path / f".weights.npz.{__import__('os').getpid()}.4567abcd.tmp"
    other = tmp_path / ".hidden.tmp"  # not one of ours: never touched
    for p in (stale, live, other):
        p.write_bytes(b"x")
    time.sleep(0.01)
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    write_text_atomic(tmp_path / "a.txt", "hi")
    assert (tmp_path / "a.txt").read_text() == "hi"
