"""Numerical differentiation and gradient descent (sections 4.3 and 4.4)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._checks import as_numeric, positive_float
from .errors import InputError


def numerical_diff(f: Callable, x, h: float = 1e-4) -> float:
    """df/dx ≈ (f(x + h) − f(x − h)) / 2h, the central difference (section 4.3.1, eq. 4.4).

    Computed in float64.  Raises ``InputError`` (a ``ValueError``) for a bad argument."""
    _check_callable(f)
    x = float(as_numeric("x", x))
    h = positive_float("h", h)
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(f: Callable, x, h: float = 1e-4, *, indices=None) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h for every entry of an array of any shape (section 4.4).

    ``x`` is changed in place one entry at a time and ``f(x)`` is called, so the book's idiom
    ``numerical_gradient(lambda W: net.loss(x, t), net.W)`` works: ``f`` may ignore its argument and read
    the same array through the network.  Each entry is restored exactly afterwards, even if ``f`` raises.

    An integer, boolean or float16 ``x`` cannot hold x + h (the book's code silently rounds the perturbation
    away and returns wrong values); it is differentiated as a float64 copy.  The result has ``x``'s shape and
    a float dtype.  ``indices``: only these entries (index tuples) are differentiated, the rest of the result
    is 0 — a gradient check of a large network samples its parameters this way.

    Raises ``InputError`` (a ``ValueError``) for a bad argument; when an entry of ``x`` is so large that
    x ± h rounds back to it in ``x``'s dtype; and when ``x`` had to be copied but ``f``'s value never
    changed, which is what happens when ``f`` ignores its argument and reads an integer array itself.
    """
    _check_callable(f)
    h = positive_float("h", h)
    given = np.asarray(x).dtype
    copied = not isinstance(x, np.ndarray) or not _can_hold_perturbations(x.dtype)
    x = as_numeric("x", x).astype(np.float64) if copied else as_numeric("x", x)
    # f of the copy's own value: if no perturbation ever changes it, f is not reading the copy
    reference = _scalar(f(x)) if copied else None
    grad, moved = _central_differences(f, x, h, indices, strict=True, reference=reference)
    if not moved:
        raise InputError(
            f"f's value never changed when the float64 copy of x ({given}, which cannot hold x + h) was perturbed: "
            "f ignores its argument and reads an array that cannot be perturbed; make that array float "
            "(e.g. net.W = net.W.astype(float)) and pass it itself")
    return grad


def _can_hold_perturbations(dtype: np.dtype) -> bool:
    """float32 and wider hold x + h for h = 1e-4 near the values a network has; float16 rounds it away."""
    return dtype.kind == "f" and dtype.itemsize >= 4


def _central_differences(f: Callable, x: np.ndarray, h: float, indices=None, *, strict: bool = False,
                         reference=None):
    """(gradient, whether any f value differed from ``reference``); ``strict`` refuses entries of ``x`` that
    cannot hold x ± h in their dtype instead of returning a difference of zero for them."""
    grad = np.zeros_like(x)
    moved = reference is None
    for idx in np.ndindex(x.shape) if indices is None else indices:
        original = x[idx].copy()
        try:
            x[idx] = original + h
            if strict and x[idx] == original:
                raise InputError(f"x{list(idx)} = {original:g} is so large that x + h rounds back to it in "
                                 f"{x.dtype}; pass a larger h or a wider dtype (float64)")
            fxh1 = _scalar(f(x))
            x[idx] = original - h
            if strict and x[idx] == original:
                raise InputError(f"x{list(idx)} = {original:g} is so large that x − h rounds back to it in "
                                 f"{x.dtype}; pass a larger h or a wider dtype (float64)")
            fxh2 = _scalar(f(x))
        finally:
            x[idx] = original
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        moved = moved or fxh1 != reference or fxh2 != reference
    return grad, moved


def gradient_descent(f: Callable, init_x, lr: float = 0.01, step_num: int = 100, *, return_path: bool = False):
    """x ← x − η ∇f(x), repeated ``step_num`` times (section 4.4.1, eq. 4.7).

    Returns the final x (``init_x`` is not modified); integer, boolean and float16 ``init_x`` is computed
    in float64.  With ``return_path=True`` returns ``(x, path)``, where ``path`` has shape
    (step_num + 1, *x.shape): the start, then the point after every step.  Raises ``InputError`` (a
    ``ValueError``) for a bad argument.
    """
    _check_callable(f)
    lr = positive_float("lr", lr)
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise InputError(f"step_num must be a whole number >= 0, got {step_num!r}")
    x = as_numeric("init_x", init_x)
    # a copy (init_x is left as it was), in float64 when its dtype cannot hold x + h
    x = x.astype(x.dtype if _can_hold_perturbations(x.dtype) else np.float64)
    path = [x.copy()]
    with np.errstate(over="ignore", invalid="ignore"):  # a too-large lr diverges; the path shows it
        for _ in range(step_num):
            x -= lr * _central_differences(f, x, 1e-4)[0]
            path.append(x.copy())
    return (x, np.array(path)) if return_path else x


def _check_callable(f) -> None:
    if not callable(f):
        raise InputError(f"f must be a function of x, got {type(f).__name__}; pass e.g. lambda x: np.sum(x**2)")


def _scalar(value) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise InputError(f"f returned an array of shape {arr.shape}; it must return one number (e.g. a loss)")
    return arr.item()
