"""The playground's JSON API: what the page calls, and what a script or test can call the same way.

Every route takes and returns JSON; a refused request gets ``{"error": "<one line: what and how to fix>"}``
with a 4xx status.  Parameters are checked with the same rules as ``nnlearn train`` (the library's
``_checks``, the same choices) plus caps that keep a local server responsive.  The routes:

=======  ===============================  ========================================================
GET      /api                             this table, as JSON
GET      /api/options                     choices, defaults and caps for the training settings
GET      /api/datasets                    the datasets and whether each is available offline
GET      /api/runs                        every run's summary
POST     /api/runs                        start a run: {settings..., "paused": false} → its summary
GET      /api/runs/<id>                   one run's summary
GET      /api/runs/<id>/history?since=N   loss per iteration from N on, and every epoch's record
GET      /api/runs/<id>/images            first-layer weights, confusion matrix, misclassified digits
POST     /api/runs/<id>/pause|resume|step|stop
POST     /api/runs/<id>/save              write a run folder under the runs folder → {"folder": name}
DELETE   /api/runs/<id>                   stop the run and forget it
POST     /api/predict                     {"width", "height", "pixels" (base64 uint8), "run"} → top 3
GET      /api/chapter4/surface?function=  f on a grid and the −∇f field
GET      /api/chapter4/descent?function=&x0=&x1=&lr=&steps=   a gradient-descent path
GET      /api/chapter4/tangent?x=&h=      forward vs central differences of 0.01x² + 0.1x
GET      /api/events                      Server-Sent Events: each run's new losses and state, 4 a second
=======  ===============================  ========================================================
"""

from __future__ import annotations

import base64
import binascii
import math
import threading

import numpy as np

from .._checks import positive_float, positive_int
from ..data.datasets import DatasetUnavailableError, dataset_names, open_dataset, status
from . import adapter, chapter4
from .drawing import mnist_like
from .worker import PlaygroundError, RunRegistry, top3

CAPS = {"hidden_units": 1000, "batch_size": 1000, "iters": 100_000, "image_side": 280, "seed": 2**32 - 1,
        "descent_steps": chapter4.MAX_STEPS}
DEFAULTS = {"dataset": "mnist-mini", "hidden": [50], "activation": "sigmoid", "init": "0.01", "optimizer": "sgd",
            "lr": 0.1, "batch_size": 100, "sampling": "choice", "gradient": "backprop", "iters": 2000, "seed": 0}
SAMPLINGS = ("choice", "shuffle")
GRADIENTS = ("backprop", "numerical")

def routes_table() -> list[dict]:
    """The routes of this module's docstring as [{method, path, what}]."""
    rows = []
    for line in __doc__.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in ("GET", "POST", "DELETE"):
            what = parts[2] if len(parts) > 2 else ""
            rows.append({"method": parts[0], "path": parts[1], "what": " ".join(what.split())})
    return rows


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise PlaygroundError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def _int(name: str, value, cap: int | None = None, *, minimum: int = 1) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        number = positive_int(name, value) if minimum == 1 else _whole(name, value, minimum)
    except ValueError as exc:
        raise PlaygroundError(str(exc)) from None
    if cap is not None and number > cap:
        raise PlaygroundError(f"{name} is {number:,}, above the playground's cap of {cap:,}; "
                              f"use nnlearn train for larger runs")
    return number


def _whole(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _positive(name: str, value) -> float:
    try:
        return positive_float(name, value)
    except ValueError as exc:
        raise PlaygroundError(str(exc)) from None


def _number(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlaygroundError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise PlaygroundError(f"{name} must be a finite number, got {value!r}")
    return number


def validate_settings(raw: dict, dataset_sizes=None) -> dict:
    """The training settings of a request, checked, with defaults for what is missing.

    ``dataset_sizes``: a function giving the number of training images of a dataset, so that a batch
    larger than the dataset is refused as ``fit`` would refuse it."""
    if not isinstance(raw, dict):
        raise PlaygroundError("the settings must be a JSON object such as {\"lr\": 0.1}")
    unknown = sorted(set(raw) - set(DEFAULTS) - {"paused"})
    if unknown:
        raise PlaygroundError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(DEFAULTS)}")
    s = {**DEFAULTS, **{k: v for k, v in raw.items() if k != "paused"}}
    hidden = s["hidden"]
    if isinstance(hidden, (int, str)):
        hidden = [h for h in str(hidden).replace(" ", "").split(",") if h] if isinstance(hidden, str) else [hidden]
    if not isinstance(hidden, list) or not hidden:
        raise PlaygroundError(f"hidden must be a list of layer sizes such as [50] or \"100,50\", got {s['hidden']!r}")
    hidden = [_int("hidden layer size", h, CAPS["hidden_units"]) for h in hidden]
    if len(hidden) > adapter.MAX_HIDDEN_LAYERS:
        raise PlaygroundError(f"hidden has {len(hidden)} layers but this nnlearn's network has "
                              f"{adapter.MAX_HIDDEN_LAYERS}; pass one size such as [50]")
    settings = {
        "dataset": _choice("dataset", s["dataset"], dataset_names()),
        "hidden": hidden,
        "activation": _choice("activation", s["activation"], adapter.ACTIVATIONS),
        "init": _choice("init", str(s["init"]), adapter.INITS),
        "optimizer": _choice("optimizer", s["optimizer"], adapter.OPTIMIZERS),
        "lr": _positive("lr", s["lr"]),
        "batch_size": _int("batch_size", s["batch_size"], CAPS["batch_size"]),
        "sampling": _choice("sampling", s["sampling"], SAMPLINGS),
        "gradient": _choice("gradient", s["gradient"], GRADIENTS),
        "iters": _int("iters", s["iters"], CAPS["iters"]),
        "seed": _int("seed", s["seed"], CAPS["seed"], minimum=0),
    }
    if dataset_sizes is not None:
        n = dataset_sizes(settings["dataset"])
        if settings["batch_size"] > n:
            raise PlaygroundError(f"batch_size {settings['batch_size']} is larger than {settings['dataset']}'s "
                                  f"{n:,} training images; pass at most {n:,}")
    return settings


class Playground:
    """The state behind the API: the runs and the datasets opened so far."""

    def __init__(self, runs_dir, data_dir=None):
        self.registry = RunRegistry(runs_dir)
        self.data_dir = data_dir
        self._datasets = {}
        self._datasets_lock = threading.Lock()
        self._pretrained = None

    # --- datasets -----------------------------------------------------------------------------------
    def datasets(self) -> list[dict]:
        rows = []
        for name in dataset_names():
            state, _ = status(name, self.data_dir)
            rows.append({"name": name, "state": state, "available": state != "needs download"})
        return rows

    def dataset(self, name: str):
        with self._datasets_lock:
            if name not in self._datasets:
                try:
                    self._datasets[name] = open_dataset(name, data_dir=self.data_dir, download=False)
                except DatasetUnavailableError:
                    raise PlaygroundError(f"{name} is not on this machine and the playground does not download; "
                                          f"run 'nnlearn download {name}' first, or pick mnist-mini") from None
            return self._datasets[name]

    # --- runs -------------------------------------------------------------------------------------------
    def start_run(self, body: dict) -> dict:
        settings = validate_settings(body, lambda name: len(self.dataset(name).t_train))
        paused = body.get("paused", False)
        if not isinstance(paused, bool):
            raise PlaygroundError(f"paused must be true or false, got {paused!r}")
        run = self.registry.create(settings, self.dataset(settings["dataset"]), paused=paused)
        return run.summary()

    def control(self, run_id, action: str) -> dict:
        run = self.registry.get(run_id)
        if action == "save":
            folder = run.save(self.registry.runs_dir)
            return {**run.summary(), "folder": folder.name, "path": str(folder)}
        {"pause": run.pause, "resume": run.resume, "step": run.step, "stop": run.stop}[action]()
        return run.summary()

    # --- drawing ------------------------------------------------------------------------------------
    def predict(self, body: dict) -> dict:
        if not isinstance(body, dict):
            raise PlaygroundError('send {"width": W, "height": H, "pixels": "<base64 of W*H bytes>"}')
        width = _int("width", body.get("width"), CAPS["image_side"])
        height = _int("height", body.get("height"), CAPS["image_side"])
        try:
            raw = base64.b64decode(str(body.get("pixels", "")), validate=True)
        except (binascii.Error, ValueError):
            raise PlaygroundError("pixels must be base64 of one byte per pixel (0 black, 255 ink)") from None
        if len(raw) != width * height:
            raise PlaygroundError(f"pixels holds {len(raw)} bytes but width x height is {width * height}; "
                                  "send one byte per pixel")
        image = mnist_like(np.frombuffer(raw, np.uint8).reshape(height, width))
        run_id = body.get("run")
        if run_id is None:
            network, source = self.pretrained(), "the pretrained 784-50-100-10 network"
        else:
            run = self.registry.get(run_id)
            network, source = run.network, f"run {run.id} at iteration {run.images['iteration']}"
        probs = adapter.probabilities(network, image.reshape(1, -1))[0]
        return {"top3": top3(probs), "probabilities": probs.tolist(), "network": source,
                "image": base64.b64encode(np.round(image * 255).astype(np.uint8).tobytes()).decode("ascii")}

    def pretrained(self) -> dict:
        if self._pretrained is None:
            self._pretrained = adapter.pretrained_parameters()
        return self._pretrained

    # --- chapter 4 --------------------------------------------------------------------------------
    def chapter4(self, what: str, query: dict) -> dict:
        def get(name, default):
            return query.get(name, default)

        try:
            if what == "surface":
                return chapter4.surface(get("function", "bowl"))
            if what == "descent":
                lo = -chapter4.EXTENT * 4
                x0, x1 = (_number(n, get(n, v)) for n, v in (("x0", -3.0), ("x1", 3.0)))
                if not (lo <= x0 <= -lo and lo <= x1 <= -lo):
                    raise PlaygroundError(f"x0 and x1 must lie within ±{-lo:g}, got ({x0:g}, {x1:g})")
                return chapter4.descent_path(get("function", "bowl"), x0, x1, _positive("lr", get("lr", 0.1)),
                                             _int("steps", get("steps", 20), CAPS["descent_steps"], minimum=0))
            if what == "tangent":
                x = _number("x", get("x", 5.0))
                if not 0 <= x <= 20:
                    raise PlaygroundError(f"x must lie in [0, 20], got {x:g}")
                return chapter4.tangent(x, _positive("h", get("h", 1e-4)))
        except PlaygroundError:
            raise
        except ValueError as exc:  # the library's own checks
            raise PlaygroundError(str(exc)) from None
        raise PlaygroundError(f"there is no chapter-4 view {what!r}; use surface, descent or tangent", 404)
