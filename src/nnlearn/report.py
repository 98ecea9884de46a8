"""A run folder's report: the training figures as PNGs and one self-contained ``report.html``.

The page embeds its images as data URIs and loads nothing from the network, so it opens from disk and can
be mailed as one file.  While training runs the page reloads itself every few seconds.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib
import numpy as np

from . import experiments
from ._files import atomic_write, write_text_atomic
from .data.datasets import open_dataset
from .data.pixels import pixels_to_float
from .errors import InputError
from .history import History
from .io import load_weights
from .network import TwoLayerNet, gradient_check, network_from_weights
from .plots import (
    accuracy_figure,
    confusion_matrix_figure,
    derivative_error_figure,
    descent_paths_figure,
    function_2,
    gradient_check_figure,
    learning_rate_sweep_figure,
    loss_figure,
    loss_vs_accuracy_figure,
    minibatch_estimate_figure,
    misclassified_figure,
    weights_figure,
)
from .runs import RunFolder, build_network, software_versions
from .train import read_checkpoint

REPORT = "report.html"
FIGURES = {
    "loss.png": "Training loss per iteration",
    "accuracy.png": "Accuracy per epoch",
    "confusion.png": "Confusion matrix on the test split",
    "gradient_check.png": "Gradient check: backpropagation against the numerical gradient on 10 test images",
    "misclassified.png": "Misclassified test images",
    "weights.png": "First-layer weights",
}
CHAPTER_FIGURES = {
    "minibatch_estimate.png": "4.2.3: a random mini-batch estimates the loss over all the data",
    "loss_vs_accuracy.png": "4.2.5: why the network minimises the loss, not the error rate",
    "derivative_error.png": "4.3.1: why h = 1e-4 and central differences",
    "descent_paths.png": "4.4.1: gradient descent with four learning rates",
    "learning_rate_sweep.png": "4.4.1 and 4.5: the learning rate on this network",
}
WIDE_FIGURES = {"misclassified.png", "weights.png", "minibatch_estimate.png", "learning_rate_sweep.png",
                "descent_paths.png", "loss_vs_accuracy.png"}
CHAPTER_ROWS = 60_000
"""The chapter figures use at most this many training images (the first ones), so a report on a file of
millions of images is still made in seconds; the mini-batch figure's caption says how many it used."""


GRADIENT_CHECK_ENTRIES = 200
"""Entries per parameter the report's gradient check compares for networks other than the book's (whose
structured numerical gradient checks every entry in a second)."""


def training_figures(history: History, net, dataset, grad_check_samples: int = 10) -> dict:
    """{file name: Figure} for a run: loss, accuracy, confusion, misclassified, weights, gradient check."""
    params = net.params
    x_test = pixels_to_float(dataset.x_test)
    pred = np.argmax(net.predict(x_test), axis=1)
    true = np.asarray(dataset.t_test).astype(np.intp)
    names = [str(c) for c in dataset.class_names]
    sampled = None if isinstance(net, TwoLayerNet) else GRADIENT_CHECK_ENTRIES
    # the numerical side keeps the book's 1e-7 inside the log and backprop does not: 1e-7/y_t apart, which for
    # a network sure of its answers (y_t near 1) is far below 1e-6, but not for every network
    check = gradient_check(net, x_test[:grad_check_samples], true[:grad_check_samples], max_entries=sampled,
                           atol=1e-6 if sampled is None else 1e-5)
    epochs = np.asarray(history.epoch_iteration, dtype=float) / max(history.iter_per_epoch, 1)
    return {
        "loss.png": loss_figure(history.loss),
        "accuracy.png": accuracy_figure(epochs, history.train_acc, history.test_acc),
        "confusion.png": confusion_matrix_figure(true, pred, names),
        "misclassified.png": misclassified_figure(x_test, true, pred, names),
        "weights.png": weights_figure(params["W1"]),
        "gradient_check.png": gradient_check_figure(check),
    }


def chapter_figures(trained, dataset, settings, seed: int = 0, rows: int | None = CHAPTER_ROWS) -> dict:
    """{file name: Figure} for the chapter's claims measured on this run's network and data: the first
    ``rows`` training images (None: all of them; the full-data loss and gradient are computed in chunks)."""
    d, k = trained.sizes[0], trained.sizes[-1]
    untrained = build_network(settings, d, k)
    rows = len(dataset.t_train) if rows is None else min(len(dataset.t_train), rows)
    x, t = dataset.x_train[:rows], np.asarray(dataset.t_train[:rows])
    x_test = pixels_to_float(dataset.x_test[:1000]) if dataset.x_test.dtype == np.uint8 else dataset.x_test[:1000]
    t_test = np.asarray(dataset.t_test[:1000]).astype(np.intp)
    draws = {1: 100, 10: 100, 100: 100, 1000: 40}  # a batch of 1000 costs most; 40 of them pin its spread to ±11%
    estimates = {name: experiments.minibatch_estimate(net, x, t, draws=draws, seed=seed)
                 for name, net in (("untrained", untrained), ("this run's network", trained))}
    paths = [experiments.loss_vs_accuracy(trained, x_test, t_test, alphas=np.linspace(-0.5, 0.5, 121), seed=seed),
             experiments.loss_vs_accuracy(trained, x_test, t_test, direction=("W2", (0, 3)),
                                          alphas=np.linspace(-3, 3, 121))]
    sweep_rows = min(rows, 10_000)
    sweep = experiments.learning_rate_sweep(
        lambda: build_network(settings, d, k),
        x[:sweep_rows], t[:sweep_rows], x_test, t_test, lrs=10.0 ** np.arange(-4, 3.0), iters=200,
        batch_size=min(settings.batch_size, sweep_rows), seed=seed)
    return {
        "minibatch_estimate.png": minibatch_estimate_figure(estimates),
        "loss_vs_accuracy.png": loss_vs_accuracy_figure(paths),
        "derivative_error.png": derivative_error_figure(experiments.derivative_error()),
        "descent_paths.png": descent_paths_figure(),
        "learning_rate_sweep.png": learning_rate_sweep_figure(sweep, experiments.book_learning_rates(function_2)),
    }


def write_report(run_dir, *, dataset=None, history: History | None = None, net=None,
                 in_progress: bool = False, chapter: bool = True) -> Path:
    """Write the PNGs and ``report.html`` into ``run_dir``; returns the report's path.  chapter: also measure
    and draw the chapter's claims on this run's network (some seconds; never while training runs)."""
    run = RunFolder(Path(run_dir))
    if not (run.path / RunFolder.CONFIG).is_file():
        raise InputError(f"{run.path} is not a run folder (no config.json); pass a folder made by nnlearn train")
    settings = run.settings()
    config = json.loads((run.path / RunFolder.CONFIG).read_text())
    history = history or run.read_history()
    if not history.epoch:
        raise InputError(f"{run.path} has no finished epoch yet; run the report after the first epoch")
    net = net or _latest_network(run)
    dataset = dataset or open_dataset(settings.dataset, data_dir=settings.data_dir)
    images = {}
    with matplotlib.rc_context(READABLE):  # ticks are made when drawn: saving must happen inside too
        figures = training_figures(history, net, dataset)
        if chapter and not in_progress:  # seconds of measuring; a live page shows the run's own figures only
            figures.update(chapter_figures(net, dataset, settings))
        for name, fig in figures.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=DPI)
            images[name] = buf.getvalue()
            with atomic_write(run.path / name) as f:
                f.write(images[name])
    page = render_html(settings, config, history, images, in_progress, n_train=len(dataset.t_train))
    write_text_atomic(run.path / REPORT, page)
    return run.path / REPORT


DPI = 130
READABLE = {"font.size": 13, "axes.titlesize": 14, "legend.fontsize": 11}
"""Figures are shown at about two thirds of their size in the page; these sizes keep their text at 14-16 px."""


def _latest_network(run: RunFolder):
    if (run.path / RunFolder.WEIGHTS).is_file():
        return network_from_weights(*load_weights(run.path / RunFolder.WEIGHTS))
    params, meta, _ = read_checkpoint(run.path / RunFolder.CHECKPOINT)
    return network_from_weights(params, meta)


SAMPLING = {
    "choice": "each mini-batch is drawn at random with replacement, like the book's np.random.choice: in one "
              "epoch some images are used twice and others not at all",
    "shuffle": "the training images are shuffled once per epoch and taken in that order, so each is used "
               "exactly once per epoch",
    "blocks": "a shuffle of blocks of consecutive images, so that a file larger than memory is read in long "
              "sequential runs; each image is still used once per epoch",
}


def explanations(history: History, n_train: int | None = None) -> dict:
    """{figure file: one or two plain sentences on what it shows and what to look for}."""
    last = len(history.epoch) - 1
    test = history.test_acc[last]
    gap = "" if test is None else (
        f" At the end the train accuracy is {history.train_acc[last]:.3f} and the test accuracy {test:.3f}, "
        f"{abs(history.train_acc[last] - test) * 100:.1f} points apart: "
        + ("both are still low: the network has not learned much yet (more iterations, or a larger lr, help)."
           if history.train_acc[last] < 0.5 else
           "the network does about as well on images it never saw as on those it learned from, so it is not "
           "overfitting." if abs(history.train_acc[last] - test) < 0.03 else
           "a gap this large means it learned its training images better than images in general (overfitting)."))
    rows = f"{n_train:,}" if n_train else "the"
    return {
        "loss.png": "The faint line is the loss of each mini-batch (noisy, because every batch holds other images); "
                    "the bold line is its moving average. Look for a steep fall in the first epochs and a slow "
                    "decline after: the network keeps learning, ever more slowly.",
        "accuracy.png": "The fraction of all training (solid) and test (dashed) images classified correctly, "
                        "measured after every epoch; a last, partial epoch sits at its fraction." + gap,
        "confusion.png": "Row: the true digit; column: the network's answer. The diagonal (grey, bold) counts the "
                         "correct answers; the colour scale is that of the errors alone, so the darkest cells are "
                         "the most frequent confusions.",
        "gradient_check.png": "The largest difference between the gradient by backpropagation (chapter 5) and by "
                              "numerical differentiation (section 4.5.1) for each weight array, on a log scale. "
                              "Bars far below the dashed tolerance mean the two agree: the fast gradient is right.",
        "misclassified.png": "Test images the network got wrong, titled true → predicted. Many are ambiguous "
                             "even to a person; the others show what the network has not learned yet.",
        "weights.png": "What each hidden unit looks for: its 784 incoming weights drawn as a 28×28 image (red: "
                       "ink there raises the unit's input, blue: lowers it). Look for stroke-like blobs: the "
                       "units learned parts of digits from the data alone.",
        "minibatch_estimate.png": f"100 random mini-batches of each size B (40 of 1,000), drawn from {rows} "
                                  "training images, "
                                  "for an untrained network (top) and this run's network (bottom). Left: their "
                                  "losses around the loss on all the images (red line); middle: how closely their "
                                  "gradient points the same way as the full gradient (cosine 1 = same direction); "
                                  "right: the spread of the estimate, which falls as 1/√B. Look for the boxes "
                                  "narrowing around the red line: 100 images give a usable estimate.",
        "loss_vs_accuracy.png": "This run's network with its weights moved along one random direction (left) and "
                                "along one weight (right), on 1,000 test images. The loss changes smoothly; the "
                                "accuracy moves in steps with flat stretches where its derivative is zero, which "
                                "is why the book minimises the loss instead.",
        "derivative_error.png": "The error of a numerical derivative (of the sigmoid at 0.5) against the step h. "
                                "Small h: rounding error; large h: truncation error. Look for the bottom of each "
                                "V: central differences in float64 are best near the book's h = 1e-4.",
        "descent_paths.png": "Gradient descent on x0² + x1² from (−3, 4), one arrow per step. Too small a learning "
                             "rate barely moves; 0.9 overshoots the minimum every step and zigzags in; 1.1 "
                             "overshoots further each time and diverges.",
        "learning_rate_sweep.png": "Top: fresh copies of this network trained for the same 200 iterations at "
                                   "each learning rate. Look for the window that works: too small barely moves "
                                   "from the initial loss, too large thrashes. Bottom: the book's lr = 10 and "
                                   "1e-10 examples, and an elongated bowl where a large rate zigzags.",
    }


def recipe_html(settings, history: History, n_train: int | None) -> str:
    e = html.escape
    per_epoch = history.iter_per_epoch
    n = f"{n_train:,}" if n_train else "N"
    how = ("backpropagation (chapter 5), which gives the same numbers as numerical differentiation much faster"
           if settings.gradient == "backprop" else
           "numerical differentiation by central differences (section 4.5.1), slow but straight from the chapter")
    epochs = history.iters / max(per_epoch, 1)
    optimizer = getattr(settings, "optimizer", "sgd")
    step = (f"moves every weight a step of lr = {settings.lr:g} times the gradient downhill (section 4.5.2)"
            if optimizer == "sgd" else
            f"updates every weight by {optimizer} with lr = {settings.lr:g} (section 6.1)")
    return (
        f"<p>Each <b>iteration</b> takes one mini-batch of {settings.batch_size} training images, computes the "
        f"gradient of the loss by {e(how)}, and {e(step)}. An <b>epoch</b> is the number of iterations that "
        f"uses as many images as the training set holds: {n} ÷ {settings.batch_size} = "
        f"<b>{per_epoch:,} iterations</b>; "
        f"{history.iters:,} iterations are {epochs:.4g} epochs. Sampling <b>{e(settings.sampling)}</b>: "
        f"{e(SAMPLING.get(settings.sampling, ''))}. After every epoch the accuracy and loss over all training and "
        f"test images are measured (the table at the end).</p>")


def render_html(settings, config: dict, history: History, images: dict, in_progress: bool,
                n_train: int | None = None) -> str:
    e = html.escape
    last = len(history.epoch) - 1
    per_iteration_ms = history.elapsed[last] / max(history.epoch_iteration[last], 1) * 1e3
    status = (f"training: {history.epoch_iteration[last]:,} of {history.iters:,} iterations"
              if in_progress else f"finished: {history.iters:,} iterations")
    summary = [
        ("Status", status),
        ("Dataset", config.get("dataset", settings.dataset)),
        ("Recipe", settings.recipe()),
        ("Final train accuracy", f"{history.train_acc[last]:.4f}"),
        ("Final test accuracy", f"{history.test_acc[last]:.4f}" if history.test_acc[last] is not None else "-"),
        ("Final train loss", f"{history.train_loss[last]:.4f}"),
        ("Training time", f"{history.elapsed[last]:.1f} s ({per_iteration_ms:.2f} ms per iteration, "
                          "evaluation included)"),
        ("Created", config.get("created", "")),
    ]
    versions = {**config.get("software", {}), **{f"report: {k}": v for k, v in software_versions().items()}}
    notes = explanations(history, n_train)
    figures = "\n".join(_figure_html(images[name], caption, notes[name], name in WIDE_FIGURES)
                        for name, caption in FIGURES.items() if name in images)
    chapter = "\n".join(_figure_html(images[name], caption, notes[name], name in WIDE_FIGURES)
                        for name, caption in CHAPTER_FIGURES.items() if name in images)
    if not chapter:
        chapter = ("<p>These figures are drawn when training has finished, unless it was run with --no-chapter; "
                   "<code>nnlearn report</code> on this folder adds them.</p>")
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in (
            f"{r['epoch_iteration'] / max(history.iter_per_epoch, 1):.4g}", f"{r['epoch_iteration']:,}",
            f"{r['train_loss']:.4f}", f"{r['train_acc']:.4f}",
            "-" if r["test_acc"] is None else f"{r['test_acc']:.4f}", f"{r['elapsed']:.1f}")) + "</tr>"
        for r in history.records())
    files = ", ".join(f'<a href="{name}">{name}</a>' for name in
                      (RunFolder.HISTORY_CSV, RunFolder.HISTORY_JSON, RunFolder.WEIGHTS, RunFolder.CONFIG))
    refresh = '<meta http-equiv="refresh" content="5">' if in_progress else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nnlearn run: test accuracy {history.test_acc[last] or 0:.4f}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.5; font-size: 17px; }}
h1 {{ font-size: 1.7em; margin-bottom: 0.2em; }} h2 {{ font-size: 1.3em; margin-top: 1.6em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }}
table.epochs td {{ text-align: right; font-variant-numeric: tabular-nums; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 1.6em; }}
figure {{ margin: 0; }} figure.wide {{ grid-column: 1 / -1; }}
figure img {{ width: 100%; height: auto; border: 1px solid #eee; }}
figure.wide img {{ max-width: 1100px; display: block; margin: 0 auto; }}
figcaption {{ font-size: 0.95em; color: #333; }} figcaption b {{ display: block; margin: 0.3em 0 0.1em; }}
details {{ margin: 1em 0; }}
</style></head>
<body data-images-loaded="pending">
<h1>nnlearn training report</h1>
<p>A neural network learning by mini-batch gradient descent
(<i>Deep Learning from Scratch</i>, section 4.5).</p>
<table>{_rows(summary)}</table>
<h2 id="recipe">How it was trained</h2>
{recipe_html(settings, history, n_train)}
<p>Files in this folder: {files} (open history.csv in a spreadsheet; load weights.npz with
<code>nnlearn.load_weights</code> or <code>nnlearn evaluate</code>).</p>
<h2 id="run">This run</h2>
<div class="grid">
{figures}
</div>
<h2 id="chapter">The chapter's claims, measured on this network and data</h2>
<div class="grid">
{chapter}
</div>
<details><summary>Every epoch ({len(history.epoch)})</summary>
<table class="epochs"><tr><th>epoch</th><th>iteration</th><th>train loss</th><th>train acc</th><th>test acc</th>
<th>elapsed (s)</th></tr>
{rows}
</table></details>
<details><summary>Software</summary>
<table>{_rows(versions.items())}</table>
</details>
<script>
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
}});
</script>
</body></html>
"""


def _figure_html(png: bytes, caption: str, note: str, wide: bool) -> str:
    data = base64.b64encode(png).decode()
    caption, note = html.escape(caption), html.escape(note)
    return (f'<figure{" class=wide" if wide else ""}><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption><b>{caption}</b>{note}</figcaption></figure>")


def _rows(pairs) -> str:
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)


class LiveReport:
    """An ``on_epoch`` hook for ``train_run`` that rewrites the report while training runs.

    Drawing the figures takes about a second, so the page is rewritten at most every ``min_interval``
    seconds (and never more often than five times its own cost), starting after ``min_interval``: a
    short run is not slowed down, a long one can be watched by refreshing the page.
    """

    def __init__(self, min_interval: float = 10.0):
        self.min_interval = min_interval
        self.last = None
        self.cost = 0.0

    def __call__(self, run, record, dataset, net) -> None:
        import time

        now = time.monotonic()
        if self.last is None:
            self.last = now
        if now - self.last < max(self.min_interval, 5 * self.cost):
            return
        write_report(run.path, dataset=dataset, history=record["history"],
                     net=net.copy(), in_progress=True)
        self.last = time.monotonic()
        self.cost = self.last - now
