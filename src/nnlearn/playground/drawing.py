"""A digit drawn in the page, prepared the way MNIST's digits were (LeCun, Cortes & Burges).

MNIST's images were made by scaling each digit to fit a 20x20 box (keeping its aspect ratio, with
anti-aliasing), then placing it in a 28x28 field so that its centre of mass sits at the centre.  A drawing
that skips this is classified badly however good the network is, because the network has only seen
digits of that size and position.
"""

from __future__ import annotations

import numpy as np

BOX = 20
SIDE = 28


def mnist_like(pixels: np.ndarray) -> np.ndarray:
    """(28, 28) float32 in [0, 1] from a grayscale drawing (uint8, white ink on black, any size)."""
    from PIL import Image

    ink = np.asarray(pixels, dtype=np.uint8)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    out = np.zeros((SIDE, SIDE), np.float32)
    if rows.size == 0:
        return out
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), np.float32) / 255
    digit = np.clip(digit, 0.0, 1.0)
    mass = digit.sum()
    if mass == 0:
        return out
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top = int(np.clip(round(SIDE / 2 - cy), 0, SIDE - digit.shape[0]))
    left = int(np.clip(round(SIDE / 2 - cx), 0, SIDE - digit.shape[1]))
    out[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return out
