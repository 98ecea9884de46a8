"""Images for ``nnlearn predict``: any image Pillow reads (PNG, JPEG, BMP, GIF, TIFF, WebP, ...), .npy arrays
and IDX files, as (N, 784) floats in [0, 1].

A picture is made to look like an MNIST digit: transparent areas become white paper, it is turned to
grayscale, resized to 28x28 and, when its background is light, inverted to MNIST's white ink on black.
Each of those steps is reported, so a surprising prediction can be traced to what was done to the image.
Pictures with more than ``MAX_IMAGE_PIXELS`` pixels are refused before they are decoded (a decompression
bomb is a small file that decodes to gigabytes).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError, ResourceLimitError
from .idx import read_idx

MAX_IMAGE_PIXELS = 64_000_000
"""Largest picture decoded (8000x8000): a 48-megapixel photo fits, a decompression bomb does not."""


def load_images(path, *, notes: list | None = None) -> np.ndarray:
    """(N, 784) float32 in [0, 1] from a picture, a .npy array or an IDX file of 28x28 images.

    ``notes``, if given, receives one line per change made to a picture ("resized 640x480 to 28x28", ...).
    Raises ``InputError`` (a ``ValueError``) for a missing or unreadable file or a wrong shape, and
    ``ResourceLimitError`` (also a ``ValueError``) for a picture of more than ``MAX_IMAGE_PIXELS`` pixels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist; pass pictures (PNG, JPEG, ...), .npy or IDX files")
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"\x93NUMPY"):
        return as_mnist_rows(np.load(path, allow_pickle=False), path)
    if magic[:2] == b"\x00\x00":
        return as_mnist_rows(read_idx(path), path)
    return picture_to_mnist(path, notes if notes is not None else [])


def picture_to_mnist(path: Path, notes: list) -> np.ndarray:
    """One picture as a (1, 784) MNIST-like row; what was done to it is appended to ``notes``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ResourceLimitError(
                        f"{path} is a {width}x{height} picture ({width * height:,} pixels), more than the "
                        f"{MAX_IMAGE_PIXELS:,} nnlearn decodes; it may be a decompression bomb — pass a smaller one")
                gray = _grayscale(im, notes)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path} is not a picture nnlearn can read ({_first_line(exc)}); "
                         "pass an image file (PNG, JPEG, BMP, ...), a .npy array or an IDX file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path} is a truncated or corrupt picture ({_first_line(exc)}); pass an intact one") \
            from None
    if gray.size != (28, 28):
        notes.append(f"resized {gray.size[0]}x{gray.size[1]} to 28x28")
        gray = gray.resize((28, 28), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 127:  # dark ink on a light background: flip to MNIST's white-on-black
        pixels = 255 - pixels
        notes.append("inverted (dark ink on a light background; MNIST digits are white on black)")
    return (pixels / 255).reshape(1, 784)


def _grayscale(im, notes: list):
    """The picture as 8-bit grayscale, transparent areas made white (paper) first."""
    from PIL import Image

    im.load()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        paper.alpha_composite(im.convert("RGBA"))
        notes.append("transparent areas made white")
        im = paper
    if im.mode.startswith("I;16"):  # 16-bit grayscale: scale, rather than clip, to 8 bits
        return Image.fromarray((np.asarray(im, dtype=np.float64) / 257).round().astype(np.uint8), "L")
    return im.convert("L")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def as_mnist_rows(arr: np.ndarray, path) -> np.ndarray:
    if arr.dtype.kind not in "uif":
        raise InputError(f"{path} holds {arr.dtype} values; pass an array of pixels")
    if arr.size % 784 or arr.size == 0 or arr.shape[-1] not in (28, 784):
        raise InputError(f"{path} has shape {arr.shape}; pass 28x28 images: (28, 28), (N, 28, 28) or (N, 784)")
    rows = arr.reshape(-1, 784).astype(np.float32)
    if not np.isfinite(rows).all():
        raise InputError(f"{path} contains NaN or infinity; pass finite pixel values")
    if arr.dtype.kind in "ui" or rows.max() > 1.0:
        rows /= 255
    return rows
