"""How nnlearn's objects show themselves in a notebook: short reprs, small HTML tables, a loss sparkline,
and ``LiveView``, the figure ``fit(..., live=True)`` redraws in place while it trains.

Only the standard library and NumPy are imported at the top; matplotlib and IPython are imported when a
picture is actually drawn, so that the training loop can use this module at no cost.
"""

from __future__ import annotations

import html
import sys
import time

import numpy as np


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where rich output and ipywidgets progress bars display)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


# --- building blocks ------------------------------------------------------------------------------------------
STYLE = "border-collapse:collapse;font-variant-numeric:tabular-nums"
CELL = "padding:2px 10px;border-bottom:1px solid #ddd;text-align:right"


def table_html(header, rows, caption: str | None = None) -> str:
    """A small HTML table; cells are escaped text."""
    e = html.escape
    head = "".join(f'<th style="{CELL}">{e(str(h))}</th>' for h in header)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{e(str(c))}</td>' for c in row) + "</tr>" for row in rows)
    cap = f'<div style="margin:2px 0">{e(caption)}</div>' if caption else ""
    return f'{cap}<table style="{STYLE}"><tr>{head}</tr>{body}</table>'


def sparkline_svg(values, width: int = 240, height: int = 40, points: int = 200) -> str:
    """An inline SVG line of ``values`` (at most ``points`` of them, averaged in bins), min at the bottom."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return ""
    if v.size > points:  # bin means: the shape of the curve without its mini-batch noise
        edges = np.linspace(0, v.size, points + 1).astype(int)
        v = np.add.reduceat(v, edges[:-1]) / np.diff(edges)
    low, high = float(v.min()), float(v.max())
    x = np.linspace(1, width - 1, v.size)
    y = height - 2 - (v - low) / ((high - low) or 1.0) * (height - 4)
    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="loss from {v[0]:.3g} to {v[-1]:.3g}"><polyline fill="none" stroke="#0072B2" '
            f'stroke-width="1.5" points="{line}"/></svg>')


def _fmt(value, spec=".4f") -> str:
    return "-" if value is None else format(value, spec)


# --- History ----------------------------------------------------------------------------------------------------
def history_repr(h) -> str:
    if not h.epoch:
        return f"History({len(h.loss):,} of {h.iters:,} iterations, no evaluation yet)"
    last = len(h.epoch) - 1
    return (f"History({len(h.loss):,} of {h.iters:,} iterations, {len(h.epoch)} evaluations every "
            f"{h.iter_per_epoch:,} iterations; final train loss {_fmt(h.train_loss[last])}, "
            f"train acc {_fmt(h.train_acc[last])}, test acc {_fmt(h.test_acc[last])}; "
            f"{_fmt(h.elapsed[last], '.1f')} s)")


def history_html(h, max_rows: int = 8) -> str:
    records = h.records()
    shown = records if len(records) <= max_rows else records[: max_rows // 2] + [None] + records[-max_rows // 2:]
    rows = [("…",) * 6 if r is None else
            (r["epoch"], f"{r['epoch_iteration']:,}", _fmt(r["train_loss"]), _fmt(r["train_acc"]),
             _fmt(r["test_acc"]), _fmt(r["elapsed"], ".1f")) for r in shown]
    first = f"{h.loss[0]:.3f}" if h.loss else "-"
    last = f"{h.loss[-1]:.3f}" if h.loss else "-"
    spark = sparkline_svg(h.loss)
    caption = (f"History: {len(h.loss):,} of {h.iters:,} iterations, an epoch = {h.iter_per_epoch:,} iterations")
    return ('<div class="nnlearn-history">'
            + table_html(("epoch", "iteration", "train loss", "train acc", "test acc", "time (s)"), rows, caption)
            + (f'<div style="margin-top:4px">mini-batch loss {first} {spark} {last}'
               f' <span style="color:#777">(history.plot() for the full figure)</span></div>' if spark else "")
            + "</div>")


# --- evaluation and gradient check --------------------------------------------------------------------------------
def evaluation_html(ev) -> str:
    return table_html(("accuracy", "loss", "images"), [(f"{ev.accuracy:.4f}", f"{ev.loss:.4f}", f"{ev.n:,}")],
                      "evaluate")


def gradient_check_html(report) -> str:
    rows = [(r.name, f"{r.max_abs_diff:.3e}", f"{r.max_rel_diff:.3e}", str(r.worst_index),
             "PASS" if r.passed else "FAIL") for r in report.rows]
    verdict = (f"PASS: every entry within atol={report.atol:g}" if report.passed
               else f"FAIL: some entries differ by more than atol={report.atol:g}")
    return table_html(("param", "max |backprop − numerical|", "max relative", "worst index", "result"), rows,
                      f"Gradient check: {verdict}")


# --- networks ---------------------------------------------------------------------------------------------------
def _network_facts(net) -> dict:
    params = net.params
    sizes = tuple(int(s) for s in net.sizes)
    architecture = getattr(net, "architecture", None) or {}
    activation = architecture.get("activation", "sigmoid") if isinstance(architecture, dict) else "sigmoid"
    dtype = np.dtype(getattr(net, "dtype", params[next(iter(params))].dtype)).name
    count = int(sum(np.asarray(v).size for v in params.values()))
    return {"sizes": sizes, "activation": activation, "dtype": dtype, "parameters": count,
            "arrays": {k: tuple(np.shape(v)) for k, v in params.items()}}


def network_html(net) -> str:
    f = _network_facts(net)
    rows = [(k, "×".join(map(str, shape)), f"{int(np.prod(shape)):,}") for k, shape in f["arrays"].items()]
    caption = (f"{type(net).__name__}: {' → '.join(map(str, f['sizes']))}, {f['activation']} hidden layers, "
               f"softmax output, {f['dtype']}, {f['parameters']:,} parameters")
    return table_html(("parameter", "shape", "values"), rows, caption)


# --- fit(..., live=True) ------------------------------------------------------------------------------------------
class LiveView:
    """A ``fit`` callback that draws the loss and accuracy so far into one figure, updated in place in a
    notebook at each evaluation (at most every ``min_interval`` seconds, and always at the last one)."""

    def __init__(self, min_interval: float = 2.0):
        self.min_interval = min_interval
        self.handle = None
        self.last = None

    def __call__(self, record: dict) -> None:
        from IPython.display import display

        from .plots import history_figure

        history = record["history"]
        now = time.monotonic()
        final = record["epoch_iteration"] >= history.iters
        if not final and self.last is not None and now - self.last < self.min_interval:
            return None
        fig = history_figure(history)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        self.last = time.monotonic()
        return None


def live_settings(progress, callbacks) -> tuple[bool, tuple]:
    """What ``fit(..., live=True)`` means here: in a notebook a progress bar and a ``LiveView``; in a
    terminal the progress bar alone."""
    if in_notebook():
        return True, (*callbacks, LiveView())
    return True, tuple(callbacks)
