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

import numpy as np

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
    gradient_check_figure,
    loss_figure,
    misclassified_figure,
    weights_figure,
)
from .runs import RunFolder, software_versions
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
WIDE_FIGURES = {"misclassified.png", "weights.png"}


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
    return {
        "loss.png": loss_figure(history.loss),
        "accuracy.png": accuracy_figure(history.epoch, history.train_acc, history.test_acc),
        "confusion.png": confusion_matrix_figure(true, pred, names),
        "misclassified.png": misclassified_figure(x_test, true, pred, names),
        "weights.png": weights_figure(params["W1"]),
        "gradient_check.png": gradient_check_figure(check),
    }


def write_report(run_dir, *, dataset=None, history: History | None = None, net=None,
                 in_progress: bool = False) -> Path:
    """Write the PNGs and ``report.html`` into ``run_dir``; returns the report's path."""
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
    for name, fig in training_figures(history, net, dataset).items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        images[name] = buf.getvalue()
        with atomic_write(run.path / name) as f:
            f.write(images[name])
    page = render_html(settings, config, history, images, in_progress)
    write_text_atomic(run.path / REPORT, page)
    return run.path / REPORT


def _latest_network(run: RunFolder):
    if (run.path / RunFolder.WEIGHTS).is_file():
        return network_from_weights(*load_weights(run.path / RunFolder.WEIGHTS))
    params, meta, _ = read_checkpoint(run.path / RunFolder.CHECKPOINT)
    return network_from_weights(params, meta)


def render_html(settings, config: dict, history: History, images: dict, in_progress: bool) -> str:
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
    figures = "\n".join(_figure_html(images[name], caption, name in WIDE_FIGURES)
                        for name, caption in FIGURES.items() if name in images)
    rows = "\n".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in (
            str(r["epoch"]), f"{r['epoch_iteration']:,}", f"{r['train_loss']:.4f}", f"{r['train_acc']:.4f}",
            "-" if r["test_acc"] is None else f"{r['test_acc']:.4f}", f"{r['elapsed']:.1f}")) + "</tr>"
        for r in history.records())
    refresh = '<meta http-equiv="refresh" content="5">' if in_progress else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{refresh}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nnlearn run: test accuracy {history.test_acc[last] or 0:.4f}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ padding: 0.25em 0.8em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }}
table.epochs td {{ text-align: right; font-variant-numeric: tabular-nums; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1.2em; }}
figure {{ margin: 0; }} figure.wide {{ grid-column: 1 / -1; }}
figure img {{ width: 100%; height: auto; border: 1px solid #eee; }}
figcaption {{ font-size: 0.9em; color: #555; text-align: center; }}
details {{ margin: 1em 0; }}
</style></head>
<body data-images-loaded="pending">
<h1>nnlearn training report</h1>
<p>A two-layer network learning by mini-batch gradient descent
(<i>Deep Learning from Scratch</i>, section 4.5).</p>
<table>{_rows(summary)}</table>
<div class="grid">
{figures}
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


def _figure_html(png: bytes, caption: str, wide: bool) -> str:
    data = base64.b64encode(png).decode()
    caption = html.escape(caption)
    return (f'<figure{" class=wide" if wide else ""}><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>")


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
