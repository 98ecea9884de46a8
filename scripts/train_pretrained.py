"""Train the 784-50-100-10 sigmoid network that ``nnlearn.init_network()`` returns (chapter 3's weights).

    python scripts/train_pretrained.py        # writes src/nnlearn/resources/pretrained_784_50_100_10.npz

Mini-batch SGD with backpropagation on mnist-mini's 8,000 training digits only (its 2,000 test digits are
never seen), seeded, float64 arithmetic, stored as float32 like the book's sample_weight.pkl.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nnlearn import BatchLoader, BatchSampler, load_mnist, save_weights, sigmoid, softmax
from nnlearn.inference import PRETRAINED, predict

SIZES = (784, 50, 100, 10)
SEED, ITERS, BATCH, LR = 0, 3000, 100, 0.3
OUT = Path(__file__).resolve().parent.parent / "src" / "nnlearn" / "resources" / PRETRAINED


def gradient(params: dict, x: np.ndarray, t: np.ndarray) -> dict:
    """Backpropagation through sigmoid layers and a softmax cross-entropy output."""
    layers = len(SIZES) - 1
    z = [x]
    for n in range(1, layers):
        z.append(sigmoid(z[-1] @ params[f"W{n}"] + params[f"b{n}"]))
    delta = softmax(z[-1] @ params[f"W{layers}"] + params[f"b{layers}"])
    delta[np.arange(len(t)), t] -= 1
    delta /= len(t)
    grads = {}
    for n in range(layers, 0, -1):
        grads[f"W{n}"], grads[f"b{n}"] = z[n - 1].T @ delta, delta.sum(axis=0)
        if n > 1:
            delta = (delta @ params[f"W{n}"].T) * z[n - 1] * (1 - z[n - 1])
    return grads


def main() -> int:
    (x, t), (x_test, t_test) = load_mnist(normalize=False, dataset="mnist-mini")
    rng = np.random.default_rng(SEED)
    params = {}
    for n, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True), start=1):
        params[f"W{n}"] = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params[f"b{n}"] = np.zeros(fan_out)
    sampler = BatchSampler(len(t), BATCH, "shuffle", rng=rng)
    load = BatchLoader(x, t, BATCH, np.float64)
    for _ in range(ITERS):
        xb, tb = load(next(sampler))
        for name, g in gradient(params, xb, tb).items():
            params[name] -= LR * g
    stored = {k: v.astype(np.float32) for k, v in params.items()}
    accuracy = float(np.mean(predict(stored, x_test / np.float32(255)).argmax(axis=1) == t_test))
    save_weights(OUT, stored, {"sizes": SIZES, "activation": "sigmoid", "dataset": "mnist-mini",
                               "trained_on": "mnist-mini train split (8,000)", "seed": SEED, "iters": ITERS,
                               "batch_size": BATCH, "lr": LR, "test_accuracy": accuracy})
    print(f"wrote {OUT}; accuracy on mnist-mini's test split: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
