"""Input validation at the public boundary.

Every public function calls these once, so that bad input gets a one-line ``ValueError`` that names the
argument, says what was wrong and what to pass instead.  Inside the library the data is then trusted.
"""

from __future__ import annotations

import os
import resource

import numpy as np

from .errors import InputError, ResourceLimitError


def as_numeric(name: str, a, *, allow_empty: bool = False) -> np.ndarray:
    """``a`` as a finite, real-valued NumPy array (no copy when it already is one)."""
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise InputError(f"{name} is not a rectangular array ({exc}); pass equal-length rows") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name} has dtype {arr.dtype}, which is not numeric; pass an array of numbers")
    if arr.size == 0 and not allow_empty:
        raise InputError(f"{name} is empty (shape {arr.shape}); pass at least one sample")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinity; pass finite numbers")
    return arr


def as_float(name: str, a, dtype=np.float64) -> np.ndarray:
    """Numeric input as a floating-point array (integers, bools and float16 become ``dtype``: float16 holds
    only three significant digits and overflows above 65504)."""
    arr = as_numeric(name, a)
    return arr if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4 else arr.astype(dtype)


def check_batch(name: str, x: np.ndarray, features: int) -> np.ndarray:
    """``x`` as (N, features): one sample may be given as a 1-D vector."""
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2 or x.shape[1] != features:
        raise InputError(
            f"{name} has shape {x.shape} but the network takes {features} inputs per sample; "
            f"pass an array of shape (N, {features})"
        )
    return x


def labels_from_target(t, n_rows: int, n_classes: int, *, name: str = "t", compact: bool = False) -> np.ndarray:
    """Integer class labels (shape (n_rows,)) from integer labels or one-hot rows.

    compact: integer labels keep their dtype (no copy: 20 million uint8 labels stay 20 MB, not 160 MB).

    ``t`` may be a vector of ``n_rows`` labels, an (n_rows, n_classes) one-hot array, or, when
    ``n_rows == 1``, a scalar label or one one-hot vector.
    """
    arr = as_numeric(name, t)
    one_vector_for_one_row = n_rows == 1 and arr.ndim == 1 and arr.size == n_classes > 1
    if arr.ndim == 2 or one_vector_for_one_row:
        onehot = arr.reshape(-1, arr.shape[-1])
        if onehot.shape != (n_rows, n_classes):
            raise InputError(
                f"{name} has shape {arr.shape} but the output has {n_rows} rows of {n_classes} classes; "
                f"pass one-hot rows of shape ({n_rows}, {n_classes}) or {n_rows} integer labels"
            )
        if not is_one_hot(onehot):
            raise InputError(
                f"{name} is 2-D but its rows are not one-hot (exactly one 1, the rest 0); "
                "pass one-hot rows or integer labels"
            )
        return onehot.argmax(axis=1)
    labels = arr.reshape(-1) if arr.ndim <= 1 else arr
    if labels.ndim != 1 or labels.shape[0] != n_rows:
        raise InputError(
            f"{name} has {labels.size} labels but the output has {n_rows} rows; pass one label per row"
        )
    if labels.dtype.kind == "f":
        if not np.array_equal(labels, np.round(labels)):
            raise InputError(f"{name} holds non-integer labels; pass integer class labels 0..{n_classes - 1}")
    elif labels.dtype.kind == "b":
        raise InputError(f"{name} is boolean; pass integer class labels 0..{n_classes - 1}")
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise InputError(
            f"{name} holds label {bad:g} but the output has {n_classes} classes; "
            f"pass labels in 0..{n_classes - 1}"
        )
    return labels if compact and labels.dtype.kind in "ui" else labels.astype(np.intp, copy=False)


def is_one_hot(t: np.ndarray) -> bool:
    return bool(np.isin(t, (0, 1)).all() and (t.sum(axis=1) == 1).all())


def positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v


def rng_from(seed=None, rng=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``rng`` (used as is) or ``seed``; never the global RNG."""
    if rng is not None and seed is not None:
        raise InputError("pass either seed= or rng=, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}; "
                             "use numpy.random.default_rng(seed)")
        return rng
    return np.random.default_rng(seed)


def check_finite_data(name: str, x, chunk_bytes: int = 64 << 20) -> None:
    """Raise ``InputError`` naming ``name`` and the first bad row if float data holds NaN or infinity.

    Checked a chunk of rows at a time, so memory stays bounded for memory-mapped data of any size; integer
    data (uint8 pixels) cannot hold either and is not read.
    """
    arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if arr.dtype.kind != "f" or arr.size == 0:
        return
    rows = arr.reshape(len(arr), -1) if arr.ndim > 1 else arr.reshape(-1, 1)
    step = max(1, chunk_bytes // max(1, rows.shape[1] * rows.dtype.itemsize))
    for start in range(0, len(rows), step):
        bad = ~np.isfinite(rows[start:start + step]).all(axis=1)
        if bad.any():
            row = start + int(np.argmax(bad))
            raise InputError(f"{name} contains NaN or infinity (first in row {row:,}); the data is corrupt — "
                             "fix or drop those rows (this is not a learning-rate problem)")


def available_memory() -> int:
    """Bytes this process may still allocate: the system's available memory, or less under a ulimit -v."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            with open("/proc/self/statm") as f:
                used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            used = 0
        available = min(available, soft - used)
    return max(available, 0)


def check_memory(nbytes: int, what: str) -> None:
    """Raise ``ResourceLimitError`` (a ``ValueError``) when ``what`` would need more memory than is available,
    with a message naming ``what`` and both amounts, instead of a ``MemoryError`` (or the OOM killer) later."""
    available = available_memory()
    if nbytes > available:
        raise ResourceLimitError(f"{what} would need {format_bytes(nbytes)} of memory but only "
                                 f"{format_bytes(available)} is available; choose smaller sizes")


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} bytes"
