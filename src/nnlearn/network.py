"""The chapter's networks: ``SimpleNet`` (section 4.4.2) and ``TwoLayerNet`` (section 4.5.1), plus the
gradient check of section 5.7.3.

A network is a dict of arrays (``params``) and functions over it; the classes stay thin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import structured_gradient
from ._checks import as_float, check_batch, labels_from_target, positive_float, positive_int, rng_from
from .functions import cross_entropy_error, cross_entropy_sum, sigmoid, softmax
from .gradient import numerical_gradient as _numerical_gradient

PARAM_NAMES = ("W1", "b1", "W2", "b2")


class SimpleNet:
    """A 2-input, 3-class linear layer with softmax loss (section 4.4.2): ``W`` has shape (2, 3).

    ``seed=`` or ``rng=`` make the Gaussian initial weights reproducible.
    """

    def __init__(self, *, seed=None, rng=None):
        self.W = rng_from(seed, rng).standard_normal((2, 3))

    def predict(self, x):
        """a = x · W"""
        return as_float("x", x) @ self.W

    def loss(self, x, t):
        """E = cross_entropy_error(softmax(x · W), t)"""
        return cross_entropy_error(softmax(self.predict(x)), t)


simpleNet = SimpleNet
"""The book's spelling."""


class TwoLayerNet:
    """input → Affine(W1, b1) → sigmoid → Affine(W2, b2) → softmax (section 4.5.1).

    ``params`` holds ``W1`` (input, hidden), ``b1`` (hidden,), ``W2`` (hidden, output), ``b2`` (output,),
    initialised as in the book: Gaussian weights times ``weight_init_std``, zero biases.  Every method takes
    ``t`` as integer labels or one-hot rows, with identical results.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, seed=None, rng=None,
                 dtype=np.float64):
        sizes = [positive_int(n, v) for n, v in
                 (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size))]
        std = float(weight_init_std)
        if not np.isfinite(std) or std < 0:
            raise ValueError(f"weight_init_std must be a finite number >= 0, got {weight_init_std!r}")
        self.dtype = _float_dtype(dtype)
        gen = rng_from(seed, rng)
        # Drawn in float64, then cast, so a float32 net starts from the same weights as a float64 one.
        self.params = {
            "W1": (std * gen.standard_normal((sizes[0], sizes[1]))).astype(self.dtype),
            "b1": np.zeros(sizes[1], dtype=self.dtype),
            "W2": (std * gen.standard_normal((sizes[1], sizes[2]))).astype(self.dtype),
            "b2": np.zeros(sizes[2], dtype=self.dtype),
        }

    @classmethod
    def from_params(cls, params: dict) -> TwoLayerNet:
        """A network around existing ``W1, b1, W2, b2`` arrays (e.g. from ``load_weights``)."""
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise ValueError(f"params lacks {', '.join(missing)}; pass a dict with W1, b1, W2, b2")
        W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], 0.0, dtype=W1.dtype)
        for name in PARAM_NAMES:
            value = as_float(name, params[name])
            if value.shape != net.params[name].shape:
                raise ValueError(f"params[{name!r}] has shape {value.shape}, expected "
                                 f"{net.params[name].shape} to match W1 {W1.shape} and W2 {W2.shape}")
            net.params[name] = value.astype(net.dtype, copy=True)
        return net

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(input_size, hidden_size, output_size)"""
        (d, h), k = self.params["W1"].shape, self.params["W2"].shape[1]
        return d, h, k

    # --- the forward pass -------------------------------------------------------------------------
    def predict(self, x):
        """y = softmax(sigmoid(x W1 + b1) W2 + b2): class probabilities, one row per sample."""
        return self._forward(self._inputs(x))[2]

    def loss(self, x, t):
        """E = cross_entropy_error(predict(x), t)  (eq. 4.3, with the book's 1e-7)."""
        x = self._inputs(x)
        return _mean_cross_entropy(self._forward(x)[2], self._labels(t, x.shape[0]))

    def accuracy(self, x, t):
        """The fraction of samples whose most probable class is the target class."""
        x = self._inputs(x)
        labels = self._labels(t, x.shape[0])
        return float(np.mean(np.argmax(self._forward(x)[2], axis=1) == labels))

    # --- gradients -------------------------------------------------------------------------------
    def numerical_gradient(self, x, t, *, method="structured", h=1e-4):
        """∂E/∂θ by central differences (L(θ + h·e) − L(θ − h·e)) / 2h for every parameter (section 4.5.1).

        ``method="loop"`` is the book's code: two full forward passes per parameter (39,760 of them for
        784-50-10).  ``method="structured"`` (the default) computes the same central differences but only
        re-evaluates what a perturbation changes; see ``nnlearn.structured_gradient``.  Both evaluate the
        loss in float64 whatever the network's dtype, because float32 rounding would swamp the
        differences at h = 1e-4; they return float64 arrays.
        """
        x = self._inputs(x).astype(np.float64)
        labels = self._labels(t, x.shape[0])
        h = positive_float("h", h)
        params64 = {k: v.astype(np.float64) for k, v in self.params.items()}
        if method == "loop":
            return _loop_gradient(params64, x, labels, h)
        if method == "structured":
            return structured_gradient.two_layer_numerical_gradient(params64, x, labels, h)
        raise ValueError(f"method must be 'structured' or 'loop', got {method!r}")

    def gradient(self, x, t):
        """∂E/∂θ by backpropagation (section 5.7.2), for the loss without the 1e-7 guard.

        dy = (y − t)/N;  ∂W2 = z1ᵀ dy;  ∂b2 = Σ_n dy;  da1 = (dy W2ᵀ) ⊙ z1 (1 − z1);  ∂W1 = xᵀ da1;  ∂b1 = Σ_n da1
        """
        x = self._inputs(x)
        return backprop(self.params, x, self._labels(t, x.shape[0]))

    # --- helpers ---------------------------------------------------------------------------------
    def _inputs(self, x) -> np.ndarray:
        return check_batch("x", as_float("x", x), self.sizes[0])

    def _labels(self, t, n_rows: int) -> np.ndarray:
        return labels_from_target(t, n_rows, self.sizes[2])

    def _forward(self, x):
        p = self.params
        z1 = sigmoid(x @ p["W1"] + p["b1"])
        return x, z1, softmax(z1 @ p["W2"] + p["b2"])


def backprop(params: dict, x: np.ndarray, labels: np.ndarray) -> dict:
    """The gradient of the two-layer network by the chain rule (section 5.7.2), for validated input."""
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    z1 = sigmoid(x @ W1 + b1)
    y = softmax(z1 @ W2 + b2)
    dy = y
    dy[np.arange(x.shape[0]), labels] -= 1
    dy /= x.shape[0]
    da1 = (dy @ W2.T) * (1.0 - z1) * z1
    return {"W1": x.T @ da1, "b1": da1.sum(axis=0), "W2": z1.T @ dy, "b2": dy.sum(axis=0)}


def _loop_gradient(params: dict, x: np.ndarray, labels: np.ndarray, h: float) -> dict:
    """The book's TwoLayerNet.numerical_gradient: numerical_gradient(loss_W, params[key]) for each key."""
    def loss_W(_W):
        z1 = sigmoid(x @ params["W1"] + params["b1"])
        return _mean_cross_entropy(softmax(z1 @ params["W2"] + params["b2"]), labels)

    return {k: _numerical_gradient(loss_W, params[k], h) for k in PARAM_NAMES}


def _mean_cross_entropy(y: np.ndarray, labels: np.ndarray) -> float:
    return cross_entropy_sum(y, labels) / y.shape[0]


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


# --- gradient check (section 5.7.3) -----------------------------------------------------------------
@dataclass(frozen=True)
class ParamCheck:
    name: str
    max_abs_diff: float
    max_rel_diff: float
    worst_index: tuple
    passed: bool


@dataclass(frozen=True)
class GradientCheckReport:
    """Backpropagation vs numerical gradient, one row per parameter.

    A parameter passes when every entry satisfies |backprop − numerical| ≤ ``atol``.  The relative
    difference of an entry is |b − n| / max(|b|, |n|), reported for information (0 where both are 0).
    """
    rows: tuple[ParamCheck, ...]
    atol: float

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def __getitem__(self, name: str) -> ParamCheck:
        return next(r for r in self.rows if r.name == name)

    def __str__(self) -> str:
        header = ("param", "max |diff|", "max rel diff", "worst index", "result")
        cells = [header] + [(r.name, f"{r.max_abs_diff:.3e}", f"{r.max_rel_diff:.3e}", str(r.worst_index),
                             "PASS" if r.passed else "FAIL") for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
        lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(f"{verdict}: every entry within atol={self.atol:g}" if self.passed
                     else f"{verdict}: some entries differ by more than atol={self.atol:g}")
        return "\n".join(lines)


def gradient_check(net: TwoLayerNet, x, t, *, atol: float = 1e-6, method: str = "structured"):
    """Compare ``net.gradient`` (backprop) with ``net.numerical_gradient`` parameter by parameter."""
    atol = positive_float("atol", atol)
    numerical = net.numerical_gradient(x, t, method=method)
    backward = net.gradient(x, t)
    rows = []
    for name in PARAM_NAMES:
        b, n = backward[name].astype(np.float64), numerical[name]
        diff = np.abs(b - n)
        scale = np.maximum(np.abs(b), np.abs(n))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        rows.append(ParamCheck(name, float(diff.max()), float(rel.max()), tuple(int(i) for i in worst),
                               bool(diff.max() <= atol)))
    return GradientCheckReport(tuple(rows), atol)
