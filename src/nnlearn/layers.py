"""Chapter 5's layers, and chapter 6's ``Dropout`` and ``BatchNormalization``: the one home of the math.

Every network in nnlearn is a sequence of these layers, and training, evaluation, the gradient check, the
numerical gradient, chapter 3's inference and the report's figures all run through them.  Each layer has the
book's contract: ``forward(x)`` computes the output and remembers what ``backward`` needs; ``backward(dout)``
takes ∂L/∂out and returns ∂L/∂x, leaving the parameters' gradients on the layer (``Affine.dW``, ``Affine.db``).

A layer can write into arrays it reuses from one call to the next (``reuse_buffers = True``): a training step
then allocates nothing, which is most of what makes it fast.  The arithmetic is the same either way; with reuse
the arrays a call returns are valid until the layer's next call, so only the training loop turns it on.
"""

from __future__ import annotations

import numpy as np

from .functions import cross_entropy_sum, relu, sigmoid, softmax

BN_EPSILON = 1e-7
"""Added to the variance before its square root in ``BatchNormalization``, as the book does (10e-7 there)."""


class Layer:
    """What every layer shares: the buffers it may reuse."""

    reuse_buffers = False

    def _array(self, key: str, shape: tuple, dtype) -> np.ndarray:
        """A fresh array, or with ``reuse_buffers`` the first ``shape[0]`` rows of one kept from earlier calls."""
        if not self.reuse_buffers:
            return np.empty(shape, dtype)
        buffers = self.__dict__.setdefault("_buffers", {})
        buf = buffers.get(key)
        if buf is not None and buf.shape == shape and buf.dtype == dtype:
            return buf  # the usual case, every step of a run: no new view to create
        if buf is None or buf.shape[0] < shape[0] or buf.shape[1:] != shape[1:] or buf.dtype != dtype:
            buf = buffers[key] = np.empty(shape, dtype)
        return buf[:shape[0]]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _float_dtype(a, b=None) -> np.dtype:
    """The dtype of a result computed from ``a`` (and ``b``): theirs if floating, else float64."""
    dt = a.dtype if b is None or b.dtype == a.dtype else np.result_type(a, b)  # result_type costs a µs a call
    return dt if dt.kind == "f" else _FLOAT64


_FLOAT64 = np.dtype(np.float64)


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
        x = x.reshape(x.shape[0], -1)
        self.x = x
        out = np.matmul(x, self.W, out=self._array("out", (x.shape[0], self.W.shape[1]), _float_dtype(x, self.W)))
        out += self.b
        return out

    def backward(self, dout):
        self.dW = np.matmul(self.x.T, dout, out=self._array("dW", self.W.shape, _float_dtype(self.x, dout)))
        self.db = np.add.reduce(dout, axis=0, out=self._array("db", self.b.shape, dout.dtype))
        if not self.propagate_down:
            return None
        dx = np.matmul(dout, self.W.T, out=self._array("dx", self.x.shape, _float_dtype(dout, self.W)))
        return dx.reshape(self.original_x_shape)

    def __repr__(self) -> str:
        return f"Affine({self.W.shape[0]}→{self.W.shape[1]})"


class Sigmoid(Layer):
    """out = 1 / (1 + exp(−x))  (section 5.5.2).  backward: dx = dout · (1 − out) · out."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x, out=self._array("out", x.shape, _float_dtype(x)))
        return self.out

    def backward(self, dout):
        dx = np.subtract(1.0, self.out, out=self._array("dx", self.out.shape, _float_dtype(dout, self.out)))
        np.multiply(dout, dx, out=dx)
        dx *= self.out
        return dx


class Relu(Layer):
    """out = max(0, x)  (section 5.5.1).  backward: dx = dout where x > 0, else 0.

    ``mask`` is the book's: True where x ≤ 0.
    """

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = np.less_equal(x, 0, out=self._array("mask", x.shape, np.bool_))
        return relu(x, out=self._array("out", x.shape, _float_dtype(x)))

    def backward(self, dout):
        dx = self._array("dx", dout.shape, dout.dtype)
        np.copyto(dx, dout)
        np.copyto(dx, 0, where=self.mask)  # dx[mask] = 0 without boolean indexing, which gathers the indices first
        return dx


class SoftmaxWithLoss(Layer):
    """loss = cross_entropy_error(softmax(x), t)  (section 5.6.3), with the book's 1e-7 inside the log.

    backward: dx = (y − t) / N, the gradient of the loss without that guard, as in the book.
    ``t``: integer labels or one-hot rows.
    """

    def __init__(self):
        self.loss = self.y = self.t = None

    def forward(self, x, t):
        t = np.asarray(t)
        self.t = t
        self.y = softmax(x, out=self._array("y", x.shape, _float_dtype(x)))
        self.loss = cross_entropy_sum(self.y, _labels(t)) / self.y.shape[0]
        return self.loss

    def backward(self, dout=1):
        n = self.y.shape[0]
        dx = self._array("dx", self.y.shape, self.y.dtype)
        np.copyto(dx, self.y)
        dx[np.arange(n), _labels(self.t)] -= 1
        dx /= n
        if dout != 1:
            dx *= dout
        return dx


def _labels(t: np.ndarray) -> np.ndarray:
    return t.argmax(axis=1) if t.ndim == 2 else t


class Dropout(Layer):
    """Training: out = x · mask, each unit kept with probability 1 − ``dropout_ratio``; testing:
    out = x · (1 − dropout_ratio)  (section 6.4.3).  backward: dx = dout · mask.

    Masks are drawn from ``rng`` (a ``numpy.random.Generator``).  ``fix_mask = True`` keeps the last mask for
    every later training forward pass, so that a numerical gradient sees the same network as backprop.
    """

    fix_mask = False

    def __init__(self, dropout_ratio=0.5, *, rng=None):
        self.dropout_ratio = float(dropout_ratio)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.mask = None

    def forward(self, x, train_flg=True):
        if not train_flg:
            return x * (1.0 - self.dropout_ratio)
        if not (self.fix_mask and self.mask is not None and self.mask.shape == x.shape):
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
        return np.multiply(x, self.mask, out=self._array("out", x.shape, _float_dtype(x)))

    def backward(self, dout):
        return np.multiply(dout, self.mask, out=self._array("dx", dout.shape, dout.dtype))

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
