"""Mini-batches (section 4.2.3): which samples to take, and taking them.

``BatchSampler`` draws the indices: ``"choice"`` is the book's ``np.random.choice(train_size, batch_size)``
(with replacement, independently every step); ``"shuffle"`` takes a fresh permutation each epoch so every
sample is used once per epoch; ``"blocks"`` is the shuffle for data on disk: each epoch visits blocks of
``block_rows`` consecutive samples in a random order and the samples of each block in a random order, so
every sample is still used once per epoch but the file is read sequentially, one block at a time.
``BatchLoader`` gathers the rows into a reused float buffer, converting
uint8 pixels to [0, 1] per batch, so a dataset is never materialised as floats.  Both cost O(batch) per
step whatever the dataset size (the shuffle permutation is O(N) once per epoch, O(batch) per step
amortised), and work on memory-mapped arrays.
"""

from __future__ import annotations

import mmap
import os
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._checks import positive_int, rng_from
from .datasets import pixels_to_float

SAMPLINGS = ("choice", "shuffle", "blocks")
RELEASE_ABOVE_BYTES = 512 << 20
"""Pages of memory-mapped files larger than this are released as batches are drawn."""
BLOCK_ROWS = 65_536
"""Samples per block for ``sampling="blocks"``: 51 MB of 28x28 uint8 images, read in one call."""
READ_AHEAD_BLOCKS = 2
"""Blocks read ahead of the one in use: enough to ride out the disk's slow moments."""
ALIGN = 4096
"""Alignment of O_DIRECT reads: the page size, a multiple of every common disk's sector."""


class BatchSampler:
    """Seeded indices of mini-batches over ``n`` samples; its state can be saved and restored exactly."""

    def __init__(self, n: int, batch_size: int, sampling: str = "choice", *, seed=None, rng=None,
                 block_rows: int = BLOCK_ROWS):
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be 'choice', 'shuffle' or 'blocks', got {sampling!r}")
        self.n = positive_int("number of samples", n)
        self.batch_size = positive_int("batch_size", batch_size)
        self.block_rows = max(positive_int("block_rows", block_rows), self.batch_size)
        self.block_order = None
        if sampling != "choice" and self.batch_size > self.n:
            raise ValueError(f"batch_size {batch_size} is larger than the {n} samples; "
                             "pass a smaller batch_size or use sampling='choice'")
        self.sampling = sampling
        self.rng = rng_from(seed, rng)
        self._perm = None
        self._pos = 0
        self._epoch_state = None

    def __iter__(self):
        return self

    def __next__(self) -> np.ndarray:
        if self.sampling == "choice":
            # the same numbers as rng.choice(n, batch_size), the book's call, at a third of the cost
            return self.rng.integers(0, self.n, self.batch_size)
        if self._perm is None or self._pos + self.batch_size > self.n:
            self._new_epoch()
        batch = self._perm[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return batch

    def _new_epoch(self) -> None:
        self._epoch_state = self.rng.bit_generator.state
        dtype = np.int32 if self.n < 2**31 else np.int64  # half the memory for up to 2 billion samples
        if self.sampling == "shuffle":
            self._perm = self.rng.permutation(self.n).astype(dtype, copy=False)
        else:
            blocks = -(-self.n // self.block_rows)
            self.block_order = self.rng.permutation(blocks)
            self._perm = np.concatenate([
                (b * self.block_rows + self.rng.permutation(min(self.block_rows, self.n - b * self.block_rows)))
                .astype(dtype, copy=False) for b in self.block_order])
        self._pos = 0

    def block_after(self, block: int):
        """The block visited after ``block``, what to read ahead: the next in this epoch's order, or after the
        last one the next epoch's first (None when that is ``block`` itself, already in hand)."""
        if self.block_order is None:
            return None
        where = np.flatnonzero(self.block_order == block)
        if len(where) == 0:
            return None
        if where[0] + 1 < len(self.block_order):
            return int(self.block_order[where[0] + 1])
        following = self._next_epoch_first_block()
        return None if following == block else following

    def _next_epoch_first_block(self) -> int:
        """The first draw ``_new_epoch`` will make, made on a copy of the RNG so the real one is untouched."""
        peek = np.random.Generator(type(self.rng.bit_generator)())
        peek.bit_generator.state = self.rng.bit_generator.state
        return int(peek.permutation(len(self.block_order))[0])

    def state(self) -> dict:
        """A JSON-able snapshot: the RNG state, and for shuffle where in which permutation we are."""
        if self.sampling != "choice" and self._perm is not None:
            return {"sampling": self.sampling, "epoch_rng": self._epoch_state, "pos": self._pos}
        return {"sampling": self.sampling, "rng": self.rng.bit_generator.state}

    def restore(self, state: dict) -> None:
        if state.get("sampling") != self.sampling:
            raise ValueError(f"checkpoint was made with sampling={state.get('sampling')!r}, "
                             f"not {self.sampling!r}; resume with the same sampling")
        if "epoch_rng" in state:
            self.rng.bit_generator.state = state["epoch_rng"]
            self._new_epoch()  # regenerates the same permutation and leaves the RNG where it was
            self._pos = int(state["pos"])
        else:
            self.rng.bit_generator.state = state["rng"]
            self._perm = None


class BatchLoader:
    """Rows ``x[idx]`` as floats of ``dtype`` (uint8 pixels scaled to [0, 1]) and labels ``t[idx]``.

    Pixels are scaled exactly as ``load_mnist(normalize=True)`` does (float32 division by 255), so training
    on uint8 images gives bit-for-bit the same result as training on the normalized arrays.

    The float buffer is reused: the batch returned is valid until the next call.  For a memory-mapped
    ``x`` the pages touched are released every ``release_rows`` rows, so resident memory stays bounded
    however many batches are drawn from a file larger than RAM.
    """

    def __init__(self, x, t, batch_size: int, dtype=np.float64, release_rows: int = 4096, sampler=None):
        self.x, self.t = x, np.asarray(t)
        self.dtype = np.dtype(dtype)
        width = int(np.prod(x.shape[1:]))
        self.buffer = np.empty((batch_size, width), dtype=self.dtype)
        self._float32 = self.buffer if self.dtype == np.float32 else np.empty((batch_size, width), np.float32)
        self._mapping = _mapping_of(x)
        self._blocks = None
        if self._mapping is not None and sampler is not None and sampler.sampling == "blocks" \
                and isinstance(x, np.memmap) and x.flags.c_contiguous:
            self._blocks = BlockReader(x, sampler)
            self._rows = np.empty((batch_size, width), dtype=x.dtype)
        elif self._mapping is not None:
            self._mapping.madvise(mmap.MADV_RANDOM)  # no read-ahead: batches touch scattered rows
            if len(self._mapping) <= RELEASE_ABOVE_BYTES:  # a small file may stay mapped: RSS <= its size
                self._mapping = None
        self._rows_since_release = 0
        self.release_rows = release_rows

    def __call__(self, idx: np.ndarray):
        rows = self._blocks.take(idx, self._rows[:len(idx)]) if self._blocks is not None \
            else self.x[idx].reshape(len(idx), -1)
        out = _as_float(rows, self.buffer[:len(idx)], self._float32[:len(idx)])
        if self._mapping is not None and self._blocks is None:
            self._rows_since_release += len(idx)
            if self._rows_since_release >= self.release_rows:
                self._mapping.madvise(mmap.MADV_DONTNEED)  # drops our page mappings; the page cache keeps them
                self._rows_since_release = 0
        return out, self.t[idx]


class BlockReader:
    """Rows of a memory-mapped file, read a block at a time with ``preadv`` into reused buffers, the next
    ``depth`` blocks read ahead on a background thread while the current one is used.  Nothing is mapped, so
    resident memory is ``depth + 1`` blocks whatever the file's size.
    """

    def __init__(self, x: np.memmap, sampler: BatchSampler, depth: int = READ_AHEAD_BLOCKS):
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
        self.rows, self.n = rows, x.shape[0]
        self.dtype, self.width = x.dtype, int(np.prod(x.shape[1:]))
        self.row_bytes = self.width * x.dtype.itemsize
        self.offset = _file_offset(x)
        self.fd = os.open(x.filename, os.O_RDONLY)
        self.direct_fd = _open_direct(x.filename)
        self.direct = self.direct_fd is not None

    def read(self, b: int, buffer: np.ndarray) -> np.ndarray:
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
                raise OSError(f"unexpected end of file reading block {b}; the dataset file is truncated")
            done += got
        return True

    def close(self) -> None:
        for fd in (self.fd, self.direct_fd):
            if fd is not None:
                os.close(fd)


def _file_offset(x: np.memmap) -> int:
    """Where ``x[0]`` starts in its file.  ``x.offset`` is that of the array first mapped, so it is wrong
    for a slice such as ``x[1000:]``: measure instead how far into the mapping ``x``'s data begins."""
    mapping = _mapping_of(x)
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

    A memory-mapped file larger than ``RELEASE_ABOVE_BYTES`` is read a chunk at a time (``O_DIRECT`` where
    allowed), the next chunk read ahead on a thread, so evaluating a dataset on disk runs at disk speed.
    """
    n = len(t)
    chunk = min(chunk, n)
    width = int(np.prod(x.shape[1:]))
    out = np.empty((chunk, width), dtype)
    float32 = out if out.dtype == np.float32 else np.empty((chunk, width), np.float32)
    mapping = _mapping_of(x)
    raw = _file_chunks(x, chunk) if mapping is not None and len(mapping) > RELEASE_ABOVE_BYTES \
        and isinstance(x, np.memmap) and x.flags.c_contiguous else _slices(x, chunk)
    for start, rows in raw:
        m = len(rows)
        yield _as_float(rows.reshape(m, width), out[:m], float32[:m]), t[start:start + m]


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


def _as_float(rows: np.ndarray, out: np.ndarray, float32: np.ndarray) -> np.ndarray:
    """rows as floats in ``out``: uint8 pixels scaled exactly as ``load_mnist(normalize=True)`` does."""
    if rows.dtype == np.uint8:
        scaled = pixels_to_float(rows, out=float32)
        if scaled is not out:
            out[...] = scaled
    else:
        out[...] = rows
    return out


def _mapping_of(x):
    """The ``mmap.mmap`` behind a ``numpy.memmap`` (or a view of one), else None."""
    base = x
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "_mmap", None) or getattr(base, "base", None)
    return None
