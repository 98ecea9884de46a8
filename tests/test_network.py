"""SimpleNet and TwoLayerNet: the book's numbers, gradients agreeing three ways, labels ≡ one-hot."""

import numpy as np
import pytest
from book_reference import backprop

import nnlearn as nl

BOOK_W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
X = np.array([0.6, 0.9])


def book_net():
    net = nl.simpleNet()
    net.W = BOOK_W.copy()
    return net


def test_simple_net_predict_book_values():
    np.testing.assert_allclose(book_net().predict(X), [1.05414809, 0.63071653, 1.1328074], atol=1e-8)
    assert int(np.argmax(book_net().predict(X))) == 2


def test_simple_net_gradient_book_values():
    net = book_net()
    dW = nl.numerical_gradient(lambda _w: net.loss(X, np.array([0, 0, 1])), net.W)
    # The book prints x ⊗ (softmax(xW) − t): the loss without its 1e-7 guard.
    book = np.array([[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]])
    np.testing.assert_allclose(dW, book, atol=2e-7)
    # Exactly, with the guard: ∂/∂W of −log(y_t + δ) = x ⊗ (y_t/(y_t + δ)) (y − t).
    y = nl.softmax(X @ BOOK_W)
    exact = np.outer(X, y[2] / (y[2] + 1e-7) * (y - [0, 0, 1]))
    np.testing.assert_allclose(dW, exact, atol=1e-9)
    np.testing.assert_array_equal(net.W, BOOK_W)


def test_simple_net_is_seeded():
    assert np.array_equal(nl.SimpleNet(seed=3).W, nl.SimpleNet(seed=3).W)
    assert np.array_equal(nl.SimpleNet(rng=np.random.default_rng(3)).W, nl.SimpleNet(seed=3).W)
    assert not np.array_equal(nl.SimpleNet(seed=3).W, nl.SimpleNet(seed=4).W)


def small_problem(seed=0, n=8, d=12, h=5, k=4):
    rng = np.random.default_rng(seed)
    net = nl.TwoLayerNet(d, h, k, weight_init_std=0.5, seed=seed)
    net.params["b1"] += rng.normal(size=h) * 0.1
    net.params["b2"] += rng.normal(size=k) * 0.1
    return net, rng.random((n, d)), rng.integers(0, k, n)


def test_two_layer_net_shapes_and_init():
    net = nl.TwoLayerNet(784, 50, 10, seed=0)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
    assert abs(net.params["W1"].std() - 0.01) < 0.001
    assert not net.params["b1"].any()
    f32 = nl.TwoLayerNet(784, 50, 10, seed=0, dtype=np.float32)
    assert f32.params["W1"].dtype == np.float32
    np.testing.assert_array_equal(f32.params["W1"], net.params["W1"].astype(np.float32))


def test_predict_is_softmax_of_the_forward_pass():
    net, x, _ = small_problem()
    p = net.params
    a1 = x @ p["W1"] + p["b1"]
    z1 = 1 / (1 + np.exp(-a1))
    a2 = z1 @ p["W2"] + p["b2"]
    expected = np.exp(a2) / np.exp(a2).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-12)


def test_backprop_matches_numerical_gradient():
    net, x, t = small_problem()
    num, back = net.numerical_gradient(x, t, method="loop"), net.gradient(x, t)
    for name in nl.network.PARAM_NAMES:
        np.testing.assert_allclose(back[name], num[name], atol=1e-6)


def test_structured_numerical_gradient_equals_loop():
    net, x, t = small_problem(n=6)
    x[x < 0.4] = 0.0  # sparse inputs, like digits
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for name in nl.network.PARAM_NAMES:
        np.testing.assert_allclose(fast[name], loop[name], rtol=0, atol=1e-9)


def test_labels_and_one_hot_give_identical_results():
    net, x, t = small_problem()
    one_hot = np.eye(4)[t]
    assert net.loss(x, t) == net.loss(x, one_hot)
    assert net.accuracy(x, t) == net.accuracy(x, one_hot)
    for a, b in [(net.gradient(x, t), net.gradient(x, one_hot)),
                 (net.numerical_gradient(x, t), net.numerical_gradient(x, one_hot))]:
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])


def test_accuracy_counts_argmax_hits():
    net, x, _ = small_problem()
    pred = net.predict(x).argmax(axis=1)
    t = pred.copy()
    t[:3] = (t[:3] + 1) % 4
    assert net.accuracy(x, t) == pytest.approx(5 / 8)


def test_loss_is_book_cross_entropy_of_predict():
    net, x, t = small_problem()
    assert net.loss(x, t) == pytest.approx(nl.cross_entropy_error(net.predict(x), t), rel=1e-15)


def test_gradient_check_report():
    net, x, t = small_problem()
    report = nl.gradient_check(net, x, t)
    assert report.passed
    assert [r.name for r in report.rows] == ["W1", "b1", "W2", "b2"]
    text = str(report)
    assert "PASS" in text and "W1" in text and "atol=1e-06" in text
    assert len({len(line) for line in text.splitlines()[:2]}) == 1  # header and rule align
    # a wrong gradient must fail
    broken = nl.TwoLayerNet.from_params(net.params)
    broken.gradient = lambda x, t: {k: v * 1.5 for k, v in backprop(net.params, x, t).items()}
    bad = nl.gradient_check(broken, x, t)
    assert not bad.passed and "FAIL" in str(bad)
    worst = bad["W1"].worst_index
    diff = np.abs(backprop(net.params, x, t)["W1"] * 0.5)
    assert worst == np.unravel_index(np.argmax(diff), diff.shape)


def test_float32_net_numerical_gradient_is_float64():
    net, x, t = small_problem()
    f32 = nl.TwoLayerNet.from_params({k: v.astype(np.float32) for k, v in net.params.items()})
    g = f32.numerical_gradient(x, t)
    assert g["W1"].dtype == np.float64
    f32_as_64 = nl.TwoLayerNet.from_params({k: v.astype(np.float64) for k, v in f32.params.items()})
    np.testing.assert_allclose(g["W1"], f32_as_64.numerical_gradient(x, t, method="loop")["W1"], atol=1e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda net, x, t: net.loss(x[:, :5], t), "x has shape (8, 5) but the network takes 12 inputs"),
        (lambda net, x, t: net.loss(x, t[:3]), "t has 3 labels but the output has 8 rows"),
        (lambda net, x, t: net.accuracy(x, t + 4), "t holds label"),
        (lambda net, x, t: net.gradient(x, np.full((8, 4), 0.25)), "rows are not one-hot"),
        (lambda net, x, t: net.predict(np.zeros((0, 12))), "x is empty"),
        (lambda net, x, t: net.predict(np.full((2, 12), np.inf)), "NaN or infinity"),
        (lambda net, x, t: net.numerical_gradient(x, t, method="fast-ish"), "method must be"),
        (lambda net, x, t: nl.TwoLayerNet(0, 5, 2), "input_size must be a positive integer"),
        (lambda net, x, t: nl.TwoLayerNet(3, 5, 2, dtype=np.int32), "dtype must be float32 or float64"),
        (lambda net, x, t: nl.TwoLayerNet(3, 5, 2, seed=1, rng=np.random.default_rng()), "not both"),
        (lambda net, x, t: nl.TwoLayerNet.from_params({"W1": np.ones((2, 2))}), "params lacks b1, W2, b2"),
    ],
)
def test_bad_input_messages(call, message):
    net, x, t = small_problem()
    with pytest.raises(ValueError) as err:
        call(net, x, t)
    assert message in str(err.value)


# --- chapter 6's MultiLayerNet ------------------------------------------------------------------------------
COMBINATIONS = [
    {"activation": a, "weight_init_std": init, "weight_decay_lambda": wd, "use_dropout": do, "use_batchnorm": bn}
    for a in ("relu", "sigmoid") for init in ("he", "xavier", 0.3)
    for wd in (0.0, 0.1) for do in (False, True) for bn in (False, True)
]


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_multilayer_gradient_matches_numerical(options):
    rng = np.random.default_rng(7)
    net = nl.MultiLayerNet(5, [4, 3], 3, seed=1, **options)
    for k in net.params:
        net.params[k] += rng.normal(scale=0.1, size=net.params[k].shape)  # biases and γ, β off their start
    x = rng.normal(size=(6, 5))
    x[np.abs(x) < 0.05] = 0.3
    t = rng.integers(0, 3, 6)
    # The numerical side differentiates the loss with the book's 1e-7 inside the log, backprop the loss without
    # it: they differ by up to 1e-7/y_t relative (1e-5 where a target's probability is 0.01), not more.
    report = nl.gradient_check(net, x, t, atol=2e-5)
    assert report.passed, str(report)
    expected = {"W1", "b1", "W2", "b2", "W3", "b3"} | ({"gamma1", "beta1", "gamma2", "beta2"}
                                                       if options["use_batchnorm"] else set())
    assert {r.name for r in report.rows} == expected


def test_gradient_check_fails_for_a_wrong_multilayer_gradient():
    rng = np.random.default_rng(3)
    net = nl.MultiLayerNet(4, [3], 2, seed=0, use_batchnorm=True)
    x, t = rng.normal(size=(5, 4)), rng.integers(0, 2, 5)
    right = net.gradient
    net.gradient = lambda x, t: {k: (v * 1.01 if k == "gamma1" else v) for k, v in right(x, t).items()}
    report = nl.gradient_check(net, x, t, atol=2e-5)
    assert not report["gamma1"].passed and report["W1"].passed


def test_sampled_gradient_check_compares_only_some_entries():
    rng = np.random.default_rng(4)
    net = nl.MultiLayerNet(30, [20], 5, seed=0)
    x, t = rng.normal(size=(4, 30)), rng.integers(0, 5, 4)
    report = nl.gradient_check(net, x, t, max_entries=10, atol=2e-5)
    assert report.passed
    assert len({r.worst_index for r in report.rows}) > 1


def test_weight_decay_adds_half_lambda_w_squared():
    rng = np.random.default_rng(5)
    plain = nl.MultiLayerNet(4, [3], 2, seed=0)
    decayed = nl.MultiLayerNet(4, [3], 2, seed=0, weight_decay_lambda=0.5)
    x, t = rng.normal(size=(5, 4)), rng.integers(0, 2, 5)
    penalty = 0.25 * (np.sum(plain.params["W1"] ** 2) + np.sum(plain.params["W2"] ** 2))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-12)


def test_initial_weight_scales():
    he = nl.MultiLayerNet(784, [500], 10, weight_init_std="he", seed=0)
    xavier = nl.MultiLayerNet(784, [500], 10, weight_init_std="xavier", seed=0)
    assert he.params["W1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.01)
    assert xavier.params["W2"].std() == pytest.approx(np.sqrt(1 / 500), rel=0.05)


def test_two_layer_net_is_the_book_network_of_layers():
    net = nl.TwoLayerNet(784, 50, 10, seed=0)
    assert list(net.layers) == ["Affine1", "Activation_function1", "Affine2"]
    assert isinstance(net.layers["Activation_function1"], nl.Sigmoid)
    assert repr(net) == "TwoLayerNet(784-50-10, sigmoid, float64, 39,760 parameters)"


def test_architecture_round_trip_through_a_weights_file(tmp_path):
    from nnlearn.network import network_from_weights

    rng = np.random.default_rng(6)
    net = nl.MultiLayerNet(6, [5, 4], 3, seed=2, use_batchnorm=True, use_dropout=True, dropout_ratio=0.2,
                           activation="sigmoid", dtype=np.float32)
    x, t = rng.normal(size=(8, 6)), rng.integers(0, 3, 8)
    net.gradient(x, t)  # moves batchnorm's running averages off zero
    nl.save_weights(tmp_path / "w.npz", {**net.params, **net.state}, {"architecture": net.architecture})
    again = network_from_weights(*nl.load_weights(tmp_path / "w.npz"))
    assert again.architecture == net.architecture and again.dtype == np.float32
    np.testing.assert_array_equal(again.predict(x), net.predict(x))
    # an old two-layer weights file (no architecture) is the book's TwoLayerNet
    old = nl.TwoLayerNet(6, 5, 3, seed=0)
    nl.save_weights(tmp_path / "old.npz", old.params, {"sizes": [6, 5, 3]})
    rebuilt = network_from_weights(*nl.load_weights(tmp_path / "old.npz"))
    assert type(rebuilt) is nl.TwoLayerNet
    np.testing.assert_array_equal(rebuilt.predict(x), old.predict(x))


@pytest.mark.parametrize("how", ["chapter 3 predict", "net.predict", "accuracy_and_loss", "evaluate"])
def test_weights_with_non_finite_outputs_are_refused(how):
    """Finite weights (3e38, the float32 range) whose sums overflow: an error, not nan accuracy or class 0."""
    from nnlearn.inference import predict
    from nnlearn.network import accuracy_and_loss

    net = nl.TwoLayerNet(6, 4, 3, weight_init_std=1.0, seed=0, dtype=np.float32)
    net.params["W2"][:] = 3e38
    x, t = np.ones((3, 6), np.float32), np.array([0, 1, 2])
    calls = {"chapter 3 predict": lambda: predict(net.params, x), "net.predict": lambda: net.predict(x),
             "accuracy_and_loss": lambda: accuracy_and_loss(net, [(x, t)]),
             "evaluate": lambda: nl.evaluate(net, x, t)}
    with pytest.raises(nl.InputError, match=r"NaN or infinite outputs \(their largest entry, 3e\+38"):
        calls[how]()
