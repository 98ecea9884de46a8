"""Activations and losses against the book's printed numbers and independent formulas."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nnlearn as nl

# Section 4.2.1/4.2.2: the digit "2" is correct; y1 puts 0.6 on it, y2 puts 0.1 on it (0.6 on "7").
T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


def test_cross_entropy_book_values():
    assert nl.cross_entropy_error(Y1, T) == pytest.approx(0.510825457099338, abs=1e-15)
    assert nl.cross_entropy_error(Y2, T) == pytest.approx(2.302584092994546, abs=1e-15)
    assert nl.cross_entropy_error(Y1, T) == pytest.approx(-math.log(0.6 + 1e-7), abs=1e-15)


def test_sum_squared_error_book_values():
    assert nl.sum_squared_error(Y1, T) == pytest.approx(0.0975, abs=1e-15)
    assert nl.sum_squared_error(Y2, T) == pytest.approx(0.5975, abs=1e-15)
    assert nl.mean_squared_error is nl.sum_squared_error
    assert nl.sum_square_error is nl.sum_squared_error


@pytest.mark.parametrize("loss", [nl.cross_entropy_error, nl.sum_squared_error])
def test_label_and_one_hot_targets_are_identical(loss):
    batch = np.stack([Y1, Y2, Y1])
    labels = np.array([2, 7, 0])
    one_hot = np.eye(10)[labels]
    assert loss(batch, labels) == loss(batch, one_hot)
    assert loss(Y1, 2) == loss(Y1, T) == loss(Y1, [2])


def test_batch_losses_are_mean_of_rows():
    batch = np.stack([Y1, Y2])
    assert nl.cross_entropy_error(batch, [2, 2]) == pytest.approx(
        (0.510825457099338 + 2.302584092994546) / 2, abs=1e-15)
    assert nl.sum_squared_error(batch, [2, 2]) == pytest.approx((0.0975 + 0.5975) / 2, abs=1e-15)


def test_softmax_cross_entropy_matches_log_of_softmax():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 4))
    t = np.array([0, 3, 1, 1, 2])
    expected = -np.mean([math.log(math.exp(a[n, t[n]]) / sum(math.exp(v) for v in a[n])) for n in range(5)])
    assert nl.softmax_cross_entropy(a, t) == pytest.approx(expected, rel=1e-12)
    assert nl.softmax_cross_entropy(a, np.eye(4)[t]) == pytest.approx(expected, rel=1e-12)
    # stays finite where the book's form saturates at -log(1e-7)
    assert nl.softmax_cross_entropy(np.array([[0.0, 1000.0]]), [0]) == pytest.approx(1000.0)


def test_activations_book_values():
    x = np.array([-1.0, 1.0, 2.0])
    assert nl.step_function(x).tolist() == [0, 1, 1]
    np.testing.assert_allclose(nl.sigmoid(x), [0.26894142, 0.73105858, 0.88079708], atol=1e-8)
    assert nl.relu(x).tolist() == [0.0, 1.0, 2.0]
    assert nl.identity_function(x) is not None and nl.identity_function(x).tolist() == x.tolist()
    np.testing.assert_allclose(nl.softmax(np.array([0.3, 2.9, 4.0])), [0.01821127, 0.24519181, 0.73659691],
                               atol=1e-8)
    assert nl.sigmoid(np.array([-1000.0]))[0] == 0.0


def test_softmax_overflow_safe_and_row_wise():
    big = np.array([1010.0, 1000.0, 990.0])
    np.testing.assert_allclose(nl.softmax(big), nl.softmax(big - 1000.0))
    batch = np.array([[1.0, 2.0], [1000.0, 1000.0]])
    np.testing.assert_allclose(nl.softmax(batch)[1], [0.5, 0.5])
    np.testing.assert_allclose(nl.softmax(batch)[0], nl.softmax(np.array([1.0, 2.0])))


finite_rows = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 8)),
                     elements=st.floats(-50, 50, allow_nan=False))


@given(finite_rows, st.floats(-100, 100))
def test_softmax_rows_sum_to_one_and_are_shift_invariant(a, c):
    y = nl.softmax(a)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(nl.softmax(a + c), y, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize(
    ("y", "t", "message"),
    [
        (np.full((3, 10), 0.1), [1, 2], "t has 2 labels but the output has 3 rows"),
        (np.full((2, 10), 0.1), [1, 10], "t holds label 10 but the output has 10 classes"),
        (np.full((2, 10), 0.1), [-1, 0], "t holds label -1"),
        (np.full((2, 10), 0.1), np.zeros((2, 9)), "t has shape (2, 9)"),
        (np.full((2, 10), 0.1), [0.5, 1], "non-integer labels"),
        (np.array([[0.1, np.nan]]), [0], "y contains NaN or infinity"),
        (np.array(["a", "b"]), [0], "not numeric"),
        (np.zeros((0, 10)), [], "y is empty"),
        (np.array([[-0.5, 1.5]]), [0], "negative values"),
        (np.ones((2, 2, 2)), [0], "3 dimensions"),
    ],
)
def test_cross_entropy_bad_input_messages(y, t, message):
    with pytest.raises(ValueError) as err:
        nl.cross_entropy_error(y, t)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_soft_targets_follow_the_formula():
    """A t of y's shape is used in Σ t log(y + 1e-7) as it is, so label smoothing works."""
    t = np.full(10, 0.1)
    assert nl.cross_entropy_error(Y1, t) == pytest.approx(-np.sum(0.1 * np.log(Y1 + 1e-7)), rel=1e-14)


# --- narrow and integer dtypes, and targets that are not one-hot ----------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint32, np.int64, np.float16, np.bool_])
def test_activations_compute_narrow_dtypes_in_float64(dtype):
    values = np.array([1, 100, 0, 1], dtype=dtype) if dtype is not np.bool_ else np.array([True, False])
    exact = values.astype(np.float64)
    for fn, formula in ((nl.sigmoid, lambda a: 1 / (1 + np.exp(-a))),
                        (nl.softmax, lambda a: np.exp(a - a.max()) / np.exp(a - a.max()).sum()),
                        (nl.relu, lambda a: np.maximum(a, 0))):
        out = fn(values)
        assert out.dtype == np.float64, fn.__name__
        np.testing.assert_allclose(out, formula(exact), rtol=1e-12)


def test_sigmoid_of_uint8_is_not_wrapped():
    """-x of uint8 200 is 56 in uint8 arithmetic: the book's formula would give 1/(1+e^56) ≈ 0."""
    np.testing.assert_allclose(nl.sigmoid(np.array([1, 200], dtype=np.uint8)), [0.7310585786, 1.0])


def test_losses_compute_float16_in_float64():
    y16 = np.array([[0.1, 0.7, 0.2]], dtype=np.float16)
    assert nl.cross_entropy_error(y16, [1]) == -np.log(np.float64(y16[0, 1]) + 1e-7)


@pytest.mark.parametrize(("t", "what"), [
    ([[0, 0, 0]], "sum to 0"),
    ([[1, 1, 0]], "sum to 2"),
    ([[-1, 1, 1]], "smallest -1"),
    ([[0.5, 0.6, -0.1]], "smallest -0.1"),
])
@pytest.mark.parametrize("loss", [nl.cross_entropy_error, nl.sum_squared_error, nl.softmax_cross_entropy])
def test_target_of_ys_shape_must_be_one_hot(loss, t, what):
    with pytest.raises(nl.InputError) as err:
        loss(np.array([[0.2, 0.5, 0.3]]), np.array(t))
    assert "row 0 is not one-hot" in str(err.value) and what in str(err.value)


def test_probabilities_above_one_are_refused():
    with pytest.raises(nl.InputError, match=r"holds 3, outside \[0, 1\], but must be probabilities"):
        nl.cross_entropy_error(np.array([[3.0, 0.0]]), [0])
