r"""Exact trade-off fronts between the population loss and a sparsity penalty, and comparators scored against them.

The front of a teacher ``w*`` (``k`` patches) and a penalty ``P`` is the set of non-dominated points of the two
objectives ``(sum_i P(w_i), l(w))``. Its Pareto-critical points are the stationary points of ``l + lam sum_i P(w_i)``
over ``lam >= 0`` (derived and verified in ``theory.fronts``; theory page, "Exact trade-off fronts"):

- **l1** (closed form): on the branch with ``q > 0`` the stationarity ``q w - s w* + lam sign(w) = 0`` gives
  ``w = (s/q) soft(w*, kappa)`` with ``kappa = lam/s``. The direction ``v = soft(w*, kappa)`` and the angle ``t`` depend
  on ``kappa`` alone and ``q = c0 - b(t)/|w|`` is affine in ``1/|w|``, so ``|w| = (s |v| + b)/c0`` is explicit and
  ``lam = kappa s``: one parameter ``kappa in [0, max|w*_i|)``. At its end (``kappa -> max|w*_i|``) ``q -> 0`` and
  the path reaches ``n_end = b/c0`` along the direction ``u_end`` of the largest teacher coordinates (``T`` of them,
  tied); below that norm the non-dominated part of the critical set is the segment ``w = m u_end``,
  ``0 < m <= n_end``, with ``q < 0`` and ``lam = s max|w*_i| - q m/sqrt(T) = s max|w*_i| + (b - c0 m)/sqrt(T)``.
  ``lam(kappa)`` need not be monotone: a fold.
- **l0** (closed form): at a fixed norm the loss grows with the angle to ``w*``, so the best support of size ``m`` is
  the top-``m`` ``|w*_i|`` and its best point ``n_m w*_S/|w*_S|`` has
  ``n_m = |w*| (k h(t_m) + k^2 - k)/(k pi + k^2 - k)``, ``h(t) = sin t + (pi - t) cos t``: a staircase of ``d + 1``
  points.
- **any penalty with a derivative** (TL1, and l1 as a cross-check): pseudo-arclength continuation of
  ``F(w_S, lam) = q(w) w_S - s(w) w*_S + lam P'(w_S) = 0`` from ``(w*, 0)``, so folds (of the ``(s, q)``
  self-consistency and of the kept-root equation) are passed, not jumped; a coordinate that reaches 0 leaves the
  support (there ``s |w*_i| = lam P'(0+)``, the edge of the off-support condition), and the points are then filtered
  for non-dominance.

Comparators, each scored by its excess loss ``l(x) - F(P(x))`` over the exact front ``F`` at equal penalty value:
:func:`lam_sweep` (warm-started proximal gradient over a ``lam`` grid: the weighted-sum method), :func:`path_follower`
(the multiobjective proximal gradient step of Amakor, Sonntag & Peitz as a predictor-corrector path follower) and
:func:`rvsm_limits` (RVSM's predicted sparse output ``u_bar`` at finite ``beta``, :func:`numerics.predict`).

Everything here is NumPy float64 on the host (small ``d``; the fronts are curves, not batches of runs).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from numerics import population
from numerics._io import atomic_path, check_out_dir, write_text
from numerics.penalties import L0, L1, Penalty
from numerics.problem import resolve_penalty

__all__ = [
    "Front",
    "Scored",
    "continuation_front",
    "convex_hull_gap",
    "epsilon_constraint",
    "excess_loss",
    "find_folds",
    "front_command",
    "l0_best_on_support",
    "l0_front",
    "l1_front",
    "lam_sweep",
    "pareto_front",
    "pareto_mask",
    "path_follower",
    "rvsm_limits",
    "write_front",
]

_PI = math.pi


# ----------------------------------------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Front:
    """A sampled exact front (all NumPy; ``n`` points in the order of the path, from ``w*`` towards 0).

    Attributes
    ----------
    penalty : str
        The penalty's name (``"l1"``, ``"l0"``, ``"tl1"``, ...).
    w_star : ndarray (d,)
        The teacher.
    k : int
        Number of patches.
    penalty_value, loss, lam : ndarray (n,)
        ``sum_i P(w_i)`` (the x axis: ``|w|_1``, the support size, ``sum rho_a``), ``l(w)`` and the multiplier
        ``lam`` with which ``w`` is stationary for ``l + lam P`` (l0: the smallest ``lam`` at which the point
        minimizes ``l + lam m`` over the staircase, NaN if it never does).
    w : ndarray (n, d)
        The points.
    pareto : ndarray of bool (n,)
        Non-dominated among the computed points (:func:`pareto_mask`).
    piece : ndarray of int (n,)
        Which smooth piece of the critical set a point lies on (l1: 0 the ``kappa`` path, 1 the segment near the
        origin; continuation: one piece per support; l0: the support size).
    param : ndarray (n,)
        The piece's parameter (l1: ``kappa`` on piece 0, ``m = |w|`` on piece 1; continuation: arclength).
    folds : tuple of (float, float)
        The ``lam`` intervals in which several critical points share one ``lam`` (:func:`find_folds`).
    """

    penalty: str
    w_star: np.ndarray
    k: int
    penalty_value: np.ndarray
    loss: np.ndarray
    lam: np.ndarray
    w: np.ndarray
    pareto: np.ndarray
    piece: np.ndarray
    param: np.ndarray
    folds: tuple[tuple[float, float], ...]
    _refine: Callable[[int, int, float], np.ndarray | None] | None = field(default=None, repr=False, compare=False)
    _penalty_obj: Penalty | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return int(self.loss.shape[0])

    def value_at(self, tau: Any) -> np.ndarray:
        """The front ``F(tau) = min { l(w) : sum_i P(w_i) <= tau }`` at penalty values ``tau`` (array-like).

        Every computed point with ``P <= tau`` bounds ``F(tau)`` from above; where two consecutive points of one
        smooth piece bracket ``tau`` the point of that piece with ``P = tau`` exactly is solved for (l1: a root of
        ``P(kappa) = tau``; continuation: Newton on the stationarity plus ``P(w) = tau``), so between sampled points
        the value is exact, not interpolated. For l0 ``F`` is the staircase itself.
        """
        taus = np.atleast_1d(np.asarray(tau, dtype=float))
        out = np.empty(taus.shape)
        for j, t in enumerate(taus):
            if np.isnan(t):  # no penalty value: no front value (inf would claim that nothing is feasible)
                out[j] = np.nan
                continue
            best = np.min(self.loss[self.penalty_value <= t], initial=np.inf)
            if self._refine is not None:
                pv = self.penalty_value
                for i in np.flatnonzero((self.piece[:-1] == self.piece[1:])
                                        & ((pv[:-1] - t) * (pv[1:] - t) <= 0)):
                    w = self._refine(int(self.piece[i]), int(i), float(t))
                    if w is not None:
                        best = min(best, float(population.loss(w, self.w_star, self.k, validate=False)))
            out[j] = best
        return out.reshape(np.shape(tau)) if np.ndim(tau) else out[0]


@dataclass(frozen=True)
class Scored:
    """Points of a comparator and their excess loss over the exact front at equal penalty value.

    Attributes
    ----------
    name : str
        The comparator (``"lam_sweep"``, ``"path_follower"``, ``"rvsm"``).
    w : ndarray (n, d)
        Its points (for RVSM the sparse output ``u_bar``).
    penalty_value, loss, excess : ndarray (n,)
        ``sum P(w_i)``, ``l(w)`` and ``l(w) - F(sum P(w_i))``.
    lam : ndarray (n,)
        The ``lam`` of each point (NaN for the path follower, which has none).
    beta : ndarray (n,)
        RVSM's ``beta`` (NaN for the other comparators).
    ok : ndarray of bool (n,)
        The point was obtained as asked (converged / a consistent prediction).
    """

    name: str
    w: np.ndarray
    penalty_value: np.ndarray
    loss: np.ndarray
    excess: np.ndarray
    lam: np.ndarray
    beta: np.ndarray
    ok: np.ndarray


# ----------------------------------------------------------------------------------------------------------------------
# Validation and small helpers
# ----------------------------------------------------------------------------------------------------------------------
def _teacher(w_star: Any) -> np.ndarray:
    w = np.asarray(w_star, dtype=float)
    if w.ndim not in (1, 2) or w.shape[-1] < 1:
        raise ValueError(f"w_star must have shape (d,) or (B, d); got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w_star must be finite (found NaN or inf)")
    if np.any(np.all(w == 0, axis=-1)):
        raise ValueError("w_star must be nonzero (every teacher)")
    return w


def _k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1; got {k!r}")
    return int(k)


def _c0(k: int) -> float:
    return (k + (k * k - k) / _PI) / float(k * k)


def _b(t: np.ndarray, ns: float, k: int) -> np.ndarray:
    """``b(t)`` of ``q = c0 - b/|w|``: ``(k sin t + k^2 - k) |w*| / (pi k^2)``."""
    return (k * np.sin(t) + (k * k - k)) * ns / (_PI * k * k)


def _angle_to(v: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    ns2 = float(w_star @ w_star)
    p = v @ w_star
    r = v - (p / ns2)[..., None] * w_star
    return np.arctan2(np.linalg.norm(r, axis=-1) * math.sqrt(ns2), p)


def pareto_mask(penalty_value: Any, loss: Any, *, rtol: float = 0.0) -> np.ndarray:
    """Non-dominated points of two objectives to be minimized.

    Parameters
    ----------
    penalty_value, loss : array-like, shape (n,)
    rtol : float
        A point is dominated if another has ``P' <= P`` and ``l' < l - rtol (1 + |l|)`` or ``P' < P`` and
        ``l' <= l`` (``rtol = 0``: exact comparisons).

    Returns
    -------
    ndarray of bool, shape (n,)
        False for a point whose penalty value or loss is not finite.

    Notes
    -----
    Sorted by ``P`` (ties by ``l``), a point is non-dominated iff its loss is below the running minimum of the losses
    of all points before it: ``O(n log n)``.
    """
    pv = np.asarray(penalty_value, dtype=float)
    lo = np.asarray(loss, dtype=float)
    order = np.lexsort((lo, pv))
    mask = np.zeros(pv.shape, dtype=bool)
    best, best_p = np.inf, np.nan
    for i in order:
        if not (np.isfinite(pv[i]) and np.isfinite(lo[i])):  # a point without both values is on no front
            continue
        if lo[i] < best - rtol * (1.0 + abs(lo[i])):
            mask[i] = True
            best, best_p = lo[i], pv[i]
        elif lo[i] == best and pv[i] == best_p:  # an exact duplicate of a non-dominated point
            mask[i] = True
    return mask


def find_folds(lam: Any) -> tuple[tuple[float, float], ...]:
    """The ``lam`` intervals in which several critical points of the path share one ``lam``.

    Parameters
    ----------
    lam : array-like, shape (n,)
        The multiplier along the (continuous) path, in path order; NaN entries are skipped.

    Returns
    -------
    tuple of (lam_lo, lam_hi)
        The maximal intervals of ``lam`` values met at least twice by the piecewise-linear path through the
        samples: between consecutive turning values of ``lam`` the number of crossings is constant, and the
        intervals where it is ``>= 2`` are merged. Empty when ``lam`` is monotone along the path.

    Notes
    -----
    A turn of the sampled ``lam`` by less than ``1e-12 (1 + max |lam|)`` is rounding, not a fold.
    """
    lv = np.asarray(lam, dtype=float)
    lv = lv[np.isfinite(lv)]
    if lv.size < 3:
        return ()
    tol = 1e-12 * (1.0 + float(np.max(np.abs(lv))))
    dl = np.diff(lv)
    sgn = np.sign(np.where(np.abs(dl) > tol, dl, 0.0))
    nz = np.flatnonzero(sgn)
    turns = [int(j) for i, j in itertools.pairwise(nz) if sgn[i] != sgn[j]]
    if not turns:
        return ()
    levels = np.unique(np.concatenate([lv[turns], [lv.min(), lv.max(), lv[0], lv[-1]]]))
    lo_seg, hi_seg = np.minimum(lv[:-1], lv[1:]), np.maximum(lv[:-1], lv[1:])
    out: list[list[float]] = []
    for a, b in itertools.pairwise(levels):
        if b - a <= tol:
            continue
        mid = 0.5 * (a + b)
        count = int(np.sum((lo_seg < mid) & (mid < hi_seg)))
        if count >= 2:
            if out and abs(out[-1][1] - a) <= tol:
                out[-1][1] = float(b)
            else:
                out.append([float(a), float(b)])
    return tuple((a, b) for a, b in out)


def convex_hull_gap(front: Front) -> np.ndarray:
    """Height of each Pareto point above the lower convex hull of the front's Pareto points (0 on the hull).

    Where it is positive the front is nonconvex: no weighted sum ``l + lam P`` has that point as a global minimizer.
    Computed by the monotone chain over the points sorted by ``P``; the hull's value at a point's ``P`` is the linear
    interpolation between its two neighbouring hull vertices.
    """
    m = front.pareto
    x, y = front.penalty_value[m], front.loss[m]
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    hull: list[int] = []
    for i in range(xs.size):
        while len(hull) >= 2:
            i1, i2 = hull[-2], hull[-1]
            cross = (xs[i2] - xs[i1]) * (ys[i] - ys[i1]) - (ys[i2] - ys[i1]) * (xs[i] - xs[i1])
            if cross <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    hx, hy = xs[hull], ys[hull]
    gap_sorted = ys - np.interp(xs, hx, hy)
    gap = np.zeros(front.loss.shape)
    idx = np.flatnonzero(m)[order]
    gap[idx] = np.maximum(gap_sorted, 0.0)
    return gap


def _assemble(name: str, w_star: np.ndarray, k: int, pen: Penalty, w: np.ndarray, lam: np.ndarray,
              piece: np.ndarray, param: np.ndarray, refine: Any) -> Front:
    pv = np.sum(np.asarray(pen.value(w)), axis=-1)
    lo = population.loss(w, w_star, k, validate=False)
    return Front(penalty=name, w_star=w_star.copy(), k=k, penalty_value=pv, loss=np.asarray(lo), lam=lam, w=w,
                 pareto=pareto_mask(pv, lo), piece=piece, param=param, folds=find_folds(lam),
                 _refine=refine, _penalty_obj=pen)


# ----------------------------------------------------------------------------------------------------------------------
# l1: the closed-form path
# ----------------------------------------------------------------------------------------------------------------------
def _l1_path_points(w_star: np.ndarray, k: int, kappa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(w, lam)`` on the ``kappa`` path: ``w = (s/q) soft(w*, kappa)``, ``|w| = (s|v| + b)/c0``, ``lam = kappa s``."""
    a = np.abs(w_star)
    v = np.sign(w_star) * np.maximum(a - kappa[:, None], 0.0)
    nv = np.linalg.norm(v, axis=1)
    t = _angle_to(v, w_star)
    s = (_PI - t) / (k * _PI)
    nw = (s * nv + _b(t, float(np.linalg.norm(w_star)), k)) / _c0(k)
    return (nw / nv)[:, None] * v, kappa * s


def _l1_end(w_star: np.ndarray, k: int) -> tuple[np.ndarray, float, float, float]:
    """The path's end: direction ``u_end`` (unit, on the largest |w*_i|), ``n_end = b/c0``, ``s``, ``b``."""
    a = np.abs(w_star)
    top = a == a.max()
    u = np.where(top, np.sign(w_star), 0.0)
    u /= np.linalg.norm(u)
    t = float(_angle_to(u[None, :], w_star)[0])
    s = (_PI - t) / (k * _PI)
    b = float(_b(np.asarray(t), float(np.linalg.norm(w_star)), k))
    return u, b / _c0(k), s, b


def l1_front(w_star: Any, k: int, *, n_points: int = 400, n_segment: int = 60) -> Front:
    r"""The exact l1 front of one teacher: the closed-form ``kappa`` path and the segment near the origin.

    Parameters
    ----------
    w_star : array-like, shape (d,)
    k : int
    n_points : int
        Points on the ``kappa`` path (``kappa`` uniform in ``[0, max|w*_i|)``, plus every breakpoint ``|w*_i|``).
    n_segment : int
        Points on the segment ``w = m u_end``, ``m`` from ``n_end`` down to 0 (the last point is ``w = 0``).

    Returns
    -------
    Front

    Notes
    -----
    With ``v = soft(w*, kappa)``, ``t = angle(v, w*)``, ``s = (pi - t)/(k pi)``,
    ``b = (k sin t + k^2 - k)|w*|/(pi k^2)``, ``c0 = (k + (k^2 - k)/pi)/k^2``:

    ``w(kappa) = ((s |v| + b)/c0) v/|v|``, ``lam(kappa) = kappa s``, and ``q = c0 s|v|/(s|v| + b) > 0`` on the path.
    Near the origin (``q <= 0``): ``w = m u_end`` (``u_end = sign(w*)/sqrt(T)`` on the ``T`` largest ``|w*_i|``),
    ``lam = s_end max|w*_i| + (b_end - c0 m)/sqrt(T)`` for ``0 < m <= n_end = b_end/c0``; ``w = 0`` closes it
    (``l(0)``, ``lam`` the segment's limit).

    With ``T > 1`` tied largest coordinates that symmetric segment is critical but dominated: stationarity on the
    tied set with unequal ``|w_i|`` forces ``q = 0``, i.e. ``|w| = b(t)/c0`` and ``lam = s(t) max|w*_i|``, a family in
    which only ``|x|_1`` of the direction ``x`` matters (it fixes ``t`` and the penalty); it is traced by
    ``x ~ sign(w*) (1, c, ..., c)`` on the tied set, ``c`` from 1 to 0 (piece 2), and joins the 1-sparse segment
    ``w = m e_1``, ``lam = s_1 max|w*_i| + b_1 - c0 m``, ``m <= b_1/c0`` (piece 3); the symmetric segment is piece 1.
    """
    w_star = _teacher(w_star)
    k = _k(k)
    if w_star.ndim != 1:
        raise ValueError("l1_front takes one teacher of shape (d,); use pareto_front for a batch")
    for name, n in (("n_points", n_points), ("n_segment", n_segment)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"{name} must be an integer >= 2; got {n!r}")
    a = np.abs(w_star)
    kmax = float(a.max())
    kap = np.unique(np.concatenate([np.linspace(0.0, kmax, n_points, endpoint=False), a[a < kmax]]))
    w0, lam0 = _l1_path_points(w_star, k, kap)
    u, n_end, s_end, b_end = _l1_end(w_star, k)
    c0 = _c0(k)
    ns = float(np.linalg.norm(w_star))
    m = np.linspace(n_end, 0.0, n_segment)
    n_top = int(np.count_nonzero(u))  # the largest |w*_i| may be tied: u = sign(w*) on them, / sqrt(n_top)
    sym_w = m[:, None] * u
    sym_lam = s_end * kmax + (b_end - c0 * m) / math.sqrt(n_top)
    first = int(np.flatnonzero(u)[0])
    e1 = np.zeros_like(w_star)
    e1[first] = np.sign(w_star[first])

    def q0_points(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``q = 0`` family of tied teachers: direction ``x_c`` = sign(w*) (1, c, ..., c) on the tied set."""
        x = np.where(u != 0, np.sign(w_star) * c[:, None], 0.0)
        x[:, first] = np.sign(w_star[first])
        x /= np.linalg.norm(x, axis=1)[:, None]
        t = _angle_to(x, w_star)
        return (_b(t, ns, k) / c0)[:, None] * x, (_PI - t) / (k * _PI) * kmax

    ws_, lams_, pieces_, params_ = [w0], [lam0], [np.zeros(kap.size, int)], [kap]
    if n_top > 1:
        # tied largest coordinates: a family with q = 0 (|w| = b(t)/c0, lam = s kmax) joins the path's end to the
        # 1-sparse direction e1, whose segment (q < 0) then reaches 0; the symmetric segment is critical but dominated
        cs = np.linspace(1.0, 0.0, n_segment)
        wq, lq = q0_points(cs)
        t1 = float(_angle_to(e1[None, :], w_star)[0])
        s1, b1 = (_PI - t1) / (k * _PI), float(_b(np.asarray(t1), ns, k))
        m1 = np.linspace(b1 / c0, 0.0, n_segment)
        ws_ += [wq, m1[:, None] * e1]
        lams_ += [lq, s1 * kmax + b1 - c0 * m1]
        pieces_ += [np.full(cs.size, 2), np.full(m1.size, 3)]
        params_ += [cs, m1]
    ws_.append(sym_w)
    lams_.append(sym_lam)
    pieces_.append(np.ones(m.size, int))
    params_.append(m)
    w = np.concatenate(ws_)
    lam = np.concatenate(lams_)
    piece = np.concatenate(pieces_)
    param = np.concatenate(params_)
    u1 = float(np.sum(np.abs(u)))

    def refine(pc: int, i: int, tau: float) -> np.ndarray | None:
        if pc == 1:
            return (tau / u1) * u
        if pc == 3:
            return tau * e1
        from scipy.optimize import brentq

        def point(x: float) -> np.ndarray:
            return (q0_points(np.array([x]))[0] if pc == 2 else _l1_path_points(w_star, k, np.array([x]))[0])[0]

        def g(x: float) -> float:
            return float(np.sum(np.abs(point(x)))) - tau

        lo_, hi_ = param[i], param[i + 1]
        if g(lo_) * g(hi_) > 0:
            return None
        return point(brentq(g, lo_, hi_, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200))

    fold_path = lam if n_top == 1 else lam[piece != 1]
    front = _assemble("l1", w_star, k, L1(), w, lam, piece, param, refine)
    return replace(front, folds=find_folds(fold_path))


# ----------------------------------------------------------------------------------------------------------------------
# l0: the staircase
# ----------------------------------------------------------------------------------------------------------------------
def l0_best_on_support(w_star: Any, k: int, support: Any) -> np.ndarray:
    """The minimizer of ``l`` over vectors supported on ``support`` (bool (d,)): ``n_S w*_S/|w*_S|`` (0 if empty).

    Notes
    -----
    On a support the angle is smallest for the projection ``w*_S`` (``cos t = |w*_S|/|w*|``); at a fixed angle
    ``l`` is a convex quadratic in ``|w|`` with minimizer ``|w*| (k h(t) + k^2 - k)/(k pi + k^2 - k)``,
    ``h(t) = sin t + (pi - t) cos t`` (``theory.fronts``).
    """
    w_star = np.asarray(w_star, dtype=float)
    sup = np.asarray(support, dtype=bool)
    ws = np.where(sup, w_star, 0.0)
    nws = float(np.linalg.norm(ws))
    if nws == 0.0:
        return np.zeros_like(w_star)
    ns = float(np.linalg.norm(w_star))
    t = math.atan2(float(np.linalg.norm(w_star - ws)), nws)
    h = math.sin(t) + (_PI - t) * math.cos(t)
    n = ns * (k * h + k * k - k) / (k * _PI + k * k - k)
    return (n / nws) * ws


def l0_front(w_star: Any, k: int) -> Front:
    """The exact l0 front of one teacher: ``d + 1`` points, the best point of each support size ``m``.

    Returns
    -------
    Front
        ``penalty_value = m``; ``lam`` the smallest weight at which the point minimizes ``l + lam m`` over the
        staircase (its left slope on the lower convex hull), NaN if it is not a hull vertex; ``piece = param = m``.

    Notes
    -----
    The best support of size ``m`` is the ``m`` largest ``|w*_i|`` (ties broken by index, which changes no loss);
    see :func:`l0_best_on_support`.
    """
    w_star = _teacher(w_star)
    k = _k(k)
    if w_star.ndim != 1:
        raise ValueError("l0_front takes one teacher of shape (d,); use pareto_front for a batch")
    d = w_star.size
    order = np.argsort(-np.abs(w_star), kind="stable")
    w = np.zeros((d + 1, d))
    for m in range(1, d + 1):
        sup = np.zeros(d, bool)
        sup[order[:m]] = True
        w[m] = l0_best_on_support(w_star, k, sup)
    lo = np.asarray(population.loss(w, w_star, k, validate=False))
    mm = np.arange(d + 1, dtype=float)
    lam = np.full(d + 1, np.nan)
    for m in range(d + 1):  # m minimizes l + lam m for lam in [max_{j>m} slope, min_{j<m} slope]
        lo_b = max([(lo[m] - lo[j]) / (j - m) for j in range(m + 1, d + 1)], default=0.0)
        hi_b = min([(lo[j] - lo[m]) / (m - j) for j in range(m)], default=np.inf)
        if lo_b <= hi_b:
            lam[m] = max(lo_b, 0.0)
    pen = L0()
    pv = mm
    return Front(penalty="l0", w_star=w_star.copy(), k=k, penalty_value=pv, loss=lo, lam=lam, w=w,
                 pareto=pareto_mask(pv, lo), piece=np.arange(d + 1), param=mm, folds=(), _refine=None,
                 _penalty_obj=pen)


# ----------------------------------------------------------------------------------------------------------------------
# Continuation for a penalty with a derivative
# ----------------------------------------------------------------------------------------------------------------------
def _loss_hessian(w: np.ndarray, w_star: np.ndarray, k: int) -> np.ndarray:
    from numerics.limits import _loss_hessian as hess

    return hess(w[None, :], w_star[None, :], k)[0]


def _second_derivative(pen: Penalty, u: np.ndarray) -> np.ndarray:
    from numerics.limits import _second_derivative as sd

    return sd(pen, u)


def _stationarity(pen: Penalty, w: np.ndarray, lam: float, w_star: np.ndarray, k: int) -> np.ndarray:
    q, s = population.gradient_coefficients(w, w_star, k, validate=False)
    return float(q) * w - float(s) * w_star + lam * np.asarray(pen.derivative(w))


def _branch_derivative(pen: Penalty, w: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P'`` and ``P''`` on the branch of sign ``sigma``: evaluated at ``sigma max(sigma w, 0+)``, so the equations
    extend continuously (constant ``P'(0+)``) a little past 0, where a coordinate leaves the support."""
    x = np.maximum(sigma * w, 1e-300)
    return sigma * np.abs(np.asarray(pen.derivative(x))), sigma * _second_derivative(pen, x) * sigma


def _system(pen: Penalty, z: np.ndarray, sup: np.ndarray, sigma: np.ndarray, w_star: np.ndarray, k: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """``F(z)`` and its Jacobian ``(m, m + 1)`` for ``z = (w_S, lam)`` on the sign pattern ``sigma``."""
    d = w_star.size
    w = np.zeros(d)
    w[sup] = z[:-1]
    lam = z[-1]
    q, s = population.gradient_coefficients(w, w_star, k, validate=False)
    dp, d2p = _branch_derivative(pen, w[sup], sigma[sup])
    f = float(q) * w[sup] - float(s) * w_star[sup] + lam * dp
    h = _loss_hessian(w, w_star, k)[np.ix_(sup, sup)] + lam * np.diag(d2p)
    return f, np.concatenate([h, dp[:, None]], axis=1)


def _tangent(jac: np.ndarray) -> np.ndarray:
    _, _, vt = np.linalg.svd(jac)
    return vt[-1]


def _correct(pen: Penalty, z0: np.ndarray, sup: np.ndarray, sigma: np.ndarray, w_star: np.ndarray, k: int,
             extra: Callable[[np.ndarray], tuple[float, np.ndarray]], tol: float = 1e-14, iters: int = 30
             ) -> np.ndarray | None:
    """Newton on ``[F(z); extra(z)] = 0`` (``extra`` gives one scalar equation and its gradient)."""
    z = z0.copy()
    for _ in range(iters):
        f, jac = _system(pen, z, sup, sigma, w_star, k)
        e, ge = extra(z)
        full = np.concatenate([f, [e]])
        if not np.all(np.isfinite(full)):
            return None
        if np.max(np.abs(full)) <= tol * (1.0 + np.max(np.abs(z))):
            return z
        a = np.concatenate([jac, ge[None, :]], axis=0)
        try:
            dz = np.linalg.solve(a, -full)
        except np.linalg.LinAlgError:
            return None
        z = z + dz
        if np.max(np.abs(dz)) <= 1e-16 * (1.0 + np.max(np.abs(z))):
            return z
    f, _ = _system(pen, z, sup, sigma, w_star, k)
    return z if np.max(np.abs(f)) <= 1e-10 * (1.0 + np.max(np.abs(z))) else None


def continuation_front(w_star: Any, k: int, penalty: Penalty | str, *, a: float | None = None,
                       step: float = 0.01, max_points: int = 20000) -> Front:
    r"""The critical set of ``l + lam sum P`` traced from ``(w*, lam = 0)`` by pseudo-arclength continuation.

    Parameters
    ----------
    w_star : array-like, shape (d,)
    k : int
    penalty : Penalty or str
        Any penalty whose :meth:`~numerics.penalties.Penalty.derivative` is nonzero away from 0 (TL1, l1, ...);
        not l0 (use :func:`l0_front`).
    a : float, optional
        TL1's parameter when ``penalty`` is a name.
    step : float
        Arclength step in ``(w_S, lam)`` relative to ``|w*|`` (shrunk near events).
    max_points : int
        Safety bound on the number of points.

    Returns
    -------
    Front
        ``piece`` counts the supports along the path, ``param`` the arclength.

    Raises
    ------
    ValueError
        For l0 (no continuation: its derivative vanishes), a teacher with tied nonzero ``|w*_i|`` (the front then
        leaves the symmetric branch the continuation follows; branch switching is not implemented), a bad ``step``
        or ``max_points``.

    Notes
    -----
    On a support ``S`` the critical points solve ``F(w_S, lam) = q(w) w_S - s(w) w*_S + lam P'(w_S) = 0``, ``|S|``
    equations in ``|S| + 1`` unknowns: a curve. Each step predicts along the unit null vector ``t`` of ``dF``
    (oriented continuously), ``z_pred = z + h t``, and corrects by Newton on ``[F(z); t.(z - z_pred)] = 0``
    (pseudo-arclength), so turning points of ``lam`` are passed. When a coordinate of ``w_S`` changes sign within
    a step the point where it is exactly 0 is solved for (``[F; w_i] = 0``) and the coordinate leaves the support;
    the path ends at ``w = 0``. Off-support coordinates are checked against ``|s w*_j| <= lam P'(0+)`` at every
    point; a violation is reported through ``lam = NaN`` on that point (none was seen for l1 or TL1).
    """
    w_star = _teacher(w_star)
    k = _k(k)
    if w_star.ndim != 1:
        raise ValueError("continuation_front takes one teacher of shape (d,); use pareto_front for a batch")
    pen = resolve_penalty(penalty, a)
    if isinstance(pen, L0) or float(np.abs(pen.derivative(np.array([1.0])))[0]) == 0.0:
        raise ValueError(f"continuation needs a penalty with a nonzero derivative; got {pen!r} (use l0_front)")
    nz = np.abs(w_star[w_star != 0])
    if np.unique(nz).size < nz.size:
        raise ValueError("w_star has tied nonzero |w*_i|: continuation from w* stays on the symmetric branch, which "
                         "the front leaves (symmetry breaking, seen for TL1 with w* = (1, 1, 0.3)); untie the "
                         "teacher (the l1 closed form handles ties)")
    if not (isinstance(step, (int, float)) and 0 < step <= 0.5):
        raise ValueError(f"step must be in (0, 0.5]; got {step!r}")
    if not (isinstance(max_points, int) and max_points >= 10):
        raise ValueError(f"max_points must be an integer >= 10; got {max_points!r}")
    d = w_star.size
    ns = float(np.linalg.norm(w_star))
    dp0 = float(np.abs(pen.derivative(np.array([1e-300])))[0])  # P'(0+)
    sup = w_star != 0
    sigma = np.sign(w_star)
    z = np.concatenate([w_star[sup], [0.0]])
    pts_w, pts_lam, pts_piece, pts_s = [w_star.copy()], [0.0], [0], [0.0]
    arc = 0.0
    h0 = step * ns
    h = h0
    _, jac = _system(pen, z, sup, sigma, w_star, k)
    t = _tangent(jac)
    if t[-1] < 0:
        t = -t
    piece = 0

    def full_w(zz: np.ndarray, ss: np.ndarray) -> np.ndarray:
        w = np.zeros(d)
        w[ss] = zz[:-1]
        return w

    def valid_off(zz: np.ndarray, ss: np.ndarray) -> bool:
        w = full_w(zz, ss)
        _, s_ = population.gradient_coefficients(w, w_star, k, validate=False)
        off = ~ss
        return bool(np.all(np.abs(float(s_) * w_star[off]) <= zz[-1] * dp0 * (1 + 1e-9) + 1e-14))

    while len(pts_w) < max_points:
        if not np.any(sup):
            break
        zp = z + h * t
        zn = _correct(pen, zp, sup, sigma, w_star, k, lambda zz, zp=zp, t=t: (float(t @ (zz - zp)), t))
        if zn is None or np.max(np.abs(zn - z)) > 3 * h:
            h *= 0.5
            if h < 1e-12 * ns:
                break
            continue
        crossed = np.flatnonzero(sigma[sup] * zn[:-1] <= 0)
        if crossed.size:
            # the first coordinate to reach 0: solve [F; w_i] = 0 from the interpolated point
            frac = z[:-1][crossed] / (z[:-1][crossed] - zn[:-1][crossed])
            j = int(crossed[np.argmin(frac)])
            zi = z + float(np.min(frac)) * (zn - z)
            e = np.zeros(z.size)
            e[j] = 1.0
            zc = _correct(pen, zi, sup, sigma, w_star, k, lambda zz, j=j, e=e: (float(zz[j]), e))
            if zc is None:
                h *= 0.5
                if h < 1e-12 * ns:
                    break
                continue
            arc += float(np.linalg.norm(zc - z))
            wc = full_w(zc, sup)
            wc[np.flatnonzero(sup)[j]] = 0.0
            pts_w.append(wc)
            pts_lam.append(float(zc[-1]))
            pts_piece.append(piece)
            pts_s.append(arc)
            idx = np.flatnonzero(sup)
            sup = sup.copy()
            sup[idx[j]] = False
            piece += 1
            if not np.any(sup):
                break
            z = np.concatenate([wc[sup], [zc[-1]]])
            pts_w.append(wc.copy())
            pts_lam.append(float(zc[-1]))
            pts_piece.append(piece)
            pts_s.append(arc)
            _, jac = _system(pen, z, sup, sigma, w_star, k)
            t = _tangent(jac)
            # continue towards sparser points: the penalty value of the remaining coordinates decreases
            if float(_branch_derivative(pen, z[:-1], sigma[sup])[0] @ t[:-1]) > 0:
                t = -t
            h = h0
            continue
        arc += float(np.linalg.norm(zn - z))
        z = zn
        _, jac = _system(pen, z, sup, sigma, w_star, k)
        tn = _tangent(jac)
        t = tn if tn @ t >= 0 else -tn
        w = full_w(z, sup)
        pts_w.append(w)
        pts_lam.append(float(z[-1]) if valid_off(z, sup) else np.nan)
        pts_piece.append(piece)
        pts_s.append(arc)
        h = min(h0, 1.5 * h)
    if np.any(sup):
        last = pts_w[-1]
        if float(np.linalg.norm(last)) <= 1e-9 * ns:
            # the last coordinate runs into the origin, where q -> -inf and the step control gives up within
            # rounding of 0: the path ends at w = 0 (the penalty-0 end of every front), added exactly
            pts_w.append(np.zeros(d))
            pts_lam.append(pts_lam[-1])
            pts_piece.append(piece)
            pts_s.append(arc + float(np.linalg.norm(last)))
        else:
            why = ("it reached max_points" if len(pts_w) >= max_points else "the step control found no next point")
            raise ValueError(
                f"continuation could not trace the front of {pen!r} from w* to 0 ({why} at penalty value "
                f"{float(np.sum(np.asarray(pen.value(last)))):.3g}, lam = {pts_lam[-1]:.3g}): the critical set is "
                "not one connected path here (a penalty with a flat part such as MCP or SCAD beyond its knee, or an "
                "infinite slope at 0 such as l_1/2, or a lam that grows without bound); an incomplete front is "
                "not returned")
    w = np.array(pts_w)
    lam = np.array(pts_lam)
    pieces = np.array(pts_piece)
    param = np.array(pts_s)

    def refine(pc: int, i: int, tau: float) -> np.ndarray | None:
        ss = w[i] != 0
        if not np.array_equal(ss, w[i + 1] != 0) and np.any(w[i + 1] != 0):
            ss = ss | (w[i + 1] != 0)
        if not np.any(ss):
            return None
        p0 = float(np.sum(np.asarray(pen.value(w[i]))))
        p1 = float(np.sum(np.asarray(pen.value(w[i + 1]))))
        f = 0.5 if p1 == p0 else (tau - p0) / (p1 - p0)
        zi = np.concatenate([(w[i] + f * (w[i + 1] - w[i]))[ss], [lam[i] + f * (lam[i + 1] - lam[i])]])
        if not np.all(np.isfinite(zi)):
            return None

        sg = np.sign(w[i] + w[i + 1])[ss]

        def extra(zz: np.ndarray) -> tuple[float, np.ndarray]:
            g = np.concatenate([_branch_derivative(pen, zz[:-1], sg)[0], [0.0]])
            return float(np.sum(np.asarray(pen.value(zz[:-1])))) - tau, g

        zc = _correct(pen, zi, ss, np.sign(w[i] + w[i + 1]), w_star, k, extra)
        if zc is None:
            return None
        out = np.zeros(d)
        out[ss] = zc[:-1]
        return out

    return _assemble(pen.name, w_star, k, pen, w, lam, pieces, param, refine)


# ----------------------------------------------------------------------------------------------------------------------
# The public entry point
# ----------------------------------------------------------------------------------------------------------------------
def pareto_front(w_star: Any, k: int, penalty: Penalty | str, *, a: float | None = None, n_points: int = 400,
                 step: float = 0.01) -> Front | list[Front]:
    """The exact front of ``(sum_i P(w_i), l(w))`` for a teacher (or a list of fronts for a batch of teachers).

    Parameters
    ----------
    w_star : array-like, shape (d,) or (B, d)
        Teacher(s), finite and nonzero.
    k : int
        Number of patches, ``>= 1``.
    penalty : Penalty or str
        ``"l1"`` (closed form), ``"l0"`` (staircase) or any other penalty with a derivative whose critical set is
        one connected path from ``w*`` to 0 (continuation; a path it cannot trace to 0 raises ``ValueError``, e.g.
        l_1/2 or MCP beyond its knee): ``"tl1"`` with ``a``, or a :class:`~numerics.penalties.Penalty` object.
    a : float, optional
        TL1's parameter when ``penalty`` is ``"tl1"``.
    n_points : int
        l1: points on the ``kappa`` path.
    step : float
        Continuation: the arclength step relative to ``|w*|``.

    Returns
    -------
    Front or list of Front

    Raises
    ------
    ValueError
        Naming the bad parameter (teacher shape or values, ``k``, penalty, sizes).

    Notes
    -----
    A penalty object of the exact class :class:`~numerics.penalties.L1` uses the closed form; a subclass that
    changes the derivative goes through continuation, like every other penalty.
    """
    w_star = _teacher(w_star)
    k = _k(k)
    pen = resolve_penalty(penalty, a)
    if w_star.ndim == 2:
        return [pareto_front(w, k, pen, n_points=n_points, step=step) for w in w_star]
    if type(pen) is L1:
        return l1_front(w_star, k, n_points=n_points)
    if isinstance(pen, L0):
        return l0_front(w_star, k)
    return continuation_front(w_star, k, pen, step=step)


# ----------------------------------------------------------------------------------------------------------------------
# Scoring and comparators
# ----------------------------------------------------------------------------------------------------------------------
def excess_loss(front: Front, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(penalty_value, loss, excess)`` of points ``w`` (n, d): ``excess = l(w) - F(sum_i P(w_i))``.

    For l0 the penalty value is the support size. ``excess >= 0`` up to rounding for any point (the front is the
    least loss at each penalty value).
    """
    w = np.atleast_2d(np.asarray(w, dtype=float))
    pen = front._penalty_obj
    pv = np.sum(np.asarray(pen.value(w)), axis=-1)
    lo = np.asarray(population.loss(w, front.w_star, front.k, validate=False))
    return pv, lo, lo - np.asarray(front.value_at(pv))


def _lipschitz(k: int) -> float:
    # l - (L/2)|w|^2 is concave with L = c0 (the project's descent constant): a step 1/L decreases l + lam P
    return _c0(k)


def lam_sweep(front: Front, lams: Any, *, tol: float = 1e-13, max_iter: int = 200_000) -> Scored:
    """The weighted-sum method: proximal gradient on ``l + lam P``, warm-started along the ``lam`` grid.

    Parameters
    ----------
    front : Front
        The exact front it is scored against (gives teacher, ``k`` and penalty).
    lams : array-like (n,)
        The weights, swept in the given order (ascending: from ``w*`` towards 0).
    tol : float
        Stop when ``|x_{t+1} - x_t| / h <= tol`` (``h = 1/c0`` the step).
    max_iter : int
        Iterations per ``lam``.

    Returns
    -------
    Scored

    Notes
    -----
    ``x <- prox_{h lam P}(x - h grad l(x))``, ``h = 1/c0``: ``l - (c0/2)|w|^2`` is concave, so each step decreases
    ``l + lam P`` and the iterates follow the local minimizer reached from the previous ``lam``'s point; where it
    disappears (a fold's end) the sweep jumps to another branch.
    """
    pen = front._penalty_obj
    lams = np.asarray(lams, dtype=float)
    if lams.ndim != 1 or np.any(~np.isfinite(lams)) or np.any(lams < 0):
        raise ValueError("lams must be a 1-d array of finite values >= 0")
    h = 1.0 / _lipschitz(front.k)
    x = front.w_star.copy()
    pts, oks = [], []
    for lam in lams:
        ok = False
        for _ in range(max_iter):
            g = population.grad(x, front.w_star, front.k, validate=False)
            xn = np.asarray(pen.prox(x - h * g, h * lam, validate=False))
            delta = float(np.max(np.abs(xn - x))) / h
            x = xn
            if delta <= tol:
                ok = True
                break
        pts.append(x.copy())
        oks.append(ok)
    w = np.array(pts)
    pv, lo, ex = excess_loss(front, w)
    return Scored("lam_sweep", w, pv, lo, ex, lams.copy(), np.full(lams.size, np.nan), np.array(oks))


def _mop_step(pen: Penalty, x: np.ndarray, g: np.ndarray, h: float) -> tuple[np.ndarray, float]:
    """One multiobjective proximal gradient step ``y(alpha) = prox_{h(1-alpha) P}(x - h alpha g)`` with ``alpha``
    where the linearized decreases ``g.(y - x)`` and ``P(y) - P(x)`` match (bisection), or the better endpoint.
    Returns ``y`` and the larger of the two decreases (``>= 0`` at a Pareto-critical point)."""
    px = float(np.sum(np.asarray(pen.value(x))))

    def dec(alpha: float) -> tuple[np.ndarray, float, float]:
        y = np.asarray(pen.prox(x - h * alpha * g, h * (1.0 - alpha), validate=False))
        return y, float(g @ (y - x)), float(np.sum(np.asarray(pen.value(y)))) - px

    lo_, hi_ = 0.0, 1.0
    y0, a0, b0 = dec(lo_)
    y1, a1, b1 = dec(hi_)
    if (a0 - b0) * (a1 - b1) > 0:
        return (y0, max(a0, b0)) if max(a0, b0) <= max(a1, b1) else (y1, max(a1, b1))
    f0 = a0 - b0
    for _ in range(50):
        mid = 0.5 * (lo_ + hi_)
        ym, am, bm = dec(mid)
        if (am - bm) * f0 > 0:
            lo_, f0 = mid, am - bm
        else:
            hi_ = mid
    ym, am, bm = dec(0.5 * (lo_ + hi_))
    return ym, max(am, bm)


def path_follower(front: Front, *, shrink: float | None = None, tol: float = 1e-12, max_corrector: int = 20_000
                  ) -> Scored:
    """Amakor, Sonntag & Peitz's continuation: a shrinking predictor and multiobjective proximal gradient corrector.

    Parameters
    ----------
    front : Front
        The exact front it is scored against (teacher, ``k``, penalty).
    shrink : float, optional
        The predictor ``x <- prox_{shrink P}(x)`` (default ``max|w*_i| / 40``).
    tol : float
        The corrector stops when the best common linearized decrease is above ``-tol h`` (Pareto-critical).
    max_corrector : int
        Corrector steps per point.

    Returns
    -------
    Scored
        One point per predictor-corrector step, from ``w*`` until ``x = 0``.

    Notes
    -----
    The corrector step is ``y(alpha) = prox_{h (1 - alpha) P}(x - h alpha grad l(x))``, ``h = 1/c0``, with ``alpha``
    in ``[0, 1]`` where the two linearized decreases ``grad l(x).(y - x)`` and ``P(y) - P(x)`` are equal (the
    common descent of both objectives); it is taken while both decrease, so the corrector moves to a point that
    dominates the predictor, wherever on the front that is: no weighted sum is involved.
    """
    pen = front._penalty_obj
    w_star, k = front.w_star, front.k
    if shrink is None:
        shrink = float(np.max(np.abs(w_star))) / 40.0
    if not shrink > 0:
        raise ValueError(f"shrink must be > 0; got {shrink!r}")
    h = 1.0 / _lipschitz(k)
    x = w_star.copy()
    pts, oks = [], []
    for _ in range(10_000):
        x = np.asarray(pen.prox(x, shrink, validate=False))
        if not np.any(x != 0):
            pts.append(x.copy())
            oks.append(True)
            break
        ok = False
        for _ in range(max_corrector):
            g = population.grad(x, w_star, k, validate=False)
            y, worst = _mop_step(pen, x, g, h)
            if worst >= -tol * h:
                ok = True
                break
            x = y
        pts.append(x.copy())
        oks.append(ok)
    w = np.array(pts)
    pv, lo, ex = excess_loss(front, w)
    n = w.shape[0]
    return Scored("path_follower", w, pv, lo, ex, np.full(n, np.nan), np.full(n, np.nan), np.array(oks))


def rvsm_limits(front: Front, lams: Any, beta: float, *, predictor: Callable[..., Any] | None = None) -> Scored:
    """RVSM's predicted sparse outputs ``u_bar`` (:func:`numerics.predict`) for a ``lam`` grid at one ``beta``.

    Parameters
    ----------
    front : Front
        The front they are scored against (teacher, ``k``, penalty).
    lams : array-like (n,)
        Penalty weights, ``> 0``.
    beta : float
        RVSM's splitting weight, ``> 0``.
    predictor : callable, optional
        ``predictor(problem) -> LimitPrediction`` (default :func:`numerics.predict`); a seam for the checks.

    Returns
    -------
    Scored
        ``ok`` where the prediction is a consistent fixed point.

    Notes
    -----
    RVSM is gradient descent on ``l + beta M``, ``M`` the Moreau envelope of ``(lam/beta) P``; its ``u_bar`` is the
    prox of its limit, not a critical point of ``l + lam P``, so ``excess = l(u_bar) - F(P(u_bar)) >= 0`` measures
    how far its sparse output sits from the front.
    """
    from numerics.limits import predict
    from numerics.problem import Problem

    lams = np.asarray(lams, dtype=float)
    if lams.ndim != 1 or np.any(~(lams > 0)) or np.any(~np.isfinite(lams)):
        raise ValueError("lams must be a 1-d array of finite values > 0")
    if not (isinstance(beta, (int, float, np.floating)) and beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a finite number > 0; got {beta!r}")
    pen = front._penalty_obj
    ws = np.tile(front.w_star, (lams.size, 1))
    prob = Problem(ws, front.k, pen, lams, float(beta))
    pred = (predictor or predict)(prob)
    u = np.asarray(pred.u, dtype=float)
    ok = np.asarray(pred.ok, dtype=bool) & np.all(np.isfinite(u), axis=1)
    pv, lo, ex = excess_loss(front, np.where(np.isfinite(u), u, 0.0))
    return Scored("rvsm", u, pv, lo, ex, lams.copy(), np.full(lams.size, float(beta)), ok)


# ----------------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------------
def write_front(front: Front, out: Any, *, stem: str = "front") -> tuple[Path, Path]:
    """Write a front as ``<stem>.csv`` (one row per point) and ``<stem>.json`` (parameters, folds), atomically.

    Returns
    -------
    (csv_path, json_path)
    """
    out = check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    d = front.w.shape[1]
    head = ["penalty_value", "loss", "lam", "pareto", "piece", "param"] + [f"w{i}" for i in range(d)]
    lines = [",".join(head)]
    for i in range(len(front)):
        row = [front.penalty_value[i], front.loss[i], front.lam[i], int(front.pareto[i]), int(front.piece[i]),
               front.param[i], *front.w[i]]
        lines.append(",".join(repr(float(v)) if not isinstance(v, int) else str(v) for v in row))
    meta = {"penalty": front.penalty, "penalty_repr": repr(front._penalty_obj), "k": front.k,
            "w_star": [float(v) for v in front.w_star], "n_points": len(front),
            "n_pareto": int(front.pareto.sum()), "folds": [list(f) for f in front.folds],
            "loss_convention": "l(w) = E[(f(Z; w) - f(Z; w*))^2], no factor 1/2",
            "columns": {"penalty_value": "sum_i P(w_i) (l1: |w|_1; l0: support size; tl1: sum rho_a)",
                        "loss": "population loss l(w)", "lam": "multiplier: w is stationary for l + lam P",
                        "pareto": "1 if non-dominated", "piece": "smooth piece of the critical set",
                        "param": "the piece's parameter (l1: kappa or |w|; continuation: arclength)"}}
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    with atomic_path(csv_path) as tmp_c, atomic_path(json_path) as tmp_j:
        write_text(tmp_c, "\n".join(lines) + "\n")
        write_text(tmp_j, json.dumps(meta, indent=2) + "\n")
    return csv_path, json_path


def epsilon_constraint(w_star: Any, k: int, penalty: Penalty | str, tau: float, *, a: float | None = None,
                       starts: int = 20, seed: int = 0) -> tuple[float, np.ndarray]:
    """An independent estimate of the front at ``tau``: ``min l(w)`` s.t. ``sum_i P(w_i) <= tau`` by random multistart.

    Parameters
    ----------
    w_star : array-like, shape (d,)
    k : int
    penalty : Penalty or str
        A penalty with a derivative (l1, TL1, ...); not l0 (its front is checked over all supports instead).
    tau : float
        The budget, ``>= 0``.
    a : float, optional
        TL1's parameter when ``penalty`` is a name.
    starts : int
        Random starts (uniform directions scaled into the budget, plus ``w*`` scaled into it).
    seed : int
        Seed of the starts.

    Returns
    -------
    (loss, w)
        The best local solution found by SLSQP and its point.

    Notes
    -----
    The split ``w = p - n``, ``p, n >= 0``, makes the constraint ``sum P(p_i) + P(n_i) <= tau`` smooth for penalties
    that are smooth on ``(0, inf)``; since ``P(|p - n|) <= P(p) + P(n)`` for a subadditive ``rho`` (l1, TL1), the
    split problem has the same optimal value. Nothing of the front's construction is used: this is the comparison
    the front must not lose.
    """
    from scipy.optimize import minimize

    w_star = _teacher(w_star)
    k = _k(k)
    pen = resolve_penalty(penalty, a)
    if isinstance(pen, L0):
        raise ValueError("epsilon_constraint needs a penalty smooth away from 0; l0's front is a staircase")
    if not (tau >= 0 and math.isfinite(tau)):
        raise ValueError(f"tau must be a finite number >= 0; got {tau!r}")
    d = w_star.size
    rng = np.random.default_rng(seed)

    def split(x: np.ndarray) -> np.ndarray:
        return x[:d] - x[d:]

    def fun(x: np.ndarray) -> float:
        return float(population.loss(split(x), w_star, k, validate=False))

    def jac(x: np.ndarray) -> np.ndarray:
        g = population.grad(split(x), w_star, k, validate=False)
        return np.concatenate([g, -g])

    def cons(x: np.ndarray) -> float:
        xp = np.maximum(x, 0.0)
        return tau - float(np.sum(np.asarray(pen.value(xp))))

    def cons_jac(x: np.ndarray) -> np.ndarray:
        xp = np.maximum(x, 1e-300)
        return -np.abs(np.asarray(pen.derivative(xp)))

    def scaled_into_budget(w: np.ndarray) -> np.ndarray:
        x = np.concatenate([np.maximum(w, 0), np.maximum(-w, 0)])
        for _ in range(200):
            if cons(x) >= 0:
                break
            x *= 0.8
        return x

    x0s = [scaled_into_budget(w_star.copy())]
    for _ in range(starts - 1):
        v = rng.standard_normal(d)
        x0s.append(scaled_into_budget(v / np.linalg.norm(v) * np.linalg.norm(w_star) * rng.uniform(0.2, 1.5)))
    best, best_w = np.inf, np.zeros(d)
    for x0 in x0s:
        res = minimize(fun, x0, jac=jac, method="SLSQP", bounds=[(0.0, None)] * (2 * d),
                       constraints=[{"type": "ineq", "fun": cons, "jac": cons_jac}],
                       options={"ftol": 1e-15, "maxiter": 500})
        x = np.maximum(res.x, 0.0)
        if cons(x) < -1e-12 * (1 + tau):
            continue
        val = fun(x)
        if val < best:
            best, best_w = val, split(x)
    return best, best_w


def front_command(*, penalty: str, a: float | None, d: int, k: int, seed: int, w_star: str | None, out: str,
                  n_points: int = 400) -> dict[str, Any]:
    """``python -m numerics front``: the exact front of one teacher written to ``out`` (CSV and JSON).

    Parameters
    ----------
    penalty : {"l1", "l0", "tl1"}
    a : float or None
        TL1's parameter (default 1 for TL1; must be None otherwise).
    d, k : int
        Dimension (ignored with ``w_star``) and patches.
    seed : int
        Seed of the Gaussian teacher (:func:`numerics.make_teachers`) when ``w_star`` is not given.
    w_star : str or None
        An explicit teacher, comma-separated (``"1,0.95,0.9,0"``).
    out : str
        Output folder, checked before anything is computed.
    n_points : int
        l1: points on the ``kappa`` path.

    Returns
    -------
    dict
        A summary (teacher, points, Pareto points, folds, the files written).

    Raises
    ------
    ValueError
        One line naming the bad option.
    """
    from numerics.teachers import make_teachers

    out_path = check_out_dir(out)
    if penalty != "tl1" and a is not None:
        raise ValueError("--a is only used with --penalty tl1")
    if penalty == "tl1" and a is None:
        a = 1.0
    if k < 1:
        raise ValueError(f"--k must be >= 1; got {k}")
    if n_points < 2:
        raise ValueError(f"--points must be >= 2; got {n_points}")
    if w_star is not None:
        try:
            ws = np.array([float(v) for v in w_star.split(",")])
        except ValueError:
            raise ValueError(f"--w-star must be comma-separated numbers; got {w_star!r}") from None
    else:
        if d < 1:
            raise ValueError(f"--d must be >= 1; got {d}")
        if seed < 0:
            raise ValueError(f"--seed must be >= 0; got {seed}")
        ws = make_teachers(1, d, seed=seed)[0]
    front = pareto_front(ws, k, penalty, a=a, n_points=n_points)
    csv_path, json_path = write_front(front, out_path)
    return {"penalty": penalty, "a": a, "k": k, "w_star": [float(v) for v in ws], "points": len(front),
            "pareto": int(front.pareto.sum()), "folds": [list(f) for f in front.folds],
            "files": [str(csv_path), str(json_path)]}
