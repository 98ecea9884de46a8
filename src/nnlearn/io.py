"""Weights files: ``.npz`` archives of named float arrays plus one JSON metadata entry, never pickle.

A file from someone else is safe to open: it is read with ``allow_pickle=False``; before any array is
inflated, the sizes its zip and .npy headers declare are checked against the shapes its metadata's network
sizes allow (and a global cap), so a zip bomb is refused without being decompressed; then its names, shapes
and dtypes are checked before anything uses them.  Files are written atomically.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from ._files import atomic_write
from .errors import InputError, ResourceLimitError

META_KEY = "meta"
_PARAM_NAME = re.compile(r"^(W|b|gamma|beta|running_mean|running_var)(\d+)$")


def save_weights(path, params: dict, meta: dict | None = None, *, extra_arrays: dict | None = None) -> Path:
    """Write ``params`` (``W1, b1, W2, b2, ...``) and ``meta`` (JSON-able) to ``path`` (.npz), atomically.

    Raises ``InputError`` (a ``ValueError``) for malformed params or meta that is not JSON-able, and
    ``OSError`` if the file cannot be written (the previous file, if any, is left as it was).
    """
    check_params(params, source="params")
    arrays = {name: np.asarray(value) for name, value in params.items()}
    for name, value in (extra_arrays or {}).items():
        arrays[f"_{name}"] = np.asarray(value)
    try:
        arrays[META_KEY] = np.array(json.dumps(meta or {}, sort_keys=True))
    except TypeError as exc:
        raise InputError(f"meta must be JSON-serialisable: {exc}") from None
    path = Path(path)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_weights(path, *, with_extra: bool = False, max_bytes: int | None = None):
    """``(params, meta)`` from a file written by ``save_weights`` (``(params, meta, extra)`` with_extra).

    Raises ``InputError`` (a ``ValueError``) for a missing, corrupt or malformed file, and
    ``ResourceLimitError`` (also a ``ValueError``) for one that would inflate beyond what its metadata
    allows or beyond ``max_bytes`` (default ``MAX_WEIGHTS_BYTES``) in all.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"weights file {path} does not exist; pass the weights.npz of a run folder")
    try:
        with zipfile.ZipFile(path) as archive:
            meta = _read_meta(archive, path)
            _check_declared_sizes(archive, path, meta, max_bytes)
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != META_KEY}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path} is not a readable .npz weights file ({exc}); it may be truncated or corrupt") \
            from None
    extra = {k[1:]: arrays.pop(k) for k in list(arrays) if k.startswith("_")}
    check_params(arrays, source=str(path))
    return (arrays, meta, extra) if with_extra else (arrays, meta)


MAX_WEIGHTS_BYTES = 1 << 30
"""Most bytes a weights file whose metadata names no layer sizes may inflate to in all."""
MAX_EXTRA_BYTES = 512 << 20
"""Most bytes the arrays saved beside the parameters (a checkpoint's loss per iteration) may take in all."""
MAX_META_BYTES = 64 << 20
"""Most bytes the JSON metadata entry may inflate to (a long run's history is a few megabytes)."""
_NPY_HEADER_BYTES = 1 << 16


def _read_meta(archive: zipfile.ZipFile, path: Path) -> dict:
    """The JSON metadata entry, read only after its declared size is checked."""
    name = META_KEY + ".npy"
    if name not in archive.namelist():
        return {}
    info = archive.getinfo(name)
    if info.file_size > MAX_META_BYTES:
        raise ResourceLimitError(f"{path}: its '{META_KEY}' entry declares {info.file_size:,} bytes, more than the "
                                 f"{MAX_META_BYTES:,} metadata can take; the file is corrupt or hostile, refused")
    _npy_shape(archive, info, path)
    with archive.open(name) as member:
        try:
            text = np.lib.format.read_array(member, allow_pickle=False)
            meta = json.loads(text.item())
        except (ValueError, TypeError, EOFError):
            raise InputError(f"{path} has an unreadable '{META_KEY}' entry; it is not an nnlearn weights file") \
                from None
    if not isinstance(meta, dict):
        raise InputError(f"{path}: its '{META_KEY}' entry is not a JSON object; it is not an nnlearn weights file")
    return meta


def _expected_shapes(meta: dict) -> dict:
    """Shapes of the parameters the metadata's layer sizes imply: W1 (n0, n1), b1 (n1,), ...

    Layer sizes are read from ``meta["sizes"]`` or ``meta["architecture"]`` (its ``sizes``, or
    ``input_size`` / ``hidden_size_list`` / ``output_size``); {} when the metadata names none.
    """
    arch = meta.get("architecture") if isinstance(meta.get("architecture"), dict) else {}
    sizes = meta.get("sizes", arch.get("sizes"))
    if sizes is None and {"input_size", "output_size"} <= set(arch):
        hidden = arch.get("hidden_size_list", arch.get("hidden_size", []))
        sizes = [arch["input_size"], *(hidden if isinstance(hidden, list) else [hidden]), arch["output_size"]]
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**31 for n in sizes):
        return {}
    shapes = {}
    for n in range(1, len(sizes)):
        shapes[f"W{n}"] = (sizes[n - 1], sizes[n])
        for vector in ("b", "gamma", "beta", "running_mean", "running_var"):
            shapes[f"{vector}{n}"] = (sizes[n],)
    return shapes


def _check_declared_sizes(archive: zipfile.ZipFile, path: Path, meta: dict, max_bytes: int | None) -> None:
    """Refuse, before inflating anything, members that declare more bytes than the metadata allows.

    Each member's size is declared twice: in the zip headers (the most ``zipfile`` will inflate) and in
    its .npy header (the array ``numpy`` allocates).  Both must agree; parameters must have the shapes the
    metadata's layer sizes give (no other parameter may be present then); the arrays saved beside them may
    take ``MAX_EXTRA_BYTES``; and the whole file must stay under ``max_bytes`` (by default what the layer
    sizes allow in float64, plus those extras, or ``MAX_WEIGHTS_BYTES`` when the metadata names no sizes).
    """
    expected = _expected_shapes(meta)
    if max_bytes is None:
        max_bytes = (sum(8 * int(np.prod(shape)) + _NPY_HEADER_BYTES for shape in expected.values())
                     + MAX_EXTRA_BYTES + MAX_META_BYTES) if expected else MAX_WEIGHTS_BYTES
    total = extra = 0
    for info in archive.infolist():
        name = info.filename.removesuffix(".npy")
        if name != META_KEY:
            if name.startswith("_"):
                extra += info.file_size
                if extra > MAX_EXTRA_BYTES:
                    raise ResourceLimitError(f"{path} declares more than {MAX_EXTRA_BYTES:,} bytes of arrays "
                                             "beside the parameters; the file is corrupt or hostile, refused")
            elif expected and name not in expected:
                raise InputError(f"{path} has an entry {name!r} that its metadata's layer sizes do not name; "
                                 "the file is inconsistent")
            shape = _npy_shape(archive, info, path)
            if name in expected and shape != expected[name]:
                raise InputError(f"{path}: {name} has shape {shape} but the metadata's layer sizes give "
                                 f"{expected[name]}; the file is inconsistent")
        total += info.file_size
        if total > max_bytes:
            raise ResourceLimitError(f"{path} declares more than {max_bytes:,} bytes of arrays, more than its "
                                     "metadata allows; the file is corrupt or hostile, refused")


def _npy_shape(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> tuple:
    """The shape in a member's .npy header, after checking that the header and the zip agree on its size
    (``numpy`` allocates what the .npy header says, ``zipfile`` inflates at most what the zip says)."""
    name = info.filename.removesuffix(".npy")
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise InputError(f"unsupported .npy version {version}")
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
        except ValueError as exc:
            raise InputError(f"{path}: entry {name!r} has an unreadable .npy header ({exc}); "
                             "the file is corrupt") from None
        header_bytes = member.tell()
    if dtype.hasobject:
        raise InputError(f"{path} is not a readable .npz weights file: entry {name!r} holds Python objects, "
                         "which only pickle can load; nnlearn never runs pickle, refused")
    data_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if header_bytes + data_bytes != info.file_size or header_bytes > _NPY_HEADER_BYTES:
        raise ResourceLimitError(f"{path}: entry {name!r} declares shape {shape} of {dtype} ({data_bytes:,} bytes) "
                                 f"but its zip header says {info.file_size:,} bytes in all; "
                                 "the file is corrupt or hostile, refused")
    return tuple(shape)


def check_params(params: dict, *, source: str) -> None:
    """Names W1, b1, W2, b2, ... (consecutive layers), float arrays, and shapes that chain; batch
    normalization's gamma{i}, beta{i}, running_mean{i}, running_var{i} of hidden layer i's width.
    ``InputError`` (a ``ValueError``) naming ``source`` and the entry otherwise."""
    if not params:
        raise InputError(f"{source} holds no parameters; expected W1, b1, W2, b2, ...")
    bad = [k for k in params if not _PARAM_NAME.match(k)]
    if bad:
        raise InputError(f"{source} has unexpected entries {bad}; expected only W1, b1, W2, b2, ...")
    layers = sorted({int(m.group(2)) for k in params if (m := _PARAM_NAME.match(k)) and m.group(1) == "W"})
    if layers != list(range(1, len(layers) + 1)) or any(f"{c}{n}" not in params for n in layers for c in "Wb"):
        raise InputError(f"{source} has parameters {sorted(params)}; expected W1, b1, ..., Wn, bn with no gaps")
    for name, a in params.items():
        a = np.asarray(a)
        if a.dtype not in (np.float32, np.float64):
            raise InputError(f"{source}: {name} has dtype {a.dtype}; weights must be float32 or float64")
        if not np.isfinite(a).all():
            raise InputError(f"{source}: {name} contains NaN or infinity; the weights are unusable")
    previous = None
    for n in layers:
        W, b = np.asarray(params[f"W{n}"]), np.asarray(params[f"b{n}"])
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise InputError(f"{source}: W{n} {W.shape} and b{n} {b.shape} do not fit; "
                             f"expected W{n} (inputs, units) and b{n} (units,)")
        if previous is not None and W.shape[0] != previous:
            raise InputError(f"{source}: W{n} takes {W.shape[0]} inputs but layer {n - 1} has {previous} units")
        previous = W.shape[1]
    for name in params:
        kind, n = _PARAM_NAME.match(name).groups()
        if kind in "Wb":
            continue
        n = int(n)
        if n >= len(layers):
            raise InputError(f"{source}: {name} belongs to hidden layer {n}, but there are {len(layers) - 1}")
        units = np.shape(params[f"W{n}"])[1]
        if np.shape(params[name]) != (units,):
            raise InputError(f"{source}: {name} has shape {np.shape(params[name])}, expected ({units},)")
