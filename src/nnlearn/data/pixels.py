"""uint8 pixels as floats: the one scaling nnlearn uses everywhere, and the mapping behind a memmap."""

from __future__ import annotations

import mmap

import numpy as np


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
