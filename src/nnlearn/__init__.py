"""nnlearn: how a neural network learns, after chapter 4 of 「ゼロから作るDeep Learning」.

The book's names, importable from one place::

    from nnlearn import cross_entropy_error, numerical_gradient, TwoLayerNet, load_mnist
"""

from ._version import __version__
from .data.batches import BatchLoader, BatchSampler
from .data.blockio import iter_chunks
from .data.datasets import Dataset, DatasetUnavailableError, load_mnist, open_dataset
from .data.idx import read_idx, write_idx
from .functions import (
    cross_entropy_error,
    identity_function,
    mean_squared_error,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_cross_entropy,
    step_function,
    sum_square_error,
    sum_squared_error,
)
from .gradient import gradient_descent, numerical_diff, numerical_gradient
from .history import History
from .io import load_weights, save_weights
from .layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .network import GradientCheckReport, MultiLayerNet, SimpleNet, TwoLayerNet, gradient_check, simpleNet
from .optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from .settings import TrainSettings
from .train import TrainingDivergedError, evaluate, fit

__all__ = [
    "__version__",
    "step_function", "sigmoid", "sigmoid_grad", "relu", "identity_function", "softmax",
    "sum_squared_error", "mean_squared_error", "sum_square_error", "cross_entropy_error",
    "softmax_cross_entropy",
    "numerical_diff", "numerical_gradient", "gradient_descent",
    "SimpleNet", "simpleNet", "TwoLayerNet", "MultiLayerNet", "gradient_check", "GradientCheckReport",
    "Affine", "Sigmoid", "Relu", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "TrainSettings",
    "read_idx", "write_idx", "load_mnist", "open_dataset", "Dataset", "DatasetUnavailableError",
    "BatchSampler", "BatchLoader", "iter_chunks",
    "save_weights", "load_weights", "fit", "History", "TrainingDivergedError", "evaluate",
]
