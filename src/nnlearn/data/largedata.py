"""Datasets larger than memory, made from real digits: for benchmarking training at millions of samples.

``make_large`` streams N images to IDX files in chunks, so its memory use does not depend on N: each image
is a real digit of the source dataset's training split, shifted by a random −2…2 pixels in each direction
(zero fill), with its label.  The source's test split is copied as the test files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._checks import positive_int, rng_from
from .._files import atomic_write
from ..errors import InputError
from .augment import MAX_SHIFT, shifted
from .datasets import STANDARD_NAMES, open_dataset
from .idx import idx_header, write_idx


def make_large(out_dir, samples: int, *, source="mnist-mini", seed=0, chunk: int = 20_000, progress=None,
               data_dir=None) -> Path:
    """Write an IDX dataset of ``samples`` training images to ``out_dir``; returns ``out_dir``.

    Raises ``InputError`` (a ``ValueError``) for a bad ``samples``, what ``open_dataset`` raises for the
    source, and ``OSError`` if the files cannot be written."""
    samples = positive_int("samples", samples)
    if samples >= 2**32:
        raise InputError(f"samples must be below 2**32 (IDX sizes are uint32), got {samples}")
    rng = rng_from(seed)
    src = open_dataset(source, data_dir=data_dir)
    images = np.asarray(src.x_train).reshape(-1, 28, 28)
    labels = np.asarray(src.t_train)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / STANDARD_NAMES["train_images"]) as fx, \
            atomic_write(out / STANDARD_NAMES["train_labels"]) as ft:
        fx.write(idx_header(np.uint8, (samples, 28, 28)))
        ft.write(idx_header(np.uint8, (samples,)))
        for start in range(0, samples, chunk):
            n = min(chunk, samples - start)
            pick = rng.integers(0, len(labels), n)
            dy, dx = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, (2, n))
            fx.write(shifted(images[pick], dy, dx).tobytes())
            ft.write(labels[pick].tobytes())
            if progress is not None:
                progress(n)
    write_idx(out / STANDARD_NAMES["test_images"], np.asarray(src.x_test).reshape(-1, 28, 28))
    write_idx(out / STANDARD_NAMES["test_labels"], np.asarray(src.t_test))
    return out
