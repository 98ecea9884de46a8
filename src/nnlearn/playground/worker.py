"""Training runs in worker threads: start, pause, step one iteration, stop, and what the page shows.

A ``Run`` trains through ``fit`` in its own thread.  ``fit`` calls ``on_step`` after every update, and that
is where pausing happens: the thread waits there on a condition until it may go on (resume, or one more
step) or is told to stop, which ``on_step`` reports by returning True so ``fit`` ends cleanly.  What the
page draws (first-layer weights, confusion matrix, misclassified digits) is computed in the training thread
between iterations and published as immutable snapshots, so a request never reads half-updated weights.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from pathlib import Path

import numpy as np

from ..data.pixels import pixels_to_float
from ..history import History
from ..plots import confusion_matrix
from ..runs import RunFolder
from ..settings import TrainSettings
from ..train import TrainingDivergedError
from . import adapter

MAX_ACTIVE_RUNS = 3
"""Runs that may train (or wait paused) at the same time; each holds a thread and a copy of the network."""
MAX_RUNS = 12
"""Runs kept in memory, finished ones included; the page resets old ones to make room."""
WEIGHT_IMAGES = 24
MISCLASSIFIED = 8
PUBLISH_EVERY = 0.25
"""Seconds between two weight snapshots while training; the page polls no faster than this."""
ANALYSIS_EVERY = 1.0
"""Seconds between two confusion matrices (a pass over the test split) while training."""

ACTIVE_STATES = ("running", "paused")


class PlaygroundError(ValueError):
    """A request the playground refuses; ``status`` is the HTTP status that goes with the message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def encode_pixels(pixels: np.ndarray) -> str:
    """uint8 pixels as base64, the form the page decodes into canvas images."""
    return base64.b64encode(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).decode("ascii")


def weight_images(W1: np.ndarray, units: int = WEIGHT_IMAGES) -> list[str]:
    """The first ``units`` columns of W1 as 28x28 images: 128 is a zero weight, 0 and 255 the largest
    negative and positive weight of that unit (each unit scaled on its own, as in the report's figure)."""
    w = np.asarray(W1[:, :units], dtype=np.float64)
    scale = np.abs(w).max(axis=0)
    scale[scale == 0] = 1.0
    pixels = np.clip(np.round(127.5 + 127.5 * w / scale), 0, 255).astype(np.uint8)
    return [encode_pixels(pixels[:, j]) for j in range(pixels.shape[1])]


class Run:
    """One training run in a worker thread."""

    def __init__(self, run_id: int, settings: TrainSettings, dataset, *, paused: bool = False):
        self.id = run_id
        self.train_settings = settings
        self.settings = adapter.as_dict(settings)  # what the page shows
        self.dataset = dataset
        self.net = adapter.network_for(settings, dataset.x_train.shape[1], len(dataset.class_names))
        self.state = "paused" if paused else "running"
        self.error: str | None = None
        self.iteration = 0
        self.loss: list[float] = []
        self.epochs: list[dict] = []
        self.history: History | None = None
        self.images = {"version": 0, "weights": [], "confusion": None, "misclassified": [], "iteration": 0}
        self.network = adapter.snapshot(self.net)  # what requests read; replaced, never changed in place
        self.created = time.time()
        self._cond = threading.Condition()
        self._steps = 0
        self._stop = False
        self._idle = threading.Event()  # set while the thread waits paused, and once it has finished
        self._reading = threading.Lock()  # a network's layers keep their last forward pass: one reader at a time
        self._last_publish = self._last_analysis = 0.0
        self._x_test = None
        self._thread = threading.Thread(target=self._train, name=f"nnlearn-playground-run-{run_id}", daemon=True)

    # --- control (called from request threads) ---------------------------------------------------
    def start(self) -> None:
        self._publish(analysis=True)
        self._thread.start()

    def pause(self) -> None:
        with self._cond:
            if self.state == "running":
                self.state = "paused"

    def resume(self) -> None:
        with self._cond:
            if self.state == "paused":
                self.state = "running"
                self._cond.notify_all()

    def step(self) -> None:
        with self._cond:
            if self.state == "running":
                raise PlaygroundError(f"run {self.id} is running; pause it before stepping one iteration", 409)
            if self.state != "paused":
                raise PlaygroundError(f"run {self.id} has {self.state}; start a new run to step through", 409)
            self._steps += 1
            self._cond.notify_all()

    def stop(self, wait: float | None = None) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if wait is not None and self._thread.is_alive():
            self._thread.join(wait)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def summary(self) -> dict:
        last = self.epochs[-1] if self.epochs else {}
        return {"id": self.id, "state": self.state, "error": self.error, "settings": self.settings,
                "iteration": self.iteration, "iters": self.settings["iters"], "epochs": len(self.epochs),
                "train_acc": last.get("train_acc"), "test_acc": last.get("test_acc"),
                "images_version": self.images["version"]}

    def history_since(self, since: int = 0, epochs_since: int = 0) -> dict:
        loss = self.loss[since:]  # the training thread only appends, so a slice is a consistent prefix
        return {"id": self.id, "state": self.state, "error": self.error, "iteration": self.iteration,
                "loss_from": since, "loss": loss, "epochs_from": epochs_since, "epochs": self.epochs[epochs_since:],
                "iter_per_epoch": max(len(self.dataset.t_train) // self.settings["batch_size"], 1),
                "images_version": self.images["version"]}

    # --- the training thread ----------------------------------------------------------------------
    def _train(self) -> None:
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.history = adapter.train(self.net, self.dataset, self.train_settings, on_step=self._on_step,
                                             on_epoch=self._on_epoch)
            self.state = "stopped" if self._stop else "finished"
        except TrainingDivergedError as exc:
            self.history, self.error, self.state = exc.history, str(exc), "diverged"
        except Exception as exc:  # shown in the page; the server and the other runs carry on
            self.error, self.state = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            self._publish(analysis=True)
            self._idle.set()

    def _on_step(self, iteration: int, loss: float) -> bool:
        self.iteration = iteration
        self.loss.append(float(loss))
        if time.monotonic() - self._last_publish >= PUBLISH_EVERY:
            self._publish(analysis=time.monotonic() - self._last_analysis >= ANALYSIS_EVERY)
        with self._cond:
            if self.state == "paused" and not self._steps and not self._stop:
                self._publish(analysis=True)  # the page shows the weights the run is paused at
                self._idle.set()
                while self.state == "paused" and not self._steps and not self._stop:
                    self._cond.wait()
                self._idle.clear()
            if self._steps:
                self._steps -= 1
            return self._stop

    def _on_epoch(self, record: dict) -> bool:
        self.history = record["history"]
        self.epochs.append({k: v for k, v in record.items() if k != "history"})
        self._publish(analysis=time.monotonic() - self._last_analysis >= ANALYSIS_EVERY)
        return self._stop

    def _publish(self, analysis: bool) -> None:
        network = adapter.snapshot(self.net)
        images = {**self.images, "version": self.images["version"] + 1, "iteration": self.iteration,
                  "weights": weight_images(adapter.first_layer_weights(network))}
        if analysis:
            images.update(self._analysis(network))
            self._last_analysis = time.monotonic()
        self.network, self.images = network, images
        self._last_publish = time.monotonic()

    def _analysis(self, network) -> dict:
        """The confusion matrix on the test split and its first misclassified digits with their top 3."""
        if self._x_test is None:
            self._x_test = pixels_to_float(self.dataset.x_test)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            probs = adapter.probabilities(network, self._x_test)
        true = np.asarray(self.dataset.t_test).astype(np.intp)
        pred = np.argmax(probs, axis=1)
        classes = len(self.dataset.class_names)
        wrong = np.flatnonzero(pred != true)[:MISCLASSIFIED]
        return {"confusion": confusion_matrix(true, pred, classes).tolist(),
                "class_names": [str(c) for c in self.dataset.class_names],
                "misclassified": [{"pixels": encode_pixels(self.dataset.x_test[i]), "label": int(true[i]),
                                   "top3": top3(probs[i])} for i in wrong]}

    # --- saving ------------------------------------------------------------------------------------
    def save(self, runs_dir: Path) -> Path:
        """Write this run as a normal run folder under ``runs_dir`` (``nnlearn report`` works on it)."""
        if self.state == "running":
            raise PlaygroundError(f"run {self.id} is still training; pause it (or let it finish) before saving", 409)
        if not self._idle.wait(5.0):
            raise PlaygroundError(f"run {self.id} did not come to a halt; try saving again", 409)
        history = self.history
        if history is None or not history.epoch:
            per_epoch = max(len(self.dataset.t_train) // self.settings["batch_size"], 1)
            raise PlaygroundError(f"run {self.id} has not finished an epoch yet ({per_epoch} iterations); "
                                  "let it train one epoch before saving", 409)
        name = time.strftime("%Y%m%d-%H%M%S") + f"-run{self.id}"
        with RunFolder.started(runs_dir / name) as folder:
            adapter.save_run(folder, self.network, self.train_settings, history, self.dataset)
        return folder.path

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(class probabilities, the iteration of the weights used) for rows of pixels in [0, 1]."""
        network, iteration = self.network, self.images["iteration"]
        with self._reading:
            return adapter.probabilities(network, x), iteration


def top3(p: np.ndarray) -> list[dict]:
    best = np.argsort(p)[::-1][:3]
    return [{"class": int(k), "probability": float(p[k])} for k in best]


class RunRegistry:
    """The playground's runs, with the limits on how many train and how many are kept."""

    def __init__(self, runs_dir: Path, max_active: int = MAX_ACTIVE_RUNS, max_runs: int = MAX_RUNS):
        self.runs_dir = Path(runs_dir)
        self.max_active, self.max_runs = max_active, max_runs
        self._runs: dict[int, Run] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed = False

    def create(self, settings: TrainSettings, dataset, *, paused: bool = False) -> Run:
        with self._lock:
            if self.closed:
                raise PlaygroundError("the playground is shutting down", 503)
            active = sum(r.active for r in self._runs.values())
            if active >= self.max_active:
                raise PlaygroundError(f"{active} runs are already training (the limit is {self.max_active}); "
                                      "stop or reset one before starting another", 429)
            if len(self._runs) >= self.max_runs:
                raise PlaygroundError(f"the playground keeps at most {self.max_runs} runs; reset (remove) "
                                      "finished runs before starting another", 429)
            run = Run(next(self._ids), settings, dataset, paused=paused)
            self._runs[run.id] = run
        run.start()
        return run

    def get(self, run_id) -> Run:
        try:
            return self._runs[int(run_id)]
        except (KeyError, ValueError, TypeError):
            raise PlaygroundError(f"there is no run {run_id!r}; list the runs with GET /api/runs", 404) from None

    def all(self) -> list[Run]:
        return list(self._runs.values())

    def remove(self, run_id) -> None:
        run = self.get(run_id)
        run.stop(wait=5.0)
        with self._lock:
            self._runs.pop(run.id, None)

    def close(self, wait: float = 5.0) -> None:
        """Stop every run and wait for its thread (shutting the server down)."""
        with self._lock:
            self.closed = True
            runs = list(self._runs.values())
        for run in runs:
            run.stop()
        for run in runs:
            run.stop(wait=wait)
