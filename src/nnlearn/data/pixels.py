"""uint8 pixels as floats: the one scaling nnlearn uses everywhere; the mapping behind a memmap, and whether
the file behind it is still the one that was mapped.

A mapped file that shrinks kills a process that touches the lost pages with SIGBUS, which Python cannot
catch.  So nnlearn never reads rows through a mapping without first checking that its file is unchanged
(``check_unchanged``), and reads small mapped files into memory (see ``BatchLoader``) so that nothing can
fault while a batch is gathered.
"""

from __future__ import annotations

import mmap
import os
import weakref

import numpy as np

from ..errors import DatasetChangedError

_MAPPED_FILES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""mmap.mmap -> (path, (inode, size, mtime)) of the file when it was mapped."""


def pixels_to_float(x, out=None) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]: x / 255 in float32, the one scaling nnlearn uses everywhere, so that
    images normalized up front and batches normalized as they are drawn are bit-for-bit equal."""
    return np.divide(x, np.float32(255.0), out=out, dtype=np.float32)


def as_float_rows(rows: np.ndarray, out: np.ndarray, float32: np.ndarray) -> np.ndarray:
    """rows as floats in ``out``: uint8 pixels scaled exactly as ``load_mnist(normalize=True)`` does."""
    if rows.dtype == np.uint8:
        scaled = pixels_to_float(rows, out=float32)
        if scaled is not out:
            out[...] = scaled
    else:
        out[...] = rows
    return out


def mapping_of(x):
    """The ``mmap.mmap`` behind a ``numpy.memmap`` (or a view of one), else None."""
    base = x
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "_mmap", None) or getattr(base, "base", None)
    return None


def _identity(st: os.stat_result) -> tuple:
    return st.st_ino, st.st_size, st.st_mtime_ns


def remember_file(x: np.memmap, path) -> np.memmap:
    """Record which file (inode, size, modification time) ``x`` maps, for ``check_unchanged``."""
    mapping = mapping_of(x)
    if mapping is not None:
        _MAPPED_FILES[mapping] = (str(path), _identity(os.stat(path)))
    return x


def check_unchanged(x) -> None:
    """Raise ``DatasetChangedError`` (an ``OSError``) if the file ``x`` maps was truncated, rewritten or
    replaced since it was mapped; nothing for arrays that are not mapped."""
    mapping = mapping_of(x)
    known = _MAPPED_FILES.get(mapping) if mapping is not None else None
    if known is None:
        return
    path, then = known
    try:
        now = _identity(os.stat(path))
    except OSError:
        now = None
    if now != then:
        what = "was deleted" if now is None else (
            f"was truncated to {now[1]:,} bytes" if now[1] < then[1] else "was rewritten or replaced")
        raise DatasetChangedError(f"the dataset file {path} {what} while in use; its rows can no longer be read "
                                  "safely — restore the file and resume from the checkpoint")
