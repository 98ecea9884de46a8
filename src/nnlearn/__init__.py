"""nnlearn: how a neural network learns, after chapter 4 of 「ゼロから作るDeep Learning」.

The book's names, importable from one place::

    from nnlearn import cross_entropy_error, numerical_gradient, TwoLayerNet, load_mnist

Each name is imported from its module when first used, so ``import nnlearn`` (and the ``nnlearn`` command's
start-up, which a Ctrl-C may interrupt) does not load NumPy and the rest before they are needed.
"""

import importlib

from ._version import __version__

_EXPORTS = {
    "data.batches": ("BatchLoader", "BatchSampler"),
    "data.blockio": ("iter_chunks",),
    "data.datasets": ("Dataset", "load_mnist", "open_dataset"),
    "data.idx": ("read_idx", "write_idx"),
    "errors": ("NnlearnError", "InputError", "CheckpointError", "ResourceLimitError", "DatasetChangedError",
               "DatasetUnavailableError", "FolderBusyError", "TrainingDivergedError"),
    "functions": ("step_function", "sigmoid", "sigmoid_grad", "relu", "identity_function", "softmax",
                  "sum_squared_error", "mean_squared_error", "sum_square_error", "cross_entropy_error",
                  "softmax_cross_entropy"),
    "gradient": ("numerical_diff", "numerical_gradient", "gradient_descent"),
    "history": ("History",),
    "io": ("save_weights", "load_weights"),
    "layers": ("Affine", "Sigmoid", "Relu", "SoftmaxWithLoss", "Dropout", "BatchNormalization"),
    "network": ("SimpleNet", "simpleNet", "TwoLayerNet", "MultiLayerNet", "gradient_check", "GradientCheckReport"),
    "optimizers": ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"),
    "settings": ("TrainSettings",),
    "train": ("fit", "evaluate"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_MODULE_OF]


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'nnlearn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # imported once; later lookups are ordinary attribute reads
    return value


def __dir__():
    return sorted({*globals(), *_MODULE_OF})
