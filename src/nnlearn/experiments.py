"""The chapter's claims, measured: the numbers behind ``nnlearn.plots``' chapter figures.

Each function computes; the matching ``*_figure`` in ``nnlearn.plots`` draws.  Keeping them apart lets the
tests check the numbers (the spread of the mini-batch loss falls as 1/√B; central differences beat forward
ones at h = 1e-4; the accuracy is flat almost everywhere) without looking at pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._checks import labels_from_target, positive_int
from .data.blockio import iter_chunks
from .data.pixels import pixels_to_float
from .functions import cross_entropy_error, sigmoid
from .gradient import gradient_descent
from .train import NotLearningWarning, TrainingDivergedError, fit


def _sizes(net) -> tuple[int, int]:
    sizes = net.sizes
    return sizes[0], sizes[-1]


def _flat(grads: dict, names) -> np.ndarray:
    return np.concatenate([np.asarray(grads[k], dtype=np.float64).ravel() for k in names])


def _rows(x, index, dtype) -> np.ndarray:
    rows = np.asarray(x[np.sort(index)]).reshape(len(index), -1)
    return pixels_to_float(rows).astype(dtype) if rows.dtype == np.uint8 else rows.astype(dtype)


# --- 4.2.3: a mini-batch estimates the loss over all the data ---------------------------------------------
@dataclass(frozen=True)
class MinibatchEstimate:
    """Mini-batch losses and gradient cosines around the full-data values, one array per batch size."""
    batch_sizes: tuple
    losses: tuple          # losses[i]: the loss of ``draws`` random batches of batch_sizes[i]
    cosines: tuple         # cos(mini-batch gradient, full-data gradient) for the same batches
    full_loss: float
    n: int

    @property
    def spread(self) -> np.ndarray:
        """The standard deviation of the mini-batch loss for each batch size."""
        return np.array([np.std(v, ddof=1) for v in self.losses])


def minibatch_estimate(net, x, t, batch_sizes=(1, 10, 100, 1000), draws=200, seed=0,
                       chunk: int = 10_000) -> MinibatchEstimate:
    """How well ``draws`` random mini-batches (drawn as the book does, ``np.random.choice``: with replacement)
    estimate the loss and gradient over all of ``x`` (section 4.2.3, "like TV ratings").

    draws: a number for every batch size, or {batch size: number}.  The full-data loss and gradient are
    computed once, in chunks of ``chunk`` rows, so ``x`` may be a memory-mapped file of any size; each draw
    gathers only its own rows.  Loss and gradient are those of a training step (``loss_and_gradient``: with
    dropout or batchnorm, in training mode); the network's state is restored afterwards.
    """
    counts = {b: positive_int("draws", draws[b] if isinstance(draws, dict) else draws) for b in batch_sizes}
    _, k = _sizes(net)
    labels = labels_from_target(t, len(x), k, compact=True)
    dtype = net.params["W1"].dtype
    names = list(net.params)
    n = len(labels)
    saved = {key: v.copy() for key, v in getattr(net, "state", {}).items()}

    def loss_and_gradient(xb, tb):
        loss, grads = net.loss_and_gradient(xb, np.asarray(tb).astype(np.intp))
        return float(loss), _flat(grads, names)

    try:
        total_loss, total_grad = 0.0, None
        for xc, tc in iter_chunks(x, labels, chunk, dtype=dtype):
            loss, g = loss_and_gradient(xc, tc)
            total_loss += loss * len(tc)
            total_grad = g * len(tc) if total_grad is None else total_grad + g * len(tc)
        full_loss, full_grad = total_loss / n, total_grad / n
        rng = np.random.default_rng(seed)
        losses, cosines = [], []
        for b in batch_sizes:
            b = positive_int("batch size", b)
            ls, cs = np.empty(counts[b]), np.empty(counts[b])
            for i in range(counts[b]):
                index = np.sort(rng.choice(n, b))
                ls[i], g = loss_and_gradient(_rows(x, index, dtype), labels[index])
                cs[i] = g @ full_grad / (np.linalg.norm(g) * np.linalg.norm(full_grad) or 1.0)
            losses.append(ls)
            cosines.append(cs)
    finally:
        for key, v in saved.items():
            net.state[key][...] = v
    return MinibatchEstimate(tuple(batch_sizes), tuple(losses), tuple(cosines), full_loss, n)


# --- 4.3.1: rounding against truncation error ---------------------------------------------------------------
@dataclass(frozen=True)
class DerivativeError:
    """|numerical − exact| of f'(x) for each h, by method ("forward", "central") and dtype."""
    h: np.ndarray
    errors: dict          # {(method, dtype name): array like h}
    x: float
    exact: float

    def at(self, method: str, dtype: str, h: float) -> float:
        return float(self.errors[(method, dtype)][int(np.argmin(np.abs(np.log(self.h / h))))])


def difference_quotient(f, x, h, method: str = "central"):
    """(f(x + h) − f(x)) / h  (forward, the book's "bad example") or (f(x + h) − f(x − h)) / 2h  (central,
    eq. 4.4), computed in the dtype of ``x`` and ``h``.  ``nnlearn.numerical_diff`` is the central one in float64."""
    if method == "forward":
        return (f(x + h) - f(x)) / h
    if method == "central":
        return (f(x + h) - f(x - h)) / (2 * h)
    raise ValueError(f"method must be 'forward' or 'central', got {method!r}")


def derivative_error(f=sigmoid, exact=None, x: float = 0.5, hs=None) -> DerivativeError:
    """The error of forward and central differences of ``f`` at ``x`` for h from 1e-12 to 1, in float64 and
    float32.  The default is the sigmoid at 0.5, whose exact derivative is σ(x)(1 − σ(x)) (section 5.6.1)."""
    hs = np.logspace(-12, 0, 97) if hs is None else np.asarray(hs, dtype=np.float64)
    if exact is None:
        if f is not sigmoid:
            raise ValueError("pass exact= (the true derivative at x) for a function other than sigmoid")
        s = 1.0 / (1.0 + np.exp(-x))
        exact = s * (1.0 - s)
    errors = {}
    for dtype in (np.float64, np.float32):
        for method in ("forward", "central"):
            with np.errstate(all="ignore"):
                values = np.array([difference_quotient(f, dtype(x), dtype(h), method) for h in hs], dtype=np.float64)
            errors[(method, np.dtype(dtype).name)] = np.abs(values - exact)
    return DerivativeError(hs, errors, float(x), float(exact))


# --- 4.2.5: why the loss, not the accuracy, is what we minimise ---------------------------------------------
@dataclass(frozen=True)
class LossAccuracyPath:
    """Loss and accuracy of a network as its parameters move along one direction: θ + α·d."""
    alphas: np.ndarray
    loss: np.ndarray
    accuracy: np.ndarray
    direction: str
    n: int

    @property
    def flat_fraction(self) -> float:
        """The fraction of steps in α over which the accuracy did not change at all (its gradient is 0 there)."""
        return float(np.mean(np.diff(self.accuracy) == 0))


def loss_vs_accuracy(net, x, t, alphas=None, direction="random", seed=0) -> LossAccuracyPath:
    """Loss and accuracy along θ + α·d (section 4.2.5).  ``direction="random"``: a Gaussian direction scaled
    parameter by parameter to ‖θ‖ (α = 1 moves each array by its own size); ``("W2", (i, j))``: one weight,
    α in the weight's own units.  ``net.params`` is restored afterwards."""
    alphas = np.linspace(-0.5, 0.5, 201) if alphas is None else np.asarray(alphas, dtype=np.float64)
    params = net.params
    original = {k: v.copy() for k, v in params.items()}
    if isinstance(direction, str):
        if direction != "random":
            raise ValueError(f"direction must be 'random' or (name, index), got {direction!r}")
        rng = np.random.default_rng(seed)
        step = {}
        for k, v in original.items():
            g = rng.standard_normal(v.shape)
            step[k] = g / (np.linalg.norm(g) or 1.0) * np.linalg.norm(v)
        label = "a random direction"
    else:
        name, index = direction
        if name not in params:
            raise ValueError(f"no parameter {name!r}; pass one of {', '.join(params)}")
        step = {k: np.zeros(v.shape) for k, v in original.items()}
        step[name][tuple(index)] = 1.0
        label = f"one weight, {name}{list(index)}"
    losses, accs = np.empty(len(alphas)), np.empty(len(alphas))
    labels = labels_from_target(t, len(x), _sizes(net)[1])
    try:
        for i, a in enumerate(alphas):
            for k in params:
                params[k][...] = original[k] + a * step[k]
            y = net.predict(x)  # one forward pass for both: E = cross_entropy_error(y, t), and argmax
            losses[i] = cross_entropy_error(y, labels)
            accs[i] = np.mean(np.argmax(y, axis=1) == labels)
    finally:
        for k in params:
            params[k][...] = original[k]
    return LossAccuracyPath(alphas, losses, accs, label, len(x))


# --- 4.4.1 and 4.5: the learning rate ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LearningRateSweep:
    """Final figures after the same budget of iterations for each learning rate (NaN where training diverged)."""
    lrs: np.ndarray
    train_loss: np.ndarray
    test_acc: np.ndarray
    initial_loss: float
    iters: int
    batch_size: int


def learning_rate_sweep(make_net, x, t, x_test, t_test, lrs=None, iters: int = 300, batch_size: int = 100,
                        seed=0) -> LearningRateSweep:
    """Train a fresh ``make_net()`` for ``iters`` iterations at each lr and record the final train loss and
    test accuracy: too small barely moves, too large diverges or thrashes (sections 4.4.1 and 4.5)."""
    lrs = 10.0 ** np.arange(-4, 3.01, 0.5) if lrs is None else np.asarray(lrs, dtype=np.float64)
    loss, acc = np.full(len(lrs), np.nan), np.full(len(lrs), np.nan)
    initial = None
    for i, lr in enumerate(lrs):
        net = make_net()
        if initial is None:
            initial = float(net.loss(_rows(x, np.arange(min(len(x), 2000)), net.params["W1"].dtype),
                                     np.asarray(t[:min(len(x), 2000)])))
        try:
            with warnings.catch_warnings():  # a learning rate that does not learn is what the sweep is here to show
                warnings.simplefilter("ignore", NotLearningWarning)
                history = fit(net, x, t, x_test=x_test, t_test=t_test, iters=iters, batch_size=batch_size,
                              lr=float(lr), seed=seed, eval_every=None)
        except TrainingDivergedError:
            continue
        loss[i], acc[i] = history.train_loss[-1], history.test_acc[-1]
    return LearningRateSweep(lrs, loss, acc, initial, iters, batch_size)


def book_learning_rates(f, init_x=(-3.0, 4.0), lrs=(10.0, 1e-10, 0.1), step_num: int = 100) -> dict:
    """{lr: f after each step} of ``gradient_descent`` for the book's examples in section 4.4.1."""
    out = {}
    for lr in lrs:
        _, path = gradient_descent(f, np.array(init_x, dtype=float), lr=lr, step_num=step_num, return_path=True)
        with np.errstate(over="ignore", invalid="ignore"):
            out[lr] = np.array([f(p) for p in path])
    return out
