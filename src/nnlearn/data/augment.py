"""Data augmentation: the training digits moved by a few pixels, a new random shift for every batch.

Each image is shifted by (dy, dx), both drawn uniformly from −MAX_SHIFT..MAX_SHIFT, with zeros where it moved
away: a digit a little off centre is still the same digit, so the network sees more varied data than the
8,000 images it has.  The shifts come from their own seeded ``numpy.random.Generator``, whose state a
checkpoint saves.
"""

from __future__ import annotations

import math

import numpy as np

MAX_SHIFT = 2


def shifted(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Each (h, w) image moved by (dy, dx) pixels, zero-filled where it moved away."""
    n, h, w = images.shape
    pad = MAX_SHIFT
    padded = np.zeros((n, h + 2 * pad, w + 2 * pad), dtype=images.dtype)
    padded[:, pad:pad + h, pad:pad + w] = images
    rows = (pad - dy)[:, None] + np.arange(h)[None, :]
    cols = (pad - dx)[:, None] + np.arange(w)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class RandomShift:
    """``shift(x)``: a batch of flattened square images, each moved by its own random (dy, dx)."""

    def __init__(self, features: int, *, seed=None):
        side = math.isqrt(features)
        if side * side != features:
            raise ValueError(f"shift augmentation needs square images, but a sample has {features} values; "
                             "pass --augment none")
        self.side = side
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        dy, dx = self.rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(2, n))
        return shifted(x.reshape(n, self.side, self.side), dy, dx).reshape(n, -1)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state
