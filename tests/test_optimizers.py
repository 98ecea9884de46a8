"""Chapter 6's optimizers: their first steps against each update rule written out by hand."""

import math

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, make_optimizer

GRADS = [np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[-0.3, 0.2], [1.0, -4.0]]),
         np.array([[0.1, 0.1], [-2.0, 3.0]])]
W0 = np.array([[1.0, 2.0], [-1.0, 0.5]])


def run(optimizer, dtype=np.float64):
    params = {"W": W0.astype(dtype)}
    path = []
    for g in GRADS:
        optimizer.update(params, {"W": g.astype(dtype)})
        path.append(params["W"].copy())
    return path


def by_hand(rule):
    w, state, path = W0.copy(), {}, []
    for step, g in enumerate(GRADS, start=1):
        w = rule(w, g, state, step)
        path.append(w.copy())
    return path


def sgd(lr):
    return lambda w, g, s, i: w - lr * g


def momentum(lr, a):
    def rule(w, g, s, i):
        s["v"] = a * s.get("v", 0) - lr * g
        return w + s["v"]
    return rule


def nesterov(lr, a):
    def rule(w, g, s, i):
        s["v"] = a * s.get("v", 0) - lr * g
        return w + a * a * s["v"] - (1 + a) * lr * g
    return rule


def adagrad(lr):
    def rule(w, g, s, i):
        s["h"] = s.get("h", 0) + g * g
        return w - lr * g / (np.sqrt(s["h"]) + 1e-7)
    return rule


def rmsprop(lr, rho):
    def rule(w, g, s, i):
        s["h"] = rho * s.get("h", 0) + (1 - rho) * g * g
        return w - lr * g / (np.sqrt(s["h"]) + 1e-7)
    return rule


def adam(lr, b1, b2):
    def rule(w, g, s, i):
        s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
        lr_t = lr * math.sqrt(1 - b2 ** i) / (1 - b1 ** i)
        return w - lr_t * s["m"] / (np.sqrt(s["v"]) + 1e-7)
    return rule


@pytest.mark.parametrize(("optimizer", "rule"), [
    (SGD(0.1), sgd(0.1)),
    (Momentum(0.05, momentum=0.8), momentum(0.05, 0.8)),
    (Nesterov(0.05, momentum=0.9), nesterov(0.05, 0.9)),
    (AdaGrad(0.3), adagrad(0.3)),
    (RMSprop(0.01, decay_rate=0.9), rmsprop(0.01, 0.9)),
    (Adam(0.01, beta1=0.8, beta2=0.99), adam(0.01, 0.8, 0.99)),
])
def test_first_steps_follow_the_rule(optimizer, rule):
    for got, expected in zip(run(optimizer), by_hand(rule), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_adam_first_step_moves_every_weight_by_lr():
    """With bias correction, Adam's first step is lr·sign(g), up to the 1e-7 beside √v = 0.032|g|: the known
    closed form."""
    params = {"W": W0.copy()}
    Adam(0.001).update(params, {"W": GRADS[0]})
    np.testing.assert_allclose(params["W"] - W0, -0.001 * np.sign(GRADS[0]), rtol=1e-5, atol=1e-12)


def test_float32_parameters_stay_float32_and_grads_untouched():
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        g = GRADS[0].astype(np.float32)
        before = g.copy()
        path = run(make_optimizer(name, 0.01), np.float32)
        assert path[-1].dtype == np.float32
        np.testing.assert_array_equal(g, before)


def test_a_parameter_replaced_by_a_new_array_is_updated_and_keeps_its_state():
    opt = Momentum(lr=0.1)
    params = {"W": W0.copy()}
    opt.update(params, {"W": GRADS[0]})
    v = opt.slot["v"]["W"].copy()
    params["W"] = np.zeros((2, 2))  # e.g. weights loaded into a new array
    opt.update(params, {"W": GRADS[1]})
    np.testing.assert_allclose(params["W"], 0.9 * v - 0.1 * GRADS[1])
    sgd = SGD(lr=0.5)
    sgd.update(params, {"W": np.ones((2, 2))})
    params["W"] = np.zeros((3, 2), np.float32)  # another shape and dtype: a scratch array to match
    sgd.update(params, {"W": np.ones((3, 2), np.float32)})
    assert params["W"].dtype == np.float32
    np.testing.assert_array_equal(params["W"], np.full((3, 2), -0.5, np.float32))


def test_state_round_trip_continues_identically():
    a, b = Adam(0.01), Adam(0.01)
    pa, pb = {"W": W0.copy()}, {"W": W0.copy()}
    a.update(pa, {"W": GRADS[0]})
    b.update(pb, {"W": GRADS[0]})
    meta, arrays = a.state()
    c = Adam(0.01)
    c.restore(meta, arrays)
    for g in GRADS[1:]:
        b.update(pb, {"W": g})
        c.update(pa, {"W": g})
    np.testing.assert_array_equal(pa["W"], pb["W"])


def test_bad_optimizer_arguments():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("lbfgs")
    with pytest.raises(ValueError, match="lr must be a positive"):
        SGD(-1)
    with pytest.raises(ValueError, match="takes lr, momentum"):
        Momentum(0.1, beta=3)
    with pytest.raises(ValueError, match="optimizer is 'adam', not 'sgd'"):
        SGD(0.1).restore(Adam().state()[0], {})


def test_fit_with_an_optimizer_instance_learns():
    rng = np.random.default_rng(0)
    centres = np.eye(3, 4) * 3
    t = rng.integers(0, 3, 300)
    x = centres[t] + rng.normal(size=(300, 4))
    net = nl.MultiLayerNet(4, [10], 3, seed=0)
    history = nl.fit(net, x, t, optimizer=Adam(0.01), iters=300, batch_size=30)
    assert history.train_acc[-1] > 0.95
    with pytest.raises(ValueError, match="not both"):
        nl.fit(net, x, t, optimizer=Adam(0.01), lr=0.1)
