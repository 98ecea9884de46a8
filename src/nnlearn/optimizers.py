"""Chapter 6's optimizers (section 6.1): each one's update rule, with the book's names and its
``update(params, grads)`` contract (parameters changed in place).

An optimizer's ``state()`` is everything it has accumulated (velocities, squared-gradient sums, the step
count): a checkpoint saves it and ``restore`` puts it back, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import positive_float
from .errors import InputError


class Optimizer:
    """What the optimizers share: hyperparameters, per-parameter state arrays, and a scratch buffer per
    parameter for the update, so a step allocates nothing."""

    name = ""
    defaults: dict = {}
    slots: tuple = ()
    """Names of the arrays kept per parameter (e.g. ``("v",)`` for Momentum)."""

    def __init__(self, lr=None, **hyper):
        unknown = set(hyper) - set(self.defaults)
        if unknown:
            raise InputError(f"{type(self).__name__} takes {', '.join(['lr', *self.defaults])}, "
                             f"not {', '.join(sorted(unknown))}")
        self.lr = positive_float("lr", self.default_lr if lr is None else lr)
        for key, default in self.defaults.items():
            setattr(self, key, float(hyper.get(key, default)))
        self.iter = 0
        self.slot = {s: {} for s in self.slots}
        self._scratch = {}  # key → (the parameter array last updated, a scratch array of its shape and dtype)

    default_lr = 0.01

    reads_gradient_once = False
    """True for the rules that read ∂L/∂W once, before anything is written to their scratch array."""

    def update(self, params: dict, grads: dict, *, grads_are_scratch: bool = False) -> None:
        """One step: every parameter in ``grads`` moves by its rule, in place.

        ``grads_are_scratch``: the caller no longer needs ``grads`` (a training loop's, rewritten every step),
        so a rule that reads each gradient once may compute in it (no second array of the parameters' size
        passes through the cache each step); otherwise ``grads`` are left as they are.
        """
        self.iter += 1
        in_place = grads_are_scratch and self.reads_gradient_once
        for key, g in grads.items():
            p = params[key]
            prepared = self._scratch.get(key)
            if prepared is None or prepared[0] is not p:  # a parameter not seen before, or a new array for it
                prepared = self._prepare(key, p)
            self.step(key, p, g, g if in_place and g.dtype is p.dtype else prepared[1])  # (`is`: cheaper; else safe)

    def _prepare(self, key: str, p: np.ndarray) -> tuple:
        """The state arrays ``key`` lacks, and (p, a scratch array like p) for its updates."""
        for s in self.slots:
            if key not in self.slot[s]:
                self.slot[s][key] = np.zeros_like(p)
        scratch = self._scratch.get(key, (None, None))[1]
        if scratch is None or scratch.shape != p.shape or scratch.dtype != p.dtype:
            scratch = np.empty_like(p)
        self._scratch[key] = (p, scratch)
        return self._scratch[key]

    def step(self, key: str, p: np.ndarray, g: np.ndarray, scratch: np.ndarray) -> None:
        raise NotImplementedError

    @property
    def hyperparameters(self) -> dict:
        return {"lr": self.lr, **{k: getattr(self, k) for k in self.defaults}}

    def state(self) -> tuple[dict, dict]:
        """(JSON-able scalars, arrays by name) to save in a checkpoint."""
        arrays = {f"{s}.{key}": v for s, per_key in self.slot.items() for key, v in per_key.items()}
        return {"name": self.name, **self.hyperparameters, "iter": self.iter}, arrays

    def restore(self, meta: dict, arrays: dict) -> None:
        """Undo ``state()``: the same optimizer, settings and accumulated arrays."""
        if meta.get("name") != self.name:
            raise InputError(f"the checkpoint's optimizer is {meta.get('name')!r}, not {self.name!r}")
        self.iter = int(meta["iter"])
        for name, value in arrays.items():
            slot, _, key = name.partition(".")
            if slot not in self.slot:
                raise InputError(f"the checkpoint holds optimizer state {name!r}, which {self.name} does not keep")
            self.slot[slot][key] = np.array(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v:g}' for k, v in self.hyperparameters.items())})"


class SGD(Optimizer):
    """W ← W − η ∂L/∂W  (eq. 6.1, the chapter-4 update)."""

    name = "sgd"
    reads_gradient_once = True

    def step(self, key, p, g, scratch):
        p -= np.multiply(g, self.lr, out=scratch)


class Momentum(Optimizer):
    """v ← α v − η ∂L/∂W;  W ← W + v  (eqs. 6.3, 6.4)."""

    name, defaults, slots = "momentum", {"momentum": 0.9}, ("v",)
    reads_gradient_once = True

    def step(self, key, p, g, scratch):
        v = self.slot["v"][key]
        v *= self.momentum
        v -= np.multiply(g, self.lr, out=scratch)
        p += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient in the form that needs ∂L/∂W only at W (the book's ``Nesterov``):
    v ← α v − η ∂L/∂W;  W ← W + α² v − (1 + α) η ∂L/∂W."""

    name, defaults, slots = "nesterov", {"momentum": 0.9}, ("v",)

    def step(self, key, p, g, scratch):
        v = self.slot["v"][key]
        v *= self.momentum
        v -= np.multiply(g, self.lr, out=scratch)
        p += np.multiply(v, self.momentum * self.momentum, out=scratch)
        p -= np.multiply(g, (1 + self.momentum) * self.lr, out=scratch)


class AdaGrad(Optimizer):
    """h ← h + (∂L/∂W)²;  W ← W − η ∂L/∂W / (√h + 1e-7)  (eqs. 6.5, 6.6)."""

    name, slots = "adagrad", ("h",)

    def step(self, key, p, g, scratch):
        h = self.slot["h"][key]
        h += np.multiply(g, g, out=scratch)
        _adaptive_step(p, g, h, self.lr, scratch)


class RMSprop(Optimizer):
    """h ← ρ h + (1 − ρ)(∂L/∂W)²;  W ← W − η ∂L/∂W / (√h + 1e-7): AdaGrad that forgets (section 6.1.5)."""

    name, defaults, slots = "rmsprop", {"decay_rate": 0.99}, ("h",)

    def step(self, key, p, g, scratch):
        h = self.slot["h"][key]
        h *= self.decay_rate
        np.multiply(g, g, out=scratch)
        scratch *= 1 - self.decay_rate
        h += scratch
        _adaptive_step(p, g, h, self.lr, scratch)


class Adam(Optimizer):
    """m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
    W ← W − η √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + 1e-7)  (section 6.1.6; bias correction folded into η)."""

    name, defaults, slots = "adam", {"beta1": 0.9, "beta2": 0.999}, ("m", "v")
    default_lr = 0.001

    def step(self, key, p, g, scratch):
        m, v = self.slot["m"][key], self.slot["v"][key]
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        m *= self.beta1
        m += np.multiply(g, 1 - self.beta1, out=scratch)
        v *= self.beta2
        np.multiply(g, g, out=scratch)
        scratch *= 1 - self.beta2
        v += scratch
        _adaptive_step(p, m, v, lr_t, scratch)


def _adaptive_step(p, step, h, lr, scratch) -> None:
    """W ← W − η · step / (√h + 1e-7): the update AdaGrad, RMSprop and Adam share, computed in ``scratch``."""
    np.sqrt(h, out=scratch)
    scratch += 1e-7
    np.divide(step, scratch, out=scratch)
    scratch *= lr
    p -= scratch


OPTIMIZERS = {cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)}


def make_optimizer(name: str, lr=None, **hyper) -> Optimizer:
    """The optimizer called ``name`` (sgd, momentum, nesterov, adagrad, rmsprop, adam)."""
    cls = OPTIMIZERS.get(str(name).lower())
    if cls is None:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    return cls(lr, **hyper)
