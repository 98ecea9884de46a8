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

import numpy as np

from .._checks import positive_int, rng_from
from ..errors import DatasetChangedError, InputError
from . import blockio
from .pixels import as_float_rows, check_unchanged, mapping_of

SAMPLINGS = ("choice", "shuffle", "blocks")
BLOCK_ROWS = 65_536
"""Samples per block for ``sampling="blocks"``: 51 MB of 28x28 uint8 images, read in one call."""


class BatchSampler:
    """Seeded indices of mini-batches over ``n`` samples; its state can be saved and restored exactly.

    Raises ``InputError`` (a ``ValueError``) for an unknown sampling, a non-positive size, or a batch larger
    than the data for the samplings that draw without replacement.
    """

    def __init__(self, n: int, batch_size: int, sampling: str = "choice", *, seed=None, rng=None,
                 block_rows: int = BLOCK_ROWS):
        if sampling not in SAMPLINGS:
            raise InputError(f"sampling must be 'choice', 'shuffle' or 'blocks', got {sampling!r}")
        self.n = positive_int("number of samples", n)
        self.batch_size = positive_int("batch_size", batch_size)
        self.block_rows = max(positive_int("block_rows", block_rows), self.batch_size)
        self.block_order = None
        if sampling != "choice" and self.batch_size > self.n:
            raise InputError(f"batch_size {batch_size} is larger than the {n} samples; "
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
            raise InputError(f"checkpoint was made with sampling={state.get('sampling')!r}, "
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
    however many batches are drawn from a file larger than RAM.  A mapped file up to ``RELEASE_ABOVE_BYTES``
    is read into memory instead (with ``read``, which cannot fault), and a larger one is checked before each
    batch: a file truncated or replaced while training gives ``DatasetChangedError`` (an ``OSError``).
    """

    def __init__(self, x, t, batch_size: int, dtype=np.float64, release_rows: int = 4096, sampler=None):
        self.x, self.t = x, np.asarray(t)
        self.dtype = np.dtype(dtype)
        width = int(np.prod(x.shape[1:]))
        self.buffer = np.empty((batch_size, width), dtype=self.dtype)
        self._float32 = self.buffer if self.dtype == np.float32 else np.empty((batch_size, width), np.float32)
        self._mapping = mapping_of(x)
        self._blocks = None
        if self._mapping is not None and sampler is not None and sampler.sampling == "blocks" \
                and isinstance(x, np.memmap) and x.flags.c_contiguous:
            self._blocks = blockio.BlockReader(x, sampler)
            self._rows = np.empty((batch_size, width), dtype=x.dtype)
        elif self._mapping is not None and len(self._mapping) <= blockio.RELEASE_ABOVE_BYTES \
                and isinstance(x, np.memmap) and x.flags.c_contiguous:
            self.x, self._mapping = _read_mapped(x), None  # in memory: a batch can no longer fault
        elif self._mapping is not None:
            self._mapping.madvise(mmap.MADV_RANDOM)  # no read-ahead: batches touch scattered rows
        self._rows_since_release = 0
        self.release_rows = release_rows

    def __call__(self, idx: np.ndarray):
        if self._mapping is not None:
            check_unchanged(self.x)
        rows = self._blocks.take(idx, self._rows[:len(idx)]) if self._blocks is not None \
            else self.x[idx].reshape(len(idx), -1)
        out = as_float_rows(rows, self.buffer[:len(idx)], self._float32[:len(idx)])
        if self._mapping is not None and self._blocks is None:
            self._rows_since_release += len(idx)
            if self._rows_since_release >= self.release_rows:
                self._mapping.madvise(mmap.MADV_DONTNEED)  # drops our page mappings; the page cache keeps them
                self._rows_since_release = 0
        return out, self.t[idx]


def _read_mapped(x: np.memmap) -> np.ndarray:
    """The rows of a mapped file, read into memory with ``read`` (which reports a short file, not SIGBUS)."""
    check_unchanged(x)
    with open(x.filename, "rb") as f:
        f.seek(blockio.file_offset(x))
        out = np.fromfile(f, dtype=x.dtype, count=x.size)
    if out.size != x.size:
        raise DatasetChangedError(f"the dataset file {x.filename} was truncated while in use; restore it")
    return out.reshape(x.shape)
