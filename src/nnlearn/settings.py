"""The settings of a training run, defined once.

``TrainSettings`` is the one list of what a run can be told: the command line's options of ``nnlearn train``,
``fit``'s keyword arguments, the checkpoint's recipe, a run folder's ``config.json`` and the report's recipe
line are all derived from its fields.  Adding a setting is one field here (with its help text) plus the code
that uses it.

Each field's metadata says where it belongs: ``"data"`` (which dataset), ``"net"`` (the network's
architecture) or ``"fit"`` (how it is trained: what ``fit`` accepts).  Fields with ``cli=False`` are not
command-line options.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ._checks import positive_float, positive_int
from .errors import InputError
from .optimizers import OPTIMIZERS

SAMPLINGS = ("choice", "shuffle", "blocks")
GRADIENTS = ("backprop", "numerical")
AUGMENTS = ("none", "shift")
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001}
"""Learning rates used when none is given: chapter 4's 0.1 for SGD, chapter 6's examples' for the others."""


def _setting(default, scope: str, help: str, *, choices=None, cli=True, metavar=None):
    return field(default=default, metadata={"scope": scope, "help": help, "choices": choices, "cli": cli,
                                            "metavar": metavar})


@dataclass(frozen=True)
class TrainSettings:
    """Everything that defines a training run.  The defaults are the book's recipe (section 4.5)."""

    dataset: str = _setting("mnist-mini", "data", "mnist-mini (default, offline), mnist, fashion-mnist, "
                            "or a directory of IDX files")
    data_dir: str | None = _setting(None, "data", "download cache (default: $NNLEARN_DATA or the user cache "
                                    "directory)", metavar="DIR")
    hidden: tuple = _setting((50,), "net", "hidden layer sizes, e.g. 50 (the book's) or 256,128", metavar="H[,H...]")
    activation: str = _setting("sigmoid", "net", "activation of the hidden layers", choices=("sigmoid", "relu"))
    init: str = _setting("0.01", "net", "initial weight scale: a standard deviation (the book's 0.01), or "
                         "he/relu (√(2/n)) or xavier/sigmoid (√(1/n))", metavar="STD|he|xavier")
    weight_decay: float = _setting(0.0, "net", "L2 weight decay λ (section 6.4.2; default 0)", metavar="λ")
    dropout: float = _setting(0.0, "net", "dropout ratio after each hidden layer (section 6.4.3; default 0: off)",
                              metavar="RATIO")
    batchnorm: bool = _setting(False, "net", "batch normalization before each activation (section 6.3)")
    dtype: str = _setting("float32", "net", "float32 (default, about twice as fast) or float64 (the book's)",
                          choices=("float32", "float64"))
    iters: int = _setting(10000, "fit", "iterations (default 10000)")
    epochs: int | None = _setting(None, "fit", "train for this many epochs instead of --iters")
    batch_size: int = _setting(100, "fit", "mini-batch size (default 100)")
    optimizer: str = _setting("sgd", "fit", "the update rule (chapter 6; default sgd, the book's chapter 4)",
                              choices=tuple(OPTIMIZERS))
    lr: float | None = _setting(None, "fit", "learning rate (default 0.1 for sgd, 0.01 for momentum, nesterov "
                                "and adagrad, 0.001 for rmsprop and adam)")
    seed: int = _setting(0, "fit", "random seed for weights, batches, dropout and augmentation (default 0)")
    sampling: str = _setting("choice", "fit", "choice: the book's random batches with replacement; shuffle: each "
                             "sample once per epoch; blocks: a shuffle that reads files larger than memory "
                             "sequentially", choices=SAMPLINGS)
    gradient: str = _setting("backprop", "fit", "backprop (chapter 5) or numerical central differences "
                             "(chapter 4)", choices=GRADIENTS)
    augment: str = _setting("none", "fit", "shift: move each training image by up to 2 pixels at random, "
                            "every batch (seeded)", choices=AUGMENTS)
    eval_every: object = _setting("epoch", "fit", "evaluate every epoch, every N iterations, only at the end "
                                  "(None) or never", cli=False)

    def __post_init__(self):
        hidden = (self.hidden,) if isinstance(self.hidden, int) else tuple(self.hidden)
        object.__setattr__(self, "hidden", tuple(positive_int("hidden", h) for h in hidden) or _fail(
            "hidden must name at least one hidden layer size, e.g. 50 or 256,128"))
        for name, choices in (("activation", ("sigmoid", "relu")), ("dtype", ("float32", "float64")),
                              ("optimizer", tuple(OPTIMIZERS)), ("sampling", SAMPLINGS),
                              ("gradient", GRADIENTS), ("augment", AUGMENTS)):
            if getattr(self, name) not in choices:
                _fail(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        object.__setattr__(self, "init", _init(self.init))
        for name in ("weight_decay", "dropout"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                _fail(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if self.dropout >= 1:
            _fail(f"dropout must be below 1 (the share of units dropped), got {self.dropout!r}")
        positive_int("iters", self.iters)
        positive_int("batch_size", self.batch_size)
        if self.epochs is not None:
            positive_int("epochs", self.epochs)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            _fail(f"seed must be a whole number >= 0, got {self.seed!r}")
        lr = DEFAULT_LR[self.optimizer] if self.lr is None else positive_float("lr", self.lr)
        object.__setattr__(self, "lr", lr)

    # --- derived views ------------------------------------------------------------------------------
    @classmethod
    def names(cls, scope: str | None = None) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if scope is None or f.metadata["scope"] == scope]

    def scope(self, scope: str) -> dict:
        """The settings of one scope as a dict: ``"fit"`` gives what ``fit`` takes."""
        return {name: getattr(self, name) for name in self.names(scope)}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        """Settings from ``to_dict`` (a config.json); keys of settings added since default to the book's."""
        unknown = set(d) - set(cls.names())
        if unknown:
            raise InputError(f"unknown settings {', '.join(sorted(unknown))}")
        legacy = dict(d)
        if "weight_init_std" in legacy:  # config.json of nnlearn 0.1
            legacy["init"] = str(legacy.pop("weight_init_std"))
        return cls(**legacy)

    def replace(self, **changes) -> TrainSettings:
        return dataclasses.replace(self, **changes)

    @property
    def init_scale(self):
        """``init`` as ``weight_init_std`` takes it: a float, or a name."""
        try:
            return float(self.init)
        except ValueError:
            return self.init

    def network_kwargs(self) -> dict:
        """The keyword arguments of ``MultiLayerNet`` for these settings (sizes apart)."""
        return {"activation": self.activation, "weight_init_std": self.init_scale,
                "weight_decay_lambda": self.weight_decay, "use_dropout": self.dropout > 0,
                "dropout_ratio": self.dropout if self.dropout > 0 else 0.5, "use_batchnorm": self.batchnorm,
                "dtype": self.dtype}

    def is_book_network(self) -> bool:
        """The book's TwoLayerNet: one sigmoid hidden layer, a fixed init scale, nothing of chapter 6."""
        return (len(self.hidden) == 1 and self.activation == "sigmoid" and isinstance(self.init_scale, float)
                and not (self.weight_decay or self.dropout or self.batchnorm))

    def recipe(self, input_size: int = 784, output_size: int = 10) -> str:
        """One line that says what was trained and how (the report's and the CLI's)."""
        net = "-".join(map(str, (input_size, *self.hidden, output_size)))
        extras = [f"weight decay {self.weight_decay:g}"] if self.weight_decay else []
        extras += [f"dropout {self.dropout:g}"] if self.dropout else []
        extras += ["batchnorm"] if self.batchnorm else []
        extras += ["shifted digits"] if self.augment == "shift" else []
        length = f"{self.epochs} epochs" if self.epochs else f"{self.iters:,} iterations"
        return (f"{net} {self.activation}/softmax, init {self.init}, {self.dtype}, {self.gradient} gradient, "
                f"{length} of batch {self.batch_size} ({self.sampling}), {self.optimizer} lr {self.lr:g}, "
                f"{''.join(e + ', ' for e in extras)}seed {self.seed}")


PRESETS = {
    "book": {},
    "best": {"hidden": (256, 128), "activation": "relu", "init": "he", "optimizer": "adam", "lr": 0.001,
             "dropout": 0.2, "augment": "shift", "epochs": 100, "batch_size": 100, "sampling": "shuffle"},
}
"""Named recipes for ``nnlearn train --preset``: ``book`` is section 4.5's; ``best`` reaches ≥ 0.965 test
accuracy on mnist-mini (see the README for its measured time and accuracy)."""


def preset(name: str) -> TrainSettings:
    if name not in PRESETS:
        raise InputError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return TrainSettings(**PRESETS[name])


def _init(value) -> str:
    text = str(value).strip().lower()
    if text in ("he", "relu", "xavier", "sigmoid"):
        return text
    try:
        std = float(text)
    except ValueError:
        _fail(f"init must be a standard deviation or one of he, relu, xavier, sigmoid, got {value!r}")
    if not math.isfinite(std) or std < 0:
        _fail(f"init must be a standard deviation >= 0, got {value!r}")
    return f"{std:g}"


def _fail(message: str):
    raise InputError(message)
