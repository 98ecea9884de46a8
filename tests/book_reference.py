"""The book's two-layer network written out by hand, as independent reference arithmetic for the tests.

This is the computation nnlearn 0.1 trained with (forward, backward and the SGD update, in this order of
operations), so comparing against it bit for bit shows the layers compute exactly what it did.
"""

import numpy as np


def backprop(params, x, labels):
    """Gradient of the two-layer sigmoid network's cross-entropy (section 5.7.2), by the chain rule."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    z1 = 1.0 / (1.0 + np.exp(-(x @ W1 + b1)))
    a2 = z1 @ W2 + b2
    y = np.exp(a2 - a2.max(axis=1, keepdims=True))
    y /= y.sum(axis=1, keepdims=True)
    dy = y
    dy[np.arange(x.shape[0]), labels] -= 1
    dy /= x.shape[0]
    da1 = (dy @ W2.T) * (1.0 - z1) * z1
    return {"W1": x.T @ da1, "b1": da1.sum(axis=0), "W2": z1.T @ dy, "b2": dy.sum(axis=0)}
