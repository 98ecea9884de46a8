"""The book's numerical gradient of ``TwoLayerNet``, computed from the network's structure.

The book perturbs each parameter θ by ±h and recomputes the whole loss L = (1/N) Σ_n ℓ_n twice.
The result here is the same central difference, (L(θ + h) − L(θ − h)) / 2h, but a perturbation changes
only some rows ℓ_n, and only through a few numbers, so only those are recomputed:

* ``W1[i, j]`` changes the pre-activation a1[n, j] by ±h·x[n, i], so only the rows with x[n, i] ≠ 0,
  and their logits only along W2[j, :].  ``b1[j]`` is the same with x[n, i] = 1.
* ``W2[j, k]`` changes the logit a2[n, k] by ±h·z1[n, j]; ``b2[k]`` by ±h.

Then (L(θ + h) − L(θ − h)) / 2h = Σ_{changed n} (ℓ_n⁺ − ℓ_n⁻) / 2hN, each ℓ_n = −log(softmax(a2_n)[t_n] + 1e-7)
as in the book.  With s_nk = exp(a2[n, k] − max_k a2[n, k]) and S_n = Σ_k s_nk, a logit shift u_k gives
softmax[t] = s_t e^{u_t} / (S_n + Σ_k s_k (e^{u_k} − 1)).  For the hidden-unit perturbations
u_k = δ·W2[j, k] with δ = σ(a1 ± h·x) − σ(a1) tiny, so Σ_k s_k (e^{u_k} − 1) is summed as its Taylor series
Σ_p δ^p/p! · (s · W2[j]^p), five matrix products in all; the series is used only while its next term
is below double precision, otherwise the exponentials are summed directly.
"""

from __future__ import annotations

import math

import numpy as np

from .functions import CEE_DELTA, sigmoid

TAYLOR_TERMS = 6
"""Terms of e^u − 1 kept; the first one dropped is u⁷/7!, below 1e-19 relative while |u| ≤ TAYLOR_MAX_U."""
TAYLOR_MAX_U = 1e-2
CHUNK = 4096
"""Non-zero inputs processed at once: bounds the temporary arrays to a few MB."""


def two_layer_numerical_gradient(net, x: np.ndarray, labels: np.ndarray, h: float) -> dict:
    """Central differences of the book's loss for every parameter of a float64 ``TwoLayerNet`` and ``x``.

    The unperturbed pass is the network's own layers (Affine1 → Sigmoid → Affine2); the perturbed rows are
    then recomputed from its pieces as described above.
    """
    affine1, activation, affine2 = (net.layers[k] for k in ("Affine1", "Activation_function1", "Affine2"))
    W2 = net.params["W2"]
    n = x.shape[0]
    a1 = affine1.forward(x).copy()
    z1 = activation.forward(a1)
    a2 = affine2.forward(z1)
    s = np.exp(a2 - a2.max(axis=1, keepdims=True))
    rows = np.arange(n)
    state = _Logits(s=s, S=s.sum(axis=1), s_t=s[rows, labels], labels=labels)
    scale = 1.0 / (2 * h * n)

    # W1 and b1 together: b1 is the weight of an extra input that is 1 for every sample.
    x1 = np.concatenate([x, np.ones((n, 1))], axis=1)
    g_hidden = _hidden_gradient(x1, a1, z1, W2, state, h) * scale
    # W2 and b2 together: b2 is the weight of an extra hidden unit that is 1 for every sample.
    z1b = np.concatenate([z1, np.ones((n, 1))], axis=1)
    g_output = _output_gradient(z1b, state, h) * scale
    return {"W1": g_hidden[:-1], "b1": g_hidden[-1], "W2": g_output[:-1], "b2": g_output[-1]}


class _Logits:
    """The unperturbed softmax pieces per row: s (N, K), S = Σ_k s (N,), s_t = s[n, t_n], labels."""

    def __init__(self, s, S, s_t, labels):
        self.s, self.S, self.s_t, self.labels = s, S, s_t, labels

    def row_loss(self, rows, extra_sum, target_factor):
        """ℓ = −log(s_t · target_factor / (S + extra_sum) + 1e-7) for the given rows (broadcast)."""
        return -np.log(self.s_t[rows] * target_factor / (self.S[rows] + extra_sum) + CEE_DELTA)


def _output_gradient(z: np.ndarray, state: _Logits, h: float) -> np.ndarray:
    """Σ_n (ℓ⁺ − ℓ⁻) for every (j, k): a2[n, k] shifted by ±h·z[n, j]."""
    n, k = state.s.shape
    rows = np.arange(n)[:, None, None]
    is_target = state.labels[:, None, None] == np.arange(k)[None, None, :]
    diff = 0.0
    for sign in (1.0, -1.0):
        growth = np.expm1(sign * h * z)[:, :, None]                     # e^{u} − 1, (N, J, 1)
        extra = state.s[:, None, :] * growth                             # (N, J, K)
        loss = state.row_loss(rows, extra, np.where(is_target, 1.0 + growth, 1.0))
        diff = diff + sign * loss
    return diff.sum(axis=0)


def _hidden_gradient(x: np.ndarray, a1: np.ndarray, z1: np.ndarray, W2: np.ndarray, state: _Logits,
                     h: float) -> np.ndarray:
    """Σ_n (ℓ⁺ − ℓ⁻) for every (i, j): a1[n, j] shifted by ±h·x[n, i], for the rows where x[n, i] ≠ 0."""
    d, hidden = x.shape[1], z1.shape[1]
    inputs, rows = np.nonzero(x.T)  # sorted by input i, the order reduceat needs
    values = x[rows, inputs]
    w2_t = W2[:, state.labels].T  # (N, J): the weight from hidden j to row n's target class
    use_series = h * np.abs(values).max() * 0.25 * np.abs(W2).max() <= TAYLOR_MAX_U
    moments = _softmax_moments(state.s, W2) if use_series else None
    grad = np.zeros((d, hidden))
    for start in range(0, len(rows), CHUNK):
        r, i, v = rows[start:start + CHUNK], inputs[start:start + CHUNK], values[start:start + CHUNK]
        diff = 0.0
        for sign in (1.0, -1.0):
            delta = sigmoid(a1[r] + (sign * h) * v[:, None]) - z1[r]     # (P, J)
            if use_series:
                extra = _series(delta, [m[r] for m in moments])
            else:
                extra = np.einsum("pk,pjk->pj", state.s[r], np.expm1(delta[:, :, None] * W2[None]))
            diff = diff + sign * state.row_loss(r[:, None], extra, np.exp(delta * w2_t[r]))
        starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
        grad[i[starts]] += np.add.reduceat(diff, starts, axis=0)
    return grad


def _softmax_moments(s: np.ndarray, W2: np.ndarray) -> list:
    """M_p[n, j] = Σ_k s[n, k] W2[j, k]^p / p!  for p = 1..TAYLOR_TERMS."""
    return [(s @ (W2.T ** p)) / math.factorial(p) for p in range(1, TAYLOR_TERMS + 1)]


def _series(delta: np.ndarray, moments: list) -> np.ndarray:
    """Σ_k s_k (e^{δ W2[j,k]} − 1) = Σ_p δ^p M_p, by Horner's rule."""
    acc = moments[-1]
    for m in reversed(moments[:-1]):
        acc = m + delta * acc
    return delta * acc
