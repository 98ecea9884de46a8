"""Chapter 5's layers: every backward pass against central differences of its own forward pass, and the
book's chapter-5 TwoLayerNet assembled from them."""

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlearn as nl
from nnlearn.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss

shapes = st.tuples(st.integers(1, 5), st.integers(1, 6))


def numerical_input_gradient(forward, x, dout, h=1e-6):
    """∂(Σ dout · forward(x))/∂x by central differences, in float64."""
    x = x.astype(np.float64).copy()
    return nl.numerical_gradient(lambda _x: float(np.sum(forward(x) * dout)), x, h)


def check_backward(layer, x, dtype, forward=None):
    """backward(dout) of ``layer`` equals the numerical gradient of Σ dout·forward(x) (computed in float64).
    ``forward``: a pure function of x for the differences, where the layer's own forward has side effects."""
    forward = forward or layer.forward
    rng = np.random.default_rng(0)
    out = layer.forward(x.astype(dtype))
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout.astype(dtype))
    expected = numerical_input_gradient(forward, x, dout)
    tol = 2e-3 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(dx, expected, rtol=tol, atol=tol)
    return dout


@settings(max_examples=25, deadline=None)
@given(shapes, st.integers(1, 5), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_affine_backward(shape, units, dtype, seed):
    rng = np.random.default_rng(seed)
    n, d = shape
    W, b = rng.normal(size=(d, units)), rng.normal(size=units)
    x = rng.normal(size=(n, d))
    layer = Affine(W.astype(dtype), b.astype(dtype))
    dout = check_backward(layer, x, dtype)
    np.testing.assert_allclose(layer.dW, x.T @ dout, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.db, dout.sum(axis=0), rtol=1e-5, atol=1e-5)
    # dW and db against central differences of the output in W and b
    f64 = Affine(W.copy(), b.copy())
    num_W = nl.numerical_gradient(lambda _w: float(np.sum(f64.forward(x) * dout)), f64.W)
    np.testing.assert_allclose(layer.dW, num_W, rtol=2e-3, atol=2e-3)


@settings(max_examples=25, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_sigmoid_backward(shape, dtype, seed):
    x = np.random.default_rng(seed).normal(scale=3, size=shape)
    check_backward(Sigmoid(), x, dtype)


@settings(max_examples=25, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_relu_backward(shape, dtype, seed):
    x = np.random.default_rng(seed).normal(size=shape)
    x[np.abs(x) < 1e-3] = 0.5  # the kink at 0 has no derivative
    layer = Relu()
    check_backward(layer, x, dtype)
    np.testing.assert_array_equal(layer.mask, x <= 0)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(2, 6), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_softmax_with_loss_backward(n, k, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k))
    t = rng.integers(0, k, n)
    layer = SoftmaxWithLoss()
    loss = layer.forward(x.astype(dtype), t)
    assert loss == pytest.approx(nl.cross_entropy_error(nl.softmax(x), t), rel=1e-5)
    dx = layer.backward()
    # the book's backward is the gradient of the loss without the 1e-7 guard: softmax_cross_entropy's
    num = nl.numerical_gradient(lambda v: nl.softmax_cross_entropy(v, t), x.copy())
    tol = 1e-4 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(dx, num, rtol=tol, atol=tol)
    one_hot = SoftmaxWithLoss()
    assert one_hot.forward(x.astype(dtype), np.eye(k)[t]) == loss
    np.testing.assert_array_equal(one_hot.backward(), dx)


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 6), st.integers(1, 5), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**31))
def test_batchnorm_backward(n, d, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    gamma, beta = rng.normal(size=d), rng.normal(size=d)

    def fresh():
        return BatchNormalization(gamma.astype(dtype).copy(), beta.astype(dtype).copy())

    layer = fresh()
    dout = check_backward(layer, x, dtype, forward=lambda v: fresh().forward(v))
    num_gamma = nl.numerical_gradient(
        lambda g: float(np.sum(BatchNormalization(g, beta.copy()).forward(x) * dout)), gamma.copy())
    np.testing.assert_allclose(layer.dgamma, num_gamma, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(layer.dbeta, dout.sum(axis=0), rtol=1e-5, atol=1e-5)


def test_batchnorm_normalizes_and_tracks_running_averages():
    rng = np.random.default_rng(1)
    x = rng.normal(5, 3, size=(200, 4))
    layer = BatchNormalization(np.ones(4), np.zeros(4), momentum=0.9)
    out = layer.forward(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-6)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.1 * x.var(axis=0))
    test_out = layer.forward(x, train_flg=False)
    np.testing.assert_allclose(test_out, (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-7))


def test_dropout_masks_train_and_scales_test():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    x = np.ones((1000, 50))
    out = layer.forward(x)
    assert abs(out.mean() - 0.7) < 0.01
    np.testing.assert_array_equal(layer.backward(np.full_like(x, 2.0)), 2.0 * layer.mask)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), 0.7)
    mask = layer.mask.copy()
    layer.fix_mask = True
    layer.forward(x)
    np.testing.assert_array_equal(layer.mask, mask)


def test_reused_buffers_give_the_same_numbers():
    rng = np.random.default_rng(2)
    net = nl.MultiLayerNet(6, [5, 4], 3, seed=0)
    x, t = rng.normal(size=(7, 6)), rng.integers(0, 3, 7)
    plain = net.loss_and_gradient(x, t)
    with net.reusing_buffers():
        reused = net.loss_and_gradient(x, t)
        again = net.loss_and_gradient(x, t)
        assert np.shares_memory(again[1]["W1"], reused[1]["W1"])  # one array, rewritten: nothing allocated
    assert plain[0] == reused[0]
    for k in plain[1]:
        np.testing.assert_array_equal(plain[1][k], reused[1][k])


def test_reused_buffers_follow_the_batch_size():
    """A run's batches, an epoch's shorter last batch and evaluation's chunks each get their own arrays."""
    rng = np.random.default_rng(3)
    net = nl.MultiLayerNet(6, [5, 4], 3, seed=0)
    batches = [(rng.normal(size=(n, 6)), rng.integers(0, 3, n)) for n in (7, 3, 7, 3, 7)]
    plain = [net.loss_and_gradient(x, t) for x, t in batches]
    with net.reusing_buffers():
        reused = [net.loss_and_gradient(x, t) for x, t in batches[:1]]
        copies = [(reused[0][0], {k: v.copy() for k, v in reused[0][1].items()})]
        for x, t in batches[1:]:
            reused.append(net.loss_and_gradient(x, t))
            copies.append((reused[-1][0], {k: v.copy() for k, v in reused[-1][1].items()}))
    assert np.shares_memory(reused[0][1]["W1"], reused[4][1]["W1"])  # batches of 7: one array throughout
    assert not np.shares_memory(reused[0][1]["W1"], reused[1][1]["W1"])
    for (loss, grads), (loss_r, grads_r) in zip(plain, copies, strict=True):
        assert loss == loss_r
        for k in grads:
            np.testing.assert_array_equal(grads[k], grads_r[k])


def test_softmax_with_loss_takes_smoothed_labels():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4))
    t = 0.9 * np.eye(4)[rng.integers(0, 4, 5)] + 0.1 / 4
    layer = SoftmaxWithLoss()
    assert layer.forward(x, t) == nl.cross_entropy_error(nl.softmax(x), t)
    num = nl.numerical_gradient(lambda v: nl.softmax_cross_entropy(v, t), x.copy())
    np.testing.assert_allclose(layer.backward(), num, rtol=1e-8, atol=1e-8)


def test_softmax_with_loss_refuses_labels_out_of_range_and_single_vectors():
    with pytest.raises(ValueError, match="label"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"batch of scores \(N, K\).*reshape\(1, -1\)"):
        SoftmaxWithLoss().forward(np.zeros(3), 1)


def test_backward_twice_gives_the_same_gradient():
    layer = SoftmaxWithLoss()
    layer.forward(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), np.array([2, 0]))
    first = layer.backward().copy()
    np.testing.assert_array_equal(layer.backward(), first)


class BookTwoLayerNet:
    """The book's chapter-5 TwoLayerNet (ch05/two_layer_net.py), written as its reader would, from nnlearn's
    layers: an OrderedDict of Affine1, Relu1, Affine2 and a SoftmaxWithLoss last layer."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, rng=None):
        rng = rng or np.random.default_rng(0)
        self.params = {"W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
                       "b1": np.zeros(hidden_size),
                       "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
                       "b2": np.zeros(output_size)}
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Relu1"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        if t.ndim != 1:
            t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        def loss_W(W):
            return self.loss(x, t)
        return {k: nl.numerical_gradient(loss_W, self.params[k]) for k in ("W1", "b1", "W2", "b2")}

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}


def test_book_chapter5_two_layer_net_runs_from_nnlearn_layers():
    """ch05/gradient_check.py: the mean differences are tiny.  The numerical side differentiates the loss with the
    1e-7 inside the log, backprop the loss without it, so they differ by about 1e-7/y_t ≈ 1e-6 relative."""
    (x_train, t_train), _ = nl.load_mnist(normalize=True, one_hot_label=True, dataset="mnist-mini")
    network = BookTwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    x_batch, t_batch = x_train[:3].astype(np.float64), t_train[:3]
    grad_numerical = network.numerical_gradient(x_batch, t_batch)
    grad_backprop = network.gradient(x_batch, t_batch)
    for key in grad_numerical:
        diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
        assert diff < 1e-6, (key, diff)
        assert np.abs(grad_backprop[key]).max() > 1e-4  # a real gradient was compared
    # and it learns, chapter 5's train_neuralnet.py in miniature
    rng = np.random.default_rng(0)
    before = network.accuracy(x_train[:1000], t_train[:1000])
    for _ in range(300):
        mask = rng.choice(8000, 100)
        grads = network.gradient(x_train[mask], t_train[mask])
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= 0.1 * grads[key]
    assert network.accuracy(x_train[:1000], t_train[:1000]) > max(0.85, before + 0.5)
