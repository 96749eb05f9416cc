"""Predicted limit of the *normalized* split iteration for the binarized network with a coarse gradient.

The iteration (:func:`numerics.run` with ``gradient=ExpectedCoarse(ste, normalize=True)``), with ``mu = lam/beta``:

    w <- w - eta (g(w) + beta (w - u)),   w <- w/|w|,   u <- prox_{mu P}(w),

where ``g(w) = c (w/|w| - e*)`` is the expected coarse gradient (:func:`numerics.binary.expected_coarse_grad`),
``e* = w*/|w*|`` and ``c`` the constant of :func:`numerics.binary.coarse_coefficient` (it carries ``k`` and the
straight-through estimator). Only the direction of ``w*`` matters.

Derivation (each step is checked against the simulated iteration in the tests)
------------------------------------------------------------------------------
A fixed point ``w_bar`` is a unit vector and the pre-normalization update must be a positive multiple of it:
``c (w_bar - e*) + beta (w_bar - u_bar) = alpha w_bar`` for a scalar ``alpha`` (the multiplier of the sphere), i.e.

    nu w_bar = c e* + beta u_bar,     u_bar = prox_{mu P}(w_bar),     |w_bar| = 1,     nu = c + beta - alpha,

(a fixed point of the iteration for every step with ``1 - eta (c + beta - nu) > 0``). This is the ReLU fixed-point
equation of :mod:`numerics.limits` with ``s -> c``, ``q -> nu - beta`` and ``w* -> e*``, the pair ``(s, q)`` replaced
by the one unknown ``nu`` fixed by the normalization. Per coordinate, with ``r' = c/(nu - beta)`` and
``mu_bar = mu (1 + beta r'/c)``:

* zeroed (``u_i = 0``): ``w_i = c e*_i / nu``, self-consistent iff ``|w_i| <= threshold(mu)``;
* kept: ``u_i = shrink(r' e*_i, mu_bar)`` (the root of ``u + mu_bar P'(u) = r' e*_i`` on the prox's nonzero
  branch), ``w_i = (c e*_i + beta u_i)/nu``, self-consistent iff ``prox_{mu P}(w_i) = u_i``.

l1: ``u_bar = r' soft(e*, tau)``, ``tau = mu_bar/r' = lam/c + lam/(beta r')``; kept iff ``|e*_i| > tau``, no band.
l0 (``gamma = sqrt(2 mu)``): kept ``u_i = w_i = r' e*_i`` iff ``r'|e*_i| > gamma``; zeroed iff
``r'|e*_i| <= gamma (1 + beta r'/c)``; both in the band between. TL1: the cubic root, band possible.
With no kept coordinate the fixed point is ``w_bar = e*``, ``u_bar = 0``, ``nu = c`` (valid iff every
``|e*_i| <= threshold(mu)``). Otherwise ``r'`` solves the scalar equation ``|w_bar(r')| = 1`` (found by bisection in
``log r'``; ``|w_bar(r')|`` increases from 0 to infinity), and the kept set is chosen among the nested supports
(top-m coordinates of ``|e*|``; a self-consistent support is always one of them, since at a given ``r'`` both
conditions are monotone in ``|e*_i|``): the largest self-consistent one (``band="keep"``) or the smallest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics._arrays import check_choice, check_positive_float
from numerics.binary import coarse_coefficient
from numerics.penalties import Penalty
from numerics.problem import Problem

__all__ = ["BinaryLimitPrediction", "predict_binary"]

_CONSISTENCY_RTOL = 1e-9  # as numerics.limits: rounding of the TL1 root vs a genuinely different value
_BISECTION_STEPS = 200  # in log r'; stops early once the bracket stops shrinking (full double precision)


@dataclass(frozen=True)
class BinaryLimitPrediction:
    """The predicted limit of the normalized binary split iteration (NumPy arrays; shapes for w_star (..., d)).

    Attributes
    ----------
    w, u : ndarray (..., d)
        The fixed point ``(w_bar, u_bar)``, ``|w_bar| = 1``.
    c : float
        Coefficient of the expected coarse gradient ``c (w/|w| - e*)``.
    nu : ndarray (...)
        ``w_bar . (c e* + beta u_bar)``: ``nu w_bar = c e* + beta u_bar``.
    r : ndarray (...)
        ``r' = c/(nu - beta)``, the rescaling of ``e*`` on the kept coordinates (inf / negative possible only with no
        kept coordinate, where it is not used).
    mu_bar : ndarray (...)
        ``lam/beta + lam r'/c``: the prox parameter of the kept branch, ``u_i = shrink(r' e*_i, mu_bar)``.
    tau : ndarray (...)
        ``mu_bar / r' = lam/c + lam/(beta r')``: for l1, ``u_bar = r' soft(e*, tau)``.
    support, band, kept_ok, zeroed_ok, consistent : ndarray of bool (..., d)
        As in :class:`numerics.limits.LimitPrediction`.
    converged : ndarray of bool (...)
        The scalar solve met its tolerance and (without ``support``) a self-consistent support was found.
    residual : ndarray (...)
        Recomputed from ``w_bar``: ``max(| |w_bar| - 1 |, |P_perp (c (w_bar - e*) + beta (w_bar - prox(w_bar)))|_inf)``,
        ``P_perp`` the projection orthogonal to ``w_bar``: the fixed-point residual of the normalized iteration.
    """

    w: np.ndarray
    u: np.ndarray
    c: float
    nu: np.ndarray
    r: np.ndarray
    mu_bar: np.ndarray
    tau: np.ndarray
    support: np.ndarray
    band: np.ndarray
    kept_ok: np.ndarray
    zeroed_ok: np.ndarray
    consistent: np.ndarray
    converged: np.ndarray
    residual: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Per trial: converged and every coordinate self-consistent (a genuine fixed point)."""
        return self.converged & np.all(self.consistent, axis=-1)


def _branches(pen: Penalty, es: np.ndarray, c: float, rp: np.ndarray, lam: np.ndarray, beta: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kept candidate ``(u, w)`` with the mask where it exists, and the zeroed ``w``, for r' of shape (n,) > 0."""
    mu = lam / beta
    mu_bar = mu * (1.0 + beta * rp / c)
    target = rp[:, None] * es
    u = pen.shrink(target, mu_bar, validate=False)
    denom = (c / rp + beta)[:, None]  # = nu
    w_k = (c * es + beta[:, None] * u) / denom
    w_z = c * es / denom
    stat = u + mu_bar[:, None] * pen.derivative(u) - target
    exists = (u * es > 0) & (np.abs(stat) <= _CONSISTENCY_RTOL * (np.abs(target) + np.abs(u) + mu_bar[:, None]))
    return u, w_k, exists, w_z


def _point(pen: Penalty, es: np.ndarray, c: float, rp: np.ndarray, lam: np.ndarray, beta: np.ndarray,
           sup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u_k, w_k, _, w_z = _branches(pen, es, c, rp, lam, beta)
    return np.where(sup, w_k, w_z), np.where(sup, u_k, 0.0)


def _solve_rp(pen: Penalty, es: np.ndarray, c: float, lam: np.ndarray, beta: np.ndarray, sup: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """r' > 0 with ``|w_bar(r')| = 1`` for the given supports (rows with an empty support: NaN). Returns r' and
    the final ``| |w_bar| - 1 |``."""
    n = es.shape[0]
    rows = np.flatnonzero(np.any(sup, axis=1))
    rp = np.full(n, np.nan)
    err = np.zeros(n)
    if rows.size == 0:
        return rp, err
    e, lm, bt, sp = es[rows], lam[rows], beta[rows], sup[rows]

    def norm_minus_one(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            w, _ = _point(pen, e, c, np.exp(x), lm, bt, sp)
        return np.sqrt(np.sum(w * w, axis=1)) - 1.0

    lo, hi = np.zeros(rows.size), np.zeros(rows.size)
    f0 = norm_minus_one(lo)
    # bracket by doubling steps in log r' (|w_bar| -> 0 as r' -> 0 and -> inf as r' -> inf on a nonempty support)
    lo = np.where(f0 < 0, lo, lo - 1.0)
    hi = np.where(f0 < 0, hi + 1.0, hi)
    for step in range(60):
        flo, fhi = norm_minus_one(lo), norm_minus_one(hi)
        need_lo, need_hi = ~(flo < 0), ~(fhi > 0)
        if not (need_lo.any() or need_hi.any()):
            break
        lo = np.where(need_lo, lo - 2.0 ** step, lo)
        hi = np.where(need_hi, hi + 2.0 ** step, hi)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if np.all((mid == lo) | (mid == hi)):
            break
        fm = norm_minus_one(mid)
        lo = np.where(fm < 0, mid, lo)
        hi = np.where(fm < 0, hi, mid)
    flo, fhi = norm_minus_one(lo), norm_minus_one(hi)
    pick_hi = np.abs(fhi) < np.abs(flo)
    x = np.where(pick_hi, hi, lo)
    rp[rows] = np.exp(x)
    err[rows] = np.where(pick_hi, np.abs(fhi), np.abs(flo))
    err[rows] = np.where(np.isfinite(err[rows]), err[rows], np.inf)
    return rp, err


def _evaluate(pen: Penalty, es: np.ndarray, c: float, lam: np.ndarray, beta: np.ndarray, rp: np.ndarray,
              sp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The point ``(w, u)`` of support ``sp`` solved with ``r'``, and both candidates' self-consistency per coordinate.

    A row with an empty support is the all-zeroed point ``w = e*``, ``u = 0``, ``nu = c``; its kept candidates use
    ``r' = c/(c - beta)`` (none when ``c <= beta``: a kept coordinate of the sign of ``e*_i`` needs ``nu > beta``).
    """
    mu = lam / beta
    thr = pen.threshold(mu, validate=False)[:, None]
    empty = ~np.any(sp, axis=1)
    with np.errstate(all="ignore"):
        r_eval = np.where(empty, np.where(c > beta, c / (c - beta), np.nan), rp)
        valid = np.isfinite(r_eval) & (r_eval > 0)
        u_k, w_k, exists, w_z = _branches(pen, es, c, np.where(valid, r_eval, 1.0), lam, beta)
        w_z = np.where(empty[:, None], es, w_z)
        kept_ok = exists & (es != 0) & valid[:, None] & (np.abs(w_k) > thr) & (
            np.abs(pen.shrink(w_k, mu, validate=False) - u_k) <= _CONSISTENCY_RTOL * (np.abs(u_k) + mu[:, None]))
        zero_ok = np.abs(w_z) <= thr
    w = np.where(sp, w_k, w_z)
    u = np.where(sp, u_k, 0.0)
    return w, u, kept_ok, zero_ok


def _nested_supports(pen: Penalty, es: np.ndarray, c: float, lam: np.ndarray, beta: np.ndarray, band: str,
                     tol: float) -> tuple[np.ndarray, ...]:
    """The fixed point on the best self-consistent top-m support of ``|e*|`` (largest m for ``band="keep"``,
    smallest for ``"zero"``; where none is consistent, the one with the fewest inconsistent coordinates).

    The consistent supports are nested: at a given ``r'`` both the kept and the zeroed conditions are monotone in
    ``|e*_i|``, so a self-consistent support is a top-m set of ``|e*|``. Every m = 0..d is solved at once (stacked
    rows). Returns ``(support, r', w, u, kept_ok, zeroed_ok, converged)``.
    """
    n, d = es.shape
    nz = es != 0
    rank = np.empty((n, d), dtype=np.int64)
    rank[np.arange(n)[:, None], np.argsort(-np.abs(es), axis=1, kind="stable")] = np.arange(d)
    m = np.arange(d + 1)
    sup_all = (rank[:, None, :] < m[None, :, None]) & nz[:, None, :]  # (n, d+1, d)
    rows = np.repeat(np.arange(n), d + 1)
    sp = sup_all.reshape(n * (d + 1), d)
    rp_all, err_all = _solve_rp(pen, es[rows], c, lam[rows], beta[rows], sp)
    w_all, u_all, ko_all, zo_all = _evaluate(pen, es[rows], c, lam[rows], beta[rows], rp_all, sp)
    cons = np.where(sp, ko_all, zo_all).reshape(n, d + 1, d)
    ok_all = np.all(cons, axis=2) & (err_all <= tol).reshape(n, d + 1) & (m[None, :] <= nz.sum(1)[:, None])
    n_bad = np.sum(~cons, axis=2) + np.where(ok_all, 0, 1)
    if band == "keep":
        pick = np.where(ok_all.any(1), d - np.argmax(ok_all[:, ::-1], axis=1), np.argmin(n_bad, axis=1))
    else:
        pick = np.where(ok_all.any(1), np.argmax(ok_all, axis=1), np.argmin(n_bad, axis=1))
    idx = np.arange(n) * (d + 1) + pick
    converged = (err_all[idx] <= tol) & ok_all.any(1)
    return sp[idx], rp_all[idx], w_all[idx], u_all[idx], ko_all[idx], zo_all[idx], converged


def predict_binary(problem: Problem, *, ste: str = "relu", band: str = "keep", support: Any = None,
                   tol: float = 1e-12) -> BinaryLimitPrediction:
    r"""Predict the limit ``(w_bar, u_bar)`` of the normalized binary split iteration with the expected coarse gradient.

    Parameters
    ----------
    problem : Problem
        Teacher(s) (only the direction ``e* = w*/|w*|`` enters), ``k`` (through ``c``), penalty, ``lam``, ``beta``.
    ste : {"relu", "identity"}
        The straight-through estimator (``c = 1/(k sqrt(2 pi))`` resp. ``2/(k sqrt(2 pi))``).
    band : {"keep", "zero"}
        Which fixed point when several exist (the l0 / TL1 band): the one with the largest self-consistent support
        (``"keep"``) or the smallest (``"zero"``). The iteration picks one by its path.
    support : bool array (d,) or like ``w_star``, optional
        Fix the kept set (e.g. the one a simulation reached); must be False where ``w* = 0``.
    tol : float
        Tolerance on ``| |w_bar| - 1 |`` for ``converged``.

    Returns
    -------
    BinaryLimitPrediction

    Raises
    ------
    ValueError
        Naming the parameter: ``ste``, ``band``, ``tol``, or a bad ``support`` (the problem was validated when it
        was built).

    Notes
    -----
    Fixed point (module docstring): ``nu w_bar = c e* + beta u_bar``, ``u_bar = prox_{(lam/beta) P}(w_bar)``,
    ``|w_bar| = 1``. With ``r' = c/(nu - beta)`` and ``mu_bar = lam/beta + lam r'/c``:

    .. math::

        \text{kept: } \bar u_i = \mathrm{shrink}(r' e^*_i, \bar\mu),\quad
        \bar w_i = \frac{c e^*_i + \beta \bar u_i}{\nu};\qquad
        \text{zeroed: } \bar u_i = 0,\quad \bar w_i = \frac{c e^*_i}{\nu}.

    For l1 this is ``u_bar = r' soft_threshold(e*, tau)``, ``tau = lam/c + lam/(beta r')``, so
    ``|u_bar/r' - e*|_inf <= tau``.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a numerics.Problem; got {type(problem).__name__}")
    check_choice("band", band, ("keep", "zero"))
    tol = check_positive_float("tol", tol)
    pen, k = problem.penalty, problem.k
    c = coarse_coefficient(k, ste)
    ws2, lam_b, beta_b = problem.on_host()
    n, d = ws2.shape
    batch_shape = () if problem.batch_size is None else (n,)
    shape = (*batch_shape, d)
    es = ws2 / np.sqrt(np.sum(ws2 * ws2, axis=1, keepdims=True))
    mu = lam_b / beta_b
    fixed = support is not None
    sup = problem.support_mask(support) if fixed else None

    if fixed:
        rp, err = _solve_rp(pen, es, c, lam_b, beta_b, sup)
        w, u, kept_ok, zero_ok = _evaluate(pen, es, c, lam_b, beta_b, rp, sup)
        converged = err <= tol
    else:
        sup, rp, w, u, kept_ok, zero_ok, converged = _nested_supports(pen, es, c, lam_b, beta_b, band, tol)

    with np.errstate(all="ignore"):
        empty = ~np.any(sup, axis=1)
        nu = np.sum(w * (c * es + beta_b[:, None] * u), axis=1)
        r = np.where(empty, c / (nu - beta_b), rp)
        mu_bar = mu * (1.0 + beta_b * r / c)
        tau = mu_bar / r
        nw = np.sqrt(np.sum(w * w, axis=1))
        g = c * (w / nw[:, None] - es) + beta_b[:, None] * (w - pen.prox(w, mu, validate=False))
        g_perp = g - np.sum(g * w, axis=1, keepdims=True) * w / (nw * nw)[:, None]
        residual = np.maximum(np.abs(nw - 1.0), np.max(np.abs(g_perp), axis=1))
    consistent = np.where(sup, kept_ok, zero_ok)
    bnd = kept_ok & zero_ok

    def out(v: np.ndarray) -> np.ndarray:
        return v.reshape(shape) if v.ndim == 2 else v.reshape(batch_shape)

    return BinaryLimitPrediction(
        w=out(w), u=out(u), c=c, nu=out(nu), r=out(r), mu_bar=out(mu_bar), tau=out(tau), support=out(sup),
        band=out(bnd), kept_ok=out(kept_ok), zeroed_ok=out(zero_ok), consistent=out(consistent),
        converged=out(converged), residual=out(residual),
    )
