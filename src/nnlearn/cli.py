"""The ``nnlearn`` command: it parses arguments and calls the library, nothing more.

Exit status: 0 success, 1 runtime error (message on stderr; traceback only with ``--debug``),
2 usage error, 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ._version import __version__


class UsageError(Exception):
    """Bad arguments found after parsing (exit status 2)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"nnlearn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as exc:
        if args.debug:
            raise
        print(f"nnlearn {args.command}: error: {exc}", file=sys.stderr)
        from .parallel import abort_job

        abort_job(1)  # under mpirun: the other ranks may be waiting for this one
        return 1


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


COMMANDS = []


def command(register):
    COMMANDS.append(register)
    return register


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


# --- train ---------------------------------------------------------------------------------------------
_PARSERS = {"int": int, "int | None": int, "float": float, "float | None": float, "str": str, "str | None": str}


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
    """'batch_size must be ...' as '--batch-size: batch_size must be ...': the option to fix, first."""
    from .settings import TrainSettings

    first = message.split(" ", 1)[0]
    return f"--{first.replace('_', '-')}: {message}" if first in TrainSettings.names() else message


def cmd_train(args) -> int:
    from .parallel import Ranks, world
    from .report import LiveReport, write_report
    from .runs import RunFolder, train_run

    comm = world()  # under mpirun: data-parallel training; rank 0 alone makes and writes the run folder
    ranks = Ranks(comm)

    def open_run():
        if args.resume:
            run = RunFolder.existing(args.resume)
            return run, run.settings()
        settings = train_settings(args)
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        return RunFolder.new(out), settings

    run, settings = ranks.from_root(open_run)
    say = (lambda *a, **k: None) if args.quiet else print
    try:
        summary = train_run(run, settings, threads=args.threads, resume=bool(args.resume), say=say,
                            progress=not args.quiet, on_epoch=LiveReport(), net_sizes=args.net, comm=comm)
    except KeyboardInterrupt:
        if ranks.root:
            launcher = f"mpirun -n {ranks.size} " if ranks.parallel else ""
            print(f"\ninterrupted; the checkpoint in {run.path} is saved. Continue with:\n"
                  f"  {launcher}nnlearn train --resume {run.path}", file=sys.stderr)
        return 130
    if not ranks.root:
        return 0
    report = write_report(run.path)
    print(summary)
    print(f"report   {report}  (open it in a browser; figures are beside it as PNGs)")
    return 0


@command
def _register_report(commands):
    p = commands.add_parser("report", help="rebuild report.html and the figures of a run folder")
    p.add_argument("run", help="a run folder made by nnlearn train")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from .report import write_report

    print(f"wrote {write_report(args.run)}")
    return 0


@command
def _register_figures(commands):
    p = commands.add_parser("figures", help="draw chapter 4's figures (tangents, gradient field, descent paths)")
    p.add_argument("--out", default="figures", help="output directory (default ./figures)")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args) -> int:
    from . import plots
    from ._files import atomic_write

    out = Path(args.out)
    for name, fig in (("tangent.png", plots.tangent_figure()), ("gradient_field.png", plots.gradient_field_figure()),
                      ("descent_paths.png", plots.descent_paths_figure())):
        with atomic_write(out / name) as f:  # like every other file nnlearn writes: never half a PNG
            fig.savefig(f, format="png", dpi=120)
        print(f"wrote {out / name}")
    return 0


# --- evaluate and predict ------------------------------------------------------------------------------
@command
def _register_evaluate(commands):
    p = commands.add_parser("evaluate", help="accuracy and loss of a weights file on a test split")
    p.add_argument("weights", help="a weights.npz (from a run folder) or any nnlearn weights file")
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

    params, meta = load_weights(args.weights)
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
    p = commands.add_parser("predict", help="top-3 classes for images (PNG, .npy or IDX)")
    p.add_argument("weights")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="28x28 grayscale PNGs (others are resized; white backgrounds inverted), .npy or IDX arrays")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from .data.datasets import FASHION_NAMES
    from .data.images import load_images
    from .io import load_weights
    from .network import network_from_weights

    params, meta = load_weights(args.weights)
    net = network_from_weights(params, meta)
    names = FASHION_NAMES if meta.get("dataset") == "fashion-mnist" else None
    for path in args.files:
        images = load_images(path)
        probs = net.predict(images.astype(net.dtype))
        for i, p in enumerate(probs):
            top = np.argsort(p)[::-1][:3]
            label = f"{path}[{i}]" if len(probs) > 1 else path
            print(f"{label}: " + ", ".join(f"{names[k] if names else k} ({p[k]:.3f})" for k in top))
    return 0


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


# --- the book's examples ----------------------------------------------------------------------------------
@command
def _register_demo(commands):
    p = commands.add_parser("demo", help="walk through chapter 4's examples next to the book's printed results")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(print)
    return 0
