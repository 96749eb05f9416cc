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

  the stationarity equation of ``prox_{mu_bar P}`` at ``r w*_i``. Eliminating ``w`` for frozen ``(s, q)`` leaves the
  scalar objective ``(q beta/(q + beta)) [mu_bar P(u) + (u - r w*_i)^2/2]``, so the stable kept value is the local
  minimiser on the nonzero branch: ``u_i = shrink(r w*_i, mu_bar)`` (for TL1 the largest root of the cubic, which
  is what the trigonometric ``shrink`` returns wherever that root exists), and
  ``w_i = (s w*_i + beta u_i)/(q + beta)``. It is self-consistent iff ``prox(w_i, mu) = u_i``.

  * l1: ``u_i = soft(r w*_i, mu_bar)``; kept iff ``r |w*_i| > mu_bar``, zeroed otherwise: never both (no band).
  * l0: ``u_i = w_i = r w*_i``, kept iff ``r |w*_i| > gamma = sqrt(2 mu)``; zeroed iff
    ``r |w*_i| <= gamma (1 + beta/q)``: both in the band between.
  * TL1: kept iff ``|w_i| > threshold_TL1(mu)`` (the check uses the prox itself); a band can occur.

``(s, q)`` must reproduce themselves: ``s = s(w(s, q))``, ``q = q(w(s, q))``, two scalar equations per trial solved by
a vectorized damped Newton iteration (finite-difference Jacobian) on the batch with ``scipy.optimize.root`` as a
per-trial fallback. Which branch a band coordinate takes (the kept set ``support``) is chosen by an active-set loop:
solve for ``(s, q)`` with the current support, recompute which branches are self-consistent, update, repeat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics._arrays import check_choice, check_positive_float
from numerics.penalties import Penalty
from numerics.population import gradient_coefficients
from numerics.problem import Problem

__all__ = ["LimitPrediction", "predict"]

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


@dataclass(frozen=True)
class LimitPrediction:
    """The predicted RVSM limit returned by :func:`predict` (all NumPy; shapes for ``w_star`` of shape (..., d)).

    Attributes
    ----------
    w, u : ndarray (..., d)
        The fixed point ``(w_bar, u_bar)``: kept coordinates on the kept branch, the others on the zeroed one.
    s, q : ndarray (...)
        The gradient coefficients at ``w_bar``: ``grad l(w_bar) = q w_bar - s w*``.
    r : ndarray (...)
        ``s/q``, the rescaling of the truth.
    mu_bar : ndarray (...)
        ``lam (1/beta + 1/q)``, the effective threshold parameter of the kept branch.
    support : ndarray of bool (..., d)
        The kept set used (``u != 0`` exactly there, when consistent). False wherever ``w* = 0``.
    band : ndarray of bool (..., d)
        Coordinates where both branches are self-consistent at the returned ``(s, q)`` (two fixed points coexist).
        Always False for l1.
    u_kept, w_kept : ndarray (..., d)
        Kept-branch candidate at the returned ``(s, q)``: ``u = shrink(r w*, mu_bar)``,
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

    @property
    def ok(self) -> np.ndarray:
        """Per trial: converged and every coordinate self-consistent (a genuine fixed point)."""
        return self.converged & np.all(self.consistent, axis=-1)


# ----------------------------------------------------------------------------------------------------------------------
# Conversion and validation
# ----------------------------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------------------------------
# The limit map (pure NumPy on (n, d) blocks; lam, beta, s, q of shape (n,))
# ----------------------------------------------------------------------------------------------------------------------
def _mu_bar(lam: np.ndarray, beta: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Effective threshold parameter of the kept branch: ``lam (1/beta + 1/q)``."""
    return lam * (1.0 / beta + 1.0 / q)


def _kept_branch(pen: Penalty, w_star: np.ndarray, s: np.ndarray, q: np.ndarray, lam: np.ndarray,
                 beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kept-branch values ``(u, w)`` for every coordinate (formal: evaluated everywhere), the mask where that branch
    genuinely exists, and the target ``r w*``."""
    qpos = q > 0
    qs = np.where(qpos, q, 1.0)
    mu_bar = np.where(qpos, _mu_bar(lam, beta, qs), 0.0)
    target = (s / qs)[:, None] * w_star
    u = pen.shrink(target, mu_bar, validate=False)
    w = (s[:, None] * w_star + beta[:, None] * u) / (q + beta)[:, None]
    # exists iff u != 0 has the sign of w* and solves u + mu_bar P'(u) = r w* (the shrink of TL1 clips its arccos
    # argument where the nonzero root does not exist, so the stationarity residual exposes a fake root)
    stat = u + mu_bar[:, None] * pen.derivative(u) - target
    scale = np.abs(target) + np.abs(u) + mu_bar[:, None]
    exists = qpos[:, None] & (u * w_star > 0) & (np.abs(stat) <= _CONSISTENCY_RTOL * scale)
    return u, w, exists, target


def _branch_point(pen: Penalty, w_star: np.ndarray, s: np.ndarray, q: np.ndarray, lam: np.ndarray,
                  beta: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(w, u)`` with kept coordinates on the kept branch and the others zeroed, for given ``(s, q)``."""
    u_k, w_k, _, _ = _kept_branch(pen, w_star, s, q, lam, beta)
    w_z = (s / (q + beta))[:, None] * w_star
    return np.where(support, w_k, w_z), np.where(support, u_k, 0.0)


def _normalized_coefficients(w: np.ndarray, w_star: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k s(w), k q(w))`` from :func:`numerics.population.gradient_coefficients` (theory page section 2), normalized
    so that both equal 1 at ``w = w*``."""
    q, s = gradient_coefficients(w, w_star, k, validate=False)
    return k * s, k * q


def _self_map_residual(x: np.ndarray, pen: Penalty, w_star: np.ndarray, lam: np.ndarray,
                       beta: np.ndarray, support: np.ndarray, k: int) -> np.ndarray:
    """``G(x) = (k s(w(x)), k q(w(x))) - x`` for ``x = (k s, k q)`` of shape (n, 2); NaN where undefined."""
    s, q = x[:, 0] / k, x[:, 1] / k
    bad = (q + beta <= 0) | (s <= 0) | ((q <= 0) & np.any(support, axis=1))
    with np.errstate(all="ignore"):
        w, _ = _branch_point(pen, w_star, s, q, lam, beta, support)
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


def _candidates(pen: Penalty, ws2: np.ndarray, lam: np.ndarray, beta: np.ndarray, x: np.ndarray, k: int
                ) -> tuple[np.ndarray, ...]:
    """Both branches at ``x = (k s, k q)``: ``(u_kept, w_kept, kept_exists, w_zeroed, kept_ok, zeroed_ok)``."""
    nz = ws2 != 0
    s, q = x[:, 0] / k, x[:, 1] / k
    with np.errstate(all="ignore"):
        u_k, w_k, exists, _ = _kept_branch(pen, ws2, s, q, lam, beta)
        mu = (lam / beta)[:, None]
        thr = pen.threshold(lam / beta, validate=False)[:, None]
        w_z = (s / (q + beta))[:, None] * ws2
        kept_ok = exists & nz & (np.abs(w_k) > thr) & (
            np.abs(pen.shrink(w_k, lam / beta, validate=False) - u_k) <= _CONSISTENCY_RTOL * (np.abs(u_k) + mu))
        zero_ok = np.abs(w_z) <= thr
    return u_k, w_k, exists & nz, w_z, kept_ok, zero_ok


def _solve_self_consistency(pen: Penalty, ws2: np.ndarray, lam: np.ndarray, beta: np.ndarray, k: int,
                            support: np.ndarray | None, band: str, tol_abs: float
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``(s, q) = (s(w), q(w))`` for every trial, with the kept set fixed (``support``) or chosen by the
    active-set loop (``band`` rule). Returns ``x = (k s, k q)``, the residual norm, the kept set used and whether
    the active set settled."""
    n = ws2.shape[0]
    fixed = support is not None
    x = np.ones((n, 2))  # x = (k s, k q) = (1, 1) is the exact answer at lam = 0

    def rule(kept_ok: np.ndarray, zero_ok: np.ndarray) -> np.ndarray:
        return kept_ok if band == "keep" else kept_ok & ~zero_ok

    sup = support if fixed else rule(*_candidates(pen, ws2, lam, beta, x, k)[4:])

    def fun(xv: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return _self_map_residual(xv, pen, ws2[idx], lam[idx], beta[idx], sup[idx], k)

    sup_solved = sup.copy()  # the support each trial's current (s, q) was solved with
    settled = np.ones(n, dtype=bool) if fixed else np.zeros(n, dtype=bool)
    repair = np.zeros(n, dtype=bool)
    todo = np.ones(n, dtype=bool)
    gn = np.full(n, np.inf)
    for rnd in range(1 if fixed else _ACTIVE_SET_ROUNDS):
        idx = np.flatnonzero(todo)
        if idx.size == 0:
            break
        xi, gi = _newton(x[idx], lambda xv, j, idx=idx: fun(xv, idx[j]), tol_abs)
        # per-trial SciPy fallback; skipped where Newton ran into q -> 0+ with kept coordinates: the fixed point then
        # has q <= 0 (outside the scope of the kept-branch formula, see Notes) and no solver can find it here
        for m in np.flatnonzero((gi > tol_abs) & ~((xi[:, 1] < _Q_SINGULAR) & np.any(sup[idx], axis=1))):
            i = idx[m]
            xi[m], gi[m] = _scipy_polish(xi[m], lambda xv, i=i: fun(np.asarray(xv)[None], np.array([i]))[0],
                                         tol_abs)
        x[idx], gn[idx] = xi, gi
        sup_solved[idx] = sup[idx]
        if fixed:
            break
        kept_ok, zero_ok = _candidates(pen, ws2, lam, beta, x, k)[4:]
        # preferred rule first; trials that keep changing switch to the repair rule, which flips only the
        # coordinates whose branch is inconsistent (the preferred rule can cycle: keeping a band coordinate may move
        # (s, q) so that it is no longer kept-consistent, and dropping it makes it kept-consistent again)
        new = np.where(repair[:, None], np.where(sup, kept_ok, ~zero_ok), rule(kept_ok, zero_ok))
        changed = np.any(new != sup, axis=1)
        settled = ~changed
        if rnd + 1 >= _PREFERRED_ROUNDS:
            repair |= changed
        sup = np.where(changed[:, None], new, sup)
        todo = changed & (gn <= tol_abs)  # a failed solve is reported, not iterated
    return x, gn, sup_solved, settled


# ----------------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------------
def predict(problem: Problem, *, band: str = "keep", support: Any = None, tol: float = 1e-14) -> LimitPrediction:
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
        Naming the parameter: unknown ``band``, ``tol <= 0``, a shape mismatch of ``support``, or ``support`` True
        where ``w* = 0`` (the problem itself was validated when it was built).

    Notes
    -----
    With ``mu = lam/beta``, ``grad l(w) = q w - s w*``, ``s = (pi - t)/(k pi)``, ``q = A(w)/k^2``
    (theory page section 2, ``t = angle(w, w*)``), a fixed point satisfies ``(q + beta) w = s w* + beta u``,
    ``u = prox_{mu P}(w)``. For given ``(s, q)``, with ``r = s/q`` and ``mu_bar = lam (1/beta + 1/q)``:

    .. math::

        \text{kept: } u_i = \mathrm{shrink}(r w^*_i, \bar\mu) \;(\text{solves } u + \bar\mu P'(u) = r w^*_i),\quad
        w_i = \frac{s w^*_i + \beta u_i}{q + \beta};\qquad
        \text{zeroed: } u_i = 0,\quad w_i = \frac{s w^*_i}{q + \beta}.

    l1: ``u = soft(r w*, mu_bar)``, no band. l0 (``gamma = sqrt(2 mu)``): kept ``u = w = r w*`` valid iff
    ``r|w*_i| > gamma``, zeroed valid iff ``r|w*_i| <= gamma (1 + beta/q)``. TL1: kept ``u`` is the largest root of
    the TL1 stationarity cubic at ``mu_bar``, valid iff ``prox_{mu}(w_i) = u_i``. Coordinates with ``w*_i = 0`` give
    ``u = w = 0``. ``(s, q)`` then solve ``s = s(w)``, ``q = q(w)`` (two scalars per trial), see the module docstring.

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
    shape = (*batch_shape, d)
    fixed = support is not None
    sup = problem.support_mask(support) if fixed else None

    tol_abs = tol * (1.0 + (k - 1) / math.pi)
    x, gn, sup, settled = _solve_self_consistency(pen, ws2, lam_b, beta_b, k, sup if fixed else None, band, tol_abs)
    converged = (gn <= tol_abs) & settled

    s, q = x[:, 0] / k, x[:, 1] / k
    u_k, w_k, exists, w_z, kept_ok, zero_ok = _candidates(pen, ws2, lam_b, beta_b, x, k)
    with np.errstate(all="ignore"):
        w, u = _branch_point(pen, ws2, s, q, lam_b, beta_b, sup)
        qpos = q > 0
        mu_bar = np.where(qpos, _mu_bar(lam_b, beta_b, np.where(qpos, q, 1.0)), np.nan)
        r = s / q
        ks, kq = _normalized_coefficients(w, ws2, k)
        res_vec = (kq / k)[:, None] * w - (ks / k)[:, None] * ws2 + beta_b[:, None] * (
            w - pen.prox(w, lam_b / beta_b, validate=False))
    residual = np.max(np.abs(res_vec), axis=1)
    consistent = np.where(sup, kept_ok, zero_ok)
    bnd = kept_ok & zero_ok

    def out(v: np.ndarray) -> np.ndarray:
        return v.reshape(shape) if v.ndim == 2 else v.reshape(batch_shape)

    return LimitPrediction(
        w=out(w), u=out(u), s=out(s), q=out(q), r=out(r), mu_bar=out(mu_bar), support=out(sup), band=out(bnd),
        u_kept=out(np.where(exists, u_k, np.nan)), w_kept=out(np.where(exists, w_k, np.nan)),
        u_zeroed=out(np.zeros_like(w)), w_zeroed=out(w_z), kept_ok=out(kept_ok), zeroed_ok=out(zero_ok),
        consistent=out(consistent), converged=out(converged), residual=out(residual),
    )
