"""Activation functions (chapter 3) and loss functions (chapter 4.2) of the book.

Activations work element-wise (``softmax`` along the last axis) on arrays of any shape.
Losses take the network output ``y`` (one sample as a 1-D vector, or a batch as (N, K)) and a target ``t``
that is either integer class labels or an array of ``y``'s shape (one-hot rows, or rows of probabilities
that sum to 1, as in label smoothing).

Integer, unsigned, boolean and float16 input is computed in float64 (in its own dtype ``sigmoid`` of
uint8 200 would be ``1 / (1 + exp(-200 mod 256))``); float32 and float64 keep their dtype.  Every function
raises ``InputError`` (a ``ValueError``) with a one-line message for input it cannot use.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float, as_numeric, labels_from_target
from .errors import InputError

CEE_DELTA = 1e-7
"""The book's guard against log(0) in ``cross_entropy_error``."""


def _numeric(x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"x has dtype {arr.dtype}, which is not numeric; pass an array of numbers")
    return arr


def _real(x) -> np.ndarray:
    """``x`` as a float array: float32 and wider as they are, anything narrower or integer as float64."""
    arr = _numeric(x)
    return arr if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4 else arr.astype(np.float64)


def step_function(x):
    """h(x) = 1 if x > 0 else 0  (section 3.2.2), as integers."""
    return (_numeric(x) > 0).astype(np.int_)


def sigmoid(x, out=None):
    """h(x) = 1 / (1 + exp(-x))  (section 3.2.4).  exp overflows to inf for x < -709 and gives 0, as it should.

    ``out``: an array of ``x``'s shape and float dtype to write the result into (the layers' reused buffers).
    """
    x = _real(x)
    h = np.empty(x.shape, x.dtype) if out is None else out
    with np.errstate(over="ignore"):
        sigmoid_into(x, h)
    return h if h.ndim else h[()]


def sigmoid_into(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``sigmoid``'s arithmetic, for a numeric array ``x`` into the float array ``h``, without the check of
    ``x`` or the ``errstate`` (a training loop that has turned off overflow warnings once calls this)."""
    np.negative(x, out=h, dtype=h.dtype)
    np.exp(h, out=h)
    h += 1.0
    np.reciprocal(h, out=h)
    return h


def sigmoid_grad(x):
    """dh/dx = h(x) (1 - h(x))  (section 5.5.2)."""
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x, out=None):
    """h(x) = max(0, x)  (section 3.2.7)."""
    return np.maximum(_real(x), 0, out=out)


def identity_function(x):
    """σ(x) = x, the output activation for regression (section 3.5)."""
    return _numeric(x)


def softmax(x, out=None):
    """y_k = exp(a_k − max a) / Σ_i exp(a_i − max a)  (section 3.5.2), over the last axis.

    Subtracting the maximum changes nothing mathematically and keeps exp from overflowing.
    A 1-D ``x`` is one sample; a 2-D ``x`` is a batch, one softmax per row.  ``out``: where to write it.
    """
    return softmax_into(_real(x), out)


def softmax_into(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``softmax``'s arithmetic for a numeric array ``x`` (into ``out`` if given), without the check of ``x``."""
    # ufunc.reduce: what np.max / np.sum call, without their Python wrapper (this runs every training step)
    e = np.subtract(x, np.maximum.reduce(x, axis=-1, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=-1, keepdims=True)
    return e


def sum_squared_error(y, t):
    """E = ½ Σ_k (y_k − t_k)²  (section 4.2.1, eq. 4.1).

    For a batch (N, K) the result is the mean over rows of each row's E, so that it is comparable
    across batch sizes, like ``cross_entropy_error``.  ``t`` may be one-hot rows or integer labels.
    """
    y2 = _output(y, probabilities=False)
    dense, labels = _target(y, y2, t)
    if dense is None:
        dense = np.eye(y2.shape[1])[labels]
    return float(np.mean(0.5 * np.sum((y2 - dense) ** 2, axis=1)))


mean_squared_error = sum_squared_error
"""The name the book's code uses for eq. 4.1."""
sum_square_error = sum_squared_error


def cross_entropy_error(y, t):
    """E = −(1/N) Σ_n Σ_k t_nk log(y_nk + 1e-7)  (section 4.2.2–4.2.4, eqs. 4.2 and 4.3).

    ``y``: probabilities, one sample (K,) or a batch (N, K).  ``t``: one-hot rows of ``y``'s shape,
    or integer labels (a scalar label for one sample); both give bit-identical results.
    """
    y2 = _output(y)
    dense, labels = _target(y, y2, t)
    if dense is None:
        return cross_entropy_sum(y2, labels) / y2.shape[0]
    return float(np.sum(-np.sum(dense * np.log(y2 + CEE_DELTA), axis=1)) / y2.shape[0])


def cross_entropy_sum(y: np.ndarray, labels: np.ndarray) -> float:
    """−Σ_n log(y[n, t_n] + 1e-7) for validated (N, K) probabilities and integer labels."""
    return cross_entropy_of_true_class(y[np.arange(y.shape[0]), labels])


def cross_entropy_of_true_class(y_t: np.ndarray) -> float:
    """−Σ_n log(y_t[n] + 1e-7), where y_t[n] = y[n, t_n] is the probability given to sample n's true class:
    with a one-hot t, the only term of eq. 4.3's inner sum that is not 0."""
    return -float(np.add.reduce(np.log(y_t + CEE_DELTA)))  # np.sum minus its wrapper


def softmax_cross_entropy(logits, t):
    """E = (1/N) Σ_n (log Σ_k exp a_nk − Σ_k t_nk a_nk), i.e. cross-entropy of softmax(a), without 1e-7.

    The log-sum-exp form never takes log of a rounded-to-zero probability, so it stays finite and
    accurate for any logits (the book's form saturates at −log(1e-7) ≈ 16.1).
    """
    a = _output(logits, name="logits", probabilities=False)
    a_max = np.max(a, axis=1, keepdims=True)
    log_sum_exp = (a_max + np.log(np.sum(np.exp(a - a_max), axis=1, keepdims=True)))[:, 0]
    dense, labels = _target(logits, a, t)
    if dense is not None:
        per_row = np.sum(dense, axis=1) * log_sum_exp - np.sum(dense * a, axis=1)
    else:
        per_row = log_sum_exp - a[np.arange(a.shape[0]), labels]
    return float(np.mean(per_row))


def _output(y, *, name: str = "y", probabilities: bool = True) -> np.ndarray:
    """The output as a 2-D (N, K) float array; a 1-D vector is one sample."""
    arr = as_float(name, y)
    if arr.ndim not in (1, 2):
        raise InputError(f"{name} has {arr.ndim} dimensions; pass one sample (K,) or a batch (N, K)")
    if probabilities and ((arr < 0).any() or (arr > 1).any()):
        bad = arr.min() if (arr < 0).any() else arr.max()
        raise InputError(f"{name} holds {bad:g}, outside [0, 1], but must be probabilities "
                         "(no negative values); apply softmax first")
    return arr.reshape(1, -1) if arr.ndim == 1 else arr


def _target(y, y2: np.ndarray, t):
    """``(dense, None)`` when ``t`` has ``y``'s shape, else ``(None, integer labels)``.

    A ``t`` of ``y``'s shape must hold one probability distribution per row (one-hot, or smoothed labels):
    entries in [0, 1] summing to 1.  A row of zeros, several ones or a negative entry is a mistake that
    would otherwise give a plausible-looking loss.
    """
    t_arr = as_numeric("t", t)
    if t_arr.ndim >= 1 and t_arr.shape in (np.shape(y), y2.shape):
        dense = as_float("t", t_arr).reshape(y2.shape)
        sums = dense.sum(axis=1)
        bad_rows = (dense < 0).any(axis=1) | (dense > 1).any(axis=1) | (np.abs(sums - 1) > 1e-6 * dense.shape[1])
        if bad_rows.any():
            row = int(np.argmax(bad_rows))
            raise InputError(f"t has y's shape but row {row} is not one-hot (entries in [0, 1] summing to 1): "
                             f"its entries sum to {sums[row]:g}, smallest {dense[row].min():g}; "
                             "pass one-hot rows or integer labels")
        return dense, None
    return None, labels_from_target(t_arr, *y2.shape)
