"""Figures of chapter 4 and of a training run.

Every function takes data and returns a ``matplotlib.figure.Figure``: no pyplot state, no ``show()``.
In a notebook the figure displays itself; ``fig.savefig(path)`` writes it.  Colours are the Okabe–Ito
palette, which stays distinguishable with the common forms of colour blindness.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from .gradient import gradient_descent, numerical_diff, numerical_gradient

OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "sky": "#56B4E9", "purple": "#CC79A7", "yellow": "#F0E442", "black": "#000000"}
SEQUENCE = [OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky")]
DIVERGING = LinearSegmentedColormap.from_list(
    "okabe_diverging", [OKABE_ITO["blue"], "#FFFFFF", OKABE_ITO["vermillion"]])


def function_1(x):
    """y = 0.01x² + 0.1x, the book's example for numerical differentiation (section 4.3.2)."""
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    """f(x0, x1) = x0² + x1² (section 4.3.3)."""
    return x[0] ** 2 + x[1] ** 2


def _figure(width=6.4, height=4.2, **kwargs) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


# --- chapter 4 ------------------------------------------------------------------------------------------------
def tangent_figure(f=function_1, points=(5.0, 10.0), x_range=(0.0, 20.0), label="0.01x² + 0.1x") -> Figure:
    """f and its tangent lines at ``points``, slopes from ``numerical_diff`` (figure 4-7)."""
    fig = _figure()
    ax = fig.add_subplot()
    x = np.linspace(*x_range, 200)
    ax.plot(x, f(x), color=OKABE_ITO["black"], lw=2, label=f"f(x) = {label}")
    for colour, p in zip(SEQUENCE[1:], points, strict=False):
        slope = numerical_diff(f, p)
        ax.plot(x, f(p) + slope * (x - p), color=colour, ls="--", lw=1.5,
                label=f"tangent at x = {p:g}: slope {slope:.4f}")
        ax.plot([p], [f(p)], "o", color=colour)
    ax.set(title="Numerical differentiation: slopes by central difference", xlabel="x", ylabel="f(x)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def gradient_field_figure(f=function_2, extent=2.0, points=11) -> Figure:
    """Arrows of −∇f on a grid (figure 4-9): they point downhill, towards the minimum."""
    grid = np.linspace(-extent, extent, points)
    X0, X1 = np.meshgrid(grid, grid)
    grads = np.array([numerical_gradient(f, np.array([a, b])) for a, b in zip(X0.ravel(), X1.ravel(), strict=True)])
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    ax.quiver(X0.ravel(), X1.ravel(), -grads[:, 0], -grads[:, 1], angles="xy", color=OKABE_ITO["blue"])
    ax.plot([0], [0], "*", ms=14, color=OKABE_ITO["vermillion"])
    ax.annotate("minimum (0, 0)", (0, 0), xytext=(0.25 * extent, -0.12 * extent), color=OKABE_ITO["vermillion"],
                fontsize=9, bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set(title="The gradient field of x0² + x1², drawn as −∇f\n(the arrows point where f falls fastest)",
           xlabel="x0", ylabel="x1", aspect="equal")
    return fig


def descent_paths_figure(f=function_2, init_x=(-3.0, 4.0), lrs=(0.001, 0.1, 0.9, 1.1), step_num=20) -> Figure:
    """Gradient descent from ``init_x`` for several learning rates, side by side on f's contours."""
    fig = _figure(3.4 * len(lrs), 4.6)
    axes = fig.subplots(1, len(lrs), sharey=True)
    grid = np.linspace(-5, 5, 101)
    X0, X1 = np.meshgrid(grid, grid)
    Z = f(np.array([X0, X1]))
    for ax, lr in zip(np.atleast_1d(axes), lrs, strict=True):
        _, path = gradient_descent(f, np.array(init_x, dtype=float), lr=lr, step_num=step_num, return_path=True)
        ax.contour(X0, X1, Z, levels=12, colors="#BBBBBB", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1, color=OKABE_ITO["vermillion"], clip_on=True)
        ax.plot(*path[0], "s", color=OKABE_ITO["black"], ms=6)
        end = path[-1]
        ax.set(xlim=(-5, 5), ylim=(-5, 5), aspect="equal", xlabel="x0",
               title=f"lr = {lr:g}: {_verdict(path, f)}\nafter {step_num} steps f = {f(end):.3g}")
    np.atleast_1d(axes)[0].set_ylabel("x1")
    fig.suptitle(f"Gradient descent on x0² + x1² from {tuple(init_x)} (square = start)")
    return fig


def _verdict(path, f) -> str:
    start, end = f(path[0]), f(path[-1])
    if not np.isfinite(end) or end > start:
        return "diverges"
    if end > 0.5 * start:
        return "barely moves"
    steps = np.diff(path, axis=0)
    if len(steps) > 1 and np.all(np.sum(steps[1:] * steps[:-1], axis=1) < 0):
        return "zigzags in"
    return "converges"


# --- a training run ----------------------------------------------------------------------------------------
def loss_figure(loss, smooth: int | None = None) -> Figure:
    """The mini-batch loss of every iteration (faint) and its moving average (bold)."""
    loss = np.asarray(loss, dtype=float)
    fig = _figure()
    ax = fig.add_subplot()
    it = np.arange(1, len(loss) + 1)
    ax.plot(it, loss, color=OKABE_ITO["sky"], lw=0.6, alpha=0.6, label="mini-batch loss")
    smooth = smooth or max(1, len(loss) // 50)
    if len(loss) >= smooth > 1:
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax.plot(it[smooth - 1:], avg, color=OKABE_ITO["blue"], lw=2, label=f"moving average of {smooth}")
    ax.set(title="Training loss", xlabel="iteration", ylabel="cross-entropy loss")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def accuracy_figure(epochs, train_acc, test_acc=None) -> Figure:
    """Train and test accuracy per epoch (figure 4-12)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(epochs, train_acc, "-", marker="o", ms=3, color=OKABE_ITO["blue"], label="train")
    if test_acc is not None and any(a is not None for a in test_acc):
        ax.plot(epochs, test_acc, "--", marker="s", ms=3, color=OKABE_ITO["orange"], label="test")
    ax.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.0))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def confusion_matrix(true, pred, classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of class i were predicted as j."""
    return np.bincount(np.asarray(true) * classes + np.asarray(pred), minlength=classes * classes).reshape(
        classes, classes)


def confusion_matrix_figure(true, pred, class_names) -> Figure:
    """Counts of (true, predicted) pairs; the diagonal is correct."""
    k = len(class_names)
    counts = confusion_matrix(true, pred, k)
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    image = ax.imshow(counts, cmap="Blues")
    threshold = counts.max() / 2
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if counts[i, j] > threshold else "black")
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=45 if max(map(len, class_names)) > 2 else 0,
                  ha="right" if max(map(len, class_names)) > 2 else "center")
    ax.set_yticks(ticks, [str(c) for c in class_names])
    ax.set(title=f"Confusion matrix (test accuracy {np.trace(counts) / counts.sum():.4f})",
           xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, label="images", shrink=0.8)
    return fig


def misclassified_figure(images, true, pred, class_names, max_images: int = 24, columns: int = 8) -> Figure:
    """The first misclassified images, each titled true → predicted."""
    images, true, pred = np.asarray(images), np.asarray(true), np.asarray(pred)
    wrong = np.flatnonzero(true != pred)[:max_images]
    rows = max(1, -(-len(wrong) // columns))
    fig = _figure(1.3 * columns, 1.45 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, wrong, strict=False):
        ax.imshow(images[i].reshape(28, 28), cmap="gray_r")
        ax.set_title(f"{class_names[true[i]]} → {class_names[pred[i]]}", fontsize=8)
    fig.suptitle(f"Misclassified test images (true → predicted), {len(wrong)} of "
                 f"{int(np.sum(true != pred))} shown" if len(wrong) else "No misclassified test images")
    return fig


def weights_figure(W1, max_units: int = 50, columns: int = 10) -> Figure:
    """Each hidden unit's 784 incoming weights as a 28x28 image (red positive, blue negative)."""
    W1 = np.asarray(W1)
    units = min(W1.shape[1], max_units)
    rows = -(-units // columns)
    fig = _figure(1.1 * columns, 1.1 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for j, ax in enumerate(axes[:units]):
        w = W1[:, j].reshape(28, 28)
        bound = np.abs(w).max() or 1.0
        ax.imshow(w, cmap=DIVERGING, vmin=-bound, vmax=bound)
    fig.suptitle(f"First-layer weights of {units} hidden units (red: positive, blue: negative)")
    return fig


def gradient_check_figure(report) -> Figure:
    """Max |backprop − numerical| per parameter on a log scale, with the pass threshold."""
    names = [r.name for r in report.rows]
    values = [max(r.max_abs_diff, 1e-20) for r in report.rows]
    fig = _figure()
    ax = fig.add_subplot()
    colours = [OKABE_ITO["green"] if r.passed else OKABE_ITO["vermillion"] for r in report.rows]
    ax.bar(names, values, color=colours)
    ax.axhline(report.atol, color=OKABE_ITO["black"], ls="--", label=f"tolerance {report.atol:g}")
    ax.set_yscale("log")
    ax.set(title=f"Gradient check: backprop vs numerical ({'PASS' if report.passed else 'FAIL'})",
           xlabel="parameter", ylabel="max |backprop − numerical|")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3, axis="y")
    return fig
