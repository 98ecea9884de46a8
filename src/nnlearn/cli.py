"""The ``nnlearn`` command: it parses arguments and calls the library, nothing more.

Exit status: 0 success, 1 runtime error (one line on stderr; traceback only with ``--debug``),
2 usage error (one line naming the option), 3 a training run that finished without learning (a warning
names the likely cause), 130 interrupted by Ctrl-C.

Every error is one line.  Output to a closed pipe (``nnlearn train | head -3``) is dropped and the command
carries on; a Ctrl-C while the command starts up ends it quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
import warnings
from pathlib import Path

from ._startup import interrupted_while_starting
from ._version import __version__

NOT_LEARNING_EXIT = 3


class UsageError(Exception):
    """Bad arguments found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors that start with the option: ``--seed: expected an integer, got 'x'``."""

    def error(self, message):
        if message.startswith("argument "):
            message = message[len("argument "):]
        name = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        print(f"nnlearn{' ' + name if name else ''}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nnlearn",
        description="See how a neural network learns: chapter 4 of 'Deep Learning from Scratch', runnable.",
        epilog="Start with:  nnlearn train   (offline, about 10 seconds)",
    )
    parser.add_argument("--version", action="version", version=f"nnlearn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    _start_up(args.command)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"nnlearn {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN) if _in_main_thread() else None
        if not isinstance(exc, _Interrupted):
            print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        if args.debug:
            raise
        message = _option_message(_one_line(exc)) if args.command == "train" else _one_line(exc)
        print(f"nnlearn {args.command}: error: {message}", file=sys.stderr)
        from .parallel import abort_job

        abort_job(1)  # under mpirun: the other ranks may be waiting for this one
        return 1


def run() -> None:
    """Console-script entry point: ``main`` with the process-wide handling a library must not do — a quiet
    Ctrl-C during start-up, output to a closed pipe dropped, and no reaction to Ctrl-C while exiting."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, interrupted_while_starting)
    sys.stdout = _PipeSafe(sys.stdout)
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # shutting down: nothing is left that Ctrl-C could stop
    sys.exit(code)


def _start_up(command: str) -> None:
    """Import what the command needs while Ctrl-C still simply stops, then let Ctrl-C raise KeyboardInterrupt
    (NumPy turns an interrupt inside its import into a misleading ImportError)."""
    if not _in_main_thread() or signal.getsignal(signal.SIGINT) is not interrupted_while_starting:
        return
    import numpy  # noqa: F401

    if command == "train":
        from . import report, runs  # noqa: F401
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _PipeSafe:
    """stdout that, once its reader has gone (``| head``), sends the rest to /dev/null instead of failing."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())  # so that even the final flush at exit has somewhere to go
        os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _one_line(exc) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


COMMANDS = []


def command(register):
    COMMANDS.append(register)
    return register


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {_KIND[kind]}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


_KIND = {int: "whole number", float: "number"}


def _number(kind):
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {_KIND[kind]}, got {text!r}") from None
    parse.__name__ = kind.__name__
    return parse


# --- train ---------------------------------------------------------------------------------------------
_PARSERS = {"int": _number(int), "int | None": _number(int), "float": _number(float), "float | None": _number(float),
            "str": str, "str | None": str}


def _hidden_sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.replace("-", ",").split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 50 or 256,128, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 50 or 256,128, got {text!r}")
    return sizes


def _add_settings_options(p: argparse.ArgumentParser) -> None:
    """One option per field of TrainSettings (its help text, choices and type): the settings' one definition."""
    import dataclasses

    from .settings import TrainSettings

    for f in dataclasses.fields(TrainSettings):
        meta = f.metadata
        if not meta["cli"]:
            continue
        flag = "--" + f.name.replace("_", "-")
        shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else f.default
        default = f"; default {shown}" if f.default not in (None, False) and "default" not in meta["help"] else ""
        kwargs = {"dest": f.name, "default": argparse.SUPPRESS, "help": meta["help"] + default}
        if f.type == "bool":
            p.add_argument(flag, action="store_true", **kwargs)
            continue
        if meta["choices"]:
            kwargs["choices"] = meta["choices"]
        elif f.type == "tuple":
            kwargs["type"] = _hidden_sizes
        else:
            kwargs["type"] = _PARSERS.get(f.type, str)
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        p.add_argument(flag, **kwargs)


@command
def _register_train(commands):
    p = commands.add_parser("train", help="train a network (the book's two-layer recipe by default)",
                            description="Train by mini-batch gradient descent (section 4.5) and save a run folder. "
                                        "Without options: the book's TwoLayerNet recipe; --preset best: chapter 6's "
                                        "techniques.")
    p.add_argument("--preset", choices=("book", "best"),
                   help="start from a named recipe (book: section 4.5's; best: a ReLU network with Adam, batchnorm, "
                        "dropout and shifted digits, ≥ 0.965 on mnist-mini); other options override it")
    p.add_argument("--net", type=_hidden_sizes, metavar="784-H-...-10",
                   help="the layer sizes, input to output (the hidden ones set --hidden; the ends must match "
                        "the dataset)")
    _add_settings_options(p)
    p.add_argument("--threads", type=positive(int), help="BLAS threads (default: all cores)")
    p.add_argument("--no-chapter", action="store_true",
                   help="leave the chapter's measured figures out of the report (saves some seconds; "
                        "nnlearn report adds them later)")
    p.add_argument("--out", help="run folder (default runs/<timestamp>)")
    p.add_argument("--resume", metavar="DIR", help="continue an interrupted run folder")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.set_defaults(func=cmd_train)


def train_settings(args):
    """The TrainSettings an ``nnlearn train`` command line asks for (a preset, then the options given)."""
    from .settings import TrainSettings, preset

    given = {name: getattr(args, name) for name in TrainSettings.names() if hasattr(args, name)}
    if "epochs" in given and "iters" in given:
        raise UsageError("--epochs and --iters: pass one of them, not both")
    if "iters" in given:
        given["epochs"] = None  # --iters overrides a preset's epochs
    if args.net is not None:
        if len(args.net) < 3:
            raise UsageError(f"--net: expected input-hidden...-output sizes like 784-50-10, got {args.net}")
        if "hidden" in given:
            raise UsageError("--net and --hidden: pass one of them, not both")
        given["hidden"] = args.net[1:-1]
    try:
        base = preset(args.preset or "book")
        return base.replace(**given)
    except ValueError as exc:
        raise UsageError(_option_message(str(exc))) from None


def _option_message(message: str) -> str:
    """'batch_size must be ...' as '--batch-size: must be ...': the option to fix, first."""
    from .settings import TrainSettings

    first, _, rest = message.partition(" ")
    return f"--{first.replace('_', '-')}: {rest}" if first in TrainSettings.names() and rest else message


EXTENDING = ("iters", "epochs")
"""Settings a resumed run may be given: a longer run continues bit for bit as if it had been asked at first."""


def resumed_settings(args, saved):
    """A resumed run's settings: the saved ones, with --iters/--epochs applied; any other option is refused."""
    from .settings import TrainSettings

    given = [name for name in TrainSettings.names() if hasattr(args, name)]
    other = [f"--{name.replace('_', '-')}" for name in given if name not in EXTENDING]
    other += [flag for flag, value in (("--out", args.out), ("--net", args.net), ("--preset", args.preset))
              if value is not None]
    if other:
        raise UsageError(f"--resume: {', '.join(other)} cannot change a run being resumed (its settings are in "
                         "config.json); pass only --iters or --epochs to extend it, or start a new run")
    if "iters" in given and "epochs" in given:
        raise UsageError("--epochs and --iters: pass one of them, not both")
    if "iters" in given:
        return saved.replace(iters=args.iters, epochs=None)
    if "epochs" in given:
        return saved.replace(epochs=args.epochs)
    return saved


def cmd_train(args) -> int:
    from .parallel import Ranks, world
    from .runs import RunFolder

    ranks = Ranks(world())  # under mpirun: data-parallel training; rank 0 alone makes, locks and writes the folder
    with contextlib.ExitStack() as held:
        def open_run():
            if args.resume:
                run = held.enter_context(RunFolder.resumed(args.resume))
                return run, resumed_settings(args, run.settings())
            settings = train_settings(args)
            out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
            return held.enter_context(RunFolder.started(out)), settings

        run, settings = ranks.from_root(open_run)
        return _train(args, run, settings, resume=bool(args.resume), ranks=ranks)


def _train(args, run, settings, *, resume: bool, ranks) -> int:
    from .report import LiveReport, write_report
    from .runs import RunFolder, train_run
    from .train import NotLearningWarning

    say = (lambda *a, **k: None) if args.quiet else print
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotLearningWarning)
            summary = train_run(run, settings, threads=args.threads, resume=resume, say=say,
                                progress=not args.quiet, on_epoch=LiveReport(), net_sizes=args.net,
                                comm=ranks.comm)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN) if _in_main_thread() else None  # a 2nd Ctrl-C: nothing
        if not ranks.root:
            raise _Interrupted() from None
        launcher = f"mpirun -n {ranks.size} " if ranks.parallel else ""
        if (run.path / RunFolder.CHECKPOINT).is_file():
            print(f"\ninterrupted; the last checkpoint in {run.path} is kept. Continue with:\n"
                  f"  {launcher}nnlearn train --resume {run.path}", file=sys.stderr)
        else:
            print("\ninterrupted before the first checkpoint; nothing was kept", file=sys.stderr)
        raise _Interrupted() from None
    if not ranks.root:
        return 0
    report = write_report(run.path, chapter=not args.no_chapter)
    print(summary)
    print(f"report   {report}  (open it in a browser; figures are beside it as PNGs)")
    problems = [w for w in caught if issubclass(w.category, NotLearningWarning)]
    for w in caught:
        if w not in problems:  # any other warning is shown as it would have been
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    for w in problems:
        print(f"nnlearn train: warning: {w.message}", file=sys.stderr)
    return NOT_LEARNING_EXIT if problems else 0


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C, already reported: the run folder's lock is released on the way out, main prints nothing more."""


@command
def _register_report(commands):
    p = commands.add_parser("report", help="rebuild report.html and the figures of a run folder")
    p.add_argument("run", help="a run folder made by nnlearn train")
    p.add_argument("--no-chapter", action="store_true", help="leave the chapter's measured figures out")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from .report import write_report

    print(f"wrote {write_report(args.run, chapter=not args.no_chapter)}")
    return 0


@command
def _register_figures(commands):
    p = commands.add_parser("figures", help="draw chapter 4's figures and measure its claims on real digits",
                            description="Draw chapter 4's figures (tangents, gradient field, descent paths) and "
                                        "the figures that measure its claims: mini-batch estimates, the error of "
                                        "numerical derivatives, loss against accuracy, learning rates.")
    p.add_argument("--out", default="figures", help="output directory (default ./figures)")
    p.add_argument("--dataset", default="mnist-mini",
                   help="data for the measured figures (default mnist-mini; a directory of IDX files works, "
                        "of any size)")
    p.add_argument("--data-dir")
    p.add_argument("--iters", type=positive(int), default=2000,
                   help="iterations to train the network the figures measure (default 2000)")
    p.add_argument("--rows", type=int, default=60_000,
                   help="training images the mini-batch figure estimates over (default 60000; 0: all, read in "
                        "chunks, for a file larger than memory)")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args) -> int:
    from . import plots
    from ._files import atomic_write
    from .data.datasets import open_dataset
    from .report import chapter_figures
    from .runs import build_network
    from .settings import TrainSettings
    from .train import fit

    out = Path(args.out)
    figures = {"tangent.png": plots.tangent_figure(), "gradient_field.png": plots.gradient_field_figure()}
    settings = TrainSettings(dataset=args.dataset, data_dir=args.data_dir, iters=args.iters)
    ds = open_dataset(settings.dataset, data_dir=settings.data_dir)
    net = build_network(settings, ds.x_train.shape[1], len(ds.class_names))
    print(f"training {settings.recipe(ds.x_train.shape[1], len(ds.class_names))} on {ds.describe()} "
          "for the measured figures")
    fit(net, ds.x_train, ds.t_train, iters=settings.iters, batch_size=settings.batch_size, lr=settings.lr,
        seed=settings.seed, eval_every="never")
    figures.update(chapter_figures(net, ds, settings, rows=args.rows or None))
    for name, fig in figures.items():
        with atomic_write(out / name) as f:  # like every other file nnlearn writes: never half a PNG
            fig.savefig(f, format="png", dpi=120)
        print(f"wrote {out / name}")
    return 0


# --- evaluate and predict ------------------------------------------------------------------------------
@command
def _register_evaluate(commands):
    p = commands.add_parser("evaluate", help="accuracy and loss of a weights file on a test split")
    p.add_argument("weights", help="a run folder, its weights.npz, or any nnlearn weights file")
    p.add_argument("--dataset", help="dataset to evaluate on (default: the one the weights were trained on)")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true", help='print {"accuracy": ..., "loss": ..., "n": ...}')
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from .data.datasets import open_dataset
    from .io import load_weights
    from .network import network_from_weights
    from .parallel import Ranks, world
    from .train import evaluate

    params, meta = load_weights(weights_file(args.weights))
    net = network_from_weights(params, meta)
    name = args.dataset or meta.get("dataset", "mnist-mini")
    ds = open_dataset(name, data_dir=args.data_dir)
    if ds.x_test.shape[1] != net.sizes[0]:
        raise ValueError(f"{args.weights} takes {net.sizes[0]} inputs but {name} images have "
                         f"{ds.x_test.shape[1]} pixels; pass a matching --dataset")
    comm = world()  # under mpirun each rank evaluates its shard
    accuracy, loss = evaluate(net, ds.x_test, ds.t_test, comm=comm)
    n = len(ds.t_test)
    if not Ranks(comm).root:
        return 0
    if args.json:
        print(json.dumps({"accuracy": accuracy, "loss": loss, "n": n, "dataset": str(name)}))
    else:
        print(f"{args.weights} on {name} test split ({n:,} images): accuracy {accuracy:.4f}, loss {loss:.4f}")
    return 0


@command
def _register_predict(commands):
    p = commands.add_parser("predict", help="top-3 classes for pictures (PNG, JPEG, BMP, ...), .npy or IDX arrays")
    p.add_argument("weights", help="a run folder, its weights.npz, or any nnlearn weights file")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="pictures in any format Pillow reads (made 28x28 grayscale, white ink on black; each "
                        "change is reported), .npy or IDX arrays")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    import numpy as np

    from .data.datasets import FASHION_NAMES
    from .data.images import load_images
    from .io import load_weights
    from .network import network_from_weights

    params, meta = load_weights(weights_file(args.weights))
    net = network_from_weights(params, meta)
    names = FASHION_NAMES if meta.get("dataset") == "fashion-mnist" else None
    for path in args.files:
        notes = []
        images = load_images(path, notes=notes)
        if notes:
            print(f"{path}: {'; '.join(notes)}", file=sys.stderr)
        probs = net.predict(images.astype(net.dtype))
        for i, p in enumerate(probs):
            top = np.argsort(p)[::-1][:3]
            label = f"{path}[{i}]" if len(probs) > 1 else path
            print(f"{label}: " + ", ".join(f"{names[k] if names else k} ({p[k]:.3f})" for k in top))
    return 0


def weights_file(path) -> Path:
    """The weights a command line names: a file, or a run folder's weights.npz."""
    from .errors import InputError
    from .runs import RunFolder

    path = Path(path)
    if not path.is_dir():
        return path
    if (path / RunFolder.WEIGHTS).is_file():
        return path / RunFolder.WEIGHTS
    if (path / RunFolder.CHECKPOINT).is_file():
        raise InputError(f"{path} is a run folder whose run has not finished (no {RunFolder.WEIGHTS} yet); "
                         f"finish it with nnlearn train --resume {path}")
    raise InputError(f"{path} is a directory without {RunFolder.WEIGHTS}; pass a run folder or a weights file")


# --- data ------------------------------------------------------------------------------------------------
@command
def _register_datasets(commands):
    p = commands.add_parser("datasets", help="list the datasets and where they are")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_datasets)


def cmd_datasets(args) -> int:
    from .data.datasets import dataset_names, status

    rows = [(name, *status(name, args.data_dir)) for name in dataset_names()]
    width = max(len(r[0]) for r in rows)
    state_width = max(len(r[1]) for r in rows)
    for name, state, where in rows:
        print(f"{name.ljust(width)}  {state.ljust(state_width)}  {where}")
    return 0


@command
def _register_download(commands):
    p = commands.add_parser("download", help="download and verify a dataset into the cache")
    p.add_argument("name", choices=("mnist", "fashion-mnist"))
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    from .data.datasets import open_dataset

    print(open_dataset(args.name, data_dir=args.data_dir).describe())
    return 0


@command
def _register_data(commands):
    p = commands.add_parser("data", help="make datasets (e.g. larger than memory)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    m = sub.add_parser("make-large", help="stream an IDX dataset of N shifted real digits, in constant memory")
    m.add_argument("--from", dest="source", default="mnist-mini", help="source dataset (default mnist-mini)")
    m.add_argument("--samples", type=positive(int), required=True, help="number of training images")
    m.add_argument("--out", required=True, help="output directory")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--data-dir")
    m.set_defaults(func=cmd_make_large)


def cmd_make_large(args) -> int:
    from tqdm.auto import tqdm

    from .data.largedata import make_large

    with tqdm(total=args.samples, unit="img", unit_scale=True, disable=not sys.stderr.isatty()) as bar:
        out = make_large(args.out, args.samples, source=args.source, seed=args.seed, progress=bar.update,
                         data_dir=args.data_dir)
    size = (out / "train-images-idx3-ubyte").stat().st_size
    print(f"wrote {args.samples:,} training images ({size / 1e9:.2f} GB) to {out}; "
          f"train on it with: nnlearn train --dataset {out}")
    return 0


# --- the playground ---------------------------------------------------------------------------------------
@command
def _register_playground(commands):
    p = commands.add_parser("playground", help="watch the network learn, live, in a local web page (offline)",
                            description="Serve the playground on 127.0.0.1: train runs and watch them live, "
                                        "chapter 4's gradient descent, and draw digits for the network.")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--runs-dir", default="runs/playground",
                   help="where saved runs go (default runs/playground); the page never names a path")
    p.add_argument("--data-dir", help="dataset cache (default: $NNLEARN_DATA or the user cache directory)")
    p.set_defaults(func=cmd_playground)


def cmd_playground(args) -> int:
    from .playground import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    serve(args.port, open_browser=not args.no_browser, runs_dir=args.runs_dir, data_dir=args.data_dir)
    return 0


# --- the book's examples ----------------------------------------------------------------------------------
@command
def _register_demo(commands):
    p = commands.add_parser("demo", help="walk through chapter 4's examples next to the book's printed results")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(print)
    return 0
