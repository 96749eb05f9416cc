"""The sampled network: Gaussian patches, forward pass, empirical loss and gradient (theory page sections 1 and 2).

A batch of trials that share one set of samples is handled with one matrix product for the pre-activations,
``(N k, d) @ (d, B)``, and one for the gradient, ``(d, N k) @ (N k, B)``; there is no Python loop over trials or
samples.

:func:`forward`, :func:`labels`, :func:`empirical_loss` and :func:`empirical_grad` check that their arrays are
finite (``ValueError`` naming the argument: a NaN sample would otherwise turn the loss into NaN without a word);
``validate=False`` skips that check (one pass over each array and a host synchronisation) for callers that checked
once. The RVSM loop does not call them: it uses :func:`loss_and_grad_batch` on samples validated when the gradient
source was bound.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from numerics._arrays import Array, check_positive_int, make_rng, matmul, namespace

__all__ = ["empirical_grad", "empirical_loss", "forward", "labels", "loss_and_grad_batch", "sample_patches"]


def sample_patches(n_samples: int, k: int, d: int, *, seed: Any, xp: Any = None, device: Any = None,
                   dtype: Any = None) -> Array:
    """Draw ``n_samples`` inputs of ``k`` non-overlapping Gaussian patches of dimension ``d``.

    Parameters
    ----------
    n_samples, k, d : int
        Number of samples N >= 1, patches k >= 1 and patch dimension d >= 1.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the NumPy generator that draws the samples (the draw is identical on every backend).
    xp : array namespace, optional
        Backend of the result (NumPy when omitted).
    device : optional
        Device of the result (the backend's default when omitted).
    dtype : optional
        Floating dtype of the result (``xp.float64`` when omitted).

    Returns
    -------
    Z : array of shape (N, k, d)

    Notes
    -----
    Every entry of Z is i.i.d. N(0, 1): ``Z = numpy.random.default_rng(seed).standard_normal((N, k, d))``, then
    converted to the backend (in float64 first, so a float32 draw is the rounded float64 draw).
    """
    n_samples = check_positive_int("n_samples", n_samples)
    k = check_positive_int("k", k)
    d = check_positive_int("d", d)
    rng = make_rng(seed)
    z = rng.standard_normal((n_samples, k, d))
    xp = array_api_compat.array_namespace(np.empty(0)) if xp is None else xp
    dtype = xp.float64 if dtype is None else dtype
    if device is None:
        return xp.asarray(z, dtype=dtype)
    return xp.asarray(z, dtype=dtype, device=device)


def _check_zw(Z: Array, w: Array, name: str = "w") -> tuple[Any, int, int, int]:
    if Z.ndim != 3:
        raise ValueError(f"Z must have shape (N, k, d); got shape {tuple(Z.shape)}")
    n, k, d = (int(s) for s in Z.shape)
    if w.ndim not in (1, 2) or int(w.shape[-1]) != d:
        raise ValueError(f"{name} must have shape (d,) or (B, d) with d = {d} (the patch dimension of Z); "
                         f"got shape {tuple(w.shape)}")
    return namespace(Z, w), n, k, d


def _check_finite(xp: Any, **arrays: Array) -> None:
    """Raise ``ValueError`` naming the first of ``arrays`` that holds a NaN or an infinity."""
    for name, arr in arrays.items():
        if not bool(xp.all(xp.isfinite(arr))):
            raise ValueError(f"{name} must be finite (found NaN or inf)")


def _preactivations(xp: Any, Z: Array, w: Array) -> Array:
    """``Z_ni . w_b`` as an array (N k, B) (or (N k,) for w of shape (d,)): one matrix product."""
    n, k, d = (int(s) for s in Z.shape)
    zf = xp.reshape(Z, (n * k, d))
    return matmul(xp, zf, w.T) if w.ndim == 2 else matmul(xp, zf, w)


def _forward_from_pre(xp: Any, pre: Array, n: int, k: int) -> Array:
    relu = xp.maximum(pre, xp.zeros((), dtype=pre.dtype, device=array_api_compat.device(pre)))
    shape = (n, k) if pre.ndim == 1 else (n, k, int(pre.shape[-1]))
    return xp.mean(xp.reshape(relu, shape), axis=1)


def forward(Z: Array, w: Array, *, validate: bool = True) -> Array:
    """Network output f(Z_n; w) for every sample n (and every filter w_b of a batch).

    Parameters
    ----------
    Z : array (N, k, d)
        Samples (see :func:`sample_patches`).
    w : array (d,) or (B, d)
        One filter, or a batch of B filters sharing the samples.
    validate : bool
        Check that ``Z`` and ``w`` are finite (one pass over each; ``False`` for callers that checked once).

    Returns
    -------
    f : array (N,) for w of shape (d,), (N, B) for w of shape (B, d)

    Raises
    ------
    ValueError
        If a shape does not fit, or (``validate``) ``Z`` or ``w`` holds a NaN or an infinity.

    Notes
    -----
    f(Z; w) = (1/k) sum_i sigma(Z_i . w), sigma(t) = max(t, 0). The pre-activations of the whole batch are one
    matrix product (N k, d) @ (d, B).
    """
    xp, n, k, _ = _check_zw(Z, w)
    if validate:
        _check_finite(xp, Z=Z, w=w)
    return _forward_from_pre(xp, _preactivations(xp, Z, w), n, k)


def labels(Z: Array, w_star: Array, *, validate: bool = True) -> Array:
    """Teacher labels y_n = f(Z_n; w*): shape (N,) for w* of shape (d,), (N, B) for a batch of teachers (B, d).

    With ``validate`` (default), ``ValueError`` if ``Z`` or ``w_star`` holds a NaN or an infinity.
    """
    xp, n, k, _ = _check_zw(Z, w_star, "w_star")
    if validate:
        _check_finite(xp, Z=Z, w_star=w_star)
    return _forward_from_pre(xp, _preactivations(xp, Z, w_star), n, k)


def _residual(xp: Any, f: Array, y: Array) -> Array:
    if f.ndim == 2 and y.ndim == 1:
        y = xp.expand_dims(y, axis=1)
    if tuple(y.shape) not in (tuple(f.shape), (int(f.shape[0]), 1)):
        raise ValueError(f"y must have shape (N,) or {tuple(f.shape)} (matching Z and w); got shape {tuple(y.shape)}")
    return f - y


def empirical_loss(w: Array, Z: Array, y: Array, *, validate: bool = True) -> Array:
    """Empirical squared loss over the samples: shape () for w (d,), (B,) for w (B, d).

    Parameters
    ----------
    w : array (d,) or (B, d)
    Z : array (N, k, d)
    y : array (N,) or (N, B)
        Labels; (N,) labels are shared by every trial of a batch.
    validate : bool
        Check that ``w``, ``Z`` and ``y`` are finite (``False`` for callers that checked once).

    Raises
    ------
    ValueError
        If a shape does not fit, or (``validate``) ``w``, ``Z`` or ``y`` holds a NaN or an infinity.

    Notes
    -----
    l_N(w) = (1/N) sum_n (f(Z_n; w) - y_n)^2 (no factor 1/2, as the population loss of theory page section 1).
    """
    xp, n, k, _ = _check_zw(Z, w)
    if validate:
        _check_finite(xp, w=w, Z=Z, y=y)
    r = _residual(xp, _forward_from_pre(xp, _preactivations(xp, Z, w), n, k), y)
    return xp.mean(r * r, axis=0)


def empirical_grad(w: Array, Z: Array, y: Array, *, validate: bool = True) -> Array:
    """Gradient of :func:`empirical_loss` in w: shape (d,) or (B, d), like w.

    Parameters
    ----------
    w, Z, y
        As for :func:`empirical_loss`.
    validate : bool
        Check that ``w``, ``Z`` and ``y`` are finite (``False`` for callers that checked once).

    Raises
    ------
    ValueError
        If a shape does not fit, or (``validate``) ``w``, ``Z`` or ``y`` holds a NaN or an infinity.

    Notes
    -----
    grad l_N(w) = (2/N) sum_n r_n (1/k) sum_i 1{Z_ni . w > 0} Z_ni, r_n = f(Z_n; w) - y_n (theory page section 2);
    the derivative of sigma at 0 is taken as 0. For a batch it is one product (d, N k) @ (N k, B) of Z^T with the
    coefficients c_{(n,i), b} = (2 / (N k)) r_{n b} 1{Z_ni . w_b > 0}.
    """
    xp, n, k, d = _check_zw(Z, w)
    if validate:
        _check_finite(xp, w=w, Z=Z, y=y)
    pre = _preactivations(xp, Z, w)
    r = _residual(xp, _forward_from_pre(xp, pre, n, k), y)
    return _grad_from(xp, Z, pre, r, n, k, d)


def _grad_from(xp: Any, Z: Array, pre: Array, r: Array, n: int, k: int, d: int) -> Array:
    # coefficients 1{pre > 0} * (r scale), built in place on the (n, k[, B]) mask (r broadcast over the k patches,
    # never materialized); equal to where(pre > 0, r, 0) * scale since 1 * (r scale) is exact
    shape = (n, k) if pre.ndim == 1 else (n, k, int(pre.shape[-1]))
    coef = xp.astype(xp.reshape(pre, shape) > 0, pre.dtype)
    coef *= xp.expand_dims(r * (2.0 / (n * k)), axis=1)
    zf = xp.reshape(Z, (n * k, d))
    if pre.ndim == 1:
        return matmul(xp, xp.reshape(coef, (n * k,)), zf)
    # (coef^T Z) = (Z^T coef)^T: the same product, in the orientation BLAS runs fast ((B, N k) @ (N k, d))
    return matmul(xp, xp.reshape(coef, (n * k, shape[2])).T, zf)


def loss_and_grad_batch(xp: Any, zf: Array, w: Array, y: Array, n: int, k: int) -> tuple[Array, Array]:
    """Empirical loss (B,) and gradient (B, d) for w (B, d), given the flattened samples zf (N k, d) and labels
    y (N, B). Used by the RVSM loop, which keeps zf fixed across iterations.

    The two matrix products dominate; around them, three passes over the (N k, B) pre-activations, all in place on
    arrays this function owns: the 0/1 mask m = 1{pre > 0}, relu = pre * m, then m *= r scale broadcast over the k
    patches, which is the coefficient matrix of the gradient product (equal to ``where(pre > 0, r, 0) * scale``:
    1 * (r scale) is exact). No (N k, B) broadcast of r is materialized.
    """
    b = int(w.shape[0])
    pre = xp.reshape(matmul(xp, zf, w.T), (n, k, b))
    m = xp.astype(pre > 0, pre.dtype)
    pre *= m  # relu(pre)
    r = xp.mean(pre, axis=1) - y
    m *= xp.expand_dims(r * (2.0 / (n * k)), axis=1)
    return xp.mean(r * r, axis=0), matmul(xp, xp.reshape(m, (n * k, b)).T, zf)
