"""Images for ``nnlearn predict``: PNGs, .npy arrays and IDX files, as (N, 784) floats in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .idx import read_idx


def load_images(path) -> np.ndarray:
    """(N, 784) float32 in [0, 1] from a PNG (grayscale, resized to 28x28, inverted if its background is
    white, as MNIST digits are white on black), a .npy array or an IDX file of 28x28 images."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist; pass PNG, .npy or IDX files")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\x89PNG"):
        return png_to_mnist(path)
    arr = np.load(path, allow_pickle=False) if magic.startswith(b"\x93NUMPY") else read_idx(path)
    return as_mnist_rows(arr, path)


def png_to_mnist(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        gray = im.convert("L")
        if gray.size != (28, 28):
            gray = gray.resize((28, 28), Image.Resampling.LANCZOS)
        pixels = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:  # dark ink on a light background: flip to MNIST's white-on-black
        pixels = 255 - pixels
    return (pixels / 255).reshape(1, 784)


def as_mnist_rows(arr: np.ndarray, path) -> np.ndarray:
    if arr.dtype.kind not in "uif":
        raise ValueError(f"{path} holds {arr.dtype} values; pass an array of pixels")
    if arr.size % 784 or arr.size == 0 or arr.shape[-1] not in (28, 784):
        raise ValueError(f"{path} has shape {arr.shape}; pass 28x28 images: (28, 28), (N, 28, 28) or (N, 784)")
    rows = arr.reshape(-1, 784).astype(np.float32)
    if arr.dtype.kind in "ui" or rows.max() > 1.0:
        rows /= 255
    return rows
