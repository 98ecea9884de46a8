"""Mini-batch learning (section 4.5): the book's training loop as ``fit``.

Each iteration is the chapter's four steps: (1) draw a mini-batch, (2) compute the gradient,
(3) update the parameters, (4) repeat; every epoch (max(N // batch_size, 1) iterations, counted in
integers) the accuracy on the training and test data is recorded.  A checkpoint holds everything needed to
continue bit for bit: the weights, the iteration, the sampler's RNG state and the history so far.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time

import numpy as np

from ._checks import check_batch, labels_from_target, positive_float, positive_int
from ._version import __version__
from .data.batches import BatchLoader, BatchSampler
from .data.blockio import iter_chunks
from .functions import CEE_DELTA
from .history import History
from .inference import accuracy_and_loss
from .io import load_weights, save_weights
from .network import PARAM_NAMES, TwoLayerNet

PRECONVERT_LIMIT = 1 << 30
"""Float images of another dtype than the net's are converted once when that takes at most this many bytes.
uint8 pixels are never converted up front: scaling a gathered batch is cheaper than gathering floats, whose
rows are four to eight times larger."""


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; ``history`` holds what was recorded until then."""

    def __init__(self, message, history):
        super().__init__(message)
        self.history = history


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from."""


class BackpropWorkspace:
    """``TwoLayerNet``'s backpropagation (the same arithmetic as ``network.backprop``) into reused buffers.

    A training step otherwise spends most of its time allocating temporaries and in NumPy call overhead;
    here every array of the step is allocated once, and each operation writes into its buffer (``out=``).
    """

    def __init__(self, params: dict, batch_size: int):
        d, h = params["W1"].shape
        k = params["W2"].shape[1]
        dt = params["W1"].dtype
        self.params = params
        self.a1 = np.empty((batch_size, h), dt)   # x W1 + b1, then z1 = sigmoid(a1)
        self.one_minus = np.empty((batch_size, h), dt)
        self.a2 = np.empty((batch_size, k), dt)   # z1 W2 + b2, then y = softmax(a2), then dy
        self.row = np.empty((batch_size, 1), dt)
        self.da1 = np.empty((batch_size, h), dt)
        self.grads = {name: np.empty_like(params[name]) for name in PARAM_NAMES}
        self.flat_rows = np.arange(batch_size) * k

    def gradient(self, x: np.ndarray, t: np.ndarray):
        """(loss, grads) for a batch: loss is the book's cross-entropy of the forward pass."""
        p, g = self.params, self.grads
        n = x.shape[0]
        z1, y, row, one_minus, da1 = self.a1[:n], self.a2[:n], self.row[:n], self.one_minus[:n], self.da1[:n]
        # forward: z1 = sigmoid(x W1 + b1);  y = softmax(z1 W2 + b2)
        np.matmul(x, p["W1"], out=z1)
        z1 += p["b1"]
        np.negative(z1, out=z1)
        np.exp(z1, out=z1)
        z1 += 1.0
        np.reciprocal(z1, out=z1)
        np.matmul(z1, p["W2"], out=y)
        y += p["b2"]
        np.maximum.reduce(y, axis=1, keepdims=True, out=row)  # ufunc.reduce: np.max/np.sum minus the wrapper
        y -= row
        np.exp(y, out=y)
        np.add.reduce(y, axis=1, keepdims=True, out=row)
        y /= row
        target = self.flat_rows[:n] + t
        picked = y.take(target)
        loss = -float(np.add.reduce(np.log(picked + CEE_DELTA))) / n
        # backward: dy = (y − t)/N;  da1 = (dy W2ᵀ) ⊙ (1 − z1) ⊙ z1
        dy = y
        dy.put(target, picked - 1)
        dy /= n
        np.matmul(dy, p["W2"].T, out=da1)
        np.subtract(1.0, z1, out=one_minus)
        da1 *= one_minus
        da1 *= z1
        np.matmul(x.T, da1, out=g["W1"])
        np.add.reduce(da1, axis=0, out=g["b1"])
        np.matmul(z1.T, dy, out=g["W2"])
        np.add.reduce(dy, axis=0, out=g["b2"])
        return loss, g


def update(params: dict, grads: dict, lr: float) -> None:
    """θ ← θ − η ∂L/∂θ  (eq. 4.7), in place; the gradient buffers are used as scratch."""
    for name in PARAM_NAMES:
        step = np.multiply(grads[name], lr, out=grads[name]) if grads[name].dtype == params[name].dtype \
            else lr * grads[name]
        params[name] -= step


def evaluate(net, x, t, chunk: int = 10_000) -> tuple[float, float]:
    """(accuracy, loss) of a ``TwoLayerNet`` or a params dict over a whole dataset, in chunks, so memory
    stays bounded for any size.  ``x`` may be floats or uint8 pixels; ``t`` labels or one-hot rows."""
    params = net.params if isinstance(net, TwoLayerNet) else net
    dtype = params["W1"].dtype
    x, labels = _training_data(x, t, params["W1"].shape[0], params[f"W{len(params) // 2}"].shape[1], dtype, "x")
    accuracy, loss, _ = accuracy_and_loss(params, iter_chunks(x, labels, chunk, dtype))
    return accuracy, loss


def fit(net: TwoLayerNet, x_train, t_train, *, iters=10000, batch_size=100, lr=0.1, seed=0, sampling="choice",
        gradient="backprop", x_test=None, t_test=None, eval_every="epoch", progress=False, callbacks=(),
        checkpoint=None, resume=None, on_step=None) -> History:
    """Train ``net`` by mini-batch gradient descent (section 4.5.2) and return its ``History``.

    x_train: (N, input_size) floats, or uint8 pixels, scaled to [0, 1] per batch exactly as
    ``load_mnist(normalize=True)`` would (fastest, and may be memory-mapped: nothing is converted up front).
    t_train: integer labels or one-hot rows.  sampling: ``"choice"`` (the book), ``"shuffle"``, or
    ``"blocks"`` (a shuffle that reads a memory-mapped file sequentially; see ``nnlearn.batches``).
    gradient: ``"backprop"`` or ``"numerical"`` (``net.numerical_gradient``).
    eval_every: ``"epoch"``, a number of iterations, None (only after the last iteration) or ``"never"``
    (no evaluation, no checkpoint: for timing, or for data too large to evaluate whole).
    progress: show a tqdm bar.  callbacks: functions called with each evaluation's record (a dict with the
    epoch's figures, and the live ``History`` under ``"history"``); one that returns True stops training.
    checkpoint: a file written atomically after every evaluation and on Ctrl-C.
    resume: a checkpoint file to continue from (same data, seed and settings).
    on_step: a function called after every update as ``on_step(iteration, loss)``; one that returns True stops
    training (a live view, or a pause: it may block).
    """
    if not isinstance(net, TwoLayerNet):
        raise ValueError(f"net must be a TwoLayerNet, got {type(net).__name__}")
    d, _, k = net.sizes
    x_train, labels = _training_data(x_train, t_train, d, k, net.dtype)
    iters = positive_int("iters", iters)
    batch_size = positive_int("batch_size", batch_size)
    lr = positive_float("lr", lr)
    if gradient not in ("backprop", "numerical"):
        raise ValueError(f"gradient must be 'backprop' or 'numerical', got {gradient!r}")
    if (x_test is None) != (t_test is None):
        raise ValueError("pass both x_test and t_test, or neither")
    if x_test is not None:
        x_test, t_test = _training_data(x_test, t_test, d, k, net.dtype, name="x_test")
    n = len(labels)
    iter_per_epoch = max(n // batch_size, 1)
    if eval_every == "never":
        every = None
    elif eval_every == "epoch":
        every = iter_per_epoch
    else:
        every = iters if eval_every is None else positive_int("eval_every", eval_every)
    sampler = BatchSampler(n, batch_size, sampling, seed=seed)
    load = BatchLoader(x_train, labels, batch_size, net.dtype, sampler=sampler)
    history = History(iters=iters, iter_per_epoch=iter_per_epoch)
    start, elapsed_before = 0, 0.0
    recipe = {"iters": iters, "batch_size": batch_size, "lr": lr, "seed": seed, "sampling": sampling,
              "gradient": gradient, "n_train": n, "eval_every": every or 0}
    if resume is not None:
        start, elapsed_before, history = _restore(resume, net, sampler, recipe)
    workspace = BackpropWorkspace(net.params, batch_size)

    def evaluation(i: int) -> dict:
        train_acc, train_loss, _ = accuracy_and_loss(net.params, iter_chunks(x_train, labels, dtype=net.dtype))
        test_acc, test_loss, _ = (accuracy_and_loss(net.params, iter_chunks(x_test, t_test, dtype=net.dtype))
                                  if x_test is not None else (None, None, None))
        return {"epoch": i // iter_per_epoch, "epoch_iteration": i, "train_loss": train_loss,
                "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                "elapsed": elapsed_before + time.perf_counter() - t0}

    def save(i: int) -> None:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, net, sampler, history, recipe, i,
                             elapsed_before + time.perf_counter() - t0)

    bar = _progress_bar(iters, start, progress)
    t0 = time.perf_counter()
    i = start
    # exp overflowing to inf is how sigmoid reaches 0; a diverging run is caught by the loss check below
    with _InterruptFlag() as interrupt, _closing(bar), np.errstate(over="ignore", invalid="ignore"):
        while i < iters:
            if interrupt.requested:  # checked between steps, so a checkpoint never holds half a step
                save(i)
                raise KeyboardInterrupt
            batch_mask = next(sampler)                                  # 1. a mini-batch
            x_batch, t_batch = load(batch_mask)
            if gradient == "backprop":                                  # 2. the gradient
                loss, grads = workspace.gradient(x_batch, t_batch)
            else:
                loss, grads = net.loss(x_batch, t_batch), net.numerical_gradient(x_batch, t_batch)
            update(net.params, grads, lr)                               # 3. the update
            i += 1                                                      # 4. repeat
            history.loss.append(loss)
            if not math.isfinite(loss):
                raise TrainingDivergedError(
                    f"the loss became {loss} at iteration {i}; training stopped. The learning rate lr={lr:g} "
                    f"is too large for this network: try lr={lr / 10:g}", history)
            if bar is not None:
                bar.update(1)
                if i % 50 == 0 or i == iters:
                    bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
            if on_step is not None and on_step(i, loss):
                break
            if every is not None and (i % every == 0 or i == iters):
                record = evaluation(i)
                history.append(record)
                save(i)
                if any([bool(cb({**record, "history": history})) for cb in callbacks]):
                    break
    return history


def _training_data(x, t, features, classes, dtype, name="x_train"):
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.dtype.kind not in "uf" or x.size == 0:
        raise ValueError(f"{name} must be a non-empty array of floats or uint8 pixels, got {x.dtype} {x.shape}")
    check_batch(name, x, features)
    labels = labels_from_target(t, len(x), classes, name="t" + name[1:], compact=True)
    if x.dtype.kind == "f" and x.dtype != dtype and x.size * np.dtype(dtype).itemsize <= PRECONVERT_LIMIT:
        x = x.astype(dtype)
    return x, labels


class _InterruptFlag:
    """Ctrl-C sets ``requested`` instead of interrupting mid-step; a second Ctrl-C interrupts at once."""

    requested = False

    def __enter__(self):
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


@contextlib.contextmanager
def _closing(bar):
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, initial: int, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    # a terminal that reports a size of zero (some ptys) would hide the bar: fall back to 100x24
    size = shutil.get_terminal_size((100, 24))
    return tqdm(total=total, initial=initial, unit="it", ncols=size.columns or 100, nrows=size.lines or 24,
                leave=True, desc="training")


# --- checkpoints ---------------------------------------------------------------------------------
def _save_checkpoint(path, net, sampler, history, recipe, iteration, elapsed) -> None:
    meta = {"kind": "nnlearn-checkpoint", "nnlearn": __version__, "iteration": iteration, "elapsed": elapsed,
            "recipe": recipe, "sampler": sampler.state(), "sizes": net.sizes, "dtype": str(net.dtype),
            "history": {**history.to_dict(), "loss": None}}
    save_weights(path, net.params, meta, extra_arrays={"loss": np.asarray(history.loss, dtype=np.float64)})


def read_checkpoint(path) -> tuple[dict, dict, np.ndarray]:
    """(params, meta, loss per iteration) of a checkpoint, with a clear error for anything else."""
    try:
        params, meta, extra = load_weights(path, with_extra=True)
    except ValueError as exc:
        raise CheckpointError(f"cannot resume: {exc}") from None
    if meta.get("kind") != "nnlearn-checkpoint" or "loss" not in extra:
        raise CheckpointError(f"cannot resume: {path} is a weights file, not a training checkpoint")
    return params, meta, extra["loss"]


def _restore(path, net, sampler, recipe):
    params, meta, loss = read_checkpoint(path)
    saved = meta["recipe"]
    changed = [f"{key}={saved.get(key)!r} (now {recipe[key]!r})" for key in recipe if saved.get(key) != recipe[key]]
    if changed:
        raise CheckpointError(f"cannot resume {path}: it was made with {', '.join(changed)}; "
                              "resume with the same settings and data")
    if tuple(meta["sizes"]) != net.sizes or meta["dtype"] != str(net.dtype):
        raise CheckpointError(f"cannot resume {path}: it holds a {meta['dtype']} network of sizes "
                              f"{tuple(meta['sizes'])}, not {net.dtype} {net.sizes}")
    if meta["iteration"] >= recipe["iters"]:
        raise CheckpointError(f"{path} is a finished run ({meta['iteration']} of {recipe['iters']} iterations); "
                              "nothing to resume — start a new run or raise --iters")
    for name in PARAM_NAMES:
        net.params[name][...] = params[name]
    sampler.restore(meta["sampler"])
    history = History.from_dict({**meta["history"], "loss": loss.tolist()})
    return int(meta["iteration"]), float(meta["elapsed"]), history
