"""Reading memory-mapped IDX files a block at a time, with read-ahead, in bounded memory.

``BlockReader`` serves the rows of ``sampling="blocks"`` batches (see ``nnlearn.data.batches``) and of
``iter_chunks``, the chunked pass every whole-dataset evaluation makes.  A file is read with ``preadv`` into
reused buffers (``O_DIRECT`` where the filesystem allows it), the next blocks on a background thread.
"""

from __future__ import annotations

import mmap
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import DatasetChangedError
from .pixels import as_float_rows, check_unchanged, mapping_of

RELEASE_ABOVE_BYTES = 512 << 20
"""Pages of memory-mapped files larger than this are released as batches are drawn, and read by chunks."""
READ_AHEAD_BLOCKS = 2
"""Blocks read ahead of the one in use: enough to ride out the disk's slow moments."""
ALIGN = 4096
"""Alignment of O_DIRECT reads: the page size, a multiple of every common disk's sector."""


class BlockReader:
    """Rows of a memory-mapped file, read a block at a time with ``preadv`` into reused buffers, the next
    ``depth`` blocks read ahead on a background thread while the current one is used.  Nothing is mapped, so
    resident memory is ``depth + 1`` blocks whatever the file's size.
    """

    def __init__(self, x: np.memmap, sampler, depth: int = READ_AHEAD_BLOCKS):
        # sampler: anything with ``block_rows`` and ``block_after(block)`` (a BatchSampler, or _InOrder)
        self.sampler, self.rows = sampler, sampler.block_rows
        self.file = BlockFile(x, self.rows)
        self.free = [_aligned_empty(self.rows * self.file.row_bytes + 2 * ALIGN) for _ in range(depth + 1)]
        self.current = None   # (block, view, buffer)
        self.pending = []     # [(block, future, buffer)] in the order the epoch visits them
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnlearn-read-ahead")
        # the pool's thread holds only self.file, so this runs where the reader is dropped, never on that thread
        weakref.finalize(self, _close_reader, self.file, self.pool)

    def take(self, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
        blocks = idx // self.rows
        first = int(blocks[0])
        if (blocks == first).all():
            return np.take(self.block(first), idx - first * self.rows, axis=0, out=out)
        for b in dict.fromkeys(blocks.tolist()):  # the blocks in the order the batch meets them
            mask = blocks == b
            out[mask] = self.block(b)[idx[mask] - b * self.rows]
        return out

    def block(self, b: int) -> np.ndarray:
        if self.current is not None and self.current[0] == b:
            return self.current[1]
        if self.current is not None:
            self.free.append(self.current[2])
            self.current = None
        while self.pending and self.pending[0][0] != b:  # never leave a read running into a reused buffer
            _, future, buffer = self.pending.pop(0)
            future.result()
            self.free.append(buffer)
        if self.pending:
            _, future, buffer = self.pending.pop(0)
            view = future.result()
        else:
            buffer = self.free.pop()
            view = self.file.read(b, buffer)
        self.current = (b, view, buffer)
        self._read_ahead()
        return view

    def _read_ahead(self) -> None:
        last = self.pending[-1][0] if self.pending else self.current[0]
        while self.free:
            last = self.sampler.block_after(last)
            if last is None:
                return
            buffer = self.free.pop()
            self.pending.append((last, self.pool.submit(self.file.read, last, buffer), buffer))


class BlockFile:
    """Block ``b`` (rows ``b * rows`` onwards) of an IDX file, read into a buffer.

    Where the system allows it the file is read with ``O_DIRECT``: the disk writes straight into our
    buffers, bypassing the page cache, which saves the CPU time of copying through it (on a small VM about
    as much per batch as the rest of a training step) and does not push other data out of the cache.
    """

    def __init__(self, x: np.memmap, rows: int):
        self.x = x
        self.rows, self.n = rows, x.shape[0]
        self.dtype, self.width = x.dtype, int(np.prod(x.shape[1:]))
        self.row_bytes = self.width * x.dtype.itemsize
        self.offset = file_offset(x)
        self.fd = os.open(x.filename, os.O_RDONLY)
        self.direct_fd = _open_direct(x.filename)
        self.direct = self.direct_fd is not None

    def read(self, b: int, buffer: np.ndarray) -> np.ndarray:
        check_unchanged(self.x)
        count = min(self.rows, self.n - b * self.rows)
        start, size = self.offset + b * self.rows * self.row_bytes, count * self.row_bytes
        skip = start % ALIGN  # O_DIRECT reads whole aligned pages: read from the page holding `start`
        if self.direct and self._read_into(self.direct_fd, buffer, start - skip, skip + size, b):
            return buffer[skip:skip + size].view(self.dtype).reshape(count, self.width)
        self._read_into(self.fd, buffer, start, size, b)
        return buffer[:size].view(self.dtype).reshape(count, self.width)

    def _read_into(self, fd: int, buffer: np.ndarray, start: int, size: int, b: int) -> bool:
        """Read ``size`` bytes at ``start``; False if O_DIRECT turns out not to work here (then never again)."""
        direct = fd == self.direct_fd
        length = -(-size // ALIGN) * ALIGN if direct else size
        target, done = memoryview(buffer)[:length], 0
        while done < size:  # preadv may return fewer bytes than asked
            try:
                got = os.preadv(fd, [target[done:]], start + done)
            except OSError:
                if not direct:
                    raise
                got = -1
            if direct and (got < 0 or (got % ALIGN and done + got < size)):
                self.direct = False  # the filesystem refuses O_DIRECT (or returned an unaligned piece)
                return False
            if got == 0:
                raise DatasetChangedError(f"unexpected end of file reading block {b} of {self.x.filename}: the "
                                          "dataset file was truncated while in use; restore it and resume")
            done += got
        return True

    def close(self) -> None:
        for fd in (self.fd, self.direct_fd):
            if fd is not None:
                os.close(fd)


def file_offset(x: np.memmap) -> int:
    """Where ``x[0]`` starts in its file.  ``x.offset`` is that of the array first mapped, so it is wrong
    for a slice such as ``x[1000:]``: measure instead how far into the mapping ``x``'s data begins."""
    mapping = mapping_of(x)
    mapped_from = x.offset - x.offset % mmap.ALLOCATIONGRANULARITY  # numpy maps from a granule boundary
    return mapped_from + x.ctypes.data - np.frombuffer(mapping, np.uint8).ctypes.data


def _open_direct(path) -> int | None:
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return None
    try:
        return os.open(path, os.O_RDONLY | flag)
    except OSError:  # e.g. tmpfs
        return None


def _aligned_empty(size: int) -> np.ndarray:
    raw = np.empty(size + ALIGN, np.uint8)
    skip = -raw.ctypes.data % ALIGN
    return raw[skip:skip + size]


def _close_reader(file: BlockFile, pool: ThreadPoolExecutor) -> None:
    pool.shutdown(wait=True, cancel_futures=True)  # drop queued reads, finish the running one, then close
    file.close()


def iter_chunks(x, t, chunk: int = 10_000, dtype=np.float64):
    """(x, t) in consecutive chunks converted like ``BatchLoader``: bounded memory for any dataset size.

    A memory-mapped file is read a chunk at a time (``O_DIRECT`` where allowed), the next chunk read ahead
    on a thread, so evaluating a dataset on disk runs at disk speed, and a file truncated meanwhile gives
    ``DatasetChangedError`` (an ``OSError``), never SIGBUS.
    """
    n = len(t)
    chunk = min(chunk, n)
    width = int(np.prod(x.shape[1:]))
    out = np.empty((chunk, width), dtype)
    float32 = out if out.dtype == np.float32 else np.empty((chunk, width), np.float32)
    mapping = mapping_of(x)
    from_file = mapping is not None and isinstance(x, np.memmap) and x.flags.c_contiguous
    raw = _file_chunks(x, chunk) if from_file else _slices(x, chunk)
    for start, rows in raw:
        m = len(rows)
        rows = rows.reshape(m, width)
        if rows.dtype == out.dtype and not from_file:  # floats in memory already: no copy
            yield rows, t[start:start + m]
        else:  # (a file's chunk is in the reader's buffer, which it reuses)
            yield as_float_rows(rows, out[:m], float32[:m]), t[start:start + m]


def _slices(x, chunk: int):
    for start in range(0, len(x), chunk):
        yield start, x[start:start + chunk]


def _file_chunks(x: np.memmap, chunk: int):
    reader = BlockReader(x, _InOrder(chunk, len(x)), depth=1)
    for b in range(-(-len(x) // chunk)):
        yield b * chunk, reader.block(b)


class _InOrder:
    """A pass over the blocks in file order, for ``BlockReader`` to read ahead by."""

    def __init__(self, block_rows: int, n: int):
        self.block_rows, self.count = block_rows, -(-n // block_rows)

    def block_after(self, block: int):
        return block + 1 if block + 1 < self.count else None
