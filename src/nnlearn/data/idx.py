"""IDX files, the format MNIST and Fashion-MNIST are distributed in.

Layout (big-endian): two zero bytes, a type code, the number of dimensions D, then D uint32 sizes, then
the values in C order.  Files may be gzip-compressed; that is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .._files import atomic_write

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


def read_idx(path, mmap: bool = False) -> np.ndarray:
    """The array stored in an IDX file (raw or gzip), in native byte order.

    ``mmap=True`` maps a raw file read-only instead of reading it: the payload is not touched until used,
    so files far larger than memory can be sampled from.  The memmap keeps the file's byte order.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise ValueError(f"cannot open IDX file {path}: {exc.strerror or exc}") from None
    if head == GZIP_MAGIC:
        if mmap:
            raise ValueError(f"{path} is gzip-compressed and cannot be memory-mapped; "
                             f"decompress it first (gunzip -k {path.name})")
        return parse_idx(_gunzip(path), path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(4 + 4 * 255)
    dtype, shape, offset = _parse_header(header, size, path)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    return parse_idx(path.read_bytes(), path)


def parse_idx(data: bytes, path="<bytes>") -> np.ndarray:
    """Decode the bytes of a raw IDX file (validated strictly)."""
    dtype, shape, offset = _parse_header(data[:4 + 4 * 255], len(data), path)
    arr = np.frombuffer(data, dtype=dtype, offset=offset, count=int(np.prod(shape)))
    return arr.reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array) -> None:
    """Write ``array`` as a standard IDX file (gzip when the name ends in ``.gz``), atomically."""
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}; "
                         "convert to uint8, int8, int16, int32, float32 or float64")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, the array has {arr.ndim}")
    if any(n >= 2**32 for n in arr.shape):
        raise ValueError(f"IDX sizes are uint32; shape {arr.shape} is too large")
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


def _gunzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path} is a truncated or corrupt gzip file ({exc}); download it again") from None


def _parse_header(header: bytes, total_size: int, path) -> tuple[np.dtype, tuple, int]:
    if total_size == 0:
        raise ValueError(f"{path} is empty; an IDX file starts with a 4-byte magic number")
    if len(header) < 4:
        raise ValueError(f"{path} is too short ({total_size} bytes) to hold an IDX header")
    if header[0] != 0 or header[1] != 0:
        hint = " (it looks like a text file, e.g. an HTML error page)" if _looks_like_text(header) else ""
        raise ValueError(f"{path} is not an IDX file: bad magic number {header[:4].hex()}{hint}; "
                         "pass an IDX file such as train-images-idx3-ubyte")
    code, ndim = header[2], header[3]
    if code not in IDX_TYPES:
        raise ValueError(f"{path} has unknown IDX type code 0x{code:02x}; "
                         "expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e")
    if ndim == 0:
        raise ValueError(f"{path} declares zero dimensions; an IDX file needs at least one")
    offset = 4 + 4 * ndim
    if len(header) < offset:
        raise ValueError(f"{path} header is short: {ndim} dimensions need {offset} bytes, "
                         f"the file has {total_size}")
    shape = tuple(int(n) for n in np.frombuffer(header, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if total_size < expected:
        raise ValueError(f"{path} is truncated: its header declares shape {shape} ({expected} bytes) "
                         f"but the file has {total_size} bytes; download it again")
    if total_size > expected:
        raise ValueError(f"{path} has {total_size - expected} trailing bytes after the shape {shape} "
                         "its header declares; the file is corrupt")
    return dtype, shape, offset


def _looks_like_text(data: bytes) -> bool:
    return all(32 <= b < 127 or b in b"\t\r\n" for b in data[:64])
