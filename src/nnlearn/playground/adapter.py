"""The playground's one contact with nnlearn's network, optimizer and training API.

Everything else in the playground speaks in settings dicts and plain arrays; this module turns settings into
a network and a call to ``fit``.  Today nnlearn has the chapter-4 ``TwoLayerNet`` (sigmoid, Gaussian
initial weights, plain SGD), so the page offers exactly those choices; when ``MultiLayerNet`` and
``nnlearn.optimizers`` arrive, this is the only file that needs to learn about them.
"""

from __future__ import annotations

import copy

import numpy as np

from ..inference import init_network, predict
from ..network import TwoLayerNet
from ..runs import TrainSettings
from ..train import fit

ACTIVATIONS = ("sigmoid",)
"""What ``TwoLayerNet`` computes between its two Affine layers (section 4.5.1)."""
INITS = ("0.01",)
"""The book's weight_init_std: Gaussian weights times 0.01."""
OPTIMIZERS = ("sgd",)
"""Plain stochastic gradient descent, θ ← θ − η ∂L/∂θ (eq. 4.7): the only update ``fit`` knows today."""
MAX_HIDDEN_LAYERS = 1


def build_network(settings: dict, input_size: int, output_size: int):
    """The network ``settings`` describe (validated by ``api.validate_settings``)."""
    (hidden,) = settings["hidden"]
    return TwoLayerNet(input_size, hidden, output_size, float(settings["init"]), seed=settings["seed"],
                       dtype=np.float32)


def train(net, dataset, settings: dict, *, on_step, on_epoch):
    """Train ``net`` through nnlearn's own ``fit``; ``on_step`` and ``on_epoch`` may block or return True
    to stop.  Returns the ``History``."""
    return fit(net, dataset.x_train, dataset.t_train, x_test=dataset.x_test, t_test=dataset.t_test,
               iters=settings["iters"], batch_size=settings["batch_size"], lr=settings["lr"],
               seed=settings["seed"], sampling=settings["sampling"], gradient=settings["gradient"],
               on_step=on_step, callbacks=[on_epoch])


def snapshot(net):
    """An independent copy of ``net`` that requests can read while ``net`` goes on training."""
    return copy.deepcopy(net)


def parameters(net) -> dict:
    """The network's parameters as a dict of arrays (``W1``, ``b1``, ...)."""
    return net.params


def probabilities(net, x: np.ndarray) -> np.ndarray:
    """Class probabilities for rows of pixels in [0, 1], from a network or a params dict of sigmoid layers
    (the pretrained network)."""
    if isinstance(net, dict):
        return predict(net, x.astype(net["W1"].dtype))
    return net.predict(x.astype(parameters(net)["W1"].dtype))


def pretrained_parameters() -> dict:
    """The network ``nnlearn`` ships (section 3.6.2), used before any run has trained."""
    return init_network()


def run_settings(settings: dict) -> TrainSettings:
    """The ``TrainSettings`` a saved run folder records, so ``nnlearn report`` can read it."""
    (hidden,) = settings["hidden"]
    return TrainSettings(dataset=settings["dataset"], hidden=hidden, iters=settings["iters"],
                         batch_size=settings["batch_size"], lr=settings["lr"], seed=settings["seed"],
                         sampling=settings["sampling"], gradient=settings["gradient"], dtype="float32",
                         weight_init_std=float(settings["init"]))


def weights_meta(net, settings: dict, history) -> dict:
    """The metadata ``nnlearn train`` stores beside a run's final weights."""
    import dataclasses

    from .._version import __version__

    return {"sizes": list(net.sizes), "dtype": str(net.dtype), "recipe": dataclasses.asdict(run_settings(settings)),
            "dataset": settings["dataset"], "seed": settings["seed"], "nnlearn": __version__,
            "test_accuracy": history.test_acc[-1] if history.test_acc else None,
            "train_accuracy": history.train_acc[-1] if history.train_acc else None}
