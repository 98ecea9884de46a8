"""The book's networks, each a sequence of ``nnlearn.layers``: ``SimpleNet`` (section 4.4.2), ``TwoLayerNet``
(sections 4.5.1 and 5.7) and chapter 6's ``MultiLayerNet``, plus the gradient check of section 5.7.3.

A network is a dict of arrays (``params``) and the layers over it; the classes stay thin.  Every forward and
backward pass, in training, evaluation, the gradient check, inference and the figures, is the layers' one.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import structured_gradient
from ._checks import as_float, check_batch, check_memory, labels_from_target, positive_float, positive_int, rng_from
from .errors import InputError
from .functions import cross_entropy_error, softmax
from .gradient import numerical_gradient as _numerical_gradient
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss

PARAM_NAMES = ("W1", "b1", "W2", "b2")
"""The parameters of ``TwoLayerNet``."""
ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid}
INITS = ("relu", "he", "sigmoid", "xavier")
"""Named scales of the initial weights (section 6.2): He, √(2/n), for ReLU; Xavier, √(1/n), for sigmoid."""
STATE_NAMES = ("running_mean", "running_var")
"""Batch normalization's running averages: saved with the weights, but not trained."""


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


class MultiLayerNet:
    """A fully connected network (section 6.1–6.4): input → [Affine → (BatchNorm) → activation → (Dropout)] × L
    → Affine → softmax, with the cross-entropy loss and, optionally, L2 weight decay.

    hidden_size_list: units of each hidden layer, e.g. ``[256, 128]``.  activation: ``"relu"`` or ``"sigmoid"``.
    weight_init_std: the standard deviation of the initial weights: a number, or ``"relu"``/``"he"`` (√(2/n),
    n the layer's inputs) or ``"sigmoid"``/``"xavier"`` (√(1/n)); biases start at 0.
    weight_decay_lambda: λ of the L2 penalty ½ λ Σ‖W‖² added to the loss (section 6.4.2).
    use_dropout, dropout_ratio: Dropout after each activation (section 6.4.3).  use_batchnorm: Batch
    Normalization before each activation (section 6.3).  seed/rng: the initial weights and dropout's masks.
    dtype: float32 or float64 (the book's).

    ``params`` holds ``W1, b1, …, W{L+1}, b{L+1}`` (and ``gamma{i}, beta{i}`` with batchnorm); ``predict``
    returns class probabilities (the book's chapter-5/6 ``predict`` returns the scores before softmax: their
    argmax is the same).  Every method takes ``t`` as integer labels or one-hot rows, with identical results.
    """

    def __init__(self, input_size, hidden_size_list, output_size, *, activation="relu", weight_init_std="relu",
                 weight_decay_lambda=0.0, use_dropout=False, dropout_ratio=0.5, use_batchnorm=False, seed=None,
                 rng=None, dtype=np.float64):
        if isinstance(hidden_size_list, (int, np.integer)):
            hidden_size_list = [hidden_size_list]
        hidden = [positive_int("hidden size", h) for h in hidden_size_list]
        self.sizes = (positive_int("input_size", input_size), *hidden, positive_int("output_size", output_size))
        if activation not in ACTIVATIONS:
            raise InputError(f"activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.activation = activation
        self.weight_init_std = _init_scale_name(weight_init_std)
        self.weight_decay_lambda = _non_negative("weight_decay_lambda", weight_decay_lambda)
        self.use_dropout, self.use_batchnorm = bool(use_dropout), bool(use_batchnorm)
        self.dropout_ratio = float(dropout_ratio)
        if not 0 <= self.dropout_ratio < 1:
            raise InputError(f"dropout_ratio must be in [0, 1), got {dropout_ratio!r}")
        self.dtype = _float_dtype(dtype)
        _check_room_for(self.sizes, self.dtype)
        self.rng = rng_from(seed, rng)
        self.params, self.state = {}, {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True), start=1):
            scale = _init_scale(self.weight_init_std, n_in)
            # Drawn in float64, then cast, so a float32 net starts from the same weights as a float64 one.
            self.params[f"W{i}"] = (scale * self.rng.standard_normal((n_in, n_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype=self.dtype)
        if self.use_batchnorm:
            for i, n in enumerate(hidden, start=1):
                self.params[f"gamma{i}"] = np.ones(n, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(n, dtype=self.dtype)
                self.state[f"running_mean{i}"] = np.zeros(n, dtype=self.dtype)
                self.state[f"running_var{i}"] = np.zeros(n, dtype=self.dtype)
        self._build_layers()

    def _build_layers(self) -> None:
        self.layers = OrderedDict()
        hidden_layers = len(self.sizes) - 2
        for i in range(1, hidden_layers + 2):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i > hidden_layers:
                break
            if self.use_batchnorm:
                self.layers[f"BatchNorm{i}"] = BatchNormalization(
                    self.params[f"gamma{i}"], self.params[f"beta{i}"],
                    running_mean=self.state[f"running_mean{i}"], running_var=self.state[f"running_var{i}"])
            self.layers[f"Activation_function{i}"] = ACTIVATIONS[self.activation]()
            if self.use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout_ratio, rng=self.rng)
        self.layers["Affine1"].propagate_down = False  # nothing needs ∂L/∂x of the input
        self.last_layer = SoftmaxWithLoss()
        # which layer attribute holds which parameter (and, after backward, its gradient)
        self._wiring = []
        for name, layer in self.layers.items():
            if isinstance(layer, Affine):
                i = name[len("Affine"):]
                self._wiring += [(f"W{i}", layer, "W", "dW"), (f"b{i}", layer, "b", "db")]
            elif isinstance(layer, BatchNormalization):
                i = name[len("BatchNorm"):]
                self._wiring += [(f"gamma{i}", layer, "gamma", "dgamma"), (f"beta{i}", layer, "beta", "dbeta")]
        self._bound = False

    # --- construction from saved weights ------------------------------------------------------------
    @property
    def architecture(self) -> dict:
        """What rebuilds this network around saved ``params`` (stored in weights files' metadata)."""
        return {"class": type(self).__name__, "sizes": list(self.sizes), "activation": self.activation,
                "weight_init_std": self.weight_init_std, "weight_decay_lambda": self.weight_decay_lambda,
                "use_dropout": self.use_dropout, "dropout_ratio": self.dropout_ratio,
                "use_batchnorm": self.use_batchnorm}

    @classmethod
    def from_architecture(cls, architecture: dict, params: dict, state: dict | None = None, *, dtype=None):
        """The network ``architecture`` describes, holding copies of ``params`` (and batchnorm's ``state``)."""
        arch = dict(architecture)
        kind = arch.pop("class", "MultiLayerNet")
        net_class = {"TwoLayerNet": TwoLayerNet, "MultiLayerNet": MultiLayerNet}.get(kind)
        if net_class is None:
            raise InputError(f"unknown network class {kind!r}; expected TwoLayerNet or MultiLayerNet")
        sizes = [int(s) for s in arch.pop("sizes")]
        dtype = _float_dtype(dtype or np.asarray(params.get("W1", np.zeros(0))).dtype)
        if net_class is TwoLayerNet:
            if len(sizes) != 3:
                raise InputError(f"a TwoLayerNet has sizes (input, hidden, output), got {sizes}")
            net = TwoLayerNet(*sizes, 0.0, dtype=dtype)
        else:
            net = MultiLayerNet(sizes[0], sizes[1:-1], sizes[-1], dtype=dtype,
                                **{k: arch[k] for k in ("activation", "weight_init_std", "weight_decay_lambda",
                                                        "use_dropout", "dropout_ratio", "use_batchnorm")
                                   if k in arch})
        net.load_params(params, state)
        return net

    def load_params(self, params: dict, state: dict | None = None) -> None:
        """Copy ``params`` (and batchnorm's running averages ``state``) into this network, checking names and
        shapes."""
        for source, target, what in ((params, self.params, "params"), (state or {}, self.state, "state")):
            missing = [k for k in target if k not in source]
            extra = [k for k in source if k not in target]
            if (missing and what == "params") or extra:
                raise InputError(f"{what} has {sorted(source)} but this {type(self).__name__} "
                                 f"{tuple(self.sizes)} has {sorted(target)}; pass weights of the same architecture")
            for name in target:
                if name not in source:
                    continue
                value = as_float(name, source[name])
                if value.shape != target[name].shape:
                    raise InputError(f"{what}[{name!r}] has shape {value.shape}, expected {target[name].shape} "
                                     f"for a {type(self).__name__} of sizes {tuple(self.sizes)}")
                target[name][...] = value

    def copy(self, dtype=None):
        """An independent copy (optionally in another dtype), dropout's current masks included."""
        net = type(self).from_architecture(self.architecture, self.params, self.state, dtype=dtype or self.dtype)
        for name, layer in self.layers.items():
            if isinstance(layer, Dropout):
                net.layers[name].mask = None if layer.mask is None else layer.mask.copy()
                net.layers[name].fix_mask = layer.fix_mask
        return net

    @property
    def parameter_count(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    # --- the forward pass -------------------------------------------------------------------------
    def predict(self, x, train_flg=False):
        """Class probabilities, one row per sample: softmax of the last layer's scores.

        Raises ``InputError`` (a ``ValueError``) for an ``x`` of the wrong width or with NaN or infinity, and
        when the weights give outputs that are not finite numbers (weights so large that they overflow).
        """
        return _check_finite_outputs(softmax(self.scores(self._inputs(x), train_flg)), self)

    def scores(self, x, train_flg=False):
        """The last Affine layer's output (the book's chapter-5/6 ``predict``), for validated input."""
        if not self._bound:
            self._bind()
        for layer in self.layers.values():
            x = layer.forward(x, train_flg) if layer.uses_train_flg else layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        """E = cross_entropy_error(softmax(scores), t) (with the book's 1e-7) + ½ λ Σ‖W‖²."""
        x = self._inputs(x)
        return self._loss(x, self._labels(t, x.shape[0]), train_flg)

    def _loss(self, x, labels, train_flg):
        loss = self.last_layer.forward(self.scores(x, train_flg), labels)
        return loss + self._weight_decay() if self.weight_decay_lambda else loss

    def _weight_decay(self) -> float:
        if not self.weight_decay_lambda:
            return 0.0
        return 0.5 * self.weight_decay_lambda * sum(float(np.sum(self.params[f"W{i}"] ** 2))
                                                    for i in range(1, len(self.sizes)))

    def accuracy(self, x, t):
        """The fraction of samples whose most probable class is the target class."""
        x = self._inputs(x)
        labels = self._labels(t, x.shape[0])
        return float(np.mean(np.argmax(self.scores(x), axis=1) == labels))

    # --- gradients -------------------------------------------------------------------------------
    def gradient(self, x, t):
        """∂E/∂θ by backpropagation (section 5.7.2): the loss's forward pass, then each layer's backward
        pass in reverse; for the loss without the 1e-7 guard."""
        x = self._inputs(x)
        return self.loss_and_gradient(x, self._labels(t, x.shape[0]))[1]

    def loss_and_gradient(self, x, labels):
        """(loss, gradients) of one training step for validated input: ``x`` (N, input_size) of any float dtype,
        ``labels`` integers.  With ``reusing_buffers()`` the gradients live in reused arrays.

        This is the training step, so ``scores`` and ``_loss`` are written out here: a call costs."""
        if not self._bound:
            self._bind()
        for layer in self.layers.values():
            x = layer.forward(x, True) if layer.uses_train_flg else layer.forward(x)
        loss = self.last_layer.forward(x, labels)
        if self.weight_decay_lambda:
            loss += self._weight_decay()
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        grads = {}
        for name, layer, _, grad in self._wiring:
            grads[name] = getattr(layer, grad)
        if self.weight_decay_lambda:
            for name, layer, attr, _ in self._wiring:
                if attr == "W":
                    grads[name] += self.weight_decay_lambda * layer.W  # ∂/∂W of ½ λ ‖W‖²
        return loss, grads

    @contextlib.contextmanager
    def reusing_buffers(self):
        """Inside, every layer writes into arrays it reuses (a training step allocates nothing), the layers
        stay bound to the arrays now in ``params`` (which the optimizer updates in place), and numpy does not
        warn when the sigmoid's exp(−x) overflows to inf (that is how the sigmoid reaches 0)."""
        layers = [*self.layers.values(), self.last_layer]
        for layer in layers:
            layer.reuse_buffers = True
        self._bind()
        self._bound = True
        try:
            with np.errstate(over="ignore"):
                yield self
        finally:
            self._bound = False
            for layer in layers:
                layer.reuse_buffers = False

    def numerical_gradient(self, x, t, *, h=1e-4, entries=None):
        """∂E/∂θ by central differences (L(θ + h·e) − L(θ − h·e)) / 2h for every parameter (section 4.4).

        The book's loop: two forward passes of the whole loss per parameter, in training mode (dropout's
        current mask kept fixed; batchnorm's batch statistics).  The loss is evaluated in float64 whatever
        the network's dtype, because float32 rounding would swamp the differences at h = 1e-4; the result is
        float64.  ``TwoLayerNet`` has a faster method with the same result (see its docstring).
        ``entries``: a dict {name: index tuples} to differentiate only those entries (the rest are 0).
        """
        x = self._inputs(x).astype(np.float64)
        labels = self._labels(t, x.shape[0])
        h = positive_float("h", h)
        net = self._float64_copy(x)
        entries = entries or {}
        return {k: _numerical_gradient(lambda _p: net._loss(x, labels, train_flg=True), net.params[k], h,
                                       indices=entries.get(k)) for k in net.params}

    def _float64_copy(self, x):
        """A float64 copy whose dropout masks are fixed (drawn now if there are none yet)."""
        with self.fixed_dropout_masks(x):
            net = self.copy(dtype=np.float64)
        return net

    @contextlib.contextmanager
    def fixed_dropout_masks(self, x):
        """Inside, dropout keeps one mask per layer (drawn now by a forward pass of ``x`` if there is none
        of that shape), so that repeated training-mode passes compute the same function."""
        dropouts = [layer for layer in self.layers.values() if isinstance(layer, Dropout)]
        saved_state = {k: v.copy() for k, v in self.state.items()}
        x = self._inputs(x)
        if any(d.mask is None or d.mask.shape[0] != len(x) for d in dropouts):
            self.scores(x.astype(self.dtype), train_flg=True)
            for k, v in saved_state.items():  # that pass must not move batchnorm's running averages
                self.state[k][...] = v
        previous = [d.fix_mask for d in dropouts]
        for d in dropouts:
            d.fix_mask = True
        try:
            yield self
        finally:
            for d, p in zip(dropouts, previous, strict=True):
                d.fix_mask = p

    # --- helpers ---------------------------------------------------------------------------------
    def _bind(self) -> None:
        """Point the layers at the arrays in ``params`` (which a user may have replaced)."""
        for name, layer, attr, _ in self._wiring:
            setattr(layer, attr, self.params[name])

    def _inputs(self, x) -> np.ndarray:
        return check_batch("x", as_float("x", x), self.sizes[0])

    def _labels(self, t, n_rows: int) -> np.ndarray:
        return labels_from_target(t, n_rows, self.sizes[-1])

    def __repr__(self) -> str:
        extras = [f"weight_decay_lambda={self.weight_decay_lambda:g}"] if self.weight_decay_lambda else []
        extras += [f"dropout {self.dropout_ratio:g}"] if self.use_dropout else []
        extras += ["batchnorm"] if self.use_batchnorm else []
        return (f"{type(self).__name__}({'-'.join(map(str, self.sizes))}, {self.activation}, {self.dtype}, "
                f"{self.parameter_count:,} parameters{''.join(', ' + e for e in extras)})")

    def _repr_html_(self) -> str:
        from .display import network_html

        return network_html(self)


class TwoLayerNet(MultiLayerNet):
    """input → Affine(W1, b1) → Sigmoid → Affine(W2, b2) → softmax (section 4.5.1), built from chapter 5's
    layers.

    ``params`` holds ``W1`` (input, hidden), ``b1`` (hidden,), ``W2`` (hidden, output), ``b2`` (output,),
    initialised as in the book: Gaussian weights times ``weight_init_std``, zero biases.  Every method takes
    ``t`` as integer labels or one-hot rows, with identical results.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *, seed=None, rng=None,
                 dtype=np.float64):
        std = float(weight_init_std)
        if not math.isfinite(std) or std < 0:
            raise InputError(f"weight_init_std must be a finite number >= 0, got {weight_init_std!r}")
        super().__init__(input_size, [positive_int("hidden_size", hidden_size)], output_size, activation="sigmoid",
                         weight_init_std=std, seed=seed, rng=rng, dtype=dtype)

    @classmethod
    def from_params(cls, params: dict) -> TwoLayerNet:
        """A network around existing ``W1, b1, W2, b2`` arrays (e.g. from ``load_weights``)."""
        missing = [k for k in PARAM_NAMES if k not in params]
        if missing:
            raise InputError(f"params lacks {', '.join(missing)}; pass a dict with W1, b1, W2, b2")
        W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
        net = cls(W1.shape[0], W1.shape[1], W2.shape[1], 0.0, dtype=W1.dtype)
        net.load_params({k: params[k] for k in PARAM_NAMES})
        return net

    def numerical_gradient(self, x, t, *, method="structured", h=1e-4):
        """∂E/∂θ by central differences (L(θ + h·e) − L(θ − h·e)) / 2h for every parameter (section 4.5.1).

        ``method="loop"`` is the book's code: two full forward passes per parameter (39,760 of them for
        784-50-10).  ``method="structured"`` (the default) computes the same central differences but only
        re-evaluates what a perturbation changes; see ``nnlearn.structured_gradient``.  Both evaluate the
        loss in float64 whatever the network's dtype, because float32 rounding would swamp the
        differences at h = 1e-4; they return float64 arrays.
        """
        if method == "loop":
            return super().numerical_gradient(x, t, h=h)
        if method != "structured":
            raise InputError(f"method must be 'structured' or 'loop', got {method!r}")
        x = self._inputs(x).astype(np.float64)
        labels = self._labels(t, x.shape[0])
        return structured_gradient.two_layer_numerical_gradient(self.copy(np.float64), x, labels,
                                                                positive_float("h", h))


def network_from_weights(params: dict, meta: dict | None = None) -> MultiLayerNet:
    """The network a weights file describes: its ``architecture`` metadata, or for files written before
    nnlearn stored one, a sigmoid network of the sizes the arrays chain (two layers: ``TwoLayerNet``)."""
    meta = meta or {}
    state = {k: v for k, v in params.items() if k.startswith(STATE_NAMES)}
    params = {k: v for k, v in params.items() if k not in state}
    architecture = meta.get("architecture")
    if architecture is None:
        layers = sum(1 for k in params if k.startswith("W"))
        sizes = [int(np.shape(params["W1"])[0])] + [int(np.shape(params[f"W{i}"])[1]) for i in range(1, layers + 1)]
        architecture = {"class": "TwoLayerNet" if layers == 2 else "MultiLayerNet", "sizes": sizes,
                        "activation": "sigmoid", "weight_init_std": "sigmoid"}
    if not isinstance(architecture, dict) or "sizes" not in architecture:
        raise InputError("the weights' metadata has an unreadable 'architecture'; it is not an nnlearn weights file")
    return MultiLayerNet.from_architecture(architecture, params, state)


def accuracy_and_loss(net: MultiLayerNet, chunks) -> tuple[float, float, int]:
    """(accuracy, mean cross-entropy, n) of ``net`` over validated (x, labels) chunks, in inference mode."""
    hits, total, n = 0, 0.0, 0
    for x, t in chunks:
        total += net.last_layer.forward(net.scores(x), t) * len(t)
        _check_finite_outputs(net.last_layer.y, net)
        hits += int(np.count_nonzero(np.argmax(net.last_layer.y, axis=1) == t))
        n += len(t)
    return hits / n, total / n, n


def _check_finite_outputs(y: np.ndarray, net: MultiLayerNet) -> np.ndarray:
    """``y``, unless some output is NaN or infinite: then the weights cannot be used (an evaluation would
    report ``nan``, and argmax of NaN rows picks class 0)."""
    if not np.isfinite(y).all():
        largest = max(float(np.max(np.abs(a))) for a in net.params.values())
        raise InputError(f"the weights give NaN or infinite outputs (their largest entry, {largest:.3g}, overflows "
                         f"{net.dtype} arithmetic); they are unusable — retrain, or use other weights")
    return y


def _check_room_for(sizes: tuple, dtype: np.dtype) -> None:
    """A one-line error naming the memory a network of ``sizes`` needs, before allocating it: its parameters,
    their gradients and up to two arrays of optimizer state, plus the float64 draw of the largest W."""
    count = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    largest = max(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    check_memory(4 * count * dtype.itemsize + 8 * largest,
                 f"hidden {list(sizes[1:-1])} (a {'-'.join(map(str, sizes))} network of {count:,} parameters)")


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise InputError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _init_scale_name(value):
    if isinstance(value, str):
        if value.lower() not in INITS:
            raise InputError(f"weight_init_std must be a number or one of {', '.join(INITS)}, got {value!r}")
        return value.lower()
    std = float(value)
    if not math.isfinite(std) or std < 0:
        raise InputError(f"weight_init_std must be a finite number >= 0, got {value!r}")
    return std


def _init_scale(name, n_in: int) -> float:
    if name in ("relu", "he"):
        return math.sqrt(2.0 / n_in)
    if name in ("sigmoid", "xavier"):
        return math.sqrt(1.0 / n_in)
    return float(name)


def _non_negative(name: str, value) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


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

    def _repr_html_(self) -> str:
        from .display import gradient_check_html

        return gradient_check_html(self)

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


def gradient_check(net: MultiLayerNet, x, t, *, atol: float = 1e-6, method: str | None = None,
                   max_entries: int | None = None, seed=0):
    """Compare ``net.gradient`` (backprop) with ``net.numerical_gradient`` parameter by parameter.

    Dropout's masks are held fixed for both, and batchnorm's running averages are left as they were.
    ``method``: passed on to ``TwoLayerNet.numerical_gradient`` (``"structured"`` or ``"loop"``).
    ``max_entries``: compare at most this many entries of each parameter, drawn with ``seed`` (the book's
    loop over every entry of a large network takes minutes).
    """
    atol = positive_float("atol", atol)
    saved_state = {k: v.copy() for k, v in net.state.items()}
    picked = None
    if max_entries is not None:
        rng = rng_from(seed)
        picked = {k: [np.unravel_index(int(i), v.shape) for i in
                      rng.choice(v.size, min(v.size, positive_int("max_entries", max_entries)), replace=False)]
                  for k, v in net.params.items()}
    with net.fixed_dropout_masks(np.asarray(x)):
        if picked is not None:
            numerical = MultiLayerNet.numerical_gradient(net, x, t, entries=picked)
        elif method is None:
            numerical = net.numerical_gradient(x, t)
        else:
            numerical = net.numerical_gradient(x, t, method=method)
        backward = net.gradient(x, t)
    for k, v in saved_state.items():
        net.state[k][...] = v
    rows = []
    for name in net.params:
        b, n = np.asarray(backward[name], dtype=np.float64), numerical[name]
        if picked is not None:
            where = tuple(np.array(picked[name]).T)
            b, n = b[where], n[where]
        diff = np.abs(b - n)
        scale = np.maximum(np.abs(b), np.abs(n))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        worst = np.unravel_index(int(np.argmax(diff)), diff.shape)
        rows.append(ParamCheck(name, float(diff.max()), float(rel.max()), tuple(int(i) for i in worst),
                               bool(diff.max() <= atol)))
    return GradientCheckReport(tuple(rows), atol)
