"""Numerical differentiation and gradient descent against the book's printed values and exact derivatives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import nnlearn as nl


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def test_numerical_diff_book_values():
    assert nl.numerical_diff(function_1, 5) == pytest.approx(0.1999999999990898, abs=1e-15)
    assert nl.numerical_diff(function_1, 10) == pytest.approx(0.2999999999986347, abs=1e-15)


@pytest.mark.parametrize(("point", "expected"), [((3.0, 4.0), (6, 8)), ((0.0, 2.0), (0, 4)), ((3.0, 0.0), (6, 0))])
def test_numerical_gradient_book_values(point, expected):
    np.testing.assert_allclose(nl.numerical_gradient(function_2, np.array(point)), expected, atol=1e-6)


def test_integer_input_is_differentiated_in_float64():
    # The book's code rounds x + h back to an integer and returns garbage here.
    grad = nl.numerical_gradient(function_2, np.array([3, 4]))
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, [6, 8], atol=1e-6)


def test_gradient_descent_book_value_and_input_untouched():
    init = np.array([-3.0, 4.0])
    x = nl.gradient_descent(function_2, init, lr=0.1, step_num=100)
    # exact: each step multiplies x by (1 - 2 lr) = 0.8
    np.testing.assert_allclose(x, init * 0.8**100, rtol=1e-6)
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)
    assert init.tolist() == [-3.0, 4.0]


def test_gradient_descent_path():
    x, path = nl.gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=20, return_path=True)
    assert path.shape == (21, 2)
    np.testing.assert_array_equal(path[0], [-3.0, 4.0])
    np.testing.assert_array_equal(path[-1], x)
    np.testing.assert_allclose(path[5], np.array([-3.0, 4.0]) * 0.8**5, rtol=1e-9)


def test_input_restored_when_f_raises():
    x = np.array([1.5, 2.5, 3.5])
    calls = []

    def f(v):
        calls.append(v.copy())
        if len(calls) == 3:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError):
        nl.numerical_gradient(f, x)
    assert x.tolist() == [1.5, 2.5, 3.5]
    assert calls[0][0] == 1.5 + 1e-4  # f really saw the perturbed array


def test_book_idiom_f_ignores_argument():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    holder = {"W": W}
    grad = nl.numerical_gradient(lambda _w: float(np.sum(holder["W"] ** 3)), W)
    np.testing.assert_allclose(grad, 3 * W**2, rtol=1e-7)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.floats(-3, 3)),
       st.sampled_from([np.float64, np.float32, np.int64]), st.integers(0, 2**32 - 1))
def test_quadratic_form_gradient_is_2Ax(x, dtype, seed):
    """f(x) = vec(x)ᵀ A vec(x) with A symmetric has gradient 2 A vec(x), reshaped to x's shape."""
    x = x.astype(dtype) if dtype is not np.int64 else np.round(x).astype(dtype)
    n = x.size
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    A = (B + B.T) / 2
    before = x.copy()
    grad = nl.numerical_gradient(lambda v: float(v.reshape(-1).astype(np.float64) @ A @ v.reshape(-1)), x)
    expected = (2 * A @ x.reshape(-1).astype(np.float64)).reshape(x.shape)
    # float32 can only hold x + h to about 1e-7 relative, so its differences are coarser
    atol = 1e-6 if dtype is not np.float32 else 0.05
    np.testing.assert_allclose(grad, expected, atol=atol * (1 + np.abs(A).sum()))
    np.testing.assert_array_equal(x, before)
    assert grad.shape == x.shape


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nl.numerical_gradient("f", np.ones(2)), "f must be a function"),
        (lambda: nl.numerical_gradient(lambda v: v, np.ones(2)), "f returned an array of shape (2,)"),
        (lambda: nl.numerical_gradient(function_2, np.array([np.nan, 1.0])), "x contains NaN"),
        (lambda: nl.numerical_gradient(function_2, np.array(["a", "b"])), "not numeric"),
        (lambda: nl.numerical_gradient(function_2, np.ones(2), h=0), "h must be a positive"),
        (lambda: nl.gradient_descent(function_2, np.ones(2), lr=-1), "lr must be a positive"),
        (lambda: nl.gradient_descent(function_2, np.ones(2), step_num=-3), "step_num must be"),
        (lambda: nl.numerical_diff(function_1, "x"), "not numeric"),
    ],
)
def test_bad_input_messages(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert message in str(err.value)


# --- dtypes that cannot hold x + h ----------------------------------------------------------------------


def test_float16_input_is_differentiated_in_float64():
    grad = nl.numerical_gradient(function_2, np.array([3.0, 4.0], dtype=np.float16))
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, [6, 8], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float16])
def test_book_idiom_with_an_array_that_cannot_hold_h_is_refused(dtype):
    """net.W that cannot be perturbed, read through the network: the book's code returns zeros."""
    holder = {"W": np.array([[1, 2], [3, 4]], dtype=dtype)}
    with pytest.raises(nl.InputError, match="f's value never changed") as err:
        nl.numerical_gradient(lambda _w: float(np.sum(holder["W"].astype(float) ** 3)), holder["W"])
    assert "astype(float)" in str(err.value)


def test_zero_gradient_of_integer_input_is_not_mistaken_for_that():
    np.testing.assert_array_equal(nl.numerical_gradient(function_2, np.array([0, 0])), [0, 0])


def test_entry_too_large_to_perturb_is_refused():
    with pytest.raises(nl.InputError, match=r"x\[1\] = 1e\+13 is so large that x \+ h rounds back to it in float64"):
        nl.numerical_gradient(function_2, np.array([1.0, 1e13]))


def test_gradient_descent_of_float16_runs_in_float64():
    x = nl.gradient_descent(function_2, np.array([-3.0, 4.0], dtype=np.float16), lr=0.1, step_num=100)
    assert x.dtype == np.float64
    np.testing.assert_allclose(x, np.array([-3.0, 4.0]) * 0.8**100, rtol=1e-6)
