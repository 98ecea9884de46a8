"""Chapter 3's inference with saved weights: ``init_network()`` and ``predict(network, x)`` (section 3.6.2).

The book ships its trained weights as a pickle (``sample_weight.pkl``); nnlearn ships its own
784-50-100-10 sigmoid network as ``.npz`` (trained by ``scripts/train_pretrained.py`` on mnist-mini's
training split), so nothing is unpickled.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._checks import as_float
from .errors import InputError
from .io import check_params, load_weights
from .network import network_from_weights

PRETRAINED = "pretrained_784_50_100_10.npz"


def init_network() -> dict:
    """The pretrained network: ``{"W1", "b1", "W2", "b2", "W3", "b3"}`` (784-50-100-10, sigmoid)."""
    with resources.as_file(resources.files("nnlearn") / "resources" / PRETRAINED) as path:
        params, _ = load_weights(path)
    return params


def predict(network: dict, x) -> np.ndarray:
    """y = softmax(σ(σ(x W1 + b1) W2 + b2) ... Wn + bn): the forward pass of a sigmoid network given as a dict
    of its parameters, run by the same layers every nnlearn network is made of."""
    check_params(network, source="network")
    net = network_from_weights(network)
    x = as_float("x", x)
    if x.shape[-1] != net.sizes[0]:
        raise InputError(f"x has {x.shape[-1]} features but W1 takes {net.sizes[0]}; "
                         f"pass images flattened to {net.sizes[0]} values")
    y = net.predict(x)
    return y[0] if x.ndim == 1 else y  # one image in, one row of probabilities out, as in the book


class Evaluation(tuple):
    """``evaluate``'s result: unpacks as ``accuracy, loss`` (as it always did), and names ``accuracy``,
    ``loss`` and ``n`` (the number of samples); shows as a table in a notebook."""

    def __new__(cls, accuracy: float, loss: float, n: int):
        self = super().__new__(cls, (accuracy, loss))
        self.n = n
        return self

    @property
    def accuracy(self) -> float:
        return self[0]

    @property
    def loss(self) -> float:
        return self[1]

    def __repr__(self) -> str:
        return f"Evaluation(accuracy={self.accuracy:.4f}, loss={self.loss:.4f}, n={self.n:,})"

    def __getnewargs__(self):
        return (self.accuracy, self.loss, self.n)

    def _repr_html_(self) -> str:
        from .display import evaluation_html

        return evaluation_html(self)
