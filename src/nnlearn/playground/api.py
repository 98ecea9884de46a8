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

from .._checks import positive_float
from ..data.datasets import DatasetUnavailableError, dataset_names, open_dataset, status
from ..settings import DEFAULT_LR, TrainSettings
from . import adapter, chapter4
from .drawing import mnist_like
from .worker import PlaygroundError, RunRegistry, top3

CAPS = {"hidden_units": 1000, "hidden_layers": 5, "batch_size": 1000, "iters": 100_000, "image_side": 280,
        "descent_steps": chapter4.MAX_STEPS, "numerical_hidden_units": 200}
"""Limits that keep a local server responsive; ``nnlearn train`` has none of them."""


def routes_table() -> list[dict]:
    """The routes of this module's docstring as [{method, path, what}]."""
    rows = []
    for line in __doc__.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] in ("GET", "POST", "DELETE"):
            what = parts[2] if len(parts) > 2 else ""
            rows.append({"method": parts[0], "path": parts[1], "what": " ".join(what.split())})
    return rows


def options(datasets: list[dict], max_active: int) -> dict:
    """What the page builds its controls from."""
    return {"defaults": adapter.defaults(), "caps": CAPS, "default_lr": DEFAULT_LR, "max_active_runs": max_active,
            "choices": {"dataset": [d["name"] for d in datasets if d["available"]], **adapter.CHOICES}}


def _from_text(value):
    """A number typed into the page or a URL, as a number; anything else as it came."""
    if not isinstance(value, str):
        return value
    for kind in (int, float):
        try:
            return kind(value.strip())
        except ValueError:
            pass
    return value


def _cap(name: str, value, cap: int) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > cap:
        raise PlaygroundError(f"{name} is {value:,}, above the playground's cap of {cap:,}; "
                              "use nnlearn train for larger runs")


def validate_settings(raw: dict, dataset_sizes=None) -> TrainSettings:
    """The training settings of a request as ``TrainSettings``: the page's defaults for what is missing,
    the checks of ``nnlearn train`` (the library's own), and the playground's caps.

    ``dataset_sizes``: a function giving the number of training images of a dataset, so that a batch
    larger than the dataset is refused before a run starts."""
    if not isinstance(raw, dict):
        raise PlaygroundError('the settings must be a JSON object such as {"lr": 0.1}')
    unknown = sorted(set(raw) - set(adapter.FIELDS) - {"paused"})
    if unknown:
        raise PlaygroundError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(adapter.FIELDS)}")
    values = {name: _from_text(raw[name]) for name in adapter.FIELDS if name in raw}
    if "dataset" in values and values["dataset"] not in dataset_names():  # never a path from the browser
        raise PlaygroundError(f"dataset must be one of {', '.join(dataset_names())}, got {values['dataset']!r}")
    if "hidden" in values:
        hidden = values["hidden"]
        if isinstance(hidden, str):
            hidden = [h for h in hidden.split(",") if h.strip()]
        elif not isinstance(hidden, list):
            hidden = [hidden]
        hidden = [_from_text(h) for h in hidden]
        if len(hidden) > CAPS["hidden_layers"]:
            raise PlaygroundError(f"hidden has {len(hidden)} layers, above the playground's cap of "
                                  f"{CAPS['hidden_layers']}; use nnlearn train for deeper networks")
        for h in hidden:
            _cap("a hidden layer", h, CAPS["hidden_units"])
        values["hidden"] = hidden
    if "init" in values and not isinstance(values["init"], str):
        values["init"] = str(values["init"])
    if values.get("lr") == "":
        values["lr"] = None
    _cap("batch_size", values.get("batch_size"), CAPS["batch_size"])
    _cap("iters", values.get("iters"), CAPS["iters"])
    merged = {**adapter.defaults(), **values}
    if "lr" not in values:
        merged["lr"] = None  # the optimizer's own default, as on the command line
    try:
        settings = adapter.settings_from(merged)
    except (ValueError, TypeError) as exc:
        raise PlaygroundError(str(exc)) from None
    if settings.gradient == "numerical":
        if not settings.is_book_network():
            raise PlaygroundError("the numerical gradient is fast here only for the book's network (one sigmoid "
                                  "hidden layer, a numeric init); choose backprop, or nnlearn train --gradient "
                                  "numerical for other networks")
        _cap("with the numerical gradient, the hidden layer", settings.hidden[0], CAPS["numerical_hidden_units"])
    if dataset_sizes is not None:
        n = dataset_sizes(settings.dataset)
        if settings.batch_size > n:
            raise PlaygroundError(f"batch_size {settings.batch_size} is larger than {settings.dataset}'s "
                                  f"{n:,} training images; pass at most {n:,}")
    return settings


def _int(name: str, value, cap: int, *, minimum: int = 1) -> int:
    value = _from_text(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise PlaygroundError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    _cap(name, value, cap)
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
        run = self.registry.create(settings, self.dataset(settings.dataset), paused=paused)
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
            probs = adapter.probabilities(self.pretrained(), image.reshape(1, -1))[0]
            source = "the pretrained 784-50-100-10 network"
        else:
            run = self.registry.get(run_id)
            probs, iteration = run.predict(image.reshape(1, -1))
            probs = probs[0]
            source = f"run {run.id} at iteration {iteration}"
        return {"top3": top3(probs), "probabilities": probs.tolist(), "network": source,
                "image": base64.b64encode(np.round(image * 255).astype(np.uint8).tobytes()).decode("ascii")}

    def pretrained(self) -> dict:
        if self._pretrained is None:
            self._pretrained = adapter.pretrained_network()
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
