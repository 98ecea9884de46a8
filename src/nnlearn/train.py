"""Mini-batch learning (section 4.5): the book's training loop as ``fit``.

Each iteration is the chapter's four steps: (1) draw a mini-batch, (2) compute the gradient,
(3) update the parameters, (4) repeat; every epoch (max(N // batch_size, 1) iterations, counted in
integers) the accuracy on the training and test data is recorded.  A checkpoint holds everything needed to
continue bit for bit: the weights, the optimizer's state, the iteration, the RNG states and the history.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import signal
import threading
import time
import warnings

import numpy as np

from ._checks import check_batch, check_finite_data, check_memory, labels_from_target, positive_int
from ._version import __version__
from .data.augment import RandomShift
from .data.batches import BatchLoader, BatchSampler
from .data.blockio import iter_chunks
from .errors import CheckpointError, DatasetChangedError, InputError, TrainingDivergedError
from .history import History
from .inference import Evaluation
from .io import load_weights, save_weights
from .layers import Dropout
from .network import MultiLayerNet, accuracy_and_loss, network_from_weights
from .optimizers import Optimizer, make_optimizer
from .parallel import GlobalDraws, Ranks
from .settings import TrainSettings

PRECONVERT_LIMIT = 1 << 30
"""Float images of another dtype than the net's are converted once when that takes at most this many bytes.
uint8 pixels are never converted up front: scaling a gathered batch is cheaper than gathering floats, whose
rows are four to eight times larger."""


def evaluate(net, x, t, chunk: int = 10_000, comm=None) -> Evaluation:
    """(accuracy, loss) of a network (or a params dict) over a whole dataset, in chunks, so memory stays
    bounded for any size.  ``x`` may be floats or uint8 pixels; ``t`` labels or one-hot rows.
    The result unpacks as ``accuracy, loss`` and also has ``.accuracy``, ``.loss`` and ``.n``.
    With an MPI ``comm`` each rank evaluates its shard of the rows and every rank gets the totals.

    Raises ``InputError`` (a ``ValueError``) for malformed weights or data (NaN or infinity in ``x`` is named,
    by row) and for weights whose outputs are not finite; ``DatasetChangedError`` (an ``OSError``) when a
    memory-mapped ``x`` is truncated or replaced while it is read."""
    if not isinstance(net, MultiLayerNet):
        net = network_from_weights(net)
    x, labels = _training_data(x, t, net.sizes[0], net.sizes[-1], net.dtype, "x")
    accuracy, loss = Ranks(comm).evaluate(
        lambda xs, ts: accuracy_and_loss(net, iter_chunks(xs, ts, chunk, net.dtype)), x, labels)
    return Evaluation(accuracy, loss, len(labels))


def fit(net: MultiLayerNet, x_train, t_train, *, x_test=None, t_test=None, optimizer=None, progress=False,
        callbacks=(), checkpoint=None, resume=None, on_step=None, live=False, comm=None, **settings) -> History:
    """Train ``net`` by mini-batch gradient descent (section 4.5.2) and return its ``History``.

    x_train: (N, input_size) floats, or uint8 pixels, scaled to [0, 1] per batch exactly as
    ``load_mnist(normalize=True)`` would (fastest, and may be memory-mapped: nothing is converted up front).
    t_train: integer labels or one-hot rows.  x_test, t_test: data evaluated with the training data.

    settings: the ``"fit"`` fields of ``nnlearn.settings.TrainSettings``, by keyword, with its defaults
    (the book's): ``iters`` (or ``epochs``), ``batch_size``, ``optimizer`` (a name) and ``lr``, ``seed``,
    ``sampling`` (``"choice"``, the book's; ``"shuffle"``; ``"blocks"``, a shuffle that reads a memory-mapped
    file sequentially), ``gradient`` (``"backprop"`` or ``"numerical"``), ``augment`` (``"none"`` or
    ``"shift"``), ``eval_every`` (``"epoch"``, a number of iterations, None: only after the last iteration,
    or ``"never"``: no evaluation and no checkpoint, for timing or data too large to evaluate whole).
    optimizer: a name (``"sgd"``, the default, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
    ``"adam"``) with ``lr``, or an ``nnlearn.optimizers`` instance (then pass no ``lr``).
    progress: show a tqdm bar.  callbacks: functions called with each evaluation's record (a dict with the
    epoch's figures, and the live ``History`` under ``"history"``); one that returns True stops training.
    checkpoint: a file written atomically after every evaluation and on Ctrl-C.
    resume: a checkpoint file to continue from (same data and settings).
    on_step: a function called after every update as ``on_step(iteration, loss)``; one that returns True stops
    training (a live view, or a pause: it may block).

    Raises ``InputError`` (a ``ValueError``) for bad settings or data (NaN or infinity in ``x_train`` or
    ``x_test`` is named, by row), ``ResourceLimitError`` (also a ``ValueError``) for a batch that would not
    fit in memory, ``CheckpointError`` (also a ``ValueError``) for a ``resume`` file that does not fit,
    ``TrainingDivergedError`` (a ``RuntimeError``) when the loss becomes NaN or infinite, and
    ``DatasetChangedError`` (an ``OSError``) when a memory-mapped dataset file is truncated or replaced while
    training runs (the checkpoint is written first, so the run can be resumed once the file is restored).
    A run that ends without learning (see ``History.not_learning``) gives a ``NotLearningWarning``.
    live: in a notebook, a progress bar and one figure of loss and accuracy redrawn at each evaluation
    (``nnlearn.display.LiveView``); in a terminal, the progress bar.
    comm: an mpi4py communicator to train data-parallel over its ranks (``nnlearn.parallel``): for ``choice``
    and ``shuffle`` the same result as one process; rank 0 alone writes the checkpoint, shows the progress
    and calls ``callbacks`` and ``on_step``.  None (the default) is one process.
    """
    if live:
        from .display import live_settings

        progress, callbacks = live_settings(progress, callbacks)
    if not isinstance(net, MultiLayerNet):
        raise InputError(f"net must be a TwoLayerNet or MultiLayerNet, got {type(net).__name__}")
    run = _Run(net, x_train, t_train, x_test, t_test, optimizer, settings, comm)
    if resume is not None:
        run.restore(resume)
    run.ranks.broadcast({**net.params, **net.state})  # under MPI every rank starts from rank 0's weights
    bar = _progress_bar(run.iters, run.iteration, progress and run.ranks.root)
    # exp overflowing to inf is how sigmoid reaches 0; a diverging run is caught by the loss check below
    with _InterruptFlag(also_sigterm=run.ranks.parallel) as interrupt, _closing(bar), net.reusing_buffers(), \
            run.drawing_for_the_global_batch(), np.errstate(over="ignore", invalid="ignore"), \
            _checkpoint_if_data_changes(run, checkpoint):
        while run.iteration < run.iters:
            if run.interrupted(interrupt):  # checked between steps, so a checkpoint never holds half a step
                run.save(checkpoint)
                raise KeyboardInterrupt
            x_batch, t_batch = run.next_batch()                                # 1. a mini-batch (this rank's part)
            loss, grads = run.gradient(x_batch, t_batch)                       # 2. the gradient
            loss = run.all_ranks(loss, grads, interrupt)                       #    (MPI: of the whole global batch)
            run.optimizer.update(net.params, grads, grads_are_scratch=True)    # 3. the update
            run.iteration += 1                                                 # 4. repeat
            run.record_loss(loss, bar)
            if on_step is not None and run.ranks.agree(run.ranks.root and on_step(run.iteration, loss)):
                break
            if run.evaluation_due():
                record = run.evaluate()
                run.save(checkpoint)
                if run.ranks.agree(run.ranks.root and any([bool(cb({**record, "history": run.history}))
                                                           for cb in callbacks])):
                    break
    run.ranks.check_agree(net.params, run.iteration)
    problem = run.history.not_learning(net.sizes[-1])
    if problem and run.ranks.root:
        warnings.warn(f"{problem}; the likely cause is the learning rate lr={run.optimizer.lr:g}: "
                      f"try lr={run.optimizer.lr / 10:g}", NotLearningWarning, stacklevel=2)
    return run.history


class NotLearningWarning(UserWarning):
    """A run ended with the loss still at chance level (≥ ln K) and the accuracy at chance (about 1/K)."""


@contextlib.contextmanager
def _checkpoint_if_data_changes(run, checkpoint):
    """A dataset file truncated or replaced under a run: save what was learned so far, then stop."""
    try:
        yield
    except DatasetChangedError:
        run.save(checkpoint)
        raise


class _Run:
    """What one ``fit`` call works with: validated data and settings, the sampler, the optimizer, the history.
    Kept beside ``fit`` so that the loop itself reads as the chapter's four steps."""

    def __init__(self, net, x_train, t_train, x_test, t_test, optimizer, settings, comm=None):
        unknown = set(settings) - set(TrainSettings.names("fit"))
        if unknown:
            raise InputError(f"fit() got unexpected settings {', '.join(sorted(unknown))}; "
                             f"it takes {', '.join(TrainSettings.names('fit'))}")
        if isinstance(optimizer, Optimizer):
            if settings.get("lr") is not None:
                raise InputError("pass either optimizer=<an Optimizer> or an optimizer name and lr, not both")
            settings = {**settings, "optimizer": optimizer.name, "lr": optimizer.lr}
        elif optimizer is not None:
            settings = {**settings, "optimizer": optimizer}
        self.settings = s = TrainSettings(**settings)
        self.net = net
        d, k = net.sizes[0], net.sizes[-1]
        self.x_train, self.labels = _training_data(x_train, t_train, d, k, net.dtype)
        if (x_test is None) != (t_test is None):
            raise InputError("pass both x_test and t_test, or neither")
        self.test = None if x_test is None else _training_data(x_test, t_test, d, k, net.dtype, name="x_test")
        n = len(self.labels)
        self.iter_per_epoch = max(n // s.batch_size, 1)
        self.iters = s.epochs * self.iter_per_epoch if s.epochs else s.iters
        if s.eval_every == "never":
            self.every = None
        elif s.eval_every == "epoch":
            self.every = self.iter_per_epoch
        else:
            self.every = self.iters if s.eval_every is None else positive_int("eval_every", s.eval_every)
        # a batch's rows (and their float32 scaling), and each layer's forward and backward buffers for it
        per_row = 2 * net.sizes[0] + 3 * sum(net.sizes[1:])
        check_memory(s.batch_size * per_row * np.dtype(net.dtype).itemsize,
                     f"batch_size {s.batch_size:,} (a batch and the layers' buffers for it)")
        self.ranks = Ranks(comm)
        share = self.ranks if s.gradient == "backprop" else Ranks(None)  # numerical: θ is split, not the batch
        self.sampler = BatchSampler(n, s.batch_size, s.sampling, seed=s.seed, rank=share.rank, ranks=share.size)
        self.rows, self.stop = 0, False  # this rank's rows of the current batch; any rank's Ctrl-C (MPI)
        self.load = BatchLoader(self.x_train, self.labels, s.batch_size, net.dtype, sampler=self.sampler)
        self.augment = RandomShift(d, seed=[s.seed, 1]) if s.augment == "shift" else None
        self.optimizer = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(s.optimizer, s.lr)
        self.history = History(iters=self.iters, iter_per_epoch=self.iter_per_epoch)
        self.recipe = {**{k: v for k, v in s.scope("fit").items() if k != "epochs"}, "iters": self.iters,
                       "n_train": n, "eval_every": self.every or 0}
        self.iteration, self.elapsed_before, self.t0 = 0, 0.0, time.perf_counter()
        if s.gradient == "backprop":
            self.gradient = net.loss_and_gradient  # what the method below would call, one call less per step

    # --- the steps ----------------------------------------------------------------------------------
    def next_batch(self):
        x_batch, t_batch = self.load(next(self.sampler))
        self.rows = len(t_batch)
        return (self.augment(x_batch) if self.augment is not None else x_batch), t_batch

    def gradient(self, x_batch, t_batch):
        if self.settings.gradient == "backprop":
            return self.net.loss_and_gradient(x_batch, t_batch)
        if self.ranks.parallel:  # the book's loop, each rank differentiating its share of the parameters
            entries = self.ranks.entries(self.net.params)
            grads = self.ranks.join(MultiLayerNet.numerical_gradient(self.net, x_batch, t_batch, entries=entries))
        else:
            grads = self.net.numerical_gradient(x_batch, t_batch)
        loss = self.net.loss(x_batch, t_batch, train_flg=True)
        return loss, {k: g.astype(self.net.dtype, copy=False) for k, g in grads.items()}

    def all_ranks(self, loss: float, grads: dict, interrupt) -> float:
        """Under MPI, between the backward pass and the update: the whole global batch's mean gradient (in
        place) and loss, the same on every rank, and whether any rank has had a Ctrl-C."""
        if not self.ranks.parallel:
            return loss
        if self.settings.gradient == "backprop":
            loss, self.stop = self.ranks.mean_gradient(grads, loss, self.rows, interrupt.requested)
        else:  # the numerical gradient is already whole on every rank
            self.stop = self.ranks.any(interrupt.requested)
        return loss

    def interrupted(self, interrupt) -> bool:
        return self.stop if self.ranks.parallel else interrupt.requested

    @contextlib.contextmanager
    def drawing_for_the_global_batch(self):
        """Under MPI (``choice``, ``shuffle``): dropout masks and shifts drawn for the whole global batch, of
        which each rank keeps its rows (``GlobalDraws``), so training equals one process's with them too."""
        s, draws = self.settings, []
        if self.ranks.parallel and s.gradient == "backprop" and s.sampling != "blocks":
            rows = self.ranks.shard(s.batch_size)  # the rows the sampler gives this rank
            draws = [layer for layer in self.net.layers.values() if isinstance(layer, Dropout)]
            draws += [self.augment] if self.augment is not None else []
        originals = [owner.rng for owner in draws]
        for owner in draws:
            owner.rng = GlobalDraws(owner.rng, s.batch_size, rows)
        try:
            yield
        finally:
            for owner, rng in zip(draws, originals, strict=True):
                owner.rng = rng

    def record_loss(self, loss: float, bar) -> None:
        self.history.loss.append(loss)
        if not math.isfinite(loss):
            lr = self.optimizer.lr
            raise TrainingDivergedError(
                f"the loss became {loss} at iteration {self.iteration}; training stopped. The learning rate "
                f"lr={lr:g} is too large for this network: try lr={lr / 10:g}", self.history)
        if bar is not None:
            bar.update(1)
            if self.iteration % 50 == 0 or self.iteration == self.iters:
                bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)

    def evaluation_due(self) -> bool:
        return self.every is not None and (self.iteration % self.every == 0 or self.iteration == self.iters)

    def evaluate(self) -> dict:
        net, dtype = self.net, self.net.dtype

        def measure(x, t):  # under MPI, of this rank's shard
            return accuracy_and_loss(net, iter_chunks(x, t, dtype=dtype))

        train_acc, train_loss = self.ranks.evaluate(measure, self.x_train, self.labels)
        test_acc, test_loss = None, None
        if self.test is not None:
            test_acc, test_loss = self.ranks.evaluate(measure, *self.test)
        record = {"epoch": self.iteration // self.iter_per_epoch, "epoch_iteration": self.iteration,
                  "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                  "elapsed": self.elapsed()}
        self.history.append(record)
        return record

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t0

    # --- checkpoints --------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Everything resuming needs, in one file written atomically (by rank 0 under MPI)."""
        self.ranks.check_agree(self.net.params, self.iteration)
        if path is None or not self.ranks.root:
            return
        opt_meta, opt_arrays = self.optimizer.state()
        meta = {"kind": "nnlearn-checkpoint", "nnlearn": __version__, "iteration": self.iteration,
                "elapsed": self.elapsed(), "recipe": self.recipe, "sampler": self.sampler.state(),
                "architecture": self.net.architecture, "dtype": str(self.net.dtype),
                "net_rng": self.net.rng.bit_generator.state, "optimizer": opt_meta,
                "augment": self.augment.state() if self.augment is not None else None,
                "history": {**self.history.to_dict(), "loss": None}}
        extra = {"loss": np.asarray(self.history.loss, dtype=np.float64),
                 **{f"opt.{k}": v for k, v in opt_arrays.items()}}
        save_weights(path, {**self.net.params, **self.net.state}, meta, extra_arrays=extra)

    def restore(self, path) -> None:
        params, meta, extra = self.ranks.from_root(lambda: read_checkpoint(path))  # rank 0 has the run folder
        saved = meta["recipe"]
        # iters only says where to stop: raising it extends a run, bit for bit as if it had been asked at first
        changed = [f"{key}={saved.get(key)!r} (now {value!r})" for key, value in self.recipe.items()
                   if saved.get(key) != value and key != "iters"]
        if changed:
            raise CheckpointError(f"cannot resume {path}: it was made with {', '.join(changed)}; "
                                  "resume with the same settings and data")
        if meta.get("architecture") != self.net.architecture or meta["dtype"] != str(self.net.dtype):
            raise CheckpointError(f"cannot resume {path}: it holds a {meta['dtype']} network "
                                  f"{meta.get('architecture')}, not {self.net.dtype} {self.net.architecture}")
        if meta["iteration"] >= self.iters:
            raise CheckpointError(f"{path} is a finished run ({meta['iteration']} of {self.iters} iterations); "
                                  "nothing to resume — start a new run or raise --iters")
        state = {k: params.pop(k) for k in list(params) if k in self.net.state}
        self.net.load_params(params, state)
        self.net.rng.bit_generator.state = meta["net_rng"]
        self.sampler.restore(meta["sampler"])
        if self.augment is not None:
            self.augment.restore(meta["augment"])
        self.optimizer.restore(meta["optimizer"], {k[4:]: v for k, v in extra.items() if k.startswith("opt.")})
        self.history = History.from_dict({**meta["history"], "loss": extra["loss"].tolist(), "iters": self.iters})
        self.iteration, self.elapsed_before = int(meta["iteration"]), float(meta["elapsed"])


def read_checkpoint(path) -> tuple[dict, dict, dict]:
    """(arrays, meta, extra arrays) of a checkpoint, with a clear error for anything else."""
    try:
        params, meta, extra = load_weights(path, with_extra=True)
    except ValueError as exc:
        raise CheckpointError(f"cannot resume: {exc}") from None
    if meta.get("kind") != "nnlearn-checkpoint" or "loss" not in extra:
        raise CheckpointError(f"cannot resume: {path} is a weights file, not a training checkpoint")
    problem = _checkpoint_problem(meta, extra)
    if problem:
        raise CheckpointError(f"cannot resume: {path} has inconsistent metadata ({problem}); it is damaged or "
                              "was edited — start a new run")
    return params, meta, extra


def _checkpoint_problem(meta: dict, extra: dict) -> str | None:
    """What is wrong with a checkpoint's metadata, or None: every field resuming reads, of the right kind."""
    iteration = meta.get("iteration")
    if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
        return f"iteration {iteration!r} is not a whole number >= 0"
    elapsed = meta.get("elapsed")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed) \
            or elapsed < 0:
        return f"elapsed {elapsed!r} is not a number of seconds >= 0"
    for key in ("recipe", "sampler", "history", "architecture", "optimizer", "net_rng"):
        if not isinstance(meta.get(key), dict):
            return f"{key} is missing" if key not in meta else f"{key} is not a JSON object"
    if not isinstance(meta.get("dtype"), str):
        return "dtype is missing"
    loss = extra["loss"]
    if loss.ndim != 1 or len(loss) != iteration:
        return f"it records {loss.size} losses for {iteration} iterations"
    return None


def _training_data(x, t, features, classes, dtype, name="x_train"):
    x = x if isinstance(x, np.ndarray) else np.asarray(x)
    if x.ndim > 2:
        x = x.reshape(len(x), -1)
    if x.dtype.kind not in "uf" or x.size == 0:
        raise InputError(f"{name} must be a non-empty array of floats or uint8 pixels, got {x.dtype} {x.shape}")
    check_batch(name, x, features)
    check_finite_data(name, x)
    labels = labels_from_target(t, len(x), classes, name="t" + name[1:], compact=True)
    if x.dtype.kind == "f" and x.dtype != dtype and x.size * np.dtype(dtype).itemsize <= PRECONVERT_LIMIT:
        x = x.astype(dtype)
    return x, labels


class _InterruptFlag:
    """Ctrl-C sets ``requested`` instead of interrupting mid-step; a second Ctrl-C interrupts at once.
    Under mpirun, whose Ctrl-C reaches the ranks as SIGTERM, SIGTERM does the same."""

    requested = False

    def __init__(self, also_sigterm: bool = False):
        self.signals = (signal.SIGINT, signal.SIGTERM) if also_sigterm else (signal.SIGINT,)

    def __enter__(self):
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.signals}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for s, previous in self._previous.items():
            signal.signal(s, previous)
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
