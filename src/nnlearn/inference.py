"""Chapter 3's inference with saved weights: ``init_network()`` and ``predict(network, x)`` (section 3.6.2).

The book ships its trained weights as a pickle (``sample_weight.pkl``); nnlearn ships its own
784-50-100-10 sigmoid network as ``.npz`` (trained by ``scripts/train_pretrained.py`` on mnist-mini's
training split), so nothing is unpickled.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._checks import as_float
from .functions import cross_entropy_sum, sigmoid, softmax
from .io import check_params, load_weights

PRETRAINED = "pretrained_784_50_100_10.npz"


def init_network() -> dict:
    """The pretrained network: ``{"W1", "b1", "W2", "b2", "W3", "b3"}`` (784-50-100-10, sigmoid)."""
    with resources.as_file(resources.files("nnlearn") / "resources" / PRETRAINED) as path:
        params, _ = load_weights(path)
    return params


def predict(network: dict, x) -> np.ndarray:
    """y = softmax(σ(σ(x W1 + b1) W2 + b2) ... Wn + bn): the forward pass of any sigmoid network."""
    check_params(network, source="network")
    x = as_float("x", x)
    layers = len(network) // 2
    if x.shape[-1] != network["W1"].shape[0]:
        raise ValueError(f"x has {x.shape[-1]} features but W1 takes {network['W1'].shape[0]}; "
                         f"pass images flattened to {network['W1'].shape[0]} values")
    return _forward(network, x, layers)


def _forward(network: dict, x: np.ndarray, layers: int) -> np.ndarray:
    z = x
    for n in range(1, layers):
        z = sigmoid(z @ network[f"W{n}"] + network[f"b{n}"])
    return softmax(z @ network[f"W{layers}"] + network[f"b{layers}"])


def accuracy_and_loss(network: dict, chunks) -> tuple[float, float, int]:
    """(accuracy, mean cross-entropy, n) of ``network`` over (x, labels) chunks."""
    check_params(network, source="network")
    layers = len(network) // 2
    hits, total, n = 0, 0.0, 0
    for x, t in chunks:
        y = _forward(network, x, layers)
        hits += int(np.sum(np.argmax(y, axis=1) == t))
        total += cross_entropy_sum(y, t)
        n += len(t)
    return hits / n, total / n, n
