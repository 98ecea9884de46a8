"""Figures of chapter 4 and of a training run.

Every function takes data and returns a ``NotebookFigure``, a ``matplotlib.figure.Figure`` that shows
itself when it is the last expression of a Jupyter cell (no ``%matplotlib inline``, no pyplot import);
``fig.savefig(path)`` writes it and ``show(fig)`` (or ``fig.show()``) opens it from a script.  No pyplot
state.  Colours are the Okabe–Ito palette, which stays distinguishable with the common forms of colour
blindness.
"""

from __future__ import annotations

import io
import os
import tempfile

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

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


class NotebookFigure(Figure):
    """A Figure that Jupyter displays as a PNG by itself, and that ``show()`` opens from a script."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100)
        return buf.getvalue()

    def show(self, warn=True):  # Figure.show needs a pyplot manager; this one works without
        return show(self)


def show(fig: Figure, path=None) -> str | None:
    """Look at ``fig`` from a script: a window when matplotlib has a GUI backend, otherwise a PNG written
    to ``path`` (default: a new file in the temporary directory), whose name is printed and returned.
    In a notebook, end the cell with ``fig`` instead."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    interactive = any(gui in backend for gui in ("qt", "tk", "gtk", "wx", "macosx")) and (
        os.name == "nt" or "macosx" in backend or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if interactive:
        import matplotlib.pyplot as plt  # only here, on request: the backend's canvas class owns windows

        probe = plt.figure()
        canvas_class = type(probe.canvas)
        plt.close(probe)
        manager = canvas_class.new_manager(fig, 0)
        manager.show()
        manager.start_main_loop()  # returns when the window is closed
        return None
    if path is None:
        handle, path = tempfile.mkstemp(prefix="nnlearn-figure-", suffix=".png")
        os.close(handle)
    fig.savefig(path, format="png", dpi=110)
    print(f"no window to show it in (matplotlib backend {matplotlib.get_backend()!r}); saved the figure to {path}")
    return str(path)


def use_japanese_font() -> bool:
    """Let figures made from now on carry Japanese text: registers IPAexGothic from the optional package
    matplotlib-fontja (``pip install 'nnlearn[ja]'``), with DejaVu Sans as the fallback for symbols.  This
    sets matplotlib's ``font.family`` for the session (on request only: nnlearn's own text is English).
    Returns False and changes nothing when the package is not installed."""
    try:
        from matplotlib_fontja import get_font_ttf_path
    except ImportError:
        return False
    import matplotlib
    from matplotlib import font_manager

    font_manager.fontManager.addfont(get_font_ttf_path())
    matplotlib.rcParams["font.family"] = ["IPAexGothic", "DejaVu Sans"]
    return True


def _figure(width=6.4, height=4.2, **kwargs) -> NotebookFigure:
    return NotebookFigure(figsize=(width, height), layout="constrained", **kwargs)


# --- chapter 4 ------------------------------------------------------------------------------------------------
def tangent_figure(f=function_1, points=(5.0, 10.0), x_range=(0.0, 20.0), label="0.01x² + 0.1x") -> NotebookFigure:
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


def gradient_field_figure(f=function_2, extent=2.0, points=11) -> NotebookFigure:
    """Arrows of −∇f on a grid (figure 4-9): they point downhill, towards the minimum."""
    grid = np.linspace(-extent, extent, points)
    X0, X1 = np.meshgrid(grid, grid)
    grads = np.array([numerical_gradient(f, np.array([a, b])) for a, b in zip(X0.ravel(), X1.ravel(), strict=True)])
    fig = _figure(5.6, 5.0)
    ax = fig.add_subplot()
    ax.quiver(X0.ravel(), X1.ravel(), -grads[:, 0], -grads[:, 1], angles="xy", color=OKABE_ITO["blue"])
    ax.plot([0], [0], "*", ms=14, color=OKABE_ITO["vermillion"])
    ax.annotate("minimum (0, 0)", (0, 0), xytext=(0.25 * extent, -0.12 * extent), color=OKABE_ITO["vermillion"],
                fontsize="small", bbox={"boxstyle": "round", "fc": "white", "ec": "none", "alpha": 0.85})
    ax.set(title="The gradient field of x0² + x1², drawn as −∇f\n(the arrows point where f falls fastest)",
           xlabel="x0", ylabel="x1", aspect="equal")
    return fig


def function_bowl(x):
    """f(x0, x1) = x0²/20 + x1², an elongated bowl (the book's eq. 6.2): steep across, shallow along."""
    return x[0] ** 2 / 20 + x[1] ** 2


def descent_paths_figure(f=function_2, init_x=(-3.0, 4.0), lrs=(0.001, 0.1, 0.9, 1.1), step_num=20,
                         extent=(5.0, 5.0), name="x0² + x1²") -> NotebookFigure:
    """Gradient descent from ``init_x`` for several learning rates, side by side on f's contours.

    Each step is an arrow, bent slightly to its left, so a path that overshoots the minimum and comes back
    (lr = 0.9 on x0² + x1²: every step flips the sign of x) shows as a zigzag instead of a line over itself.
    """
    fig = _figure(3.4 * len(lrs) * extent[0] / max(extent), 4.8)
    axes = np.atleast_1d(fig.subplots(1, len(lrs), sharey=True))
    X0, X1 = np.meshgrid(np.linspace(-extent[0], extent[0], 161), np.linspace(-extent[1], extent[1], 101))
    Z = f(np.array([X0, X1]))
    for ax, lr in zip(axes, lrs, strict=True):
        _, path = gradient_descent(f, np.array(init_x, dtype=float), lr=lr, step_num=step_num, return_path=True)
        ax.contour(X0, X1, Z, levels=np.quantile(Z, np.linspace(0.02, 0.9, 10)), colors="#BBBBBB", linewidths=0.8)
        ax.plot(path[:, 0], path[:, 1], "o", ms=3.5, color=OKABE_ITO["vermillion"], clip_on=True)
        inside = np.all(np.abs(path) <= np.array(extent) * 1.5, axis=1)
        for a, b, ok in zip(path[:-1], path[1:], inside[1:], strict=True):
            if ok and np.hypot(*(b - a)) > 1e-3 * max(extent):
                ax.annotate("", xy=b, xytext=a, annotation_clip=True,
                            arrowprops={"arrowstyle": "-|>", "color": OKABE_ITO["vermillion"], "lw": 1.1,
                                        "shrinkA": 2, "shrinkB": 2, "connectionstyle": "arc3,rad=0.25"})
        ax.plot(*path[0], "s", color=OKABE_ITO["black"], ms=7)
        ax.plot([0], [0], "+", color=OKABE_ITO["black"], ms=10)
        ax.set(xlim=(-extent[0], extent[0]), ylim=(-extent[1], extent[1]), aspect="equal", xlabel="x0",
               title=f"lr = {lr:g}: {_verdict(path, f)}\nafter {step_num} steps f = {f(path[-1]):.3g}")
    axes[0].set_ylabel("x1")
    fig.suptitle(f"Gradient descent on {name} from {tuple(init_x)} (square: start, +: minimum)")
    return fig


def _verdict(path, f) -> str:
    start, end = f(path[0]), f(path[-1])
    if not np.isfinite(end) or end > start:
        return "diverges"
    if end > 0.5 * start:
        return "barely moves"
    steps = np.diff(path, axis=0)
    if len(steps) > 1 and np.mean(np.any(steps[1:] * steps[:-1] < 0, axis=1)) > 0.5:  # most steps turn back
        return "zigzags in"
    return "converges"


# --- a training run ----------------------------------------------------------------------------------------
def loss_figure(loss, smooth: int | None = None) -> NotebookFigure:
    """The mini-batch loss of every iteration (faint) and its moving average (bold)."""
    loss = np.asarray(loss, dtype=float)
    fig = _figure()
    ax = fig.add_subplot()
    it = np.arange(1, len(loss) + 1)
    ax.plot(it, loss, color=OKABE_ITO["sky"], lw=0.6, alpha=0.6, label="mini-batch loss")
    smooth = smooth or max(min(5, len(loss)), len(loss) // 50)
    if len(loss) >= smooth > 1:
        avg = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
        ax.plot(it[smooth - 1:], avg, color=OKABE_ITO["blue"], lw=2, label=f"moving average of {smooth}")
    ax.set(title="Training loss", xlabel="iteration", ylabel="cross-entropy loss")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    return fig


def accuracy_figure(epochs, train_acc, test_acc=None) -> NotebookFigure:
    """Train and test accuracy per epoch (figure 4-12).  ``epochs`` may be fractional (iteration /
    iterations per epoch), so that a last, partial epoch sits where it belongs."""
    epochs = np.asarray(epochs, dtype=float)
    fig = _figure()
    ax = fig.add_subplot()
    few = len(epochs) <= 30
    ax.plot(epochs, train_acc, "-", marker="o" if few else None, ms=4, lw=2.2, color=OKABE_ITO["blue"],
            label="train")
    has_test = test_acc is not None and any(a is not None for a in test_acc)
    if has_test:
        test = np.array([np.nan if a is None else a for a in test_acc], dtype=float)
        ax.plot(epochs, test, "--", marker="s" if few else None, ms=4, lw=1.8, color=OKABE_ITO["orange"],
                label="test", zorder=3)
    if len(epochs) == 1:
        text = f"train {train_acc[0]:.4f}" + (f"\ntest {test_acc[0]:.4f}" if has_test else "")
        ax.text(0.03, 0.96, text + "\n(one evaluation so far: more appear after each epoch)", transform=ax.transAxes,
                va="top")
    ax.set_xlim(0, max(1.0, float(epochs.max()) * 1.03) if len(epochs) else 1.0)
    ax.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.0))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def confusion_matrix(true, pred, classes: int) -> np.ndarray:
    """counts[i, j] = how many samples of class i were predicted as j."""
    return np.bincount(np.asarray(true) * classes + np.asarray(pred), minlength=classes * classes).reshape(
        classes, classes)


def confusion_matrix_figure(true, pred, class_names) -> NotebookFigure:
    """Counts of (true, predicted) pairs.  The diagonal (correct) is written in bold on grey; the colour
    scale is that of the off-diagonal cells alone, so that the errors, not the much larger diagonal, show."""
    k = len(class_names)
    counts = confusion_matrix(true, pred, k)
    errors = np.ma.masked_where(np.eye(k, dtype=bool), counts)
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    cmap = _colormap("Oranges").with_extremes(bad="#E8E8E8")
    image = ax.imshow(errors, cmap=cmap, vmin=0, vmax=max(1, int(errors.max() or 0)))
    threshold = 0.6 * max(1, int(errors.max() or 0))
    for i in range(k):
        for j in range(k):
            value = counts[i, j]
            ax.text(j, i, str(value), ha="center", va="center", fontsize="medium",
                    fontweight="bold" if i == j else "normal",
                    color="black" if i == j else ("white" if value > threshold else
                                                  ("#999999" if value == 0 else "black")))
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(c) for c in class_names], rotation=45 if max(map(len, class_names)) > 2 else 0,
                  ha="right" if max(map(len, class_names)) > 2 else "center")
    ax.set_yticks(ticks, [str(c) for c in class_names])
    ax.set(title=f"Confusion matrix (test accuracy {np.trace(counts) / counts.sum():.4f})",
           xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, label="errors (off-diagonal)", shrink=0.8)
    return fig


def _colormap(name):
    import matplotlib

    return matplotlib.colormaps[name]


def misclassified_figure(images, true, pred, class_names, max_images: int = 24, columns: int = 8) -> NotebookFigure:
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
        ax.set_title(f"{class_names[true[i]]} → {class_names[pred[i]]}", fontsize="small")
    fig.suptitle(f"Misclassified test images (true → predicted), {len(wrong)} of "
                 f"{int(np.sum(true != pred))} shown" if len(wrong) else "No misclassified test images")
    return fig


def weights_figure(W1, max_units: int = 50, columns: int = 10) -> NotebookFigure:
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


def gradient_check_figure(report) -> NotebookFigure:
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


def digits_figure(images, labels, class_names=None, count: int = 16, columns: int = 8) -> NotebookFigure:
    """The first ``count`` images with their labels (section 4.1: the data the network learns from)."""
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    count = min(count, len(images))
    rows = max(1, -(-count // columns))
    fig = _figure(1.2 * columns, 1.35 * rows + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for i, ax in enumerate(axes[:count]):
        ax.imshow(images[i].reshape(28, 28), cmap="gray_r")
        ax.set_title(str(class_names[labels[i]]) if class_names is not None else str(labels[i]), fontsize=11)
    fig.suptitle(f"The first {count} training images and their labels")
    return fig


def history_figure(history) -> NotebookFigure:
    """A run at a glance: the loss of every iteration (left) and the accuracy per epoch (right)."""
    fig = _figure(11.0, 3.8)
    left, right = fig.subplots(1, 2)
    loss = np.asarray(history.loss, dtype=float)
    it = np.arange(1, len(loss) + 1)
    left.plot(it, loss, color=OKABE_ITO["sky"], lw=0.6, alpha=0.7, label="mini-batch loss")
    if history.epoch_iteration:
        left.plot(history.epoch_iteration, history.train_loss, "-", color=OKABE_ITO["blue"], lw=2,
                  label="loss on all training data")
    left.set(title="Loss", xlabel="iteration", ylabel="cross-entropy loss")
    left.set_ylim(bottom=0)
    left.legend(loc="upper right")
    left.grid(alpha=0.3)
    epochs = np.asarray(history.epoch_iteration, dtype=float) / max(history.iter_per_epoch, 1)
    few = len(epochs) <= 30
    right.plot(epochs, history.train_acc, "-", marker="o" if few else None, ms=4, lw=2.2,
               color=OKABE_ITO["blue"], label="train")
    if any(a is not None for a in history.test_acc):
        test = np.array([np.nan if a is None else a for a in history.test_acc], dtype=float)
        right.plot(epochs, test, "--", marker="s" if few else None, ms=4, lw=1.8, color=OKABE_ITO["orange"],
                   label="test", zorder=3)
    right.set_xlim(0, max(1.0, float(epochs.max()) * 1.03) if len(epochs) else 1.0)
    right.set(title="Accuracy", xlabel=f"epoch ({history.iter_per_epoch} iterations)", ylabel="accuracy",
              ylim=(0, 1))
    right.legend(loc="lower right")
    right.grid(alpha=0.3)
    return fig


# --- the chapter's claims, measured (numbers from nnlearn.experiments) ---------------------------------------
def minibatch_estimate_figure(estimates: dict) -> NotebookFigure:
    """For each network ({name: ``MinibatchEstimate``}): the mini-batch losses around the full-data loss
    (left), the cosine between mini-batch and full-data gradient (middle), and the loss's spread against the
    batch size on log axes with the 1/√B line (right)."""
    rows = len(estimates)
    fig = _figure(13.0, 3.6 * rows)
    axes = np.atleast_2d(fig.subplots(rows, 3))
    for (name, est), (ax_loss, ax_cos, ax_spread) in zip(estimates.items(), axes, strict=True):
        positions = np.arange(len(est.batch_sizes))
        labels = [str(b) for b in est.batch_sizes]
        ax_loss.violinplot(list(est.losses), positions, showextrema=False, widths=0.8)
        ax_loss.boxplot(list(est.losses), positions=positions, widths=0.18, showfliers=False)
        ax_loss.axhline(est.full_loss, color=OKABE_ITO["vermillion"], lw=1.5,
                        label=f"loss on all {est.n:,} images: {est.full_loss:.3f}")
        ax_loss.set_xticks(positions, labels)
        ax_loss.set(title=f"{name}: mini-batch loss", ylabel="cross-entropy loss", xlabel="batch size B")
        ax_loss.legend(loc="upper right", fontsize="small")
        ax_cos.violinplot(list(est.cosines), positions, showextrema=False, widths=0.8)
        ax_cos.boxplot(list(est.cosines), positions=positions, widths=0.18, showfliers=False)
        ax_cos.axhline(1.0, color=OKABE_ITO["vermillion"], lw=1.5, label="1: the full-data direction")
        ax_cos.set_xticks(positions, labels)
        low = min(-0.2, min(float(np.min(c)) for c in est.cosines) - 0.05)
        ax_cos.set(title=f"{name}: cos(mini-batch ∇L, full ∇L)", ylabel="cosine", ylim=(low, 1.05),
                   xlabel="batch size B")
        ax_cos.legend(loc="lower right", fontsize="small")
        b = np.asarray(est.batch_sizes, dtype=float)
        spread = est.spread
        ax_spread.loglog(b, spread, "o-", color=OKABE_ITO["blue"], lw=2, label="std of the mini-batch loss")
        ax_spread.loglog(b, spread[0] * np.sqrt(b[0] / b), "--", color=OKABE_ITO["black"], lw=1,
                         label="1/√B from B = 1")
        for x, y in zip(b, spread, strict=True):
            ax_spread.annotate(f"{y:.3g}", (x, y), xytext=(8, 2), textcoords="offset points", fontsize="small")
        ax_spread.yaxis.set_minor_formatter(NullFormatter())
        ax_spread.set_xlim(0.5, b[-1] * 3)
        ax_spread.set(title=f"{name}: spread falls as 1/√B", xlabel="batch size B", ylabel="standard deviation")
        ax_spread.legend(loc="lower left", fontsize="small")
        ax_spread.grid(alpha=0.3, which="both")
    draws = ", ".join(str(len(v)) for v in next(iter(estimates.values())).losses)
    fig.suptitle(f"How well a random mini-batch stands in for all the data\n({draws} batches of each size, "
                 "drawn with replacement like np.random.choice)")
    return fig


def derivative_error_figure(result) -> NotebookFigure:
    """|numerical − exact| against h on log axes (a ``DerivativeError``): rounding error falls with h
    (left arm of the V), truncation error grows with it (right arm); the book's h = 1e-4 is marked."""
    fig = _figure(7.6, 4.8)
    ax = fig.add_subplot()
    styles = {("forward", "float64"): (OKABE_ITO["orange"], "-"), ("central", "float64"): (OKABE_ITO["blue"], "-"),
              ("forward", "float32"): (OKABE_ITO["orange"], ":"), ("central", "float32"): (OKABE_ITO["blue"], ":")}
    floor = 1e-17
    for (method, dtype), err in result.errors.items():
        colour, ls = styles[(method, dtype)]
        at = f" ({result.at(method, dtype, 1e-4):.1e} at 1e-4)" if dtype == "float64" else ""
        ax.loglog(result.h, np.maximum(err, floor), ls, color=colour, lw=2, label=f"{method}, {dtype}{at}")
    ax.axvline(1e-4, color=OKABE_ITO["vermillion"], lw=1.2)
    ax.annotate("the book's h = 1e-4", (1e-4, 1e-15), xytext=(6, 0), textcoords="offset points",
                color=OKABE_ITO["vermillion"])
    ax.set(xlabel="h", ylabel="|numerical − exact derivative|", ylim=(floor, 10),
           title=f"Error of the numerical derivative of sigmoid at x = {result.x:g}\n"
                 "small h: rounding error; large h: truncation error")
    ax.legend(loc="lower left", fontsize="small")
    ax.grid(alpha=0.3, which="major")
    return fig


def loss_vs_accuracy_figure(paths) -> NotebookFigure:
    """Loss (top) and accuracy (bottom) of a network along directions in parameter space (one
    ``LossAccuracyPath`` or a list, one column each): the loss changes smoothly, the accuracy in steps with
    flat stretches between, where its gradient is zero and gradient descent would not know where to go."""
    paths = [paths] if hasattr(paths, "alphas") else list(paths)
    fig = _figure(max(6.4, 5.4 * len(paths)), 5.8)
    axes = np.array(fig.subplots(2, len(paths), sharex="col", squeeze=False))
    for path, top, bottom in zip(paths, axes[0], axes[1], strict=True):
        top.plot(path.alphas, path.loss, color=OKABE_ITO["blue"], lw=2)
        top.set(ylabel="loss", title=f"along {path.direction}")
        bottom.plot(path.alphas, path.accuracy, drawstyle="steps-mid", color=OKABE_ITO["orange"], lw=1.8)
        bottom.set(xlabel="α (0: the trained network)", ylabel="accuracy",
                   title=f"accuracy flat over {path.flat_fraction:.0%} of the α steps")
        for ax in (top, bottom):
            ax.axvline(0, color="#999999", lw=0.8)
            ax.grid(alpha=0.3)
    fig.suptitle(f"Loss and accuracy of the network as its parameters move (θ + α·d, on {paths[0].n:,} images)")
    return fig


def learning_rate_sweep_figure(sweep, book_runs: dict | None = None, bowl_lrs=(0.1, 0.5, 0.9)) -> NotebookFigure:
    """Top: the network's train loss and test accuracy after the same budget for each lr (a
    ``LearningRateSweep``).  Bottom left: the book's lr = 10 and 1e-10 on x0² + x1² (``book_runs``: {lr: f
    per step}).  Bottom right: descent paths on the elongated bowl x0²/20 + x1², where a large lr zigzags."""
    fig = _figure(12.0, 8.4)
    grid = fig.add_gridspec(2, 2)
    ax_loss, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ok = np.isfinite(sweep.train_loss)
    ax_loss.semilogx(sweep.lrs[ok], sweep.train_loss[ok], "o-", color=OKABE_ITO["blue"], lw=2)
    ax_loss.axhline(sweep.initial_loss, color="#888888", ls="--", lw=1,
                    label=f"before training: {sweep.initial_loss:.2f}")
    for lr in sweep.lrs[~ok]:
        ax_loss.axvline(lr, color=OKABE_ITO["vermillion"], lw=4, alpha=0.3)
    ax_loss.set(xlabel="learning rate", ylabel="train loss",
                title=f"Loss after {sweep.iters:,} iterations of batch {sweep.batch_size}")
    ax_loss.legend(loc="upper right", fontsize="small")
    ax_loss.grid(alpha=0.3)
    ax_acc.semilogx(sweep.lrs[ok], sweep.test_acc[ok], "o-", color=OKABE_ITO["orange"], lw=2)
    best = int(np.nanargmax(np.where(ok, sweep.test_acc, np.nan))) if ok.any() else None
    if best is not None:
        ax_acc.annotate(f"best lr {sweep.lrs[best]:.3g}: {sweep.test_acc[best]:.3f}",
                        (sweep.lrs[best], sweep.test_acc[best]), xytext=(30, -40), textcoords="offset points",
                        ha="left", arrowprops={"arrowstyle": "->"})
    ax_acc.set(xlabel="learning rate", ylabel="test accuracy", ylim=(0, 1),
               title="too small: barely learns; too large: thrashes or diverges")
    ax_acc.grid(alpha=0.3)
    ax_book = fig.add_subplot(grid[1, 0])
    for colour, (lr, values) in zip(SEQUENCE, (book_runs or {}).items(), strict=False):
        ax_book.semilogy(np.arange(len(values)), np.maximum(np.abs(values), 1e-300), color=colour, lw=2,
                         label=f"lr = {lr:g}: f = {values[-1]:.3g} after {len(values) - 1} steps")
    if 10.0 in (book_runs or {}):
        ax_book.annotate("lr = 10 stalls near 1e27: x is so large that\nx + h == x, so the numerical gradient is 0",
                         (60, book_runs[10.0][-1]), xytext=(0, -48), textcoords="offset points", ha="center",
                         fontsize="small", arrowprops={"arrowstyle": "->"})
    ax_book.set(xlabel="step", ylabel="f(x) = x0² + x1²", title="The book's section 4.4.1 from (−3, 4)")
    ax_book.legend(loc="lower left", fontsize="small")
    ax_book.grid(alpha=0.3)
    ax_bowl = fig.add_subplot(grid[1, 1])
    X0, X1 = np.meshgrid(np.linspace(-10, 10, 161), np.linspace(-4, 4, 81))
    Z = function_bowl(np.array([X0, X1]))
    ax_bowl.contour(X0, X1, Z, levels=np.quantile(Z, np.linspace(0.02, 0.9, 10)), colors="#BBBBBB", linewidths=0.8)
    for colour, lr in zip(SEQUENCE, bowl_lrs, strict=False):
        _, path = gradient_descent(function_bowl, np.array([-7.0, 2.0]), lr=lr, step_num=30, return_path=True)
        ax_bowl.plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1.2, color=colour,
                     label=f"lr = {lr:g}: {_verdict(path, function_bowl)}")
    ax_bowl.plot(-7, 2, "s", color=OKABE_ITO["black"], ms=7)
    ax_bowl.set(xlim=(-10, 10), ylim=(-4, 4), aspect="equal", xlabel="x0", ylabel="x1",
                title="30 steps on the elongated bowl x0²/20 + x1²")
    ax_bowl.legend(loc="upper right", fontsize="small")
    fig.suptitle("What the learning rate does")
    return fig
