"""Run folders: what ``nnlearn train`` leaves behind, and the orchestration of one training run.

A run folder holds ``config.json`` (the settings), ``checkpoint.npz`` (rewritten at every epoch and on
Ctrl-C), ``history.csv`` / ``history.json``, the final ``weights.npz``, and the report (``report.html`` and
its PNGs).  Every file is written atomically.

A folder is held by one process at a time (``RunFolder.started`` / ``RunFolder.resumed`` lock it), so two
runs never write into one folder.  A start that fails before the first checkpoint leaves nothing behind, and
temporary files of a process that was killed are removed when the folder is next opened.
"""

from __future__ import annotations

import contextlib
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ._files import LOCK_NAME, exclusive_lock, remove_stale_temporaries, write_text_atomic
from ._version import __version__
from .data.datasets import open_dataset
from .errors import InputError
from .history import History
from .io import save_weights
from .network import MultiLayerNet, TwoLayerNet
from .parallel import Ranks
from .settings import TrainSettings
from .train import fit, read_checkpoint


class RunFolder:
    CONFIG, CHECKPOINT, WEIGHTS = "config.json", "checkpoint.npz", "weights.npz"
    HISTORY_CSV, HISTORY_JSON = "history.csv", "history.json"

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    @contextlib.contextmanager
    def started(cls, path):
        """A folder for a new run, held exclusively for the ``with`` block.

        A folder whose run was killed before its first checkpoint may be started again.  If the block fails
        before the first checkpoint is written, the folder is removed again (when this run created it; else
        the files this run wrote).  Raises ``InputError`` for a folder that already holds a run and
        ``FolderBusyError`` (an ``OSError``) for one another process holds.
        """
        path = Path(path)
        created = not path.exists()
        with exclusive_lock(path, "another nnlearn train"):
            run = cls(path)
            remove_stale_temporaries(path)
            if (path / cls.CHECKPOINT).exists():
                raise InputError(f"{path} already holds a run; pass another --out, or --resume {path} to continue it")
            try:
                yield run
            except BaseException:
                if not (path / cls.CHECKPOINT).exists():
                    run._discard(created)
                raise

    @classmethod
    @contextlib.contextmanager
    def resumed(cls, path):
        """An existing run folder with a checkpoint, held exclusively for the ``with`` block."""
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"{path} is not a directory; pass the run folder that nnlearn train created")
        if not (path / cls.CONFIG).is_file():
            raise InputError(f"{path} is not a run folder (no {cls.CONFIG}); pass a folder made by nnlearn train")
        with exclusive_lock(path, "another nnlearn train"):
            remove_stale_temporaries(path)
            if not (path / cls.CHECKPOINT).is_file():
                raise InputError(f"{path} has no {cls.CHECKPOINT}: the run stopped before its first checkpoint; "
                                 f"start it again with --out {path}")
            yield cls(path)

    def _discard(self, created: bool) -> None:
        """Remove what a start that failed before its first checkpoint wrote."""
        if created:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        for name in (self.CONFIG, self.HISTORY_CSV, self.HISTORY_JSON, LOCK_NAME):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()

    def settings(self) -> TrainSettings:
        try:
            config = json.loads((self.path / self.CONFIG).read_text())
            return TrainSettings.from_dict(config["settings"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{self.path / self.CONFIG} is unreadable ({exc}); the run folder is damaged") from None

    def write_config(self, settings: TrainSettings, dataset_description: str) -> None:
        config = {"nnlearn": __version__, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "settings": settings.to_dict(), "dataset": dataset_description,
                  "software": software_versions()}
        write_text_atomic(self.path / self.CONFIG, json.dumps(config, indent=2))

    def write_weights(self, net: MultiLayerNet, settings: TrainSettings, history: History) -> None:
        """The trained network, with the metadata that rebuilds it (``network_from_weights``)."""
        meta = {"architecture": net.architecture, "dtype": str(net.dtype), "recipe": settings.to_dict(),
                "dataset": str(settings.dataset), "seed": settings.seed, "nnlearn": __version__,
                "test_accuracy": history.test_acc[-1], "train_accuracy": history.train_acc[-1]}
        save_weights(self.path / self.WEIGHTS, {**net.params, **net.state}, meta)

    def write_history(self, history: History) -> None:
        history.to_csv(self.path / self.HISTORY_CSV)
        history.to_json(self.path / self.HISTORY_JSON)

    def read_history(self) -> History:
        path = self.path / self.HISTORY_JSON
        if path.is_file():
            try:
                return History.from_dict(json.loads(path.read_text()))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path} is unreadable ({exc}); the run folder is damaged") from None
        if (self.path / self.CHECKPOINT).is_file():
            _, meta, extra = read_checkpoint(self.path / self.CHECKPOINT)
            return History.from_dict({**meta["history"], "loss": extra["loss"].tolist()})
        raise InputError(f"{self.path} has no {self.HISTORY_JSON} or {self.CHECKPOINT}; "
                         "pass a run folder that nnlearn train has written at least one epoch to")


def software_versions() -> dict:
    import matplotlib

    return {"nnlearn": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
            "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def build_network(settings: TrainSettings, input_size: int, output_size: int) -> MultiLayerNet:
    """The network ``settings`` describe: the book's ``TwoLayerNet`` for its recipe, else ``MultiLayerNet``."""
    if settings.is_book_network():
        return TwoLayerNet(input_size, settings.hidden[0], output_size, settings.init_scale, seed=settings.seed,
                           dtype=settings.dtype)
    return MultiLayerNet(input_size, list(settings.hidden), output_size, seed=settings.seed,
                         **settings.network_kwargs())


def train_run(run: RunFolder, settings: TrainSettings, *, threads=None, resume=False, say=print,
              progress=True, on_epoch=None, net_sizes=None, comm=None) -> str:
    """Train as ``settings`` say, writing everything into ``run``; returns a one-paragraph summary.
    net_sizes: the whole network's sizes as asked for (``--net``), checked against the dataset's.
    comm: an MPI communicator: every rank trains its share; rank 0 alone writes and speaks."""
    ranks = Ranks(comm)
    if not ranks.root:
        say, progress = (lambda *a, **k: None), False
    ds = open_dataset(settings.dataset, data_dir=settings.data_dir)  # every rank opens the data itself
    input_size, output_size = ds.x_train.shape[1], len(ds.class_names)
    if net_sizes is not None and (net_sizes[0], net_sizes[-1]) != (input_size, output_size):
        raise InputError(f"--net {'-'.join(map(str, net_sizes))} does not fit {settings.dataset}: its images have "
                         f"{input_size} pixels and {output_size} classes; pass --net {input_size}-...-{output_size}")
    net = build_network(settings, input_size, output_size)
    if not resume and ranks.root:
        run.write_config(settings, ds.describe())
    say(f"dataset  {ds.describe()}")
    say(f"recipe   {settings.recipe(input_size, output_size)}")
    say(f"run      {run.path}{'  (resuming)' if resume else ''}")
    if ranks.parallel:
        say(f"ranks    {ranks.size} MPI processes, each computing the gradient of its part of every batch")
    interactive = progress and sys.stdout.isatty()
    iters = settings.epochs * max(len(ds.t_train) // settings.batch_size, 1) if settings.epochs else settings.iters
    table = EpochTable(iters, write=_bar_safe_print if interactive else say)
    table.header()

    def each_epoch(record):
        table.row(record)
        run.write_history(record["history"])
        if on_epoch is not None:
            on_epoch(run, record, ds, net)

    with _thread_limits(threads):
        history = fit(net, ds.x_train, ds.t_train, x_test=ds.x_test, t_test=ds.t_test, **settings.scope("fit"),
                      progress=interactive, callbacks=[each_epoch], checkpoint=run.path / RunFolder.CHECKPOINT,
                      resume=run.path / RunFolder.CHECKPOINT if resume else None, comm=comm)
    if not ranks.root:
        return ""
    run.write_weights(net, settings, history)
    run.write_history(history)
    return (f"done: {history.iters:,} iterations in {history.elapsed[-1]:.1f} s; "
            f"train accuracy {history.train_acc[-1]:.4f}, test accuracy {history.test_acc[-1]:.4f}\n"
            f"weights  {run.path / RunFolder.WEIGHTS}\n"
            f"evaluate with: nnlearn evaluate {run.path / RunFolder.WEIGHTS}")


class EpochTable:
    """One aligned row per epoch: epoch, iteration, loss, train acc, test acc, elapsed, ETA."""
    COLUMNS = ("epoch", "iter", "train loss", "train acc", "test acc", "elapsed", "eta")
    WIDTHS = (6, 8, 10, 9, 9, 8, 7)

    def __init__(self, iters: int, write=print):
        self.iters, self.write = iters, write

    def header(self) -> None:
        self.write("  ".join(c.rjust(w) for c, w in zip(self.COLUMNS, self.WIDTHS, strict=True)))

    def row(self, r: dict) -> None:
        done = r["epoch_iteration"]
        eta = r["elapsed"] / done * (self.iters - done) if done else 0.0
        cells = (str(r["epoch"]), str(done), f"{r['train_loss']:.4f}", f"{r['train_acc']:.4f}",
                 f"{r['test_acc']:.4f}" if r["test_acc"] is not None else "-", f"{r['elapsed']:.1f}s", f"{eta:.0f}s")
        self.write("  ".join(c.rjust(w) for c, w in zip(cells, self.WIDTHS, strict=True)))


def _bar_safe_print(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line)


def _thread_limits(threads):
    from contextlib import nullcontext

    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads), user_api="blas")
