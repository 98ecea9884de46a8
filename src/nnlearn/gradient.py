"""Numerical differentiation and gradient descent (sections 4.3 and 4.4)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import as_numeric, positive_float


def numerical_diff(f: Callable, x, h: float = 1e-4) -> float:
    """df/dx ≈ (f(x + h) − f(x − h)) / 2h, the central difference (section 4.3.1, eq. 4.4)."""
    _check_callable(f)
    x = float(as_numeric("x", x))
    h = positive_float("h", h)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable, x, h: float = 1e-4, *, indices=None) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h for every entry of an array of any shape (section 4.4).

    ``x`` is changed in place one entry at a time and ``f(x)`` is called, so the book's idiom
    ``numerical_gradient(lambda W: net.loss(x, t), net.W)`` works: ``f`` may ignore its argument and read
    the same array through the network.  Each entry is restored exactly afterwards, even if ``f`` raises.

    An integer ``x`` cannot hold x + h; it is differentiated as a float64 copy (the book's code silently
    rounds the perturbation away and returns wrong values).  The result has ``x``'s shape and float dtype.
    ``indices``: only these entries (index tuples) are differentiated, the rest of the result is 0 — a
    gradient check of a large network samples its parameters this way.
    """
    _check_callable(f)
    h = positive_float("h", h)
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        x = as_numeric("x", x).astype(np.float64)
    else:
        as_numeric("x", x)
    return _central_differences(f, x, h, indices)


def _central_differences(f: Callable, x: np.ndarray, h: float, indices=None) -> np.ndarray:
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape) if indices is None else indices:
        original = x[idx].copy()
        try:
            x[idx] = original + h
            fxh1 = _scalar(f(x))
            x[idx] = original - h
            fxh2 = _scalar(f(x))
        finally:
            x[idx] = original
        grad[idx] = (fxh1 - fxh2) / (2 * h)
    return grad


def gradient_descent(f: Callable, init_x, lr: float = 0.01, step_num: int = 100, *, return_path: bool = False):
    """x ← x − η ∇f(x), repeated ``step_num`` times (section 4.4.1, eq. 4.7).

    Returns the final x (``init_x`` is not modified).  With ``return_path=True`` returns ``(x, path)``,
    where ``path`` has shape (step_num + 1, *x.shape): the start, then the point after every step.
    """
    _check_callable(f)
    lr = positive_float("lr", lr)
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise ValueError(f"step_num must be a whole number >= 0, got {step_num!r}")
    x = as_numeric("init_x", init_x)
    x = x.astype(x.dtype if x.dtype.kind == "f" else np.float64)  # a copy: init_x is left as it was
    path = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore"):  # a too-large lr diverges; the path shows it
        for _ in range(step_num):
            x -= lr * _central_differences(f, x, 1e-4)
            path.append(x.copy())
    return (x, np.array(path)) if return_path else x


def _check_callable(f) -> None:
    if not callable(f):
        raise ValueError(f"f must be a function of x, got {type(f).__name__}; pass e.g. lambda x: np.sum(x**2)")


def _scalar(value) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"f returned an array of shape {arr.shape}; it must return one number (e.g. a loss)")
    return arr.item()
