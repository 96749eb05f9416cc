"""The predicted limit of RVSM (theory page section 5): the fixed point (w_bar, u_bar) as a "novel thresholding" of w*.

:func:`predict` solves the two-parameter self-consistency of the fixed-point equations for one teacher or a batch of
them, for any penalty of :mod:`numerics.penalties`, and reports where two fixed points coexist (the l0 / TL1 band).
The computation is NumPy float64 with SciPy: inputs from other array backends are converted to NumPy, and every
output is a NumPy array (or NumPy scalar).

Derivation (the Notes of :func:`predict` give the formulas)
------------------------------------------------------------
Fixed point of the iteration ``w <- w - eta (grad l(w) + beta (w - u))``, ``u <- prox_{mu P}(w)``, ``mu = lam/beta``:

    grad l(w) + beta (w - u) = 0,        u = prox_{mu P}(w).

The population gradient (theory page section 2) is ``grad l(w) = q w - s w*`` with ``s = (pi - t)/(k pi)`` and
``q = A(w)/k^2``; both depend on ``w`` only through ``|w|`` and ``t = angle(w, w*)``. For fixed ``(s, q)`` the
equations decouple over coordinates: ``(q + beta) w_i = s w*_i + beta u_i``. Two branches per coordinate:

* zeroed, ``u_i = 0``: ``w_i = s w*_i / (q + beta)``; self-consistent iff ``prox(w_i, mu) = 0``, i.e.
  ``|w_i| <= threshold(mu)``.
* kept, ``u_i != 0``: ``u_i`` lies on the nonzero branch of the prox, so ``w_i = u_i + mu P'(u_i)``. Substituting,
  ``q u_i + (q + beta) mu P'(u_i) = s w*_i``, i.e. (for ``q > 0``)

      u_i + mu_bar P'(u_i) = r w*_i,      r = s/q,   mu_bar = mu (q + beta)/q = lam (1/beta + 1/q),

  the stationarity equation of ``prox_{mu_bar P}`` at ``r w*_i``. Its largest root is ``u_i = shrink(r w*_i,
  mu_bar)`` (for TL1 the largest root of the cubic, which is what the trigonometric ``shrink`` returns wherever that
  root exists), and ``w_i = (s w*_i + beta u_i)/(q + beta)``. It is self-consistent iff ``prox(w_i, mu) = u_i``.
  For a concave penalty (TL1) the equation can have a second, smaller root (``root="small"``): it is
  self-consistent too wherever it lies above the prox's output gap ``u_start(mu)``, because the prox works at
  ``mu < mu_bar`` (see "Stability" below).

  * l1: ``u_i = soft(r w*_i, mu_bar)``; kept iff ``r |w*_i| > mu_bar``, zeroed otherwise: never both (no band).
  * l0: ``u_i = w_i = r w*_i``, kept iff ``r |w*_i| > gamma = sqrt(2 mu)``; zeroed iff
    ``r |w*_i| <= gamma (1 + beta/q)``: both in the band between.
  * TL1: kept iff ``|w_i| > threshold_TL1(mu)`` (the check uses the prox itself); a band can occur.

``(s, q)`` must reproduce themselves: ``s = s(w(s, q))``, ``q = q(w(s, q))``, two scalar equations per trial solved by
a vectorized damped Newton iteration (finite-difference Jacobian) on the batch with ``scipy.optimize.root`` as a
per-trial fallback. Which branch a band coordinate takes (the kept set ``support``) is chosen by an active-set loop:
solve for ``(s, q)`` with the current support, recompute which branches are self-consistent, update, repeat. Where
the solve from ``(k s, k q) = (1, 1)`` fails (e.g. a smaller kept root that exists only at small ``q``), it is
restarted from the best point of a grid over ``(k s, k q)``.

Stability (theory page section 5; derived in ``theory.stability``)
------------------------------------------------------------------
With ``u = prox(w)`` folded in, a Gauss-Seidel RVSM step is ``w <- w - eta grad Phi(w)``,
``Phi(w) = l(w) + min_u [lam P(u) + (beta/2)|w - u|^2]``, so on a frozen support its Jacobian is
``I - eta M`` with the symmetric ``M = hess l(w_bar) + beta (I - D)``, ``D = diag(prox'(w_bar_i))``:
``prox' = 1/(1 + mu P''(u_i))`` on kept coordinates, 0 on zeroed ones. A fixed point is linearly stable iff every
eigenvalue of ``M`` (``curvature``) lies in ``(0, 2/eta)``. The Hessian of the loss is
``q I + c_r w_hat w_hat^T - c_t e e^T`` (``e`` the unit part of ``w*`` orthogonal to ``w``,
``c_r = |w*|(k sin t + k^2 - k)/(k^2 pi |w|)``, ``c_t = |w*| sin t/(k pi |w|)``). For frozen ``(s, q)`` the kept
coordinate's own entry is ``q X'(u)/W'(u)`` with ``X(u) = u + mu_bar P'(u)``, ``W(u) = u + mu P'(u)``: negative at
the smaller root (``X' < 0``). But ``(s, q)`` move with ``|w|``: the radial term ``c_r`` can outweigh it (it does
when ``q`` is small), so the smaller root can be a stable limit, and RVSM does reach it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from numerics._arrays import check_choice, check_positive_float, to_numpy
from numerics.penalties import L0, L1, TL1, Penalty
from numerics.population import gradient_coefficients
from numerics.problem import Problem

__all__ = [
    "LimitCandidates",
    "LimitMatch",
    "LimitPrediction",
    "fixed_points",
    "invariant_subspace",
    "linearized_map",
    "matches_a_stable_limit",
    "predict",
    "reached_branches",
]

_NEWTON_MAXITER = 60  # vectorized Newton iterations before the per-trial SciPy fallback (tests set 0 to force it)
_LINESEARCH_HALVINGS = 40
_FD_STEP = 1e-7  # forward-difference step for the 2x2 Jacobian, in the normalized unknowns x = (k s, k q) ~ 1
# Relative tolerance of the check prox(w_kept, mu) == u_kept, and of the kept-branch stationarity check. Both sides
# agree to a few ulp for l1 / l0; for TL1 the trigonometric root loses up to ~sqrt(eps) * |x| only where the arccos
# argument is within ~eps of -1 (a double root: a marginal fixed point), so 1e-9 separates rounding from a genuinely
# different value with a wide margin (a non-fixed point misses by O(mu) or more).
_CONSISTENCY_RTOL = 1e-9
_PREFERRED_ROUNDS = 4  # active-set rounds with the band rule before switching to the repair rule
_ACTIVE_SET_ROUNDS = 24
_Q_SINGULAR = 1e-3  # k q below this with kept coordinates: the q <= 0 regime, reported as not converged
# Restart grid of the (s, q) solve (used only where the solve from (1, 1) fails): k s in (0, 1] (s = (pi - t)/(k pi)),
# k q log-spaced over [_Q_SINGULAR, 1 + (k - 1)/pi] (its largest value, at |w| -> inf).
_GRID_S, _GRID_Q = 24, 40
_ROOT_SCAN = 256  # grid points of the generic smaller-root scan (penalties without a closed form)
_ROOT_BISECTIONS = 80
_EIG_CHUNK = 1 << 20  # float64 entries of the (n, d, d) curvature matrices handled per eigvalsh call


@dataclass(frozen=True)
class LimitPrediction:
    """The predicted RVSM limit returned by :func:`predict` (all NumPy; shapes for ``w_star`` of shape (..., d)).

    Attributes
    ----------
    w, u : ndarray (..., d)
        The fixed point ``(w_bar, u_bar)``: kept coordinates on the kept branch (the root chosen by ``root_small``),
        the others on the zeroed one.
    s, q : ndarray (...)
        The gradient coefficients at ``w_bar``: ``grad l(w_bar) = q w_bar - s w*``.
    r : ndarray (...)
        ``s/q``, the rescaling of the truth.
    mu_bar : ndarray (...)
        ``lam (1/beta + 1/q)``, the effective threshold parameter of the kept branch.
    support : ndarray of bool (..., d)
        The kept set used (``u != 0`` exactly there, when consistent). False wherever ``w* = 0``.
    band : ndarray of bool (..., d)
        Coordinates where both the (larger-root) kept and the zeroed branch are self-consistent at the returned
        ``(s, q)`` (two fixed points coexist). Always False for l1.
    u_kept, w_kept : ndarray (..., d)
        Kept-branch candidate at the returned ``(s, q)`` on the larger root: ``u = shrink(r w*, mu_bar)``,
        ``w = (s w* + beta u)/(q + beta)``. NaN where the kept branch does not exist: ``w*_i = 0``, ``q <= 0``, or
        no nonzero solution of ``u + mu_bar P'(u) = r w*_i`` with the sign of ``w*_i``.
    u_zeroed, w_zeroed : ndarray (..., d)
        Zeroed-branch candidate: ``u = 0`` and ``w = s w*/(q + beta)`` (both 0 where ``w*_i = 0``).
    kept_ok, zeroed_ok : ndarray of bool (..., d)
        Whether each candidate is self-consistent: ``prox(w_kept, lam/beta) == u_kept`` (relative tolerance 1e-9),
        resp. ``prox(w_zeroed, lam/beta) == 0`` (exact).
    consistent : ndarray of bool (..., d)
        Whether the branch actually used for each coordinate is self-consistent. A trial whose row is not all True
        is NOT a fixed point of RVSM (for example a ``support`` that RVSM cannot reach): never use it silently.
    converged : ndarray of bool (...)
        The ``(s, q)`` solve met its tolerance and (without ``support``) the active-set loop settled.
    residual : ndarray (...)
        ``max_i |q(w) w - s(w) w* + beta (w - prox(w, lam/beta))|_i`` recomputed from the returned ``w``: the
        fixed-point residual of RVSM itself (small only when converged and consistent).
    root_small : ndarray of bool (..., d)
        Where a kept coordinate sits on the smaller root of ``u + mu_bar P'(u) = r w*_i`` (the ``root`` option of
        :func:`predict`); False on the larger root and on zeroed coordinates.
    u_kept_small, w_kept_small : ndarray (..., d)
        The smaller-root kept candidate at the returned ``(s, q)``: the smallest ``u`` with the sign of ``w*_i``
        where ``X(u) = u + mu_bar P'(u)`` crosses ``r |w*_i|`` downwards (``X'(u) < 0``: the root below the fold),
        ``w = (s w* + beta u)/(q + beta)``. NaN where there is no such root (always for l1 and l0; for TL1 where
        ``r |w*_i|`` lies outside ``[X(u_c), mu_bar (a + 1)/a)``).
    kept_small_ok : ndarray of bool (..., d)
        Whether the smaller-root candidate is self-consistent (``prox(w_kept_small, lam/beta) == u_kept_small``).
    curvature : ndarray (..., d)
        Ascending eigenvalues of ``M = hess l(w) + beta (I - diag(prox'(w)))`` at the returned point, computed on
        first use (property below); the linear stability of the fixed point (:meth:`spectral_radius`,
        :meth:`stable`).
    """

    w: np.ndarray
    u: np.ndarray
    s: np.ndarray
    q: np.ndarray
    r: np.ndarray
    mu_bar: np.ndarray
    support: np.ndarray
    band: np.ndarray
    u_kept: np.ndarray
    w_kept: np.ndarray
    u_zeroed: np.ndarray
    w_zeroed: np.ndarray
    kept_ok: np.ndarray
    zeroed_ok: np.ndarray
    consistent: np.ndarray
    converged: np.ndarray
    residual: np.ndarray
    root_small: np.ndarray | None = None
    u_kept_small: np.ndarray | None = None
    w_kept_small: np.ndarray | None = None
    kept_small_ok: np.ndarray | None = None
    #: Explicit matrices M of shape (..., d, d) (None: computed from ``w``, ``u`` when needed).
    _curvature_matrix: np.ndarray | None = field(default=None, repr=False)
    _curvature_matrix_of: Callable[[LimitPrediction, np.ndarray], np.ndarray] | None = field(
        default=None, repr=False, compare=False)

    @property
    def ok(self) -> np.ndarray:
        """Per trial: converged and every coordinate self-consistent (a genuine fixed point)."""
        return self.converged & np.all(self.consistent, axis=-1)

    def distances(self, w: Any, u: Any) -> tuple[np.ndarray, np.ndarray]:
        """Max-norm distances ``(|u - u_bar|, |w - w_bar|)`` per trial of simulated ``(w, u)`` to this prediction.

        In the band a coordinate has two fixed points (kept and zeroed branch at the predicted ``(s, q)``), and it
        is compared with the nearer one; a missing (NaN) kept branch is ignored there. Elsewhere the comparison is
        with the unique prediction.
        """
        band = np.asarray(self.band, dtype=bool)
        out = []
        for sim, unique, kept, zeroed in ((u, self.u, self.u_kept, self.u_zeroed),
                                          (w, self.w, self.w_kept, self.w_zeroed)):
            sim = np.asarray(sim, dtype=np.float64)
            nearer = np.fmin(np.abs(sim - kept), np.abs(sim - zeroed))
            out.append(np.max(np.where(band, nearer, np.abs(sim - unique)), axis=-1))
        return out[0], out[1]

    def _matrix_rows(self, idx: np.ndarray) -> np.ndarray:
        """``M`` for the flattened trials ``idx``, shape (len(idx), d, d)."""
        d = int(np.shape(self.w)[-1])
        if self._curvature_matrix is not None:
            return np.asarray(self._curvature_matrix, dtype=np.float64).reshape(-1, d, d)[idx]
        if self._curvature_matrix_of is None:
            raise ValueError("this prediction carries no curvature (built without numerics.predict)")
        return self._curvature_matrix_of(self, idx)

    def _eigenvalues(self, basis: np.ndarray | None) -> np.ndarray:
        """Ascending eigenvalues of ``M`` (or of ``B^T M B``), per trial, in blocks of bounded memory."""
        shape = np.shape(self.w)
        d = int(shape[-1])
        n = int(np.prod(shape[:-1], dtype=np.int64))
        if basis is not None:
            basis = np.asarray(basis, dtype=np.float64)
            if basis.ndim < 2 or basis.shape[-2] != d or (basis.ndim > 2 and basis.shape[:-2] != tuple(shape[:-1])):
                raise ValueError(f"within must have shape (d, m) = ({d}, m) or {(*shape[:-1], d)} + (m,); got "
                                 f"{basis.shape}")
            basis = basis.reshape(-1, d, basis.shape[-1]) if basis.ndim > 2 else basis
        m = d if basis is None else int(basis.shape[-1])
        out = np.full((n, m), np.nan)
        step = max(1, _EIG_CHUNK // max(d * d, 1))
        for i0 in range(0, n, step):
            idx = np.arange(i0, min(n, i0 + step))
            mat = self._matrix_rows(idx)
            if basis is not None:
                b = basis if basis.ndim == 2 else basis[idx]
                mat = np.swapaxes(b, -1, -2) @ mat @ b
            good = np.all(np.isfinite(mat), axis=(1, 2))
            if np.any(good):
                block = out[idx]
                block[good] = np.linalg.eigvalsh(0.5 * (mat[good] + np.swapaxes(mat[good], 1, 2)))
                out[idx] = block
        return out.reshape((*shape[:-1], m))

    @property
    def curvature(self) -> np.ndarray:
        """Ascending eigenvalues of ``M = hess l(w) + beta (I - diag(prox'(w)))`` at the returned point, shape
        (..., d) (module docstring, "Stability"). The Gauss-Seidel RVSM map has Jacobian ``I - eta M`` there: the
        fixed point is linearly stable for the step ``eta`` iff every eigenvalue lies in ``(0, 2/eta)``
        (:meth:`spectral_radius`, :meth:`stable`). Computed on first use (``O(d^3)`` per trial, in blocks of
        bounded memory) and kept."""
        cached = self.__dict__.get("_curvature_cache")
        if cached is None:
            cached = self._eigenvalues(None)
            object.__setattr__(self, "_curvature_cache", cached)  # not a field: dataclasses.replace drops it
        return cached

    def curvature_within(self, basis: Any) -> np.ndarray:
        """Ascending eigenvalues of ``B^T M B``: the curvature on the subspace with orthonormal basis ``B``, shape
        (d, m) for every trial or (..., d, m) per trial (e.g. :func:`invariant_subspace` of a start point)."""
        return self._eigenvalues(np.asarray(basis, dtype=np.float64))

    def spectral_radius(self, eta: Any, within: Any = None) -> np.ndarray:
        """Per trial: the spectral radius ``max |1 - eta lambda|`` of the Gauss-Seidel RVSM map's Jacobian at the
        returned point, ``lambda`` over :attr:`curvature` (``eta`` a scalar or an array of the batch shape). With
        ``within`` (an orthonormal basis of an invariant subspace, :func:`invariant_subspace`), the radius of the
        map restricted to it: what decides convergence from a start in that subspace."""
        curvature = self.curvature if within is None else self.curvature_within(within)
        eta = np.asarray(eta, dtype=np.float64)
        eta = eta.reshape((*eta.shape, 1)) if eta.ndim else eta
        return np.max(np.abs(1.0 - eta * curvature), axis=-1)

    def stable(self, eta: Any, within: Any = None) -> np.ndarray:
        """Per trial: a genuine fixed point (:attr:`ok`) that is linearly stable under Gauss-Seidel RVSM with step
        ``eta`` (spectral radius < 1), on the whole space or ``within`` an invariant subspace."""
        return self.ok & (self.spectral_radius(eta, within) < 1.0)


@dataclass(frozen=True)
class LimitMatch:
    """Whether a reached RVSM limit is one of the predicted stable fixed points (:func:`matches_a_stable_limit`).

    Attributes
    ----------
    matched : ndarray of bool (...)
        The prediction for the reached support and roots is a fixed point (``ok``), linearly stable for the given
        step and update order, and within ``atol`` of the reached ``(w, u)``.
    error : ndarray (...)
        ``max(|w - w_pred|, |u - u_pred|)`` (inf where the prediction is not finite).
    spectral_radius : ndarray (...)
        Of the linearized RVSM map at the predicted point.
    support, root_small : ndarray of bool (..., d)
        The branches read off the reached limit (:func:`reached_branches`).
    prediction : LimitPrediction
        The prediction for them.
    """

    matched: np.ndarray
    error: np.ndarray
    spectral_radius: np.ndarray
    support: np.ndarray
    root_small: np.ndarray
    prediction: LimitPrediction


# ----------------------------------------------------------------------------------------------------------------------
# The kept roots
# ----------------------------------------------------------------------------------------------------------------------
def _exact(pen: Penalty, cls: type[Penalty]) -> bool:
    """``pen`` is a ``cls`` whose derivative is ``cls``'s own (so its closed forms apply)."""
    return isinstance(pen, cls) and type(pen)._derivative is cls._derivative


def _second_derivative(pen: Penalty, u: np.ndarray) -> np.ndarray:
    """``P''(u)`` for ``u != 0``: closed form for l1, l0 (0) and TL1 (``-2 a (a+1)/(a + |u|)^3``); otherwise a
    central difference of :meth:`Penalty.derivative` with a step that does not cross 0."""
    if _exact(pen, L1) or _exact(pen, L0):
        return np.zeros_like(u)
    if _exact(pen, TL1):
        a = pen.a
        return -2.0 * a * (a + 1.0) / (a + np.abs(u)) ** 3
    h = np.minimum(1e-6 * np.maximum(np.abs(u), 1.0), 0.5 * np.abs(u))
    h = np.where(h > 0, h, 1e-300)
    with np.errstate(over="ignore"):  # at u -> 0 for a penalty with P'(0+) = inf (l_1/2) the curvature is -inf
        return (np.asarray(pen.derivative(u + h)) - np.asarray(pen.derivative(u - h))) / (2.0 * h)


def _tl1_smaller_root(x: np.ndarray, mu_bar: np.ndarray, a: float) -> np.ndarray:
    """Smaller positive root of ``X(u) = u + mu_bar a (a+1)/(a + u)^2 = x`` (``x >= 0``), NaN where there is none.

    With ``z = a + u`` the equation is the cubic ``z^3 - (a + x) z^2 + mu_bar a (a+1) = 0``. Where it has three real
    roots (``cos(phi) = 1 - 27 mu_bar a (a+1)/(2 (a + x)^3)`` in [-1, 1]) they are
    ``z_j = ((a + x)/3)(1 + 2 cos((phi - 2 pi j)/3))``: ``j = 0`` is the largest (TL1's ``shrink``), ``j = 1`` the
    middle one, used here where ``z_1 > a``; ``j = 2`` has ``z <= 0``. Three safeguarded Newton steps polish it.
    """
    x, mu_bar = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(mu_bar, dtype=np.float64))
    out = np.full(x.shape, np.nan)
    c_all = mu_bar * a * (a + 1.0)
    with np.errstate(all="ignore"):
        arg_all = 1.0 - 13.5 * c_all / (a + x) ** 3
        # two positive roots need three real ones (arg >= -1) and x < X(0+) = mu_bar (a+1)/a: the rest is NaN
        idx = np.flatnonzero((arg_all >= -1.0) & (x * a < c_all / a) & np.isfinite(arg_all))
        if idx.size == 0:
            return out
        xs, c, arg = x.ravel()[idx], c_all.ravel()[idx], arg_all.ravel()[idx]
        p = a + xs
        phi = np.arccos(np.minimum(arg, 1.0))
        u = (p / 3.0) * (1.0 + 2.0 * np.cos((phi - 2.0 * math.pi) / 3.0)) - a
        for _ in range(3):
            f = u + c / (a + u) ** 2 - xs
            fp = 1.0 - 2.0 * c / (a + u) ** 3
            cand = u - f / fp
            fc = cand + c / (a + cand) ** 2 - xs
            better = np.isfinite(cand) & (np.abs(fc) < np.abs(f)) & (cand > 0)
            u = np.where(better, cand, u)
        flat = out.ravel()
        flat[idx] = np.where((u > 0) & np.isfinite(u), u, np.nan)
    return flat.reshape(x.shape)


def _scan_smaller_root(pen: Penalty, x: np.ndarray, mu_bar: np.ndarray, u_large: np.ndarray) -> np.ndarray:
    """Generic smaller root: the first downward crossing of ``X(u) = u + mu_bar P'(u)`` through ``x`` on
    ``(0, u_large)`` (a log grid of :data:`_ROOT_SCAN` points, then bisection); NaN where there is none."""
    out = np.full(x.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(u_large) & (u_large > 0) & (x > 0))
    if idx.size == 0:
        return out
    xs, mb, ul = x.ravel()[idx], mu_bar.ravel()[idx], u_large.ravel()[idx]
    grid = ul[:, None] * np.logspace(-12.0, 0.0, _ROOT_SCAN)[None, :]

    def f(v: np.ndarray, xx: np.ndarray, m: np.ndarray) -> np.ndarray:
        return v + m * np.asarray(pen.derivative(v)) - xx

    fv = f(grid, xs[:, None], mb[:, None])
    down = (fv[:, :-1] > 0) & (fv[:, 1:] <= 0)
    has = np.any(down, axis=1)
    j = np.argmax(down, axis=1)
    lo, hi = grid[np.arange(idx.size), j], grid[np.arange(idx.size), j + 1]
    for _ in range(_ROOT_BISECTIONS):
        mid = 0.5 * (lo + hi)
        pos = f(mid, xs, mb) > 0
        lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    flat = out.ravel()
    flat[idx] = np.where(has, 0.5 * (lo + hi), np.nan)
    return flat.reshape(x.shape)


def _nearest_root(pen: Penalty, target: np.ndarray, mu_bar: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """Signed root of ``u + mu_bar P'(u) = target`` (sign of ``target``) nearest to ``|hint|``; NaN where there is
    none or no hint (``hint`` NaN or 0).

    Generic: every root lies in ``(0, |target|]`` (``P' >= 0``), so the sign changes of ``X(u) - |target|`` on a log
    grid of :data:`_ROOT_SCAN` points over ``(1e-12 |target|, 1.01 |target|]`` bracket them all (a root where ``X``
    only touches the target is a double root: a marginal fixed point); the bracket nearest the hint is bisected. This
    names every kept root, also where the kept equation has more than the two the ``root`` option distinguishes
    (SCAD with ``mu_bar > a - 1``: a root on the soft branch, one on the middle one, one on the flat part).
    """
    x = np.abs(np.asarray(target, dtype=np.float64))
    mb = np.broadcast_to(np.asarray(mu_bar, dtype=np.float64), x.shape)
    h = np.abs(np.broadcast_to(np.asarray(hint, dtype=np.float64), x.shape))
    out = np.full(x.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(h) & (h > 0) & (x > 0) & np.isfinite(x) & np.isfinite(mb))
    if idx.size == 0:
        return out
    xs, mbs, hs = x.ravel()[idx], mb.ravel()[idx], h.ravel()[idx]
    # a global log grid, refined near the hint (two roots close to a fold can share a cell of the global grid)
    glob = xs[:, None] * np.concatenate([np.logspace(-12.0, 0.0, _ROOT_SCAN), [1.01]])[None, :]
    local = hs[:, None] * (1.0 + np.linspace(-0.05, 0.05, 401))[None, :]
    grid = np.sort(np.concatenate([glob, np.minimum(local, 1.01 * xs[:, None])], axis=1), axis=1)
    with np.errstate(all="ignore"):
        fv = grid + mbs[:, None] * np.asarray(pen.derivative(grid)) - xs[:, None]
    cross = (np.sign(fv[:, :-1]) * np.sign(fv[:, 1:]) <= 0) & np.isfinite(fv[:, :-1]) & np.isfinite(fv[:, 1:])
    mid = 0.5 * (grid[:, :-1] + grid[:, 1:])
    dist = np.where(cross, np.abs(mid - hs[:, None]), np.inf)
    j = np.argmin(dist, axis=1)
    has = np.isfinite(dist[np.arange(idx.size), j])
    rows = np.arange(idx.size)
    lo, hi = grid[rows, j], grid[rows, j + 1]
    flo = fv[rows, j]
    for _ in range(_ROOT_BISECTIONS):
        m = 0.5 * (lo + hi)
        with np.errstate(all="ignore"):
            fm = m + mbs * np.asarray(pen.derivative(m)) - xs
        same = np.sign(fm) == np.sign(flo)
        lo, hi, flo = np.where(same, m, lo), np.where(same, hi, m), np.where(same, fm, flo)
    flat = out.ravel()
    flat[idx] = np.where(has, 0.5 * (lo + hi), np.nan)
    return np.sign(target) * flat.reshape(x.shape)


def _smaller_root(pen: Penalty, target: np.ndarray, mu_bar: np.ndarray, u_large: np.ndarray) -> np.ndarray:
    """Signed smaller kept root (sign of ``target``) of ``u + mu_bar P'(u) = target``; NaN where none exists.
    ``mu_bar`` of the shape of ``target`` (or broadcastable)."""
    x = np.abs(target)
    mb = np.broadcast_to(mu_bar, x.shape)
    if _exact(pen, L1) or _exact(pen, L0):
        mag = np.full(x.shape, np.nan)  # X(u) is increasing: one root
    elif _exact(pen, TL1):
        mag = _tl1_smaller_root(x, mb, pen.a)
    else:
        mag = _scan_smaller_root(pen, x, mb, np.abs(u_large))
    return np.sign(target) * mag


# ----------------------------------------------------------------------------------------------------------------------
# The limit map (pure NumPy on (n, d) blocks; lam, beta, s, q of shape (n,))
# ----------------------------------------------------------------------------------------------------------------------
def _mu_bar(lam: np.ndarray, beta: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Effective threshold parameter of the kept branch: ``lam (1/beta + 1/q)``."""
    return lam * (1.0 / beta + 1.0 / q)


def _kept_branch(pen: Penalty, w_star: np.ndarray, s: np.ndarray, q: np.ndarray, lam: np.ndarray,
                 beta: np.ndarray, small: np.ndarray | None = None, near: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kept-branch values ``(u, w)`` for every coordinate (formal: evaluated everywhere), the mask where that branch
    genuinely exists, and the target ``r w*``. ``small`` (bool, like ``w_star``) selects the smaller root; ``near``
    (like ``w_star``, NaN where unused) selects, where given, the root nearest to it (:func:`_nearest_root`)."""
    qpos = q > 0
    qs = np.where(qpos, q, 1.0)
    mu_bar = np.where(qpos, _mu_bar(lam, beta, qs), 0.0)
    target = (s / qs)[:, None] * w_star
    u = pen.shrink(target, mu_bar, validate=False)
    if small is not None and np.any(small):
        u = np.where(small, _smaller_root(pen, target, mu_bar[:, None], u), u)
    if near is not None:
        use = np.isfinite(near) & (near != 0)
        if np.any(use):
            u = np.where(use, _nearest_root(pen, target, np.broadcast_to(mu_bar[:, None], target.shape),
                                            np.where(use, near, np.nan)), u)
    w = (s[:, None] * w_star + beta[:, None] * u) / (q + beta)[:, None]
    # exists iff u != 0 has the sign of w* and solves u + mu_bar P'(u) = r w* (the shrink of TL1 clips its arccos
    # argument where the nonzero root does not exist, so the stationarity residual exposes a fake root)
    stat = u + mu_bar[:, None] * pen.derivative(u) - target
    scale = np.abs(target) + np.abs(u) + mu_bar[:, None]
    exists = qpos[:, None] & (u * w_star > 0) & (np.abs(stat) <= _CONSISTENCY_RTOL * scale)
    return u, w, exists, target


def _branch_point(pen: Penalty, w_star: np.ndarray, s: np.ndarray, q: np.ndarray, lam: np.ndarray,
                  beta: np.ndarray, support: np.ndarray, small: np.ndarray | None = None,
                  near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(w, u)`` with kept coordinates on the kept branch (root by ``small``, or nearest ``near``) and the others
    zeroed."""
    u_k, w_k, _, _ = _kept_branch(pen, w_star, s, q, lam, beta, None if small is None else small & support,
                                  None if near is None else np.where(support, near, np.nan))
    w_z = (s / (q + beta))[:, None] * w_star
    return np.where(support, w_k, w_z), np.where(support, u_k, 0.0)


def _normalized_coefficients(w: np.ndarray, w_star: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k s(w), k q(w))`` from :func:`numerics.population.gradient_coefficients` (theory page section 2), normalized
    so that both equal 1 at ``w = w*``."""
    q, s = gradient_coefficients(w, w_star, k, validate=False)
    return k * s, k * q


def _self_map_residual(x: np.ndarray, pen: Penalty, w_star: np.ndarray, lam: np.ndarray,
                       beta: np.ndarray, support: np.ndarray, k: int, small: np.ndarray | None = None,
                       near: np.ndarray | None = None) -> np.ndarray:
    """``G(x) = (k s(w(x)), k q(w(x))) - x`` for ``x = (k s, k q)`` of shape (n, 2); NaN where undefined."""
    s, q = x[:, 0] / k, x[:, 1] / k
    bad = (q + beta <= 0) | (s <= 0) | ((q <= 0) & np.any(support, axis=1))
    with np.errstate(all="ignore"):
        w, _ = _branch_point(pen, w_star, s, q, lam, beta, support, small, near)
        ks, kq = _normalized_coefficients(w, w_star, k)
    g = np.stack([ks - x[:, 0], kq - x[:, 1]], axis=1)
    g[bad] = np.nan
    return g


def _gnorm(g: np.ndarray) -> np.ndarray:
    out = np.max(np.abs(g), axis=1)
    return np.where(np.isfinite(out), out, np.inf)


def _newton(x: np.ndarray, fun: Any, tol_abs: float) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton iteration on ``fun: (n, 2) -> (n, 2)`` for a batch of independent 2-D problems.

    Each iteration takes a forward-difference Jacobian (two extra evaluations), the Newton step, and halves it until
    the max-norm of the residual strictly decreases. Trials stop when ``|G| <= tol_abs`` or when no step size helps.
    Returns the new ``x`` and the final ``|G|``.
    """
    x = x.copy()
    gn = _gnorm(fun(x, np.arange(x.shape[0])))
    active = gn > tol_abs
    for _ in range(_NEWTON_MAXITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        xi = x[idx]
        g0 = fun(xi, idx)
        j = np.empty((idx.size, 2, 2))
        for c in range(2):
            xh = xi.copy()
            xh[:, c] += _FD_STEP
            j[:, :, c] = (fun(xh, idx) - g0) / _FD_STEP
        det = j[:, 0, 0] * j[:, 1, 1] - j[:, 0, 1] * j[:, 1, 0]
        with np.errstate(all="ignore"):
            d0 = -(j[:, 1, 1] * g0[:, 0] - j[:, 0, 1] * g0[:, 1]) / det
            d1 = -(-j[:, 1, 0] * g0[:, 0] + j[:, 0, 0] * g0[:, 1]) / det
        step = np.stack([d0, d1], axis=1)
        alpha = np.ones(idx.size)
        pending = np.all(np.isfinite(step), axis=1)
        done = np.zeros(idx.size, dtype=bool)
        for _ls in range(_LINESEARCH_HALVINGS):
            p = np.flatnonzero(pending)
            if p.size == 0:
                break
            xt = xi[p] + alpha[p, None] * step[p]
            gt = _gnorm(fun(xt, idx[p]))
            acc = gt < gn[idx[p]]
            x[idx[p[acc]]] = xt[acc]
            gn[idx[p[acc]]] = gt[acc]
            done[p[acc]] = True
            pending[p[acc]] = False
            alpha[p[~acc]] *= 0.5
        # trials without an accepted step have stalled (at rounding level, or lost): stop iterating them
        active[idx[~done]] = False
        active[idx] &= gn[idx] > tol_abs
    return x, gn


def _scipy_polish(x0: np.ndarray, fun1: Any, tol_abs: float) -> tuple[np.ndarray, float]:
    """Per-trial fallback: ``scipy.optimize.root`` (MINPACK hybrd) from ``x0`` and from ``(1, 1)``; best result."""
    import scipy.optimize  # only here: `import numerics` stays light

    best_x, best = x0, float(_gnorm(fun1(x0)[None])[0])
    for start in (x0, np.ones(2)):
        if best <= tol_abs:
            break
        try:
            sol = scipy.optimize.root(fun1, start, method="hybr", tol=1e-15, options={"maxfev": 400})
        except Exception:  # pragma: no cover - MINPACK failure on a NaN region
            continue
        g = float(_gnorm(np.asarray(fun1(sol.x))[None])[0])
        if g < best:
            best_x, best = np.asarray(sol.x, dtype=np.float64), g
    return best_x, best


def _grid_start(fun: Any, idx: np.ndarray, k: int) -> np.ndarray:
    """For each trial of ``idx``: the point of the (k s, k q) grid with the smallest residual ``|fun|``."""
    ks = np.linspace(1.0 / _GRID_S, 1.0, _GRID_S)
    kq = np.geomspace(_Q_SINGULAR * 1.5, 1.0 + (k - 1) / math.pi, _GRID_Q)
    pts = np.stack(np.meshgrid(ks, kq, indexing="ij"), axis=-1).reshape(-1, 2)
    m = pts.shape[0]
    rep = np.repeat(idx, m)
    g = _gnorm(fun(np.tile(pts, (idx.size, 1)), rep)).reshape(idx.size, m)
    return pts[np.argmin(g, axis=1)]


def _solve_fixed_support(x: np.ndarray, fun: Any, idx: np.ndarray, sup: np.ndarray, k: int, tol_abs: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Newton from ``x[idx]``; where it fails, Newton from the best grid point; then SciPy per trial."""
    xi, gi = _newton(x[idx], lambda xv, j: fun(xv, idx[j]), tol_abs)
    fail = np.flatnonzero(gi > tol_abs)
    if fail.size:
        xg, gg = _newton(_grid_start(fun, idx[fail], k), lambda xv, j: fun(xv, idx[fail][j]), tol_abs)
        better = gg < gi[fail]
        xi[fail[better]], gi[fail[better]] = xg[better], gg[better]
    # per-trial SciPy fallback; skipped where Newton ran into q -> 0+ with kept coordinates: the fixed point then
    # has q <= 0 (outside the scope of the kept-branch formula, see Notes) and no solver can find it here
    for m in np.flatnonzero((gi > tol_abs) & ~((xi[:, 1] < _Q_SINGULAR) & np.any(sup[idx], axis=1))):
        i = idx[m]
        xi[m], gi[m] = _scipy_polish(xi[m], lambda xv, i=i: fun(np.asarray(xv)[None], np.array([i]))[0], tol_abs)
    return xi, gi


def _candidates(pen: Penalty, ws2: np.ndarray, lam: np.ndarray, beta: np.ndarray, x: np.ndarray, k: int
                ) -> dict[str, np.ndarray]:
    """Every branch at ``x = (k s, k q)``: the larger-root kept candidate (``u_kept``, ``w_kept``, ``kept_exists``,
    ``kept_ok``), the smaller-root one (``u_small``, ``w_small``, ``small_exists``, ``small_ok``) and the zeroed
    one (``w_zeroed``, ``zeroed_ok``)."""
    nz = ws2 != 0
    s, q = x[:, 0] / k, x[:, 1] / k
    mu = lam / beta
    with np.errstate(all="ignore"):
        thr = pen.threshold(mu, validate=False)[:, None]

        def consistent(u: np.ndarray, w: np.ndarray, exists: np.ndarray) -> np.ndarray:
            return exists & nz & (np.abs(w) > thr) & (
                np.abs(pen.shrink(w, mu, validate=False) - u) <= _CONSISTENCY_RTOL * (np.abs(u) + mu[:, None]))

        u_k, w_k, exists, _ = _kept_branch(pen, ws2, s, q, lam, beta)
        u_s, w_s, exists_s, _ = _kept_branch(pen, ws2, s, q, lam, beta, np.ones_like(nz))
        exists_s &= np.isfinite(u_s) & (np.abs(u_s) < np.abs(u_k) * (1.0 - _CONSISTENCY_RTOL))  # a distinct root
        w_z = (s / (q + beta))[:, None] * ws2
        out = {"u_kept": u_k, "w_kept": w_k, "kept_exists": exists & nz, "kept_ok": consistent(u_k, w_k, exists),
               "u_small": u_s, "w_small": w_s, "small_exists": exists_s & nz,
               "small_ok": consistent(u_s, w_s, exists_s), "w_zeroed": w_z, "zeroed_ok": np.abs(w_z) <= thr}
    return out


def _kept_ok_for(cand: dict[str, np.ndarray], small: np.ndarray) -> np.ndarray:
    return np.where(small, cand["small_ok"], cand["kept_ok"])


def _solve_self_consistency(pen: Penalty, ws2: np.ndarray, lam: np.ndarray, beta: np.ndarray, k: int,
                            support: np.ndarray | None, band: str, tol_abs: float, small: np.ndarray,
                            near: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``(s, q) = (s(w), q(w))`` for every trial, with the kept set fixed (``support``) or chosen by the
    active-set loop (``band`` rule), kept coordinates on the root chosen by ``small``. Returns ``x = (k s, k q)``,
    the residual norm, the kept set used and whether the active set settled."""
    n = ws2.shape[0]
    fixed = support is not None
    x = np.ones((n, 2))  # x = (k s, k q) = (1, 1) is the exact answer at lam = 0

    def rule(kept_ok: np.ndarray, zero_ok: np.ndarray) -> np.ndarray:
        return kept_ok if band == "keep" else kept_ok & ~zero_ok

    def oks(xv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cand = _candidates(pen, ws2, lam, beta, xv, k)
        return _kept_ok_for(cand, small), cand["zeroed_ok"]

    sup = support if fixed else rule(*oks(x))

    def fun(xv: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return _self_map_residual(xv, pen, ws2[idx], lam[idx], beta[idx], sup[idx], k, small[idx],
                                  None if near is None else near[idx])

    sup_solved = sup.copy()  # the support each trial's current (s, q) was solved with
    settled = np.ones(n, dtype=bool) if fixed else np.zeros(n, dtype=bool)
    repair = np.zeros(n, dtype=bool)
    todo = np.ones(n, dtype=bool)
    gn = np.full(n, np.inf)
    for rnd in range(1 if fixed else _ACTIVE_SET_ROUNDS):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        x[idx], gn[idx] = _solve_fixed_support(x, fun, idx, sup, k, tol_abs)
        sup_solved[idx] = sup[idx]
        if fixed:
            break
        kept_ok, zero_ok = oks(x)
        # preferred rule first; trials that keep changing switch to the repair rule, which flips only the
        # coordinates whose branch is inconsistent (the preferred rule can cycle: keeping a band coordinate may move
        # (s, q) so that it is no longer kept-consistent, and dropping it makes it kept-consistent again)
        new = np.where(repair[:, None], np.where(sup, kept_ok, ~zero_ok), rule(kept_ok, zero_ok))
        changed = np.any(new != sup, axis=1)
        # the preferred rule can also settle on an inconsistent support (a coordinate neither kept- nor
        # zeroed-consistent at the solved (s, q)); such trials switch to the repair rule at once
        stuck = ~changed & np.any(np.where(sup, ~kept_ok, ~zero_ok), axis=1) & (gn <= tol_abs) & ~repair
        if np.any(stuck):
            repair |= stuck
            new = np.where(stuck[:, None], np.where(sup, kept_ok, ~zero_ok), new)
            changed = np.any(new != sup, axis=1)
        settled = ~changed
        if rnd + 1 >= _PREFERRED_ROUNDS:
            repair |= changed
        sup = np.where(changed[:, None], new, sup)
        todo = changed & (gn <= tol_abs)  # a failed solve is reported, not iterated
    return x, gn, sup_solved, settled


# ----------------------------------------------------------------------------------------------------------------------
# Linearization (theory page section 5, "Stability")
# ----------------------------------------------------------------------------------------------------------------------
def _loss_hessian(w: np.ndarray, ws2: np.ndarray, k: int) -> np.ndarray:
    """Hessian of the population loss at ``w`` (n, d) -> (n, d, d), ``w != 0``:
    ``q I + c_r w_hat w_hat^T - (1/(k pi |w|)) p p^T/|p|``, ``p = w* - (w* . w_hat) w_hat`` (so ``|p| = |w*| sin t``),
    ``c_r = (k |p| + (k^2 - k)|w*|)/(k^2 pi |w|)``. Derived and verified in ``theory.stability``."""
    q, _ = gradient_coefficients(w, ws2, k, validate=False)
    nw = np.linalg.norm(w, axis=1)
    ns = np.linalg.norm(ws2, axis=1)
    with np.errstate(all="ignore"):
        wh = w / nw[:, None]
        p = ws2 - np.sum(ws2 * wh, axis=1)[:, None] * wh
        npn = np.linalg.norm(p, axis=1)
        c_r = (k * npn + (k * k - k) * ns) / (k * k * math.pi * nw)
        c_t = np.where(npn > 0, 1.0 / (k * math.pi * nw * np.where(npn > 0, npn, 1.0)), 0.0)
    d = w.shape[1]
    return (q[:, None, None] * np.eye(d) + c_r[:, None, None] * wh[:, :, None] * wh[:, None, :]
            - c_t[:, None, None] * p[:, :, None] * p[:, None, :])


def _prox_slope(pen: Penalty, u: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """``prox'(w)`` at a fixed point, from its output ``u``: ``1/(1 + mu P''(u))`` where ``u != 0`` (implicit
    differentiation of ``w = u + mu P'(u)``), 0 where ``u = 0`` (strictly below the threshold)."""
    kept = u != 0
    with np.errstate(all="ignore"):
        slope = 1.0 / (1.0 + mu[:, None] * _second_derivative(pen, np.where(kept, u, 1.0)))
    return np.where(kept, slope, 0.0)


def _curvature_matrix(pen: Penalty, w: np.ndarray, u: np.ndarray, ws2: np.ndarray, lam: np.ndarray,
                      beta: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M, H)``: ``M = hess l(w) + beta (I - diag(prox'))``, ``H = hess l(w)``, both (n, d, d)."""
    h = _loss_hessian(w, ws2, k)
    dslope = _prox_slope(pen, u, lam / beta)
    m = h.copy()
    idx = np.arange(w.shape[1])
    m[:, idx, idx] += beta[:, None] * (1.0 - dslope)
    return m, h


def _curvature_matrix_fn(pen: Penalty, ws2: np.ndarray, lam: np.ndarray, beta: np.ndarray, k: int
                         ) -> Callable[[LimitPrediction, np.ndarray], np.ndarray]:
    """``M`` of a prediction over the rows ``ws2``, for given flattened trials (its ``w``, ``u`` read when called)."""
    def matrices(pred: LimitPrediction, idx: np.ndarray) -> np.ndarray:
        d = ws2.shape[1]
        w = np.asarray(pred.w, dtype=np.float64).reshape(-1, d)[idx]
        u = np.asarray(pred.u, dtype=np.float64).reshape(-1, d)[idx]
        with np.errstate(all="ignore"):
            return _curvature_matrix(pen, w, u, ws2[idx], lam[idx], beta[idx], k)[0]

    return matrices


def invariant_subspace(w_star: Any, w0: Any) -> np.ndarray:
    """Orthonormal basis (d, m) of the subspace RVSM never leaves from the start ``w0`` (theory page section 5).

    The iteration treats coordinates alike: ``s``, ``q`` depend on ``w`` only through ``|w|`` and ``w . w*``, and the
    prox is coordinatewise and odd. So a signed permutation of coordinates that fixes ``w*`` and ``w0`` fixes every
    iterate, exactly (the same floating-point operations on equal inputs). Coordinates ``i``, ``j`` with
    ``(w*_i, w0_i) = +-(w*_j, w0_j)`` (exactly) therefore stay equal up to that sign, and a coordinate with
    ``w*_i = w0_i = 0`` stays 0. The subspace: one direction ``sum_j sign_j e_j / sqrt(n)`` per class of tied
    coordinates, none for the zero class. For a generic start it is the whole space (``m = d``).
    """
    ws = np.asarray(to_numpy(w_star, "w_star"), dtype=np.float64).ravel()
    w0 = np.asarray(to_numpy(w0, "w0"), dtype=np.float64).ravel()
    if ws.shape != w0.shape:
        raise ValueError(f"w_star and w0 must have the same shape (d,); got {ws.shape} and {w0.shape}")
    cols: list[np.ndarray] = []
    classes: dict[tuple[float, float], list[tuple[int, float]]] = {}
    for i, (a_, b_) in enumerate(zip(ws, w0, strict=True)):
        if a_ == 0 and b_ == 0:
            continue
        sign = 1.0 if (a_ > 0 or (a_ == 0 and b_ > 0)) else -1.0
        classes.setdefault((float(sign * a_) + 0.0, float(sign * b_) + 0.0), []).append((i, sign))
    for members in classes.values():
        col = np.zeros(ws.size)
        for i, sign in members:
            col[i] = sign
        cols.append(col / math.sqrt(len(members)))
    return np.stack(cols, axis=1) if cols else np.zeros((ws.size, 0))


# ----------------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------------
def _root_mask(root: Any, problem: Problem, shape2: tuple[int, int]) -> np.ndarray:
    """The ``root`` option as a bool (n, d) mask: True where the smaller kept root is asked for."""
    if isinstance(root, str):
        check_choice("root", root, ("large", "small"))
        return np.full(shape2, root == "small")
    n, d = shape2
    arr = to_numpy(root, "root")
    if arr.dtype != bool:
        raise ValueError(f"root must be 'large', 'small' or a boolean mask (True: smaller root); got dtype {arr.dtype}")
    batch = (d,) if problem.batch_size is None else (n, d)
    if arr.shape not in ((d,), batch):
        raise ValueError(f"root must have shape (d,) = {(d,)} or the batch shape {batch}; got {arr.shape}")
    return np.broadcast_to(arr, batch).reshape(n, d).copy()


def predict(problem: Problem, *, band: str = "keep", support: Any = None, root: Any = "large", near: Any = None,
            tol: float = 1e-14) -> LimitPrediction:
    r"""Predict the limit ``(w_bar, u_bar)`` of RVSM (population gradient) for a teacher ``w*`` (theory page section 5).

    Parameters
    ----------
    problem : Problem
        Teacher(s) (any array backend; converted to NumPy float64), ``k``, penalty, ``lam``, ``beta``. ``lam = 0``
        gives ``w = u = w*`` (to rounding).
    band : {"keep", "zero"}
        Which branch a coordinate takes when both are self-consistent (the l0 / TL1 band): kept or zeroed. The
        choice enters the self-consistent ``(s, q)``. RVSM itself picks one by its path (hysteresis). Where that
        rule cycles (keeping a coordinate moves ``(s, q)`` so that it is no longer kept-consistent), the active-set
        loop falls back to flipping only inconsistent coordinates: the result is then a consistent fixed point
        that may keep fewer band coordinates than the rule asks.
    support : bool array, shape (d,) or like ``w_star``, optional
        Fix the kept set exactly instead (e.g. the support a simulation reached); must be False where ``w* = 0``.
        The result then says, per coordinate, whether that support is self-consistent (``consistent``).
    root : {"large", "small"} or bool array, shape (d,) or like ``w_star``
        Which root of the kept equation ``u + mu_bar P'(u) = r w*_i`` a kept coordinate takes: the larger one
        (``shrink``, the default), the smaller one (TL1: the second positive root, which exists where
        ``r |w*_i| < mu_bar (a+1)/a`` and is a fixed point where it lies above the prox's gap), or per coordinate
        (True: smaller). Which one RVSM reaches depends on its path; both can be stable (:attr:`LimitPrediction.
        curvature`). A coordinate asked for a smaller root that does not exist is reported inconsistent.
    near : array, shape (d,) or like ``w_star``, optional
        Only with ``support``: each kept coordinate takes the root of its kept equation nearest to ``near`` (e.g. the
        ``u`` of a reached limit), found by a scan over all roots, whichever it is; ``root`` is then ignored where
        ``near`` is finite and nonzero. For kept equations with more than two roots (SCAD with ``mu_bar > a - 1``:
        soft, middle and flat), which ``root`` cannot name; the coordinate is consistent iff ``prox_{mu}`` of its
        ``w`` returns that root.
    tol : float
        Tolerance of the ``(s, q)`` solve: ``max(|k s - k s(w)|, |k q - k q(w)|) <= tol (1 + (k - 1)/pi)``, the
        factor being the size of the largest term of ``k q`` (so its rounding is covered for every ``k``).

    Returns
    -------
    LimitPrediction
        NumPy arrays; batch fields have shape (B,) for a batched problem and are 0-d for one problem. (For the
        binarized network see :func:`numerics.predict_binary`.)

    Raises
    ------
    ValueError
        Naming the parameter: unknown ``band`` or ``root``, ``tol <= 0``, a shape mismatch of ``support`` or
        ``root``, or ``support`` True where ``w* = 0`` (the problem itself was validated when it was built).

    Notes
    -----
    With ``mu = lam/beta``, ``grad l(w) = q w - s w*``, ``s = (pi - t)/(k pi)``, ``q = A(w)/k^2``
    (theory page section 2, ``t = angle(w, w*)``), a fixed point satisfies ``(q + beta) w = s w* + beta u``,
    ``u = prox_{mu P}(w)``. For given ``(s, q)``, with ``r = s/q`` and ``mu_bar = lam (1/beta + 1/q)``:

    .. math::

        \text{kept: } u_i + \bar\mu P'(u_i) = r w^*_i,\quad
        w_i = \frac{s w^*_i + \beta u_i}{q + \beta};\qquad
        \text{zeroed: } u_i = 0,\quad w_i = \frac{s w^*_i}{q + \beta}.

    l1: ``u = soft(r w*, mu_bar)``, no band. l0 (``gamma = sqrt(2 mu)``): kept ``u = w = r w*`` valid iff
    ``r|w*_i| > gamma``, zeroed valid iff ``r|w*_i| <= gamma (1 + beta/q)``. TL1: kept ``u`` is a root of the TL1
    stationarity cubic at ``mu_bar`` (the largest by default, ``root`` for the smaller one), valid iff
    ``prox_{mu}(w_i) = u_i``. Coordinates with ``w*_i = 0`` give ``u = w = 0``. ``(s, q)`` then solve
    ``s = s(w)``, ``q = q(w)`` (two scalars per trial), see the module docstring. Stability of the returned point
    under the iteration: :attr:`LimitPrediction.curvature` and :meth:`LimitPrediction.stable`.

    Scope: the kept branch is formed for ``q > 0`` only. For large ``lam`` relative to ``|w*|`` RVSM can reach fixed
    points with ``q <= 0`` (``|w_bar|`` well below ``|w*|``; seen for l1 with ``k = 10``, ``lam = 0.1``, ``beta = 1``,
    ``|w*| ~ 2.5``: one kept coordinate with ``s |w*_i| ~ lam``), where
    ``u_i = (s w*_i - lam sign w*_i)/q - mu sign w*_i`` passes through ``q = 0`` and the ``(s, q)`` parametrization is
    singular. Such trials are returned with
    ``converged = False`` or ``consistent`` not all True, never as a silent answer.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a numerics.Problem; got {type(problem).__name__}")
    check_choice("band", band, ("keep", "zero"))
    tol = check_positive_float("tol", tol)
    pen, k = problem.penalty, problem.k
    ws2, lam_b, beta_b = problem.on_host()
    n, d = ws2.shape
    batch_shape = () if problem.batch_size is None else (n,)
    fixed = support is not None
    sup = problem.support_mask(support) if fixed else None
    small = _root_mask(root, problem, (n, d)) & (ws2 != 0)
    near2 = None
    if near is not None:
        if not fixed:
            raise ValueError("near is only used with support= (the kept set whose roots it selects)")
        arr = np.asarray(to_numpy(near, "near"), dtype=np.float64)
        batch = (d,) if problem.batch_size is None else (n, d)
        if arr.shape not in ((d,), batch):
            raise ValueError(f"near must have shape (d,) = {(d,)} or the batch shape {batch}; got {arr.shape}")
        near2 = np.where(sup, np.broadcast_to(arr, batch).reshape(n, d), np.nan)

    tol_abs = tol * (1.0 + (k - 1) / math.pi)
    x, gn, sup, settled = _solve_self_consistency(pen, ws2, lam_b, beta_b, k, sup if fixed else None, band, tol_abs,
                                                  small, near2)
    converged = (gn <= tol_abs) & settled
    return _assemble(pen, ws2, lam_b, beta_b, k, x, sup, small, converged, batch_shape, near2)


def _assemble(pen: Penalty, ws2: np.ndarray, lam_b: np.ndarray, beta_b: np.ndarray, k: int, x: np.ndarray,
              sup: np.ndarray, small: np.ndarray, converged: np.ndarray, batch_shape: tuple[int, ...],
              near: np.ndarray | None = None) -> LimitPrediction:
    """The :class:`LimitPrediction` at the solved ``x = (k s, k q)`` for the kept set ``sup`` and roots ``small``."""
    shape = (*batch_shape, ws2.shape[1])
    s, q = x[:, 0] / k, x[:, 1] / k
    cand = _candidates(pen, ws2, lam_b, beta_b, x, k)
    kept_ok, zero_ok = cand["kept_ok"], cand["zeroed_ok"]
    with np.errstate(all="ignore"):
        w, u = _branch_point(pen, ws2, s, q, lam_b, beta_b, sup, small, near)
        qpos = q > 0
        mu_bar = np.where(qpos, _mu_bar(lam_b, beta_b, np.where(qpos, q, 1.0)), np.nan)
        r = s / q
        ks, kq = _normalized_coefficients(w, ws2, k)
        res_vec = (kq / k)[:, None] * w - (ks / k)[:, None] * ws2 + beta_b[:, None] * (
            w - pen.prox(w, lam_b / beta_b, validate=False))
    residual = np.max(np.abs(res_vec), axis=1)
    root_small = small & sup
    consistent = np.where(sup, _kept_ok_for(cand, root_small), zero_ok)
    if near is not None:
        # a kept coordinate on the root nearest its hint: a genuine root with the sign of w*, kept by the prox at mu
        # with exactly that value (the prox itself decides, whichever of the roots it is)
        use = sup & np.isfinite(near) & (near != 0)
        mu = (lam_b / beta_b)[:, None]
        with np.errstate(all="ignore"):
            stat = u + np.where(np.isfinite(mu_bar), mu_bar, 0.0)[:, None] * pen.derivative(u) - r[:, None] * ws2
            scale = np.abs(r[:, None] * ws2) + np.abs(u) + np.where(np.isfinite(mu_bar), mu_bar, 0.0)[:, None]
            prox_err = np.abs(pen.prox(w, lam_b / beta_b, validate=False) - u)
            ok_near = (qpos[:, None] & (u * ws2 > 0) & (np.abs(stat) <= _CONSISTENCY_RTOL * scale)
                       & (prox_err <= _CONSISTENCY_RTOL * (np.abs(u) + mu)))
        consistent = np.where(use, ok_near, consistent)
    bnd = kept_ok & zero_ok

    def out(v: np.ndarray) -> np.ndarray:
        return v.reshape(shape) if v.ndim == 2 else v.reshape(batch_shape)

    return LimitPrediction(
        w=out(w), u=out(u), s=out(s), q=out(q), r=out(r), mu_bar=out(mu_bar), support=out(sup), band=out(bnd),
        u_kept=out(np.where(cand["kept_exists"], cand["u_kept"], np.nan)),
        w_kept=out(np.where(cand["kept_exists"], cand["w_kept"], np.nan)),
        u_zeroed=out(np.zeros_like(w)), w_zeroed=out(cand["w_zeroed"]), kept_ok=out(kept_ok), zeroed_ok=out(zero_ok),
        consistent=out(consistent), converged=out(converged), residual=out(residual),
        root_small=out(root_small),
        u_kept_small=out(np.where(cand["small_exists"], cand["u_small"], np.nan)),
        w_kept_small=out(np.where(cand["small_exists"], cand["w_small"], np.nan)),
        kept_small_ok=out(cand["small_ok"]), _curvature_matrix_of=_curvature_matrix_fn(pen, ws2, lam_b, beta_b, k),
    )


@dataclass(frozen=True)
class LimitCandidates:
    """Every fixed point of RVSM that :func:`fixed_points` found for one problem (theory page section 5).

    Attributes
    ----------
    candidates : LimitPrediction
        One row per fixed point (batch axis of length P, P >= 0), each a genuine fixed point (``ok``): its kept set
        (``support``), the root of each kept coordinate (``root_small``), ``(w, u)``, ``(s, q)`` and ``curvature``.
    truncated : bool
        Some grid point had more branch combinations than ``max_patterns``; those were not tried.
    """

    candidates: LimitPrediction
    truncated: bool

    def __len__(self) -> int:
        return int(np.asarray(self.candidates.q).shape[0])

    def stable(self, eta: float) -> np.ndarray:
        """Bool (P,): linearly stable under Gauss-Seidel RVSM with step ``eta``."""
        return self.candidates.stable(eta)

    def nearest(self, w: Any, u: Any) -> tuple[int, float]:
        """Index of the candidate closest to ``(w, u)`` (max-norm over both) and that distance (-1, inf if none)."""
        if len(self) == 0:
            return -1, math.inf
        w, u = np.asarray(to_numpy(w, "w"), dtype=np.float64), np.asarray(to_numpy(u, "u"), dtype=np.float64)
        err = np.maximum(np.max(np.abs(self.candidates.w - w), axis=1), np.max(np.abs(self.candidates.u - u), axis=1))
        i = int(np.argmin(err))
        return i, float(err[i])


def fixed_points(problem: Problem, *, tol: float = 1e-14, max_patterns: int = 256) -> LimitCandidates:
    """Every fixed point of RVSM (population gradient, ``q > 0``) for one problem: each kept set, each root choice.

    Parameters
    ----------
    problem : Problem
        One problem (no batch axis).
    tol : float
        Tolerance of each ``(s, q)`` solve, as in :func:`predict`.
    max_patterns : int
        Largest number of branch combinations tried at one grid point (``truncated`` says whether it was hit).

    Returns
    -------
    LimitCandidates
        The distinct genuine fixed points, each with its ``curvature``; ``stable(eta)`` says which of them RVSM can
        converge to with step ``eta`` (Gauss-Seidel order). Which stable one it reaches depends on its path.

    Notes
    -----
    A fixed point has ``(s, q) = (s(w), q(w))`` with every coordinate on a self-consistent branch at that
    ``(s, q)``: zeroed, the larger kept root or the smaller one. The branches that are self-consistent are
    evaluated on a grid of ``(k s, k q)`` (``k s`` in (0, 1], ``k q`` log-spaced from ~1e-3 to ``1 + (k-1)/pi``);
    every combination met there (at most ``max_patterns`` per point) is solved for its own ``(s, q)`` from the
    grid point where its self-consistency residual is smallest, and kept if the solution is a genuine fixed point.
    A branch pattern whose region of self-consistency falls between grid points can be missed; :func:`predict`
    with ``support=`` and ``root=`` solves any given pattern directly.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a numerics.Problem; got {type(problem).__name__}")
    if problem.batch_size is not None:
        raise ValueError("fixed_points takes one problem (no batch axis); call it per trial")
    tol = check_positive_float("tol", tol)
    pen, k = problem.penalty, problem.k
    ws2, lam_b, beta_b = problem.on_host()
    d = ws2.shape[1]
    tol_abs = tol * (1.0 + (k - 1) / math.pi)
    ks = np.linspace(1.0 / _GRID_S, 1.0, _GRID_S)
    kq = np.geomspace(_Q_SINGULAR * 1.5, 1.0 + (k - 1) / math.pi, _GRID_Q)
    pts = np.concatenate([np.ones((1, 2)), np.stack(np.meshgrid(ks, kq, indexing="ij"), -1).reshape(-1, 2)])
    g = pts.shape[0]

    def rows(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.repeat(ws2, m, axis=0), np.repeat(lam_b, m), np.repeat(beta_b, m)

    wsg, lamg, betag = rows(g)
    cand = _candidates(pen, wsg, lamg, betag, pts, k)
    opts = np.stack([cand["zeroed_ok"], cand["kept_ok"], cand["small_ok"]], axis=-1)  # (g, d, 3): 0, large, small
    patterns: dict[tuple[int, ...], list[int]] = {}
    truncated = False
    for j in range(g):
        choices = [np.flatnonzero(opts[j, i]) for i in range(d)]
        if any(c.size == 0 for c in choices):
            continue  # some coordinate has no self-consistent branch at this (s, q)
        if math.prod(c.size for c in choices) > max_patterns:
            truncated = True
            continue
        for combo in itertools.product(*choices):
            patterns.setdefault(tuple(int(v) for v in combo), []).append(j)
    if not patterns:
        empty = _assemble(pen, ws2[:0], lam_b[:0], beta_b[:0], k, np.ones((0, 2)), np.zeros((0, d), bool),
                          np.zeros((0, d), bool), np.zeros(0, bool), (0,))
        return LimitCandidates(empty, truncated)
    pats = np.array(list(patterns), dtype=np.int64)  # (P, d)
    # seed of each pattern: its grid point with the smallest self-map residual
    pair_p = np.concatenate([np.full(len(js), i) for i, js in enumerate(patterns.values())])
    pair_g = np.concatenate([np.asarray(js) for js in patterns.values()])
    wsr, lamr, betar = rows(pair_p.size)
    res = _gnorm(_self_map_residual(pts[pair_g], pen, wsr, lamr, betar, pats[pair_p] > 0, k, pats[pair_p] == 2))
    seed = np.empty((pats.shape[0], 2))
    best = np.full(pats.shape[0], np.inf)
    for p_, g_, r_ in zip(pair_p, pair_g, res, strict=True):
        if r_ < best[p_] or not np.isfinite(best[p_]):
            best[p_], seed[p_] = r_, pts[g_]
    n = pats.shape[0]
    wsn, lamn, betan = rows(n)
    sup, small = pats > 0, pats == 2

    def fun(xv: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return _self_map_residual(xv, pen, wsn[idx], lamn[idx], betan[idx], sup[idx], k, small[idx])

    x, gn = _solve_fixed_support(seed, fun, np.arange(n), sup, k, tol_abs)
    pred = _assemble(pen, wsn, lamn, betan, k, x, sup, small, gn <= tol_abs, (n,))
    keep = np.flatnonzero(pred.ok)
    # distinct fixed points (a pattern solved to a point another pattern also reached is listed once)
    order, seen = [], []
    for i in keep:
        key = np.concatenate([pred.w[i], pred.u[i]])
        if not any(np.max(np.abs(key - other)) <= 1e-9 * (1.0 + np.max(np.abs(key))) for other in seen):
            seen.append(key)
            order.append(i)
    sel = np.asarray(order, dtype=np.int64)
    fields = {f: getattr(pred, f)[sel] for f in pred.__dataclass_fields__ if not f.startswith("_")}
    fields["_curvature_matrix_of"] = _curvature_matrix_fn(pen, wsn[sel], lamn[sel], betan[sel], k)
    return LimitCandidates(LimitPrediction(**fields), truncated)


def _host_pair(problem: Problem, w: Any, u: Any) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    ws2, _, _ = problem.on_host()
    n, d = ws2.shape
    arrs = []
    for name, v in (("w", w), ("u", u)):
        a = np.asarray(to_numpy(v, name), dtype=np.float64)
        if a.shape not in ((d,), (n, d)):
            raise ValueError(f"{name} must have shape (d,) = {(d,)} or (B, d) = {(n, d)}; got {a.shape}")
        arrs.append(np.broadcast_to(a, (n, d)).copy())
    batch = () if problem.batch_size is None and np.ndim(w) == 1 and np.ndim(u) == 1 else (n,)
    return arrs[0], arrs[1], batch


def linearized_map(problem: Problem, w: Any, u: Any, *, eta: Any, update: str = "gauss-seidel") -> np.ndarray:
    """The Jacobian of one RVSM step (population gradient) at ``(w, u)`` with the support frozen.

    Parameters
    ----------
    problem : Problem
    w, u : array (d,) or (B, d)
        A point with ``u = prox(w)`` (typically a fixed point), ``w != 0``.
    eta : float or array (B,)
        Step size.
    update : {"gauss-seidel", "jacobi"}
        The order of :func:`numerics.run`.

    Returns
    -------
    ndarray
        Gauss-Seidel: ``I - eta (hess l(w) + beta (I - D))`` of shape (..., d, d), the Jacobian of
        ``w -> w - eta (grad l(w) + beta (w - prox(w)))``; Jacobi: the (..., 2d, 2d) Jacobian of
        ``(w, u) -> (w - eta (grad l(w) + beta (w - u)), prox(w))``, ``[[I - eta (H + beta I), eta beta I], [D, 0]]``.
        ``D = diag(prox'(w_i))``: ``1/(1 + mu P''(u_i))`` on kept coordinates, 0 on zeroed ones.

    Notes
    -----
    A fixed point is linearly stable iff the spectral radius of this matrix is below 1 (theory page section 5).
    """
    check_choice("update", update, ("gauss-seidel", "jacobi"))
    ws2, lam_b, beta_b = problem.on_host()
    w2, u2, batch = _host_pair(problem, w, u)
    n, d = w2.shape
    eta_b = np.broadcast_to(np.asarray(eta, dtype=np.float64), (n,))
    m, h = _curvature_matrix(problem.penalty, w2, u2, ws2, lam_b, beta_b, problem.k)
    eye = np.eye(d)
    if update == "gauss-seidel":
        jac = eye - eta_b[:, None, None] * m
    else:
        jac = np.zeros((n, 2 * d, 2 * d))
        jac[:, :d, :d] = eye - eta_b[:, None, None] * (h + beta_b[:, None, None] * eye)
        jac[:, :d, d:] = (eta_b * beta_b)[:, None, None] * eye
        idx = np.arange(d)
        jac[:, d + idx, idx] = _prox_slope(problem.penalty, u2, lam_b / beta_b)
    return jac.reshape(batch + jac.shape[1:])


def reached_branches(problem: Problem, w: Any, u: Any, *, atol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """The branches a limit ``(w, u)`` sits on: ``(support, root_small)``, bool arrays like ``u``.

    ``support``: ``|u_i| > atol`` (and ``w*_i != 0``); ``root_small``: a kept coordinate on the smaller root of the
    kept equation, i.e. where ``X(u) = u + mu_bar P'(u)`` is decreasing, ``1 + mu_bar P''(u_i) < 0``, with
    ``mu_bar = lam (1/beta + 1/q)`` at the ``q`` of ``w`` itself. Pass both to :func:`predict` (``support=``,
    ``root=``) to get the prediction for the limit reached.
    """
    ws2, lam_b, beta_b = problem.on_host()
    w2, u2, batch = _host_pair(problem, w, u)
    q, _ = gradient_coefficients(w2, ws2, problem.k, validate=False)
    support = (np.abs(u2) > atol) & (ws2 != 0)
    with np.errstate(all="ignore"):
        mb = _mu_bar(lam_b, beta_b, q)
        xprime = 1.0 + mb[:, None] * _second_derivative(problem.penalty, np.where(support, u2, 1.0))
    small = support & (q > 0)[:, None] & (xprime < 0)
    shape = (*batch, w2.shape[1])
    return support.reshape(shape), small.reshape(shape)


def _reseeded(problem: Problem, pred: LimitPrediction, support: np.ndarray, small: np.ndarray, hint: np.ndarray,
              *, k_s: np.ndarray, k_q: np.ndarray) -> LimitPrediction:
    """``pred`` with its trials that are not ``ok`` solved again from a given ``(k s, k q)`` (the reached limit's):
    predict starts at ``(1, 1)`` and a grid, and a fixed point with a smaller kept root can exist only in a narrow
    ``(s, q)`` region that both miss (seen: log-sum, RVSM at a smaller root with ``k q = 0.41``). A reseeded trial
    replaces the first solve only where it is ``ok``."""
    bad = ~np.asarray(pred.ok).reshape(-1)
    if not np.any(bad):
        return pred
    pen, k = problem.penalty, problem.k
    ws2, lam_b, beta_b = problem.on_host()
    n, d = ws2.shape
    sup2 = np.broadcast_to(np.asarray(support), (n, d)) if np.ndim(support) == 1 else np.asarray(support).reshape(n, d)
    sm2 = np.broadcast_to(np.asarray(small), (n, d)) if np.ndim(small) == 1 else np.asarray(small).reshape(n, d)
    nr2 = np.broadcast_to(np.asarray(hint), (n, d)) if np.ndim(hint) == 1 else np.asarray(hint).reshape(n, d)
    sm2 = sm2 & sup2
    x0 = np.stack([np.broadcast_to(k_s, (n,)), np.broadcast_to(k_q, (n,))], axis=1).astype(np.float64)
    idx = np.flatnonzero(bad & np.all(np.isfinite(x0), axis=1) & (x0[:, 1] > 0))
    if idx.size == 0:
        return pred
    tol_abs = 1e-14 * (1.0 + (k - 1) / math.pi)

    def fun(xv: np.ndarray, j: np.ndarray) -> np.ndarray:
        return _self_map_residual(xv, pen, ws2[j], lam_b[j], beta_b[j], sup2[j], k, sm2[j], nr2[j])

    xs, gn = _solve_fixed_support(x0, fun, idx, sup2, k, tol_abs)
    again = _assemble(pen, ws2[idx], lam_b[idx], beta_b[idx], k, xs, sup2[idx], sm2[idx], gn <= tol_abs,
                      (idx.size,), nr2[idx])
    take = np.asarray(again.ok)
    if not np.any(take):
        return pred
    fields = {}
    for f in pred.__dataclass_fields__:
        if f.startswith("_"):
            continue
        v = getattr(pred, f)
        if v is None:
            fields[f] = v
            continue
        arr = np.array(v, copy=True)
        flat = arr.reshape(n, -1) if arr.ndim > (0 if problem.batch_size is None else 1) else arr.reshape(n)
        new = np.asarray(getattr(again, f))
        flat[idx[take]] = new.reshape(idx.size, -1)[take] if flat.ndim == 2 else new.reshape(idx.size)[take]
        fields[f] = flat.reshape(arr.shape)
    fields["_curvature_matrix_of"] = _curvature_matrix_fn(pen, ws2, lam_b, beta_b, k)
    return LimitPrediction(**fields)


def matches_a_stable_limit(problem: Problem, w: Any, u: Any, *, eta: Any, update: str = "gauss-seidel",
                           atol: float = 1e-8, w0: Any = None) -> LimitMatch:
    """Whether a reached limit ``(w, u)`` is one of the predicted stable fixed points of RVSM.

    Reads the support and the root of every kept coordinate off the limit (:func:`reached_branches`), predicts the
    fixed point for them (:func:`predict` with ``support=``, ``root=`` and ``near=`` the reached ``u``, so a kept
    root that is neither the larger nor the smaller one is named too) and asks that it be a genuine fixed point,
    within ``atol`` of ``(w, u)``, and linearly stable for ``eta`` and ``update`` (:func:`linearized_map`). With the
    start ``w0`` the stability is that of the map restricted to the subspace RVSM cannot leave from it
    (:func:`invariant_subspace`): from a symmetric start RVSM can converge to a fixed point that is unstable only
    across that subspace.

    Returns
    -------
    LimitMatch
    """
    support, small = reached_branches(problem, w, u, atol=atol)
    w2, u2, batch = _host_pair(problem, w, u)
    # a kept coordinate on neither the larger nor the smaller root (at the reached (s, q)) is predicted on the root
    # nearest the one reached (SCAD with mu_bar > a - 1 has three); the others keep the larger/smaller rule
    ws2, lam_b, beta_b = problem.on_host()
    q_r, s_r = gradient_coefficients(w2, ws2, problem.k, validate=False)
    with np.errstate(all="ignore"):
        qs = np.where(q_r > 0, q_r, np.nan)
        mb = _mu_bar(lam_b, beta_b, qs)
        target = (s_r / qs)[:, None] * ws2
        u_large = np.asarray(problem.penalty.shrink(target, np.where(np.isfinite(mb), mb, 0.0), validate=False))
        u_small = _smaller_root(problem.penalty, target, mb[:, None], u_large)
        tol = 1e-6 * (1.0 + np.abs(u2))
        named = (np.abs(u2 - u_large) <= tol) | (np.abs(u2 - u_small) <= tol)
    sup2 = support.reshape(u2.shape)
    hint = np.where(sup2 & ~named, u2, np.nan).reshape(support.shape)
    pred = predict(problem, support=support, root=small, near=hint)
    pred = _reseeded(problem, pred, support, small, hint, k_s=problem.k * s_r, k_q=problem.k * q_r)
    n, d = w2.shape
    pw = np.broadcast_to(np.asarray(pred.w).reshape(-1, d), (n, d))
    pu = np.broadcast_to(np.asarray(pred.u).reshape(-1, d), (n, d))
    with np.errstate(invalid="ignore"):
        err = np.maximum(np.max(np.abs(w2 - pw), axis=1), np.max(np.abs(u2 - pu), axis=1))
    err = np.where(np.isfinite(err), err, np.inf)
    size = d if update == "gauss-seidel" else 2 * d
    jac = linearized_map(problem, pw, pu, eta=eta, update=update).reshape(n, size, size)
    starts = None
    if w0 is not None:
        ws2, _, _ = problem.on_host()
        starts = np.broadcast_to(np.asarray(to_numpy(w0, "w0"), dtype=np.float64).reshape(-1, d), (n, d))
    rho = np.full(n, np.nan)
    for i in np.flatnonzero(np.all(np.isfinite(jac), axis=(1, 2))):
        j = jac[i]
        if starts is not None:
            b = invariant_subspace(ws2[i], starts[i])
            b = b if update == "gauss-seidel" else np.block([[b, np.zeros_like(b)], [np.zeros_like(b), b]])
            j = b.T @ j @ b
        rho[i] = np.max(np.abs(np.linalg.eigvals(j)), initial=0.0)
    ok = np.asarray(pred.ok).reshape(-1)
    matched = ok & (err <= atol) & (rho < 1.0)
    return LimitMatch(matched=matched.reshape(batch), error=err.reshape(batch), spectral_radius=rho.reshape(batch),
                      support=support, root_small=small, prediction=pred)
