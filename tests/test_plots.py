"""Figures: the right axes and artists for known input, arrows against the gradient, paths = descent."""

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.quiver import Quiver

import nnlearn as nl
from nnlearn import plots


def test_tangent_lines_have_numerical_slopes():
    fig = plots.tangent_figure(points=(5.0, 10.0))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    curve, tangent5, _dot5, tangent10, _dot10 = ax.lines
    x, y = tangent5.get_data()
    slope = (y[-1] - y[0]) / (x[-1] - x[0])
    assert slope == pytest.approx(nl.numerical_diff(plots.function_1, 5.0), rel=1e-12)
    assert "0.2000" in tangent5.get_label() and "0.3000" in tangent10.get_label()
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_gradient_field_arrows_point_against_the_gradient():
    fig = plots.gradient_field_figure(extent=2.0, points=5)
    ax = fig.axes[0]
    quiver = next(c for c in ax.collections if isinstance(c, Quiver))
    assert "−∇f" in ax.get_title()
    offsets = quiver.get_offsets()
    i = next(k for k, (a, b) in enumerate(offsets) if (a, b) == (1.0, 2.0))
    # ∇f at (1, 2) is (2, 4): the arrow must be (−2, −4), pointing at the minimum
    assert (quiver.U[i], quiver.V[i]) == pytest.approx((-2.0, -4.0), abs=1e-6)
    assert len(offsets) == 25


def test_descent_paths_match_gradient_descent():
    lrs = (0.001, 0.1, 1.1)
    fig = plots.descent_paths_figure(lrs=lrs, step_num=10)
    assert len(fig.axes) == 3
    for ax, lr in zip(fig.axes, lrs, strict=True):
        _, expected = nl.gradient_descent(plots.function_2, np.array([-3.0, 4.0]), lr=lr, step_num=10,
                                          return_path=True)
        xs, ys = ax.lines[0].get_data()
        np.testing.assert_array_equal(np.c_[xs, ys], expected)
    titles = [ax.get_title() for ax in fig.axes]
    assert "barely moves" in titles[0] and "converges" in titles[1] and "diverges" in titles[2]


def test_training_figures_on_known_history():
    loss = np.linspace(2.3, 0.2, 500)
    fig = plots.loss_figure(loss, smooth=10)
    raw, smoothed = fig.axes[0].lines
    assert len(raw.get_xdata()) == 500 and len(smoothed.get_xdata()) == 491
    assert fig.axes[0].get_ylabel() == "cross-entropy loss"
    fig = plots.accuracy_figure([1, 2, 3], [0.5, 0.8, 0.9], [0.4, 0.7, 0.85])
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [3, 3]


def test_confusion_matrix_counts():
    true = np.array([0, 0, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 2, 0, 2])
    counts = plots.confusion_matrix(true, pred, 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    fig = plots.confusion_matrix_figure(true, pred, ["a", "b", "c"])
    ax = fig.axes[0]
    assert len([c for c in ax.get_children() if isinstance(c, AxesImage)]) == 1
    assert len(ax.texts) == 9 and "0.6667" in ax.get_title()


def test_misclassified_gallery_shows_only_errors():
    images = np.random.default_rng(0).random((6, 784))
    true, pred = np.array([0, 1, 2, 3, 4, 5]), np.array([0, 7, 2, 9, 4, 1])
    fig = plots.misclassified_figure(images, true, pred, [str(i) for i in range(10)], columns=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 3
    assert [ax.get_title() for ax in shown] == ["1 → 7", "3 → 9", "5 → 1"]


def test_weights_figure_one_image_per_unit():
    fig = plots.weights_figure(np.random.default_rng(0).normal(size=(784, 12)), columns=5)
    assert sum(len(ax.images) for ax in fig.axes) == 12


def test_gradient_check_bars_log_scale():
    net = nl.TwoLayerNet(6, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 0, 1])
    report = nl.gradient_check(net, x, t)
    fig = plots.gradient_check_figure(report)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert len(bars) == 4 and ax.get_yscale() == "log"
    assert bars[0].get_height() == pytest.approx(max(report.rows[0].max_abs_diff, 1e-20))


def test_no_pyplot_state():
    import sys
    plots.tangent_figure()
    assert "matplotlib.pyplot" not in sys.modules or not __import__("matplotlib.pyplot").pyplot.get_fignums()



def test_accuracy_figure_single_point_partial_epoch_and_many_epochs():
    fig = plots.accuracy_figure([0.625], [0.31], [0.30])  # --iters 50: one evaluation, before epoch 1
    ax = fig.axes[0]
    assert ax.get_xlim() == (0.0, 1.0) and "one evaluation" in ax.texts[0].get_text()
    fig = plots.accuracy_figure([1, 2, 3, 4, 5, 6, 6.25], [0.5] * 7, [0.4] * 7)  # --iters 500: 6.25 epochs
    assert list(fig.axes[0].lines[0].get_xdata())[-2:] == [6.0, 6.25]
    epochs = np.arange(1, 126)
    fig = plots.accuracy_figure(epochs, np.full(125, 0.9), np.full(125, 0.9))
    train, test = fig.axes[0].lines
    assert train.get_marker() in ("None", None, "") and test.get_marker() in ("None", None, "")
    assert test.get_zorder() > train.get_zorder() and test.get_linestyle() == "--"  # the dashed line stays visible


def test_confusion_colours_scale_with_the_errors_not_the_diagonal():
    true = np.repeat(np.arange(3), 100)
    pred = true.copy()
    pred[:3] = 1  # three 0s read as 1
    fig = plots.confusion_matrix_figure(true, pred, ["a", "b", "c"])
    image = fig.axes[0].images[0]
    assert image.norm.vmax == 3  # the largest error, not the diagonal's 100
    assert np.ma.getmaskarray(image.get_array()).diagonal().all()


def test_zigzag_on_the_round_bowl_and_the_elongated_one():
    fig = plots.descent_paths_figure(lrs=(0.9,), step_num=10)
    assert "zigzags in" in fig.axes[0].get_title()
    assert len(fig.axes[0].texts) >= 5  # one arrow per step: the back-and-forth is drawn, not a line over itself
    fig = plots.descent_paths_figure(plots.function_bowl, init_x=(-7.0, 2.0), lrs=(0.1, 0.9), extent=(10.0, 4.0))
    assert "zigzags in" in fig.axes[1].get_title() and "zigzags" not in fig.axes[0].get_title()


def test_history_plot_and_digits():
    h = nl.History(iters=200, iter_per_epoch=80, loss=list(np.linspace(2.3, 1.0, 200)))
    for i in (80, 160, 200):
        h.append({"epoch": i // 80, "epoch_iteration": i, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0,
                  "test_acc": 0.4, "elapsed": 1.0})
    fig = h.plot()
    assert list(fig.axes[1].lines[0].get_xdata()) == [1.0, 2.0, 2.5]
    fig = plots.digits_figure(np.zeros((5, 784)), np.eye(10)[[1, 2, 3, 4, 5]], count=5)
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["1", "2", "3", "4", "5"]
