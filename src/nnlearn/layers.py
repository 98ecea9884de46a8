"""Chapter 5's layers, and chapter 6's ``Dropout`` and ``BatchNormalization``: the one home of the math.

Every network in nnlearn is a sequence of these layers, and training, evaluation, the gradient check, the
numerical gradient, chapter 3's inference and the report's figures all run through them.  Each layer has the
book's contract: ``forward(x)`` computes the output and remembers what ``backward`` needs; ``backward(dout)``
takes ∂L/∂out and returns ∂L/∂x, leaving the parameters' gradients on the layer (``Affine.dW``, ``Affine.db``).

A layer can write into arrays it reuses from one call to the next (``reuse_buffers = True``): a training step
then allocates nothing, which is most of what makes it fast.  The arithmetic is the same either way; with reuse
the arrays a call returns are valid until the layer's next call, so only the training loop turns it on (through
``MultiLayerNet.reusing_buffers``, which also turns off numpy's overflow warning for the sigmoid's exp).
"""

from __future__ import annotations

import numpy as np

from ._checks import is_one_hot, labels_from_target
from .errors import InputError
from .functions import (
    cross_entropy_error,
    cross_entropy_of_true_class,
    relu,
    sigmoid,
    sigmoid_into,
    softmax,
    softmax_into,
)

BN_EPSILON = 1e-7
"""Added to the variance before its square root in ``BatchNormalization``, as the book does (10e-7 there)."""


class Layer:
    """What every layer shares: the arrays it may reuse.

    Each result is computed by one numpy expression with ``out=``: ``None`` (numpy allocates a new array, as the
    book's code does) unless the layer is reusing its arrays, and then the one it keeps for inputs of that
    shape and dtype (``_allocate`` says which arrays a layer needs).
    """

    uses_train_flg = False
    """True for the layers whose ``forward`` takes ``train_flg`` (they act differently in training)."""
    _by_input: dict | None = None
    """While reusing: (input shape, dtype) → this layer's arrays for such inputs (a run's batches, an epoch's
    shorter last batch, evaluation's chunks)."""
    _bufs: dict | None = None
    """While reusing: the arrays for the input of the last ``forward`` (which ``backward`` writes into too)."""
    _shape = _dtype = None

    @property
    def reuse_buffers(self) -> bool:
        return self._by_input is not None

    @reuse_buffers.setter
    def reuse_buffers(self, on: bool) -> None:
        if not on:
            self._by_input = self._bufs = self._shape = self._dtype = None  # the arrays go with the loop
        elif self._by_input is None:
            self._by_input = {}

    def _buffers_for(self, x) -> dict | None:
        """None when not reusing; else this layer's arrays for an input like ``x``.  (Every step of a run but the
        first finds them in ``_bufs``: the layers check ``x.shape == self._shape`` before calling this.)"""
        if self._by_input is None:
            return None
        key = (x.shape, x.dtype)
        bufs = self._by_input.get(key)
        if bufs is None:
            if len(self._by_input) >= 8:  # many input shapes, one after another: keep memory bounded
                self._by_input.clear()
            bufs = self._by_input[key] = self._allocate(x)
        self._shape, self._dtype, self._bufs = x.shape, x.dtype, bufs
        return bufs

    def _allocate(self, x) -> dict:
        """The arrays a forward and backward pass of an input like ``x`` write into, by name."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _copy(a: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """A copy of ``a``, into ``out`` if given."""
    if out is None:
        return a.copy()
    np.copyto(out, a)
    return out


def _float_dtype(*arrays) -> np.dtype:
    """The dtype numpy gives a result computed from ``arrays``: theirs if floating, else float64."""
    dt = np.result_type(*arrays)
    return dt if dt.kind == "f" else np.dtype(np.float64)


class Affine(Layer):
    """out = x · W + b  (section 5.6.2).  backward: dx = dout · Wᵀ,  dW = xᵀ · dout,  db = Σ_n dout.

    ``x`` may have any number of dimensions after the first (the batch); it is flattened, as in the book.
    ``propagate_down = False`` skips dx, which nothing needs for the first layer of a network.
    """

    propagate_down = True

    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.original_x_shape = None
        self.dW = self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        self.x = x
        bufs = self._bufs if x.shape == self._shape and x.dtype == self._dtype else self._buffers_for(x)
        out = np.matmul(x, self.W, out=bufs and bufs["out"])
        out += self.b
        return out

    def backward(self, dout):
        bufs = self._bufs
        self.dW = np.matmul(self.x.T, dout, out=bufs and bufs["dW"])
        self.db = np.add.reduce(dout, axis=0, out=bufs and bufs["db"])
        if not self.propagate_down:
            return None
        dx = np.matmul(dout, self.W.T, out=bufs and bufs["dx"])
        return dx if dx.shape == self.original_x_shape else dx.reshape(self.original_x_shape)

    def _allocate(self, x) -> dict:
        dt = _float_dtype(x, self.W)
        bufs = {"out": np.empty((x.shape[0], self.W.shape[1]), dt), "dW": np.empty(self.W.shape, dt),
                "db": np.empty(self.b.shape, dt)}
        if self.propagate_down:
            bufs["dx"] = np.empty(x.shape, dt)
        return bufs

    def __repr__(self) -> str:
        return f"Affine({self.W.shape[0]}→{self.W.shape[1]})"


class Sigmoid(Layer):
    """out = 1 / (1 + exp(−x))  (section 5.5.2).  backward: dx = dout · (1 − out) · out."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        bufs = self._bufs if x.shape == self._shape and x.dtype == self._dtype else self._buffers_for(x)
        # exp(−x) overflows to inf for very negative x, which is how the sigmoid reaches 0: ``sigmoid`` says so
        # to numpy on each call, ``reusing_buffers`` once for a whole training loop
        self.out = sigmoid(x) if bufs is None else sigmoid_into(x, bufs["out"])
        return self.out

    def backward(self, dout):
        bufs = self._bufs
        dx = np.subtract(1.0, self.out, out=bufs and bufs["dx"])
        np.multiply(dout, dx, out=dx)
        dx *= self.out
        return dx

    def _allocate(self, x) -> dict:
        dt = _float_dtype(x)
        return {"out": np.empty(x.shape, dt), "dx": np.empty(x.shape, dt)}


class Relu(Layer):
    """out = max(0, x)  (section 5.5.1).  backward: dx = dout where x > 0, else 0.

    ``mask`` is the book's: True where x ≤ 0.
    """

    def __init__(self):
        self.mask = None

    def forward(self, x):
        bufs = self._bufs if x.shape == self._shape and x.dtype == self._dtype else self._buffers_for(x)
        self.mask = np.less_equal(x, 0, out=bufs and bufs["mask"])
        return relu(x, out=bufs and bufs["out"])

    def backward(self, dout):
        bufs = self._bufs
        dx = _copy(dout, out=bufs and bufs["dx"])
        np.copyto(dx, 0, where=self.mask)  # dx[mask] = 0 without boolean indexing, which gathers the indices first
        return dx

    def _allocate(self, x) -> dict:
        dt = _float_dtype(x)
        return {"mask": np.empty(x.shape, np.bool_), "out": np.empty(x.shape, dt), "dx": np.empty(x.shape, dt)}


class SoftmaxWithLoss(Layer):
    """loss = cross_entropy_error(softmax(x), t)  (section 5.6.3), with the book's 1e-7 inside the log.

    backward: dx = (y − t) / N, the gradient of the loss without that guard, as in the book.
    ``x``: a batch of scores (N, K).  ``t``: integer labels, or rows of ``x``'s shape (one-hot, or any
    probability distributions, e.g. smoothed labels).
    """

    def __init__(self):
        self.loss = self.y = self.t = None
        self._true_class = self._y_t = None

    def forward(self, x, t):
        if x.ndim != 2:
            raise InputError(f"SoftmaxWithLoss takes a batch of scores (N, K), got shape {x.shape}; "
                             "for one sample pass x.reshape(1, -1)")
        t = np.asarray(t)
        self.t = t
        bufs = self._bufs if x.shape == self._shape and x.dtype == self._dtype else self._buffers_for(x)
        self.y = y = softmax(x) if bufs is None else softmax_into(x, bufs["y"])
        if t.ndim == 2 and t.shape == y.shape and not is_one_hot(t):  # e.g. smoothed labels: the dense formula
            self._true_class = None
            self.loss = cross_entropy_error(y, t)
            return self.loss
        n, k = y.shape
        if bufs is None or t.ndim != 1:  # the training loop checks its labels once, up front
            t = labels_from_target(t, n, k)  # one-hot rows as labels: the same numbers, bit for bit
        # y[n, t_n] read as y.flat[n·K + t_n]: one take, not 2-D fancy indexing
        row_starts = np.arange(0, n * k, k) if bufs is None else bufs["row_starts"]
        self._true_class = row_starts + t
        self._y_t = y.take(self._true_class)
        self.loss = cross_entropy_of_true_class(self._y_t) / n
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0]
        bufs = self._bufs
        if self._true_class is None:
            dx = np.subtract(self.y, self.t, out=bufs and bufs["dx"])
            dx /= n
        else:  # t one-hot: (y − t) / N is y / N, but (y − 1) / N at each true class
            dx = np.divide(self.y, n, out=bufs and bufs["dx"])
            dx.put(self._true_class, (self._y_t - 1) / n)
        if dout != 1:
            dx *= dout
        return dx

    def _allocate(self, x) -> dict:
        n, k = x.shape
        dt = _float_dtype(x)
        return {"y": np.empty(x.shape, dt), "dx": np.empty(x.shape, dt), "row_starts": np.arange(0, n * k, k)}


class Dropout(Layer):
    """Training: out = x · mask, each unit kept with probability 1 − ``dropout_ratio``; testing:
    out = x · (1 − dropout_ratio)  (section 6.4.3).  backward: dx = dout · mask.

    Masks are drawn from ``rng`` (a ``numpy.random.Generator``).  ``fix_mask = True`` keeps the last mask for
    every later training forward pass, so that a numerical gradient sees the same network as backprop.
    """

    fix_mask = False
    uses_train_flg = True

    def __init__(self, dropout_ratio=0.5, *, rng=None):
        self.dropout_ratio = float(dropout_ratio)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.mask = None

    def forward(self, x, train_flg=True):
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        if not (self.fix_mask and self.mask is not None and self.mask.shape == x.shape):
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
        bufs = self._bufs if x.shape == self._shape and x.dtype == self._dtype else self._buffers_for(x)
        return np.multiply(x, self.mask, out=bufs and bufs["out"])

    def backward(self, dout):
        return np.multiply(dout, self.mask, out=self._bufs and self._bufs["dx"])

    def _allocate(self, x) -> dict:
        dt = _float_dtype(x)
        return {"out": np.empty(x.shape, dt), "dx": np.empty(x.shape, dt)}

    def __repr__(self) -> str:
        return f"Dropout({self.dropout_ratio:g})"


class BatchNormalization(Layer):
    """out = γ · x̂ + β with x̂ = (x − μ) / √(σ² + ε), μ and σ² over the batch  (section 6.3).

    Training uses the batch's μ and σ² and updates the running averages
    running ← momentum · running + (1 − momentum) · batch; testing uses the running averages.
    backward (the chain rule through μ and σ²):
        dβ = Σ_n dout,  dγ = Σ_n x̂ · dout,  dx̂ = γ · dout,
        dx = (dx̂ − mean_n(dx̂) − x̂ · mean_n(dx̂ · x̂)) / √(σ² + ε).
    """

    uses_train_flg = True

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma, self.beta, self.momentum = gamma, beta, float(momentum)
        self.running_mean = np.zeros_like(gamma) if running_mean is None else running_mean
        self.running_var = np.zeros_like(gamma) if running_var is None else running_var
        self.xn = self.std = None
        self.dgamma = self.dbeta = None

    def forward(self, x, train_flg=True):
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc * xc, axis=0)
            self.std = np.sqrt(var + BN_EPSILON)
            self.xn = xc / self.std
            self.running_mean *= self.momentum
            self.running_mean += (1 - self.momentum) * mu
            self.running_var *= self.momentum
            self.running_var += (1 - self.momentum) * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + BN_EPSILON)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        return (dxn - dxn.mean(axis=0) - self.xn * np.mean(dxn * self.xn, axis=0)) / self.std

    def __repr__(self) -> str:
        return f"BatchNormalization({self.gamma.shape[0]})"
