"""The chapter-4 tab's numbers: descent paths, the gradient field and numerical derivatives.

Everything is computed by the library's own ``numerical_diff``, ``numerical_gradient`` and
``gradient_descent`` (sections 4.3–4.4); the page only draws what comes back.
"""

from __future__ import annotations

import numpy as np

from ..gradient import gradient_descent, numerical_diff, numerical_gradient
from ..plots import function_1, function_2


def elongated_bowl(x):
    """f(x0, x1) = x0²/20 + x1²: a bowl twenty times wider along x0, where one lr cannot suit both axes."""
    return x[0] ** 2 / 20 + x[1] ** 2


FUNCTIONS = {"bowl": (function_2, "x0² + x1²"), "elongated": (elongated_bowl, "x0²/20 + x1²")}
EXTENT = 4.0
FIELD_POINTS = 13
GRID_POINTS = 61
MAX_STEPS = 200


def function_of(name: str):
    if name not in FUNCTIONS:
        raise ValueError(f"function must be one of {', '.join(FUNCTIONS)}, got {name!r}")
    return FUNCTIONS[name][0]


def surface(name: str) -> dict:
    """f on a grid (for contours) and −∇f on a coarser one (for arrows), over [−4, 4]²."""
    f = function_of(name)
    axis = np.linspace(-EXTENT, EXTENT, GRID_POINTS)
    values = [[float(f(np.array([x0, x1]))) for x0 in axis] for x1 in axis]
    coarse = np.linspace(-EXTENT, EXTENT, FIELD_POINTS)
    arrows = []
    for x1 in coarse:
        for x0 in coarse:
            g = numerical_gradient(f, np.array([x0, x1]))
            arrows.append([float(x0), float(x1), float(-g[0]), float(-g[1])])
    return {"function": name, "label": FUNCTIONS[name][1], "extent": EXTENT, "axis": axis.tolist(),
            "values": values, "arrows": arrows}


def descent_path(name: str, x0: float, x1: float, lr: float, steps: int) -> dict:
    """The points of ``gradient_descent`` from (x0, x1): the start, then one per step."""
    f = function_of(name)
    _, path = gradient_descent(f, np.array([x0, x1], dtype=np.float64), lr=lr, step_num=steps, return_path=True)
    finite = np.isfinite(path).all(axis=1)
    cut = int(np.argmin(finite)) if not finite.all() else len(path)
    return {"function": name, "lr": lr, "steps": steps, "path": path[:cut].tolist(),
            "diverged": bool(cut < len(path) or np.abs(path[-1]).max() > 1e6),
            "final_value": float(f(path[cut - 1]))}


def forward_difference(f, x: float, h: float) -> float:
    """(f(x + h) − f(x)) / h: the book's first, biased attempt at a derivative (section 4.3.1)."""
    return (f(x + h) - f(x)) / h


def tangent(x: float, h: float) -> dict:
    """Forward and central differences of f(x) = 0.01x² + 0.1x at x with step h, against the exact
    derivative 0.02x + 0.1, and the error of both over a range of h (where rounding takes over)."""
    exact = 0.02 * x + 0.1
    hs = np.logspace(-12, 1, 53)
    curve_x = np.linspace(0.0, 20.0, 101)
    return {"x": x, "h": h, "fx": float(function_1(x)), "exact": exact,
            "forward": forward_difference(function_1, x, h), "central": numerical_diff(function_1, x, h),
            "curve": [[float(v), float(function_1(v))] for v in curve_x],
            "errors": [[float(s), abs(forward_difference(function_1, x, s) - exact),
                        abs(numerical_diff(function_1, x, s) - exact)] for s in hs]}
