"""The structured numerical gradient computes the book's central differences: ≤1e-9 from the plain loop."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import structured_gradient

PARAMS = ("W1", "b1", "W2", "b2")


def trained_net(hidden, dtype=np.float64, seed=0):
    """A net trained a little on real digits, so its gradient is not the trivial one of the first step."""
    (x, t), _ = nl.load_mnist(normalize=False, dataset="mnist-mini")
    net = nl.TwoLayerNet(784, hidden, 10, seed=seed, dtype=dtype)
    nl.fit(net, x, t, iters=200, lr=0.5, eval_every=None, seed=seed)
    return net


def digits(n, offset=0, one_hot=False):
    (x, t), _ = nl.load_mnist(one_hot_label=one_hot, dataset="mnist-mini")
    return x[offset:offset + n], t[offset:offset + n]


def assert_matches_loop(net, x, t):
    fast = net.numerical_gradient(x, t)
    loop = net.numerical_gradient(x, t, method="loop")
    for name in PARAMS:
        assert fast[name].shape == net.params[name].shape
        np.testing.assert_allclose(fast[name], loop[name], rtol=0, atol=1e-9, err_msg=name)
    return fast


def test_real_digits_batch_100_book_size():
    net = trained_net(50)
    x, t = digits(100)
    fast = assert_matches_loop(net, x, t)
    assert np.abs(fast["W1"]).max() > 1e-4  # a real, non-zero gradient was compared


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("one_hot", [False, True])
@pytest.mark.parametrize("batch", [1, 100])
def test_dtypes_targets_and_batch_sizes(dtype, one_hot, batch):
    net = trained_net(7, dtype=dtype)
    x, t = digits(batch, offset=300, one_hot=one_hot)
    assert_matches_loop(net, x, t)


@pytest.mark.parametrize("hidden", [1, 13, 64])
def test_other_hidden_sizes_on_random_inputs(hidden):
    rng = np.random.default_rng(hidden)
    net = nl.TwoLayerNet(20, hidden, 4, weight_init_std=0.7, seed=hidden)
    net.params["b1"] += rng.normal(size=hidden)
    x = rng.normal(size=(30, 20))
    x[rng.random(x.shape) < 0.5] = 0.0
    assert_matches_loop(net, x, rng.integers(0, 4, 30))


def test_large_weights_use_exact_exponentials(monkeypatch):
    """Where the Taylor series would not be exact to double precision, the exponentials are summed directly."""
    rng = np.random.default_rng(0)
    net = nl.TwoLayerNet(12, 6, 3, weight_init_std=1.0, seed=0)
    net.params["W2"] *= 400  # h·|x|·|W2|/4 > TAYLOR_MAX_U
    x, t = rng.random((9, 12)) * 3, rng.integers(0, 3, 9)
    calls = []
    monkeypatch.setattr(structured_gradient, "_series", lambda *a: calls.append(a) or pytest.fail("series used"))
    assert_matches_loop(net, x, t)
    assert not calls


def test_series_path_is_the_default_for_ordinary_weights(monkeypatch):
    net = trained_net(5)
    x, t = digits(10)
    used = []
    original = structured_gradient._series
    monkeypatch.setattr(structured_gradient, "_series", lambda *a: used.append(1) or original(*a))
    net.numerical_gradient(x, t)
    assert used


def test_network_parameters_are_not_touched():
    net = trained_net(5)
    before = {k: v.copy() for k, v in net.params.items()}
    net.numerical_gradient(*digits(20))
    for name in PARAMS:
        np.testing.assert_array_equal(net.params[name], before[name])
