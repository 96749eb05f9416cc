"""The binarized network and its coarse (straight-through) gradient (theory page section 6).

Model: the architecture of :mod:`numerics.model` with the binary activation ``sigma(t) = 1{t > 0}``:
``f(Z; w) = (1/k) sum_i 1{Z_i . w > 0}``, patches ``Z_i`` i.i.d. N(0, I_d), labels ``y = f(Z; w*)``, loss
``l(w) = E[(f(Z; w) - f(Z; w*))^2]`` (**no factor 1/2**, the toolkit's convention of theory page section 1).

The true gradient of every sampled loss is 0 almost surely (``f`` is piecewise constant in ``w``), so training uses
the *coarse gradient*: the chain rule with ``sigma'`` replaced by a straight-through estimator (STE) ``mu'``,

* ``ste="relu"``: ``mu'(t) = 1{t > 0}`` (the derivative of the ReLU);
* ``ste="identity"``: ``mu'(t) = 1`` (the derivative of the identity).

Sampled functions take ``Z`` of shape (N, k, d) and ``w`` of shape (d,) or (B, d): a batch sharing the samples costs
one matrix product ``(N k, d) @ (d, B)`` for the pre-activations and one ``(B, N k) @ (N k, d)`` (ReLU STE) or
``(B, N) @ (N, d)`` (identity STE) for the coarse gradient; no Python loop over samples or trials. Closed forms take
``w``, ``w_star`` of shape (..., d) with broadcasting leading axes, like :mod:`numerics.population`.

Convention at ``w = 0``: ``1{0 > 0} = 0``, so ``f(Z; 0) = 0`` for every sample; the closed forms return the exact
expectations there (see :func:`loss` and :func:`expected_coarse_grad`).
"""

from __future__ import annotations

import math
from typing import Any

from numerics import population
from numerics._arrays import Array, check_positive_int, matmul
from numerics.model import _check_zw, _preactivations, _residual

__all__ = [
    "STES",
    "coarse_coefficient",
    "coarse_grad",
    "empirical_loss",
    "expected_coarse_grad",
    "forward",
    "labels",
    "loss",
    "loss_and_coarse_grad_batch",
]

#: The straight-through estimators: the proxy that replaces sigma' = 0 in the chain rule.
STES: tuple[str, ...] = ("relu", "identity")

_PI = math.pi


def _check_ste(ste: Any) -> str:
    if ste not in STES:
        raise ValueError(f"ste must be one of {', '.join(repr(s) for s in STES)}; got {ste!r}")
    return ste


# ----------------------------------------------------------------------------------------------------------------------
# Sampled network
# ----------------------------------------------------------------------------------------------------------------------
def _forward_from_pre(xp: Any, pre: Array, n: int, k: int) -> Array:
    step = xp.astype(pre > 0, pre.dtype)
    shape = (n, k) if pre.ndim == 1 else (n, k, int(pre.shape[-1]))
    return xp.mean(xp.reshape(step, shape), axis=1)


def forward(Z: Array, w: Array) -> Array:
    """Output of the binarized network, ``f(Z_n; w)`` for every sample n (and every filter of a batch).

    Parameters
    ----------
    Z : array (N, k, d)
        Samples (see :func:`numerics.model.sample_patches`).
    w : array (d,) or (B, d)
        One filter or a batch of B filters sharing the samples.

    Returns
    -------
    f : array (N,) for w of shape (d,), (N, B) for w of shape (B, d); values in {0, 1/k, ..., 1}.

    Notes
    -----
    ``f(Z; w) = (1/k) sum_i 1{Z_i . w > 0}`` (so ``f(Z; 0) = 0``). One matrix product (N k, d) @ (d, B).
    """
    xp, n, k, _ = _check_zw(Z, w)
    return _forward_from_pre(xp, _preactivations(xp, Z, w), n, k)


def labels(Z: Array, w_star: Array) -> Array:
    """Teacher labels ``y_n = f(Z_n; w*)`` of the binarized network: (N,) for w* (d,), (N, B) for w* (B, d)."""
    return forward(Z, w_star)


def empirical_loss(w: Array, Z: Array, y: Array) -> Array:
    """Empirical squared loss ``(1/N) sum_n (f(Z_n; w) - y_n)^2`` of the binarized network: shape () or (B,).

    Parameters
    ----------
    w : array (d,) or (B, d)
    Z : array (N, k, d)
    y : array (N,) or (N, B)
        Labels; (N,) labels are shared by every trial of a batch.

    Notes
    -----
    No factor 1/2 (the convention of :func:`loss`). Its expectation is :func:`loss`.
    """
    xp, *_ = _check_zw(Z, w)
    r = _residual(xp, forward(Z, w), y)
    return xp.mean(r * r, axis=0)


def coarse_grad(w: Array, Z: Array, y: Array, ste: str = "relu") -> Array:
    """Sampled coarse gradient of :func:`empirical_loss`: shape (d,) or (B, d), like ``w``.

    Parameters
    ----------
    w : array (d,) or (B, d)
    Z : array (N, k, d)
    y : array (N,) or (N, B)
    ste : {"relu", "identity"}
        The straight-through estimator replacing ``sigma'``.

    Returns
    -------
    array (d,) or (B, d)

    Notes
    -----
    ``g_N(w) = (2/N) sum_n r_n (1/k) sum_i mu'(Z_ni . w) Z_ni``, ``r_n = f(Z_n; w) - y_n``, with
    ``mu'(t) = 1{t > 0}`` (``ste="relu"``) or ``mu'(t) = 1`` (``ste="identity"``). The chain rule with the true
    ``sigma' = 0`` would give 0. For a batch: ReLU STE, one product ``(B, N k) @ (N k, d)`` of the coefficients
    ``(2/(N k)) r_{n b} 1{Z_ni . w_b > 0}`` with the samples; identity STE, one product ``(B, N) @ (N, d)`` of
    ``(2/(N k)) r_{n b}`` with the patch sums ``sum_i Z_ni``.
    """
    ste = _check_ste(ste)
    xp, n, k, d = _check_zw(Z, w)
    pre = _preactivations(xp, Z, w)
    r = _residual(xp, _forward_from_pre(xp, pre, n, k), y)
    if ste == "identity":
        zsum = xp.sum(Z, axis=1)  # (N, d)
        coef = r * (2.0 / (n * k))
        return matmul(xp, coef.T, zsum) if coef.ndim == 2 else matmul(xp, coef, zsum)
    return _relu_ste_from(xp, Z, pre, r, n, k, d)


def _relu_ste_from(xp: Any, Z: Array, pre: Array, r: Array, n: int, k: int, d: int) -> Array:
    if pre.ndim == 1:
        rr = xp.reshape(xp.broadcast_to(xp.expand_dims(r, axis=1), (n, k)), (n * k,))
    else:
        b = int(pre.shape[-1])
        rr = xp.reshape(xp.broadcast_to(xp.expand_dims(r, axis=1), (n, k, b)), (n * k, b))
    coef = xp.where(pre > 0, rr, xp.zeros_like(rr)) * (2.0 / (n * k))
    zf = xp.reshape(Z, (n * k, d))
    return matmul(xp, coef.T, zf) if coef.ndim == 2 else matmul(xp, coef, zf)


def loss_and_coarse_grad_batch(xp: Any, zf: Array, zsum: Array | None, w: Array, y: Array, n: int, k: int,
                                 ste: str) -> tuple[Array, Array]:
    """Empirical loss (B,) and coarse gradient (B, d) for w (B, d), given the flattened samples zf (N k, d), the
    patch sums zsum (N, d) (identity STE only) and labels y (N, B). Used by the RVSM loop (samples fixed)."""
    b = int(w.shape[0])
    pre = matmul(xp, zf, w.T)
    f = xp.mean(xp.reshape(xp.astype(pre > 0, pre.dtype), (n, k, b)), axis=1)
    r = f - y
    if ste == "identity":
        return xp.mean(r * r, axis=0), matmul(xp, (r * (2.0 / (n * k))).T, zsum)
    rr = xp.reshape(xp.broadcast_to(xp.expand_dims(r, axis=1), (n, k, b)), (n * k, b))
    coef = xp.where(pre > 0, rr, xp.zeros_like(rr)) * (2.0 / (n * k))
    return xp.mean(r * r, axis=0), matmul(xp, coef.T, zf)


# ----------------------------------------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------------------------------------
def coarse_coefficient(k: int, ste: str = "relu") -> float:
    """The constant ``c`` of the expected coarse gradient ``c (w/|w| - w*/|w*|)``.

    Notes
    -----
    ``c = 1/(k sqrt(2 pi))`` for ``ste="relu"`` and ``c = 2/(k sqrt(2 pi))`` for ``ste="identity"``
    (see :func:`expected_coarse_grad` for the derivation).
    """
    k = check_positive_int("k", k)
    ste = _check_ste(ste)
    return (1.0 if ste == "relu" else 2.0) / (k * math.sqrt(2.0 * _PI))


def loss(w: Array, w_star: Array, k: int, *, validate: bool = True) -> Array:
    """Population loss of the binarized network, ``l(w) = E[(f(Z; w) - f(Z; w*))^2]``.

    Parameters
    ----------
    w, w_star : array (..., d)
        Leading axes broadcast.
    k : int
        Number of patches, ``k >= 1``.
    validate : bool
        Check ``w_star`` (finite, nonzero).

    Returns
    -------
    array (...)
        ``t/(k pi)`` with ``t = angle(w, w*)``; at ``w = 0`` the exact value ``(k + 1)/(4 k)``.

    Notes
    -----
    The patches are independent and ``E[1{Z_i.w > 0}] = 1/2 = E[1{Z_i.w* > 0}]``, so the ``k^2 - k`` cross terms
    vanish and ``l = (1/k) P(sign(x.w) != sign(x.w*)) = t/(k pi)``: a function of the angle only. At ``w = 0``,
    ``f = 0`` and ``l = E[f(Z; w*)^2] = (1/k^2)(k/2 + (k^2 - k)/4)``.
    """
    k = check_positive_int("k", k)
    xp, w, w_star = population._prepare(w, w_star, validate)
    nw, ns = population._norm(xp, w), population._norm(xp, w_star)
    t = population._angle(xp, w, w_star, nw, ns)
    return xp.where(nw != 0, t / (k * _PI), xp.zeros_like(t) + (k + 1.0) / (4.0 * k))  # NaN propagates


def expected_coarse_grad(w: Array, w_star: Array, k: int, ste: str = "relu", *, validate: bool = True) -> Array:
    """Expected coarse gradient ``E[g_N(w)]`` in closed form: shape (..., d), dtype and device of ``w``.

    Parameters
    ----------
    w, w_star : array (..., d)
        Leading axes broadcast.
    k : int
        ``k >= 1``.
    ste : {"relu", "identity"}
    validate : bool
        Check ``w_star``.

    Returns
    -------
    array (..., d)
        ``c (w/|w| - w*/|w*|)`` with ``c`` of :func:`coarse_coefficient`. At ``w = 0``: 0 for the ReLU STE (every
        ``1{Z_i . 0 > 0}`` is 0) and ``-c w*/|w*|`` (``c = 2/(k sqrt(2 pi))``) for the identity STE.

    Notes
    -----
    Write ``e = w/|w|``, ``e* = w*/|w*|``, ``x ~ N(0, I_d)``. The cross-patch terms vanish as in :func:`loss`, so
    ``E g = (2/k) E[(1{x.e > 0} - 1{x.e* > 0}) mu'(x.e) x]``. With ``E[1{x.e > 0} x] = e/sqrt(2 pi)`` and the
    wedge integral ``E[1{x.e > 0} 1{x.e* > 0} x] = (e + e*)/(2 sqrt(2 pi))`` (polar coordinates in the plane of
    ``e, e*``):

    * ReLU STE, ``mu' = 1{t > 0}``: ``E g = (2/k)[e/sqrt(2 pi) - (e + e*)/(2 sqrt(2 pi))] = (e - e*)/(k sqrt(2 pi))``;
    * identity STE, ``mu' = 1``: ``E g = (2/k)(e - e*)/sqrt(2 pi)``.

    Both depend on ``w*`` through its direction only and are not orthogonal to ``w`` (their radial part
    ``c (1 - cos t) >= 0`` shrinks ``|w|``), unlike the true gradient of ``l = t/(k pi)``.
    """
    c = coarse_coefficient(k, ste)
    xp, w, w_star = population._prepare(w, w_star, validate)
    nw = population._norm(xp, w)
    ns = population._norm(xp, w_star)
    pos = nw != 0  # a NaN norm must propagate, not pass for w = 0
    safe = xp.where(pos, nw, xp.ones_like(nw))
    e = xp.where(pos[..., None], w / safe[..., None], xp.zeros_like(w))
    es = w_star / ns[..., None]
    g = c * (e - es)
    if ste == "relu":
        g = xp.where(pos[..., None], g, xp.zeros_like(g))
    return g
