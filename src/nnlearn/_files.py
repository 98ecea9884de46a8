"""Atomic file writes: write ``.name.<unique>.tmp`` beside the target, flush, fsync, then ``os.replace``.

A reader never sees a half-written file, and an interrupted write leaves the old file (or none).  A process
killed mid-write leaves its temporary file behind; ``remove_stale_temporaries`` deletes those whose writer
is gone, so the next run cleans up after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from pathlib import Path

from .errors import FolderBusyError

_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def temporary_path(path: Path) -> Path:
    """A unique name beside ``path``, so two processes writing the same file never share a temp file."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file for writing; on success it replaces ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def remove_stale_temporaries(directory) -> list[Path]:
    """Delete the temporary files in ``directory`` left by writers that no longer run; returns them.

    A temporary file names its writer's process id; one whose process is alive is being written and is
    left alone (two processes may share a cache directory).
    """
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and not _process_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed.append(entry)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


LOCK_NAME = ".nnlearn.lock"


@contextlib.contextmanager
def exclusive_lock(directory, purpose: str = "a run"):
    """Hold an exclusive lock on ``directory`` (a ``flock`` on its ``.nnlearn.lock``) for the ``with`` block.

    Raises ``FolderBusyError`` (an ``OSError``) at once if another process holds it.  The kernel releases
    the lock when its process ends, however it ends, so a folder left by a killed process is free again.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise FolderBusyError(f"{directory} is in use by {purpose} (process {holder}); wait for it to end, "
                                  "or pass another folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield directory
    finally:
        os.close(fd)
