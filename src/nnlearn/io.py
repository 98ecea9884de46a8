"""Weights files: ``.npz`` archives of named float arrays plus one JSON metadata entry, never pickle.

A file from someone else is safe to open: it is read with ``allow_pickle=False``, and its names, shapes and
dtypes are checked before anything uses them.  Files are written atomically.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from ._files import atomic_write

META_KEY = "meta"
_PARAM_NAME = re.compile(r"^(W|b|gamma|beta|running_mean|running_var)(\d+)$")


def save_weights(path, params: dict, meta: dict | None = None, *, extra_arrays: dict | None = None) -> Path:
    """Write ``params`` (``W1, b1, W2, b2, ...``) and ``meta`` (JSON-able) to ``path`` (.npz), atomically."""
    check_params(params, source="params")
    arrays = {name: np.asarray(value) for name, value in params.items()}
    for name, value in (extra_arrays or {}).items():
        arrays[f"_{name}"] = np.asarray(value)
    try:
        arrays[META_KEY] = np.array(json.dumps(meta or {}, sort_keys=True))
    except TypeError as exc:
        raise ValueError(f"meta must be JSON-serialisable: {exc}") from None
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_weights(path, *, with_extra: bool = False):
    """``(params, meta)`` from a file written by ``save_weights`` (``(params, meta, extra)`` with_extra)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist; pass the weights.npz of a run folder")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a readable .npz weights file ({exc}); it may be truncated or corrupt") \
            from None
    try:
        meta = json.loads(arrays.pop(META_KEY).item()) if META_KEY in arrays else {}
    except (ValueError, TypeError):
        raise ValueError(f"{path} has an unreadable '{META_KEY}' entry; it is not an nnlearn weights file") from None
    extra = {k[1:]: arrays.pop(k) for k in list(arrays) if k.startswith("_")}
    check_params(arrays, source=str(path))
    return (arrays, meta, extra) if with_extra else (arrays, meta)


def check_params(params: dict, *, source: str) -> None:
    """Names W1, b1, W2, b2, ... (consecutive layers), float arrays, and shapes that chain; batch
    normalization's gamma{i}, beta{i}, running_mean{i}, running_var{i} of hidden layer i's width."""
    if not params:
        raise ValueError(f"{source} holds no parameters; expected W1, b1, W2, b2, ...")
    bad = [k for k in params if not _PARAM_NAME.match(k)]
    if bad:
        raise ValueError(f"{source} has unexpected entries {bad}; expected only W1, b1, W2, b2, ...")
    layers = sorted({int(m.group(2)) for k in params if (m := _PARAM_NAME.match(k)) and m.group(1) == "W"})
    if layers != list(range(1, len(layers) + 1)) or any(f"{c}{n}" not in params for n in layers for c in "Wb"):
        raise ValueError(f"{source} has parameters {sorted(params)}; expected W1, b1, ..., Wn, bn with no gaps")
    for name, a in params.items():
        a = np.asarray(a)
        if a.dtype not in (np.float32, np.float64):
            raise ValueError(f"{source}: {name} has dtype {a.dtype}; weights must be float32 or float64")
        if not np.isfinite(a).all():
            raise ValueError(f"{source}: {name} contains NaN or infinity; the weights are unusable")
    previous = None
    for n in layers:
        W, b = np.asarray(params[f"W{n}"]), np.asarray(params[f"b{n}"])
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(f"{source}: W{n} {W.shape} and b{n} {b.shape} do not fit; "
                             f"expected W{n} (inputs, units) and b{n} (units,)")
        if previous is not None and W.shape[0] != previous:
            raise ValueError(f"{source}: W{n} takes {W.shape[0]} inputs but layer {n - 1} has {previous} units")
        previous = W.shape[1]
    for name in params:
        kind, n = _PARAM_NAME.match(name).groups()
        if kind in "Wb":
            continue
        n = int(n)
        if n >= len(layers):
            raise ValueError(f"{source}: {name} belongs to hidden layer {n}, but there are {len(layers) - 1}")
        units = np.shape(params[f"W{n}"])[1]
        if np.shape(params[name]) != (units,):
            raise ValueError(f"{source}: {name} has shape {np.shape(params[name])}, expected ({units},)")
