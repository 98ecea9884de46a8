"""The playground's one contact with nnlearn's settings, networks and training.

Everything else in the playground speaks in plain dicts and arrays; this module turns the page's settings
into a ``TrainSettings`` (so they pass exactly the checks ``nnlearn train`` applies), builds the network the
way ``nnlearn train`` does, and trains it through nnlearn's own ``fit``.
"""

from __future__ import annotations

import copy

import numpy as np

from ..inference import init_network, predict
from ..network import ACTIVATIONS
from ..optimizers import OPTIMIZERS
from ..runs import RunFolder, build_network
from ..settings import GRADIENTS, SAMPLINGS, TrainSettings
from ..train import fit

FIELDS = ("dataset", "hidden", "activation", "init", "optimizer", "lr", "batch_size", "sampling", "gradient",
          "iters", "seed")
"""The settings the page offers: the book's chapter-4 choices, and chapter 6's network and optimizers."""
CHOICES = {"activation": tuple(ACTIVATIONS), "init": ("0.01", "he", "xavier"), "optimizer": tuple(OPTIMIZERS),
           "sampling": SAMPLINGS, "gradient": GRADIENTS}
"""Menus for the page; ``init`` also takes any standard deviation, as on the command line."""
PAGE_DEFAULTS = {"iters": 2000}
"""Where the page starts differently from ``nnlearn train``: a run short enough to watch to its end."""


def defaults() -> dict:
    """The page's starting settings: the book's recipe (``TrainSettings``' defaults), 2,000 iterations."""
    return {**as_dict(TrainSettings()), **PAGE_DEFAULTS}


def settings_from(values: dict) -> TrainSettings:
    """``TrainSettings`` from the page's values; a bad one raises the library's one-line ``ValueError``."""
    return TrainSettings(**{name: values[name] for name in FIELDS if name in values})


def as_dict(settings: TrainSettings) -> dict:
    """The page's fields of ``settings``, JSON-able."""
    d = settings.to_dict()
    return {name: d[name] for name in FIELDS}


def network_for(settings: TrainSettings, input_size: int, output_size: int):
    """The network ``nnlearn train`` would build for ``settings``."""
    return build_network(settings, input_size, output_size)


def train(net, dataset, settings: TrainSettings, *, on_step, on_epoch):
    """Train ``net`` through ``fit``; ``on_step`` and ``on_epoch`` may block, or return True to stop.
    Returns the ``History``."""
    return fit(net, dataset.x_train, dataset.t_train, x_test=dataset.x_test, t_test=dataset.t_test,
               **settings.scope("fit"), on_step=on_step, callbacks=[on_epoch])


def snapshot(net):
    """An independent copy of ``net`` that requests can read while ``net`` goes on training."""
    return copy.deepcopy(net)


def first_layer_weights(net) -> np.ndarray:
    """W1: one column of input weights per first-layer unit."""
    return net.params["W1"]


def probabilities(net, x: np.ndarray) -> np.ndarray:
    """Class probabilities for rows of pixels in [0, 1], from a network or from the params dict of the
    pretrained network."""
    if isinstance(net, dict):
        return predict(net, x.astype(net["W1"].dtype))
    return net.predict(x.astype(net.dtype))


def pretrained_network() -> dict:
    """The network nnlearn ships (section 3.6.2), used before any run has trained."""
    return init_network()


def save_run(folder: RunFolder, net, settings: TrainSettings, history, dataset) -> None:
    """Write ``folder`` as ``nnlearn train`` writes a run folder: config, history and final weights."""
    folder.write_config(settings, dataset.describe())
    folder.write_history(history)
    folder.write_weights(net, settings, history)
