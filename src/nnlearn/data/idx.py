"""IDX files, the format MNIST and Fashion-MNIST are distributed in.

Layout (big-endian): two zero bytes, a type code, the number of dimensions D, then D uint32 sizes, then
the values in C order.  Files may be gzip-compressed; that is detected from the content, not the name.
A gzip file is decompressed only as far as its header says it should go (a gzip bomb is refused after
that many bytes), and never beyond ``GUNZIP_LIMIT``.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .._files import atomic_write
from ..errors import InputError, ResourceLimitError
from .pixels import remember_file

IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"
GUNZIP_LIMIT = 512 << 20
"""Largest payload decompressed into memory; a larger gzip file must be decompressed so it can be mapped."""


def read_idx(path, mmap: bool = False) -> np.ndarray:
    """The array stored in an IDX file (raw or gzip), in native byte order.

    ``mmap=True`` maps a raw file read-only instead of reading it: the payload is not touched until used,
    so files far larger than memory can be sampled from.  The memmap keeps the file's byte order.

    Raises ``InputError`` (a ``ValueError``) for a missing, truncated or malformed file, and
    ``ResourceLimitError`` (also a ``ValueError``) for a gzip file that inflates beyond what its header
    declares or declares more than ``GUNZIP_LIMIT`` bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise InputError(f"cannot open IDX file {path}: {exc.strerror or exc}") from None
    if head == GZIP_MAGIC:
        if mmap:
            raise InputError(f"{path} is gzip-compressed and cannot be memory-mapped; "
                             f"decompress it first (gunzip -k {path.name})")
        return _read_gzip_idx(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4 + 4 * 255)
    dtype, shape, offset = _parse_header(header, size, path)
    if mmap:
        return remember_file(np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape), path)
    return parse_idx(path.read_bytes(), path)


def parse_idx(data: bytes, path="<bytes>") -> np.ndarray:
    """Decode the bytes of a raw IDX file (validated strictly); ``InputError`` for malformed bytes."""
    dtype, shape, offset = _parse_header(data[:4 + 4 * 255], len(data), path)
    arr = np.frombuffer(data, dtype=dtype, offset=offset, count=int(np.prod(shape)))
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as a standard IDX file (gzip when the name ends in ``.gz``), atomically.

    Raises ``InputError`` (a ``ValueError``) for an array IDX cannot store, ``OSError`` if the file cannot
    be written (the previous file, if any, is left as it was)."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise InputError(f"IDX cannot store dtype {arr.dtype}; "
                         "convert to uint8, int8, int16, int32, float32 or float64")
    if not 1 <= arr.ndim <= 255:
        raise InputError(f"IDX needs 1 to 255 dimensions, the array has {arr.ndim}")
    if any(n >= 2**32 for n in arr.shape):
        raise InputError(f"IDX sizes are uint32; shape {arr.shape} is too large")
    header = bytes([0, 0, _CODES[native], arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(arr, dtype=IDX_TYPES[_CODES[native]]).tobytes()
    path = Path(path)
    with atomic_write(path) as f:
        if path.name.endswith(".gz"):
            # mtime=0 keeps the output byte-identical for identical input
            with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
                gz.write(header + payload)
        else:
            f.write(header + payload)


def idx_header(dtype, shape) -> bytes:
    """The header of an IDX file holding an array of ``dtype`` and ``shape`` (for streaming writers)."""
    code = _CODES[np.dtype(dtype).newbyteorder("=")]
    return bytes([0, 0, code, len(shape)]) + np.array(shape, dtype=">u4").tobytes()


def _read_gzip_idx(path: Path, limit: int | None = None) -> np.ndarray:
    """Decompress only what the IDX header declares, then check that nothing follows it.

    Memory stays at the declared size whatever the file inflates to: a gzip bomb is stopped one byte
    after the end its header promised.
    """
    limit = GUNZIP_LIMIT if limit is None else limit
    try:
        with gzip.open(path, "rb") as f:
            head = _read_exactly(f, 4)
            rest = _read_exactly(f, 4 * head[3]) if len(head) == 4 else b""
            header = head + rest
            declared = _declared_size(header, path)
            if declared > limit:
                raise ResourceLimitError(
                    f"{path} declares {declared:,} bytes of data, more than the {limit:,} nnlearn decompresses "
                    f"into memory; decompress it (gunzip -k {path.name}) so that it is memory-mapped instead")
            payload = bytearray(declared)
            payload[:len(header)] = header
            got = len(header) + _read_into(f, memoryview(payload)[len(header):])
            if got == declared and f.read(1):
                raise ResourceLimitError(f"{path} inflates to more than the {declared:,} bytes its IDX header "
                                         "declares; the file is corrupt or hostile, refused")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(f"{path} is a truncated or corrupt gzip file ({exc}); download it again") from None
    if got < declared:
        raise InputError(f"{path} is truncated: its header declares {declared:,} bytes but it inflates to "
                         f"{got:,}; download it again")
    dtype, shape, offset = _parse_header(header, declared, path)
    # the bytearray is writable, so a native-order array is used as it is (no second copy in memory)
    arr = np.frombuffer(payload, dtype=dtype, offset=offset, count=int(np.prod(shape)))
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def _read_exactly(f, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            break
        data += more
    return data


def _read_into(f, view: memoryview) -> int:
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            break
        done += n
    return done


def _declared_size(header: bytes, path) -> int:
    """Total size in bytes (header included) that an IDX header declares; validates the header."""
    dtype, shape, offset = _parse_header(header, None, path)
    return offset + int(np.prod(shape, dtype=object)) * dtype.itemsize


def _parse_header(header: bytes, total_size: int | None, path) -> tuple[np.dtype, tuple, int]:
    """dtype, shape and data offset from an IDX header; ``total_size`` None checks the header alone."""
    if total_size == 0:
        raise InputError(f"{path} is empty; an IDX file starts with a 4-byte magic number")
    if len(header) < 4:
        raise InputError(f"{path} is too short ({total_size} bytes) to hold an IDX header")
    if header[0] != 0 or header[1] != 0:
        hint = " (it looks like a text file, e.g. an HTML error page)" if _looks_like_text(header) else ""
        raise InputError(f"{path} is not an IDX file: bad magic number {header[:4].hex()}{hint}; "
                         "pass an IDX file such as train-images-idx3-ubyte")
    code, ndim = header[2], header[3]
    if code not in IDX_TYPES:
        raise InputError(f"{path} has unknown IDX type code 0x{code:02x}; "
                         "expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e")
    if ndim == 0:
        raise InputError(f"{path} declares zero dimensions; an IDX file needs at least one")
    offset = 4 + 4 * ndim
    if len(header) < offset:
        raise InputError(f"{path} header is short: {ndim} dimensions need {offset} bytes, "
                         f"the file has {total_size if total_size is not None else len(header)}")
    shape = tuple(int(n) for n in np.frombuffer(header, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    if total_size is None:
        return dtype, shape, offset
    expected = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if total_size < expected:
        raise InputError(f"{path} is truncated: its header declares shape {shape} ({expected} bytes) "
                         f"but the file has {total_size} bytes; download it again")
    if total_size > expected:
        raise InputError(f"{path} has {total_size - expected} trailing bytes after the shape {shape} "
                         "its header declares; the file is corrupt")
    return dtype, shape, offset


def _looks_like_text(data: bytes) -> bool:
    return all(32 <= b < 127 or b in b"\t\r\n" for b in data[:64])
