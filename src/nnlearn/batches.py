"""Mini-batches (section 4.2.3): which samples to take, and taking them.

``BatchSampler`` draws the indices: ``"choice"`` is the book's ``np.random.choice(train_size, batch_size)``
(with replacement, independently every step); ``"shuffle"`` takes a fresh permutation each epoch so every
sample is used once per epoch.  ``BatchLoader`` gathers the rows into a reused float buffer, converting
uint8 pixels to [0, 1] per batch, so a dataset is never materialised as floats.  Both cost O(batch) per
step whatever the dataset size (the shuffle permutation is O(N) once per epoch, O(batch) per step
amortised), and work on memory-mapped arrays.
"""

from __future__ import annotations

import mmap

import numpy as np

from ._checks import positive_int, rng_from

SAMPLINGS = ("choice", "shuffle")


class BatchSampler:
    """Seeded indices of mini-batches over ``n`` samples; its state can be saved and restored exactly."""

    def __init__(self, n: int, batch_size: int, sampling: str = "choice", *, seed=None, rng=None):
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be 'choice' or 'shuffle', got {sampling!r}")
        self.n = positive_int("number of samples", n)
        self.batch_size = positive_int("batch_size", batch_size)
        if sampling == "shuffle" and self.batch_size > self.n:
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
        self._perm = self.rng.permutation(self.n).astype(dtype, copy=False)
        self._pos = 0

    def state(self) -> dict:
        """A JSON-able snapshot: the RNG state, and for shuffle where in which permutation we are."""
        if self.sampling == "shuffle" and self._perm is not None:
            return {"sampling": "shuffle", "epoch_rng": self._epoch_state, "pos": self._pos}
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

    def __init__(self, x, t, batch_size: int, dtype=np.float64, release_rows: int = 50_000):
        self.x, self.t = x, np.asarray(t)
        self.dtype = np.dtype(dtype)
        width = int(np.prod(x.shape[1:]))
        self.buffer = np.empty((batch_size, width), dtype=self.dtype)
        self.pixels = x.dtype == np.uint8
        self._float32 = self.buffer if self.dtype == np.float32 else np.empty((batch_size, width), np.float32)
        self._mapping = _mapping_of(x)
        if self._mapping is not None:
            self._mapping.madvise(mmap.MADV_RANDOM)  # no read-ahead: batches touch scattered rows
        self._rows_since_release = 0
        self.release_rows = release_rows

    def __call__(self, idx: np.ndarray):
        rows = self.x[idx].reshape(len(idx), -1)
        out = self.buffer[:len(idx)]
        if self.pixels:
            scaled = np.divide(rows, np.float32(255.0), out=self._float32[:len(idx)])
            if scaled is not out:
                out[...] = scaled
        else:
            out[...] = rows
        if self._mapping is not None:
            self._rows_since_release += len(idx)
            if self._rows_since_release >= self.release_rows:
                self._mapping.madvise(mmap.MADV_DONTNEED)  # drops our page mappings; the page cache keeps them
                self._rows_since_release = 0
        return out, self.t[idx]


def iter_chunks(x, t, chunk: int = 10_000, dtype=np.float64):
    """(x, t) in consecutive chunks converted like ``BatchLoader``: bounded memory for any dataset size."""
    n = len(t)
    loader = BatchLoader(x, t, min(chunk, n), dtype)
    for start in range(0, n, chunk):
        yield loader(np.arange(start, min(start + chunk, n)))


def _mapping_of(x):
    """The ``mmap.mmap`` behind a ``numpy.memmap`` (or a view of one), else None."""
    base = x
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "_mmap", None) or getattr(base, "base", None)
    return None
