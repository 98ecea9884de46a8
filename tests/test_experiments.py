"""The chapter's claims, measured: numbers checked against what theory says they must be."""

import warnings

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import experiments, plots


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((3000, 8))
    t = (x[:, 0] + x[:, 1] > 1).astype(np.intp) + (x[:, 2] > 0.7)
    return x, t


def test_minibatch_spread_falls_as_one_over_root_b(data):
    x, t = data
    net = nl.TwoLayerNet(8, 6, 3, weight_init_std=1.0, seed=0)
    est = experiments.minibatch_estimate(net, x, t, batch_sizes=(1, 10, 1000), draws=400, seed=1, chunk=700)
    assert est.n == 3000
    assert est.full_loss == pytest.approx(net.loss(x, t), rel=1e-12)  # chunked = whole
    ratio = est.spread[1] / est.spread[2]
    assert 7.5 < ratio < 13.0  # √(1000/10) = 10
    assert est.spread[0] / est.spread[1] == pytest.approx(np.sqrt(10), rel=0.25)
    means = [np.mean(v) for v in est.losses]
    assert means[2] == pytest.approx(est.full_loss, abs=4 * est.spread[2] / np.sqrt(400))  # unbiased
    assert np.median(est.cosines[2]) > np.median(est.cosines[0])  # larger batches point the right way


def test_minibatch_estimate_reads_uint8_pixels_like_floats():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (500, 8), dtype=np.uint8)
    t = rng.integers(0, 3, 500)
    net = nl.TwoLayerNet(8, 5, 3, weight_init_std=0.5, seed=0, dtype=np.float32)
    a = experiments.minibatch_estimate(net, pixels, t, batch_sizes=(10,), draws=5, seed=0)
    b = experiments.minibatch_estimate(net, pixels / np.float32(255), t, batch_sizes=(10,), draws=5, seed=0)
    np.testing.assert_allclose(a.losses[0], b.losses[0], rtol=1e-5)


def test_central_differences_beat_forward_ones_at_the_books_h():
    err = experiments.derivative_error()
    assert err.exact == pytest.approx(0.2350037122015945)  # σ(0.5)(1 − σ(0.5))
    central, forward = err.at("central", "float64", 1e-4), err.at("forward", "float64", 1e-4)
    assert central < forward / 1000
    assert forward == pytest.approx(1e-4 / 2 * 0.0575, rel=0.05)  # truncation error h/2·|f''(x)|
    # the V: rounding error makes a tiny h worse than 1e-4, in both precisions
    assert err.at("central", "float64", 1e-12) > 100 * central
    assert err.at("central", "float32", 1e-12) == pytest.approx(err.exact)  # x + h == x: the quotient is 0
    assert err.at("central", "float32", 1e-4) > 1000 * central


def test_difference_quotient_rejects_unknown_methods():
    with pytest.raises(ValueError, match="forward' or 'central"):
        experiments.difference_quotient(np.sin, 1.0, 1e-4, "backward")


def test_accuracy_is_flat_where_the_loss_is_not(data):
    x, t = data
    net = nl.TwoLayerNet(8, 6, 3, weight_init_std=1.0, seed=0)
    nl.fit(net, x, t, iters=300, lr=1.0, batch_size=50, eval_every=None)
    before = {k: v.copy() for k, v in net.params.items()}
    path = experiments.loss_vs_accuracy(net, x[:200], t[:200], direction=("W2", (0, 1)),
                                        alphas=np.linspace(-0.5, 0.5, 101))
    for k in before:
        np.testing.assert_array_equal(net.params[k], before[k])  # restored
    assert path.accuracy[50] == pytest.approx(net.accuracy(x[:200], t[:200]))
    assert path.loss[50] == pytest.approx(net.loss(x[:200], t[:200]))
    assert path.flat_fraction > 0.5
    assert np.all(np.diff(path.loss) != 0)  # the loss moves at every step
    assert len(np.unique(path.accuracy * 200)) < 60 and np.allclose(path.accuracy * 200, np.round(path.accuracy * 200))


def test_learning_rate_sweep_finds_a_working_window(data):
    x, t = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the lr that does not learn is the point: no NotLearningWarning for it
        sweep = experiments.learning_rate_sweep(lambda: nl.TwoLayerNet(8, 6, 3, seed=0), x, t, x[:500], t[:500],
                                                lrs=[1e-4, 1.0, 1e4], iters=150, batch_size=50)
    assert sweep.train_loss[0] == pytest.approx(sweep.initial_loss, abs=0.01)  # too small: barely moves
    assert sweep.train_loss[1] < sweep.initial_loss - 0.1
    assert not sweep.train_loss[2] < sweep.train_loss[1]  # too large: diverges (NaN) or worse
    book = experiments.book_learning_rates(plots.function_2)
    assert book[10.0][-1] > 1e20 and book[1e-10][-1] == pytest.approx(25, rel=1e-6) and book[0.1][-1] < 1e-15


def test_chapter_figures_draw_the_numbers(data):
    x, t = data
    net = nl.TwoLayerNet(8, 6, 3, weight_init_std=1.0, seed=0)
    est = experiments.minibatch_estimate(net, x, t, batch_sizes=(1, 10), draws=20)
    fig = plots.minibatch_estimate_figure({"a": est, "b": est})
    assert len(fig.axes) == 6 and fig.axes[2].get_xscale() == "log"
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), est.spread)
    fig = plots.derivative_error_figure(experiments.derivative_error())
    assert len(fig.axes[0].lines) == 5 and fig.axes[0].get_xscale() == "log"
    path = experiments.loss_vs_accuracy(net, x[:100], t[:100], alphas=np.linspace(-1, 1, 11))
    fig = plots.loss_vs_accuracy_figure(path)
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), path.accuracy)
    sweep = experiments.LearningRateSweep(np.array([0.01, 0.1, 1.0]), np.array([2.3, 1.0, np.nan]),
                                          np.array([0.1, 0.8, np.nan]), 2.3, 100, 10)
    fig = plots.learning_rate_sweep_figure(sweep, experiments.book_learning_rates(plots.function_2))
    assert len(fig.axes) == 4 and len(fig.axes[0].lines[0].get_xdata()) == 2
    assert "zigzags in" in " ".join(t.get_text() for t in fig.axes[3].get_legend().get_texts())
