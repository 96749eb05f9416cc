"""RVSM fixed-point equations and the coordinatewise limit map (theory page section 5).

Derived here: the equations that hold at a limit of RVSM, and the limit map they give coordinate by coordinate for the
l1, l0 and TL1 penalties, each verified symbolically, by a brute-force scan and against plain RVSM.

At a limit ``(w_bar, u_bar)`` of the RVSM iteration

    w <- w - eta (grad l(w) + beta (w - u)),    u <- prox_{(lam/beta) P}(w),

both updates are stationary. With ``grad l(w) = q w - s w*`` (:func:`theory.loss.gradient_coefficients`) this gives,
coordinate by coordinate, ``(q + beta) w_bar_i = s w*_i + beta u_bar_i`` together with ``u_bar_i = prox(w_bar_i)``.
Given the two scalars ``s, q`` the pair decouples over coordinates; the case analysis of each prox (kept / zeroed
coordinate) yields the limit map, with ``r = s/q`` and ``mu_bar = lam (1/beta + 1/q)`` *derived* below (they are the
edge of the kept case, not typed in). Because ``s`` and ``q`` depend on ``w_bar`` only through ``|w_bar|`` and the
angle ``t_bar = angle(w_bar, w*)``, the whole limit is the fixed point of a two-parameter map, solved by a root finder
(:func:`predicted_limit`).

Every ``verify_limit_map_*`` function takes the *candidate* expressions as an argument, so a deliberately wrong formula
goes through the very same verification (tests/test_theory_fixed_points.py).

Assumption used throughout: ``q > 0`` at the limit (true near ``w*``, where ``q -> 1/k``; checked at every numerical
solution). Conventions: loss without a factor 1/2, ``prox_{mu P}(x) = argmin_y mu P(y) + (y - x)^2 / 2``, ties at a
threshold go to 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sympy as sp
from scipy import optimize

from .record import Check, Derivation
from .symbols import a, beta, eta, k, lam, mu, nw, theta
from .symbols import ns as ns_sym
from .verify import verify_symbolic_zero

__all__ = [
    "derive_fixed_point_equations",
    "derive_limit_map_l0",
    "derive_limit_map_l1",
    "derive_limit_map_tl1",
    "fixed_point_equations_exprs",
    "l0_band_edges_exprs",
    "limit_map_l0_exprs",
    "limit_map_l1_exprs",
    "limit_map_tl1_exprs",
    "mu_bar_expr",
    "predicted_limit",
    "self_consistency_map_exprs",
    "tl1_band_edges_exprs",
    "tl1_kept_equation",
    "verify_limit_map_l0",
    "verify_limit_map_l1",
    "verify_limit_map_tl1",
]

# ---------------------------------------------------------------------------------------------------------------
# Coordinate-level symbols. ``s`` and ``q`` are the two scalars of the gradient at the limit; ``w_star_i`` one
# coordinate of w*, ``x`` its modulus; ``u_pos`` a kept (positive) prox output.
s = sp.Symbol("s", positive=True)
q = sp.Symbol("q", positive=True)
w_star_i = sp.Symbol("w^*_i", real=True)
x = sp.Symbol("x", positive=True)
u_i = sp.Symbol("u_i", real=True)
w_i = sp.Symbol("w_i", real=True)
u_pos = sp.Symbol("u", positive=True)
_lam_pos = sp.Symbol("lambda", positive=True)
_r = s / q

CONVENTIONS = (
    "loss without a factor 1/2: l(w) = E[(f(Z;w) - f(Z;w*))^2]",
    "prox_{mu P}(x) = argmin_y mu P(y) + (y - x)^2/2, coordinatewise, with mu = lambda/beta",
    "ties at a threshold go to 0 (a kept coordinate needs a strict inequality)",
    "q > 0 at the limit (q -> 1/k near w*)",
)

_PENALTIES = ("l1", "l0", "tl1")


# ---------------------------------------------------------------------------------------------------------------
# Symbolic derivations
@functools.cache
def fixed_point_equations_exprs() -> dict[str, sp.Expr]:
    """The coordinate form of the RVSM fixed-point equations, derived from the update rule.

    Returns
    -------
    dict
        ``"w_update"``: ``w_i - eta (q w_i - s w*_i + beta (w_i - u_i))`` (one w-step);
        ``"stationarity"``: ``(q + beta) w_i - s w*_i - beta u_i`` (zero at a fixed point);
        ``"w_bar"``: the solution ``(s w*_i + beta u_i) / (q + beta)``; ``"r"``: ``s / q``.

    Notes
    -----
    A fixed point of ``w -> w - eta (g + beta (w - u))`` with ``eta > 0`` is exactly ``g + beta (w - u) = 0``; with
    ``g = q w - s w*`` this is ``(q + beta) w = s w* + beta u``, independent of ``eta``. The u-update is stationary iff
    ``u_bar = prox_{(lam/beta) P}(w_bar)`` (the prox is single-valued under the tie convention).
    """
    grad = q * w_i - s * w_star_i
    w_update = w_i - eta * (grad + beta * (w_i - u_i))
    (w_bar,) = sp.solve(sp.Eq(w_update, w_i), w_i)
    stationarity = sp.expand((q + beta) * w_i - s * w_star_i - beta * u_i)
    return {"w_update": w_update, "stationarity": stationarity, "w_bar": sp.factor(w_bar), "r": _r}


@functools.cache
def self_consistency_map_exprs() -> dict[str, sp.Expr]:
    """``s`` and ``q`` as functions of ``(|w|, t)`` (from :func:`theory.loss.gradient_coefficients`).

    Notes
    -----
    ``s = (pi - t)/(k pi)`` and ``q = A(w)/k^2`` depend on ``w`` only through ``n = |w|`` and ``t = angle(w, w*)``.
    The limit is therefore the fixed point of the two-parameter map
    ``(n, t) -> (|W(s(t), q(n, t))|, angle(W(s(t), q(n, t)), w*))``, ``W`` the coordinatewise limit map.
    """
    from . import loss  # imported lazily: the limit-map expressions themselves do not need the loss

    q_expr, s_expr = loss.gradient_coefficients()
    return {"s_of_n_t": s_expr, "q_of_n_t": q_expr}


def _stationarity(w_expr: sp.Expr, u_expr: sp.Expr, ws_expr: sp.Expr) -> sp.Expr:
    return fixed_point_equations_exprs()["stationarity"].subs({w_i: w_expr, u_i: u_expr, w_star_i: ws_expr})


@functools.cache
def _l1_case_analysis() -> dict[str, object]:
    """Solve the two equations case by case for the l1 prox (soft thresholding at lam/beta)."""
    sig = sp.Symbol("sigma")
    # Kept: u != 0 with sign sigma. Optimality of the prox: u = w - (lam/beta) sigma, |w| > lam/beta, sign w = sigma.
    sol = sp.solve([_stationarity(w_i, u_i, w_star_i), u_i - w_i + lam / beta * sig], [u_i, w_i], dict=True)[0]
    u_k, w_k = sol[u_i], sol[w_i]
    # sigma opposite to sign(w*_i) is inconsistent: with w*_i = x > 0 and sigma = -1, w_i = (s x + lam)/q > 0.
    w_wrong = sp.simplify(w_k.subs({sig: -1, w_star_i: x}))
    wrong_branch_impossible = bool(w_wrong.is_positive)
    # sigma = sign(w*_i): the kept condition |w_i| > lam/beta is linear in x = |w*_i|; its edge defines mu_bar.
    w_k_pos = sp.simplify(w_k.subs({sig: 1, w_star_i: x}))
    (x_edge_kept,) = sp.solve(sp.Eq(w_k_pos, lam / beta), x)
    mu_bar = sp.factor(sp.simplify(_r * x_edge_kept))
    # Zeroed: u = 0, w from the stationarity equation; consistent iff |w_i| <= lam/beta.
    (w_z,) = sp.solve(_stationarity(w_i, 0, w_star_i), w_i)
    (x_edge_zeroed,) = sp.solve(sp.Eq(w_z.subs(w_star_i, x), lam / beta), x)
    sgn = sp.sign(w_star_i)
    return {
        "u_kept": u_k.subs(sig, sgn),
        "w_kept": w_k.subs(sig, sgn),
        "w_zeroed": w_z,
        "mu_bar": mu_bar,
        "x_edge_kept": x_edge_kept,
        "x_edge_zeroed": x_edge_zeroed,
        "wrong_branch_impossible": wrong_branch_impossible,
    }


def mu_bar_expr() -> sp.Expr:
    """The effective threshold ``mu_bar`` of the limit map, derived as ``r`` times the edge of the kept case.

    Notes
    -----
    A kept l1 coordinate has ``|w_bar_i| = (s |w*_i| - lam)/q``; it is kept iff this exceeds ``lam/beta``, i.e.
    ``r |w*_i| > lam (q + beta)/(beta q) = lam (1/beta + 1/q) = mu_bar``.
    """
    return _l1_case_analysis()["mu_bar"]


def _assemble_two_branch(cand: Mapping[str, sp.Expr], keep_cond: sp.Basic) -> tuple[sp.Expr, sp.Expr]:
    u = sp.Piecewise((cand["u_kept"], keep_cond), (0, True))
    w = sp.Piecewise((cand["w_kept"], keep_cond), (cand["w_zeroed"], True))
    return u, w


@functools.cache
def limit_map_l1_exprs() -> dict[str, sp.Expr]:
    """The l1 limit map as SymPy expressions in ``(w*_i, s, q, lam, beta)``.

    Returns
    -------
    dict
        ``"u_kept"``, ``"w_kept"`` (the kept branch), ``"w_zeroed"`` (the zeroed branch, ``u = 0``), ``"mu_bar"``,
        ``"kept_condition"`` (``r |w*_i| > mu_bar``), and the assembled piecewise maps ``"u"`` and ``"w"``.

    Notes
    -----
    ``u_bar_i = soft_threshold(r w*_i, mu_bar) = sign(w*_i) max(r |w*_i| - mu_bar, 0)``; kept coordinates have
    ``w_bar_i = (s w*_i - lam sign w*_i)/q``, thresholded ones ``w_bar_i = s w*_i/(q + beta)``. The two case edges
    coincide, so the map is unique given ``(s, q)``.
    """
    ca = _l1_case_analysis()
    cand = {key: ca[key] for key in ("u_kept", "w_kept", "w_zeroed", "mu_bar")}
    cond = _r * sp.Abs(w_star_i) > cand["mu_bar"]
    u, w = _assemble_two_branch(cand, cond)
    return {**cand, "kept_condition": cond, "u": u, "w": w}


@functools.cache
def _hard_threshold_level() -> sp.Expr:
    """gamma(mu): the tie of the l0 prox objective between y = x (value mu) and y = 0 (value x^2/2)."""
    roots = sp.solve(sp.Eq(mu, x**2 / 2), x)
    (gamma,) = [r for r in roots if r.is_positive]
    return gamma


@functools.cache
def limit_map_l0_exprs() -> dict[str, sp.Expr]:
    """The l0 limit map: kept and zeroed branches and the band edges (in units of ``r |w*_i|``).

    Returns
    -------
    dict
        ``"gamma"`` (``sqrt(2 lam/beta)``), ``"u_kept"``, ``"w_kept"`` (both ``r w*_i``), ``"w_zeroed"``
        (``s w*_i/(q + beta)``), ``"kept_edge"`` (``gamma``: kept is self-consistent iff ``r |w*_i| > kept_edge``),
        ``"zeroed_edge"`` (``gamma (1 + beta/q)``: zeroed is self-consistent iff ``r |w*_i| <= zeroed_edge``).

    Notes
    -----
    Hard thresholding keeps ``w`` iff ``|w| > gamma`` (a tie at ``|w| = gamma`` goes to 0, hence the strict inequality
    for kept and the non-strict one for zeroed). Kept: ``u = w`` turns the stationarity equation into ``q w = s w*``.
    Zeroed: ``u = 0`` gives ``w = s w*/(q + beta)``. For ``gamma < r|w*_i| <= gamma (1 + beta/q)`` both are fixed
    points.
    """
    gamma = _hard_threshold_level().subs(mu, lam / beta)
    (w_k,) = sp.solve(_stationarity(w_i, w_i, w_star_i), w_i)  # kept: u = w
    (w_z,) = sp.solve(_stationarity(w_i, 0, w_star_i), w_i)  # zeroed: u = 0
    (x_k,) = sp.solve(sp.Eq(w_k.subs(w_star_i, x), gamma), x)
    (x_z,) = sp.solve(sp.Eq(w_z.subs(w_star_i, x), gamma), x)
    return {
        "gamma": gamma,
        "u_kept": w_k,
        "w_kept": w_k,
        "w_zeroed": w_z,
        "kept_edge": sp.simplify(_r * x_k),
        "zeroed_edge": sp.factor(sp.simplify(_r * x_z)),
    }


def l0_band_edges_exprs() -> tuple[sp.Expr, sp.Expr]:
    """``(kept_edge, zeroed_edge) = (gamma, gamma (1 + beta/q))`` in units of ``r |w*_i|``.

    Notes
    -----
    Kept is a fixed point iff ``r |w*_i| > gamma``; zeroed iff ``r |w*_i| <= gamma (1 + beta/q)``; both in between.
    """
    m = limit_map_l0_exprs()
    return m["kept_edge"], m["zeroed_edge"]


def _tl1_rho(y: sp.Expr) -> sp.Expr:
    return (a + 1) * sp.Abs(y) / (a + sp.Abs(y))


@functools.cache
def _tl1_analysis() -> dict[str, sp.Expr]:
    """Kept-branch equation, prox threshold and band edges for TL1, from the stationarity equations."""
    mu_t = lam / beta
    drho = sp.factor(sp.diff(_tl1_rho(u_pos), u_pos))  # rho_a'(u) = a (a+1)/(a+u)^2 for u > 0
    # Nonzero branch of the prox (u > 0): stationarity u - w + mu rho'(u) = 0.
    (w_of_u,) = sp.solve(sp.Eq(u_pos - w_i + mu_t * drho, 0), w_i)
    # Eliminate w from (q + beta) w = s w* + beta u; divided by q this is u + mu_bar rho'(u) - r w*.
    kept_eq = sp.expand(_stationarity(w_of_u, u_pos, w_star_i) / q)
    mu_bar_tl1 = sp.factor(sp.simplify((kept_eq - u_pos + _r * w_star_i) / drho))
    if mu_bar_tl1.has(u_pos, w_star_i):
        raise RuntimeError(f"TL1 kept equation is not of the form u + c rho'(u) = r w*: c = {mu_bar_tl1}")
    # Threshold of the prox at mu: tie of mu rho(u) + (u - w)^2/2 with w^2/2 at a stationary u > 0.
    w_mu = u_pos + mu * drho
    tie = sp.simplify((mu * _tl1_rho(u_pos) + (u_pos - w_mu) ** 2 / 2 - w_mu**2 / 2) / u_pos)
    roots = sp.solve(sp.Eq(tie, 0), u_pos)
    u_tie = [r for r in roots if not r.is_negative]
    if len(u_tie) != 1:
        raise RuntimeError(f"TL1 tie: expected one admissible root, got {roots}")
    u_tie = u_tie[0]  # sqrt(2 mu (a+1)) - a  (> 0 iff supercritical)
    crit = sp.solve(sp.Eq(u_tie, 0), mu)[0]  # mu at which the jump appears: a^2 / (2 (a + 1))
    t_super = sp.simplify(w_mu.subs(u_pos, u_tie))
    t_sub = sp.limit(w_mu, u_pos, 0, "+")
    threshold = sp.Piecewise((t_sub, mu <= crit), (t_super, True))
    u_start = sp.Max(u_tie, 0)  # kept prox outputs are u > u_start
    # Kept fixed points: x = r|w*_i| = X(u) := u + mu_bar rho'(u) for some u > u_start (prox(w(u)) = u there).
    # X is convex (X'' = 6 mu_bar a (a+1)/(a+u)^4 > 0), so inf_{u > u_start} X is X(u_c) if u_c > u_start, else the
    # (not attained) X(u_start).  Derived with a placeholder M for mu_bar, then substituted.
    M, z = sp.Symbol("M", positive=True), sp.Symbol("z", positive=True)  # z = a + u
    X_M = u_pos + M * drho
    crit_pts = sp.solve(sp.Eq(sp.diff(X_M.subs(u_pos, z - a), z), 0), z)
    if len(crit_pts) != 1:
        raise RuntimeError(f"TL1 band: expected one critical point of X(u), got {crit_pts}")
    u_c = crit_pts[0] - a
    X_min = sp.simplify(sp.powsimp(X_M.subs(u_pos, u_c), force=True))
    mu_sub = {mu: mu_t}
    u_start_l = u_start.subs(mu_sub)
    u_c_l = u_c.subs(M, mu_bar_tl1)
    kept_edge = sp.Piecewise(
        (X_min.subs(M, mu_bar_tl1), u_c_l > u_start_l),
        (X_M.subs({u_pos: u_start_l, M: mu_bar_tl1}), True),
    )
    # Zeroed: w = s w*/(q + beta) is consistent iff |w| <= threshold(mu); the edge in units of r|w*_i|.
    (w_z,) = sp.solve(_stationarity(w_i, 0, w_star_i), w_i)
    thr_sym = sp.Symbol("T", positive=True)
    (x_z,) = sp.solve(sp.Eq(w_z.subs(w_star_i, x), thr_sym), x)
    zeroed_edge = sp.factor(sp.simplify(_r * x_z)).subs(thr_sym, threshold.subs(mu_sub))
    drho_general = sp.sign(u_i) * drho.subs(u_pos, sp.Abs(u_i))
    return {
        "kept_equation": u_i + mu_bar_tl1 * drho_general - _r * w_star_i,
        "kept_equation_pos": kept_eq,
        "mu_bar": mu_bar_tl1,
        "rho_prime": drho_general,
        "w_of_u": u_i + mu_t * drho_general,
        "w_zeroed": w_z,
        "threshold": threshold,
        "u_tie": u_tie,
        "critical_mu": crit,
        "u_start": u_start,
        "u_critical": u_c_l,
        "X_of_u": X_M.subs(M, mu_bar_tl1),
        "X_min": X_min.subs(M, mu_bar_tl1),
        "kept_edge": kept_edge,
        "zeroed_edge": zeroed_edge,
    }


@functools.cache
def limit_map_tl1_exprs() -> dict[str, sp.Expr]:
    """The TL1 limit map: kept-branch equation, branches and band edges (edges in units of ``r |w*_i|``).

    Returns
    -------
    dict
        ``"kept_equation"`` (zero at a kept ``u_i``: ``u + mu_bar rho_a'(u) - r w*_i``), ``"w_of_u"`` (``w_bar_i`` of a
        kept coordinate, ``u + (lam/beta) rho_a'(u)``), ``"w_zeroed"`` (``s w*_i/(q + beta)``), ``"mu_bar"``,
        ``"threshold"`` (of the prox at ``mu``), ``"u_start"`` (kept outputs satisfy ``|u| > u_start``), ``"kept_edge"``
        and ``"zeroed_edge"``.

    Notes
    -----
    Kept: ``u != 0`` is on the nonzero branch of the prox at ``mu = lam/beta``, so ``w = u + mu rho_a'(u)``; putting
    this into ``(q + beta) w = s w* + beta u`` and dividing by ``q`` gives ``u + mu_bar rho_a'(u) = r w*_i``. With
    ``X(u) = u + mu_bar a (a+1)/(a+u)^2`` (convex) a kept fixed point exists iff ``r |w*_i| = X(u)`` for some
    ``u > u_start = max(sqrt(2 mu (a+1)) - a, 0)``, i.e. iff ``r|w*_i| >= X(u_c)``, ``(a+u_c)^3 = 2 mu_bar a (a+1)``,
    when ``u_c > u_start`` (then ``X(u_c) = (3/2)(2 mu_bar a (a+1))^(1/3) - a``), else iff ``r|w*_i| > X(u_start)``.
    Zeroed: iff ``r|w*_i| <= threshold(mu) (1 + beta/q)``. The band is where both hold; it is non-empty in the
    supercritical regime and also in the subcritical one once ``mu_bar > a^2/(2(a+1))``. Where ``X(u) = r|w*_i|``
    has two roots, either one is a fixed point if it exceeds ``u_start``, and either can be stable: with ``(s, q)``
    frozen the smaller one (``X'(u) < 0``) repels, but ``(s, q)`` move with ``|w|`` (:mod:`theory.stability`).
    :func:`predicted_limit` returns the larger one (the smaller one is solved in :mod:`theory.stability`).
    """
    t = _tl1_analysis()
    keys = ("kept_equation", "w_of_u", "w_zeroed", "mu_bar", "threshold", "u_start", "u_critical", "kept_edge",
            "zeroed_edge", "rho_prime")
    return {key: t[key] for key in keys}


def tl1_kept_equation() -> sp.Expr:
    """``u_i + mu_bar rho_a'(u_i) - r w*_i``: zero at the ``u_bar_i`` of a kept TL1 coordinate (see
    :func:`limit_map_tl1_exprs`)."""
    return _tl1_analysis()["kept_equation"]


def tl1_band_edges_exprs() -> tuple[sp.Expr, sp.Expr]:
    """``(kept_edge, zeroed_edge)`` of the TL1 limit map in units of ``r |w*_i|`` (see :func:`limit_map_tl1_exprs`)."""
    t = _tl1_analysis()
    return t["kept_edge"], t["zeroed_edge"]


# ---------------------------------------------------------------------------------------------------------------
# NumPy machinery for the numerical verifications (independent of the derived map: the RVSM iteration itself, and
# proxes computed by global minimization over all stationary points).
def _prox_l1_np(xv: np.ndarray, m: float) -> np.ndarray:
    return np.sign(xv) * np.maximum(np.abs(xv) - m, 0.0)


def _prox_l0_np(xv: np.ndarray, m: float) -> np.ndarray:
    # argmin m 1{y != 0} + (y - x)^2/2 over the two candidates y = x (value m) and y = 0 (value x^2/2); tie -> 0
    xv = np.asarray(xv, dtype=float)
    return np.where(m < 0.5 * xv**2, xv, 0.0)


def _prox_tl1_np(xv: np.ndarray, m: float, a_: float) -> np.ndarray:
    """Global minimizer of m rho_a(y) + (y - x)^2/2 among y = 0 and all stationary points (ties -> 0).

    Stationary points with y > 0 (for x >= 0) are the real roots z > a of the cubic z^3 - (a+|x|) z^2 + m a (a+1) = 0,
    z = a + y (companion-matrix eigenvalues, polished by Newton steps).
    """
    xv = np.asarray(xv, dtype=float)
    ax = np.abs(xv).ravel()
    n = ax.size
    comp = np.zeros((n, 3, 3))
    comp[:, 0, 0] = a_ + ax
    comp[:, 0, 2] = -m * a_ * (a_ + 1.0)
    comp[:, 1, 0] = 1.0
    comp[:, 2, 1] = 1.0
    z = np.linalg.eigvals(comp) if n else np.zeros((0, 3), dtype=complex)
    real = np.abs(z.imag) <= 1e-7 * (1.0 + np.abs(z.real))
    zr = z.real.copy()
    c2 = (a_ + ax)[:, None]
    for _ in range(3):
        f = zr**3 - c2 * zr**2 + m * a_ * (a_ + 1.0)
        fp = 3 * zr**2 - 2 * c2 * zr
        safe = np.abs(fp) > 1e-300
        zr = np.where(safe, zr - f / np.where(safe, fp, 1.0), zr)
    y = zr - a_
    ok = real & (y > 0)
    obj = m * (a_ + 1.0) * y / (a_ + y) + 0.5 * (y - ax[:, None]) ** 2
    obj = np.where(ok, obj, np.inf)
    j = np.argmin(obj, axis=1)
    best = obj[np.arange(n), j]
    ybest = y[np.arange(n), j]
    keep = best < 0.5 * ax**2
    return (np.sign(xv).ravel() * np.where(keep, ybest, 0.0)).reshape(xv.shape)


def _prox_np(penalty: str, lam_: float, beta_: float, a_: float | None) -> Callable[[np.ndarray], np.ndarray]:
    m = lam_ / beta_
    if penalty == "l1":
        return lambda v: _prox_l1_np(v, m)
    if penalty == "l0":
        return lambda v: _prox_l0_np(v, m)
    return lambda v: _prox_tl1_np(v, m, a_)


@functools.cache
def _grad_coefficients_np() -> tuple[Callable, Callable]:
    e = self_consistency_map_exprs()
    args = (nw, ns_sym, theta, k)
    return sp.lambdify(args, e["s_of_n_t"], "numpy"), sp.lambdify(args, e["q_of_n_t"], "numpy")


def _norm_angle(w: np.ndarray, w_star: np.ndarray) -> tuple[float, float]:
    e = w_star / np.linalg.norm(w_star)
    par = float(w @ e)
    perp = float(np.linalg.norm(w - par * e))
    return float(np.hypot(par, perp)), float(np.arctan2(perp, par))


def _rvsm_limit(w_star: np.ndarray, k_: int, prox: Callable, beta_: float, w0: np.ndarray, eta_: float,
                max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray, int]:
    """Iterate RVSM (``prox`` the penalty's prox at ``lam/beta``) until the w-step is at rounding level; return
    (w, u, iterations)."""
    fs, fq = _grad_coefficients_np()
    ns_ = float(np.linalg.norm(w_star))
    w = np.array(w0, dtype=float)
    u = prox(w)
    for it in range(1, max_iter + 1):
        n_, t_ = _norm_angle(w, w_star)
        g = fq(n_, ns_, t_, k_) * w - fs(n_, ns_, t_, k_) * w_star
        w_new = w - eta_ * (g + beta_ * (w - u))
        u = prox(w_new)
        step = float(np.linalg.norm(w_new - w))
        w = w_new
        if step <= 4e-16 * max(1.0, float(np.linalg.norm(w))):
            return w, u, it
    return w, u, max_iter


_ARGS = (w_star_i, s, q, lam, beta, a)


def _lam(expr: sp.Expr, extra: tuple = ()) -> Callable:
    f = sp.lambdify(extra + _ARGS, expr, "numpy")
    return lambda *v: np.broadcast_to(np.asarray(f(*v), dtype=float), np.shape(v[0]) if v else ()).copy()


def _largest_root(f: Callable[[np.ndarray], np.ndarray], sign: float, upper: float) -> float | None:
    """Largest-magnitude root of ``f`` on ``sign * (0, upper]`` (grid scan + Brent), or None."""
    grid = sign * np.linspace(upper * 1e-9, upper, 2001)
    vals = f(grid)
    ch = np.nonzero(np.signbit(vals[:-1]) != np.signbit(vals[1:]))[0]
    if ch.size == 0:
        return None
    j = ch[-1]
    return float(optimize.brentq(lambda v: float(f(np.array([v]))[0]), grid[j], grid[j + 1], xtol=1e-300,
                                 rtol=1e-15, maxiter=500))


CoordinateMap = Callable[[np.ndarray, float, float, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         np.ndarray]]


def _coordinate_map(penalty: str, cand: Mapping[str, sp.Expr], lam_: float, beta_: float,
                    a_: float | None) -> CoordinateMap:
    """NumPy coordinate map ``(w*, s, q, prefer_kept) -> (u, w, kept, consistent)`` built from a candidate."""
    a_v = 1.0 if a_ is None else float(a_)
    if penalty == "l1":
        fu, fw, fz, fmb = (_lam(cand[key]) for key in ("u_kept", "w_kept", "w_zeroed", "mu_bar"))

        def cmap(ws, s_, q_, prefer_kept):
            args = (ws, s_, q_, lam_, beta_, a_v)
            kept = s_ / q_ * np.abs(ws) > fmb(*args)
            u = np.where(kept, fu(*args), 0.0)
            w = np.where(kept, fw(*args), fz(*args))
            return u, w, kept, np.ones_like(kept)

        return cmap
    f_lo, f_hi, fz = (_lam(cand[key]) for key in ("kept_edge", "zeroed_edge", "w_zeroed"))
    if penalty == "l0":
        fu, fw = _lam(cand["u_kept"]), _lam(cand["w_kept"])
    else:
        f_eq = _lam(cand["kept_equation"], (u_i,))
        f_wu = _lam(cand["w_of_u"], (u_i,))

    def cmap(ws, s_, q_, prefer_kept):
        args = (ws, s_, q_, lam_, beta_, a_v)
        rx = s_ / q_ * np.abs(ws)
        kept_ok = rx > f_lo(*args)
        zeroed_ok = rx <= f_hi(*args)
        if penalty == "l0":
            u_k, w_k = fu(*args), fw(*args)
        else:
            u_k = np.zeros_like(ws, dtype=float)
            for i, wsi in enumerate(ws):
                if kept_ok[i] and wsi != 0:
                    root = _largest_root(lambda uu, wsi=wsi: f_eq(uu, np.full_like(uu, wsi), s_, q_, lam_, beta_, a_v),
                                         float(np.sign(wsi)), 2.0 * abs(float(rx[i])) + 1.0)
                    if root is None:
                        kept_ok[i] = False
                    else:
                        u_k[i] = root
            w_k = f_wu(u_k, *args)
        kept = np.where(kept_ok & zeroed_ok, prefer_kept, kept_ok)
        consistent = np.where(kept, kept_ok, zeroed_ok)
        return np.where(kept, u_k, 0.0), np.where(kept, w_k, fz(*args)), kept, consistent

    return cmap


def _solve_two_parameter(w_star: np.ndarray, k_: int, cmap: CoordinateMap, prefer_kept: np.ndarray) -> dict:
    """Fixed point of (n, t) -> (|W|, angle(W, w*)), W = cmap at s(n, t), q(n, t)."""
    fs, fq = _grad_coefficients_np()
    ns_ = float(np.linalg.norm(w_star))

    def evaluate(z):
        n_, t_ = float(z[0]), float(z[1])
        s_, q_ = float(fs(n_, ns_, t_, k_)), float(fq(n_, ns_, t_, k_))
        u, w, kept, cons = cmap(w_star, s_, q_, prefer_kept)
        return (s_, q_, u, w, kept, cons), np.array(_norm_angle(w, w_star)) - np.array([n_, t_])

    sol = optimize.root(lambda z: evaluate(z)[1], np.array([ns_, 0.0]), method="hybr", options={"xtol": 1e-15})
    (s_, q_, u, w, kept, cons), res = evaluate(sol.x)
    return {"u": u, "w": w, "s": s_, "q": q_, "n": float(sol.x[0]), "t": float(sol.x[1]), "kept": kept.astype(bool),
            "consistent": bool(np.all(cons)) and q_ > 0, "residual": float(np.max(np.abs(res)))}


def _candidate(penalty: str) -> dict[str, sp.Expr]:
    return {"l1": limit_map_l1_exprs, "l0": limit_map_l0_exprs, "tl1": limit_map_tl1_exprs}[penalty]()


def predicted_limit(w_star: np.ndarray, k: int, penalty: str, lam: float, beta: float, *, a: float | None = None,
                    prefer_kept: np.ndarray | bool | None = None) -> dict:
    """The RVSM limit predicted by the derived limit map (two-parameter root solve), in NumPy.

    Parameters
    ----------
    w_star : ndarray, shape (d,)
        The teacher filter (nonzero, finite).
    k : int
        Number of patches, ``k >= 1``.
    penalty : {"l1", "l0", "tl1"}
        The penalty.
    lam : float
        Penalty weight, ``lam >= 0``.
    beta : float
        Splitting parameter, ``beta > 0``.
    a : float, optional
        TL1 shape parameter, ``a > 0`` (required for ``"tl1"``).
    prefer_kept : bool or ndarray of bool, optional
        Which branch to take for coordinates in the band where both are fixed points (default: kept).

    Returns
    -------
    dict
        ``u``, ``w`` (ndarrays), ``s``, ``q``, ``n`` (``|w_bar|``), ``t`` (``t_bar``), ``kept`` (bool mask),
        ``consistent`` (every chosen branch self-consistent and ``q > 0``), ``residual`` (of the 2-parameter map).

    Notes
    -----
    Solves ``(n, t) = (|W(s(t), q(n, t))|, angle(W, w*))`` with ``W`` the coordinatewise limit map of
    :func:`limit_map_l1_exprs`, :func:`limit_map_l0_exprs` or :func:`limit_map_tl1_exprs`, starting from
    ``(|w*|, 0)`` (the ``lam = 0`` solution).
    """
    w_star = np.asarray(w_star, dtype=float)
    if w_star.ndim != 1 or w_star.size == 0 or not np.all(np.isfinite(w_star)) or not np.any(w_star):
        raise ValueError("w_star must be a finite, nonzero 1-D array")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if penalty not in _PENALTIES:
        raise ValueError(f"penalty must be one of {_PENALTIES}, got {penalty!r}")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    if penalty == "tl1" and (a is None or not (np.isfinite(a) and a > 0)):
        raise ValueError(f"a must be finite and > 0 for the TL1 penalty, got {a!r}")
    pk = np.broadcast_to(np.asarray(True if prefer_kept is None else prefer_kept, dtype=bool), w_star.shape)
    cmap = _coordinate_map(penalty, _candidate(penalty), float(lam), float(beta), a)
    return _solve_two_parameter(w_star, int(k), cmap, pk)


# ---------------------------------------------------------------------------------------------------------------
# Verifications. Each takes the candidate expressions, so a wrong formula goes through the same checks.
def _verify_all_zero(exprs: Sequence[sp.Expr], description: str) -> Check:
    """One check: every expression simplifies to zero (each also evaluated at a numeric point as a guard)."""
    point = {x: sp.Rational(7, 10), s: sp.Rational(3, 10), q: sp.Rational(2, 7), lam: sp.Rational(1, 20),
             beta: sp.Rational(3, 2), a: sp.Rational(1, 3), u_pos: sp.Rational(2, 5), w_star_i: sp.Rational(-3, 5)}
    results = [verify_symbolic_zero(e, description, numeric_points=[point]) for e in exprs]
    bad = [i for i, c in enumerate(results) if not c.passed]
    detail = f"{len(exprs)} expressions; all simplify to 0" if not bad else "; ".join(
        f"#{i}: {results[i].detail}" for i in bad)
    return Check("symbolic", description, not bad, detail)


def _scan_fixed_points(prox: Callable, s_: float, q_: float, beta_: float, xs: np.ndarray,
                       n_grid: int = 801) -> list[list[tuple[float, float]]]:
    """For each ``x`` in ``xs``: all fixed points ``(w, u)`` (w > 0) of one coordinate,
    ``(q + beta) w = s x + beta prox(w)``, by brute force.

    A fine grid on ``(0, 1.05 r x]`` (every fixed point satisfies ``0 < w <= r x``), bisection of every sign change
    (vectorized over all of them), and rejection of sign changes across a jump of the prox (the residual does not
    vanish there).
    """
    xs = np.asarray(xs, dtype=float)

    def h(v, xx):
        return (q_ + beta_) * v - s_ * xx - beta_ * prox(v)

    grid = np.linspace(0.0, 1.05, n_grid)[None, :] * (s_ * xs / q_)[:, None]
    hv = h(grid, xs[:, None])
    ix, jx = np.nonzero(np.signbit(hv[:, :-1]) != np.signbit(hv[:, 1:]))
    lo, hi, hlo, xx = grid[ix, jx], grid[ix, jx + 1], hv[ix, jx], xs[ix]
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        hm = h(mid, xx)
        same = np.signbit(hm) == np.signbit(hlo)
        lo, hlo = np.where(same, mid, lo), np.where(same, hm, hlo)
        hi = np.where(same, hi, mid)
    genuine = (np.abs(h(lo, xx)) <= 1e-9 * (1 + s_ * xx)) & (np.abs(h(hi, xx)) <= 1e-9 * (1 + s_ * xx))
    roots = 0.5 * (lo + hi)
    u_roots = prox(roots)
    out: list[list[tuple[float, float]]] = [[] for _ in xs]
    for n_, i in enumerate(ix):
        if genuine[n_]:  # a genuine root, not a jump of the prox
            out[i].append((float(roots[n_]), float(u_roots[n_])))
    return out


def _verify_scan(penalty: str, cand: Mapping[str, sp.Expr], instances: Sequence[dict]) -> Check:
    """Brute-force scan of the coordinate fixed points against the candidate map (existence of each branch and the
    values), over a grid of ``r |w*_i|`` at fixed ``(s, q, lam, beta[, a])``."""
    mismatches, n_pts, n_band = [], 0, 0
    for inst in instances:
        s_, q_, lam_, beta_, a_ = inst["s"], inst["q"], inst["lam"], inst["beta"], inst.get("a")
        prox = _prox_np(penalty, lam_, beta_, a_)
        cmap = _coordinate_map(penalty, cand, lam_, beta_, a_)
        r_ = s_ / q_
        rx_grid = np.linspace(inst["rx_max"] / 120, inst["rx_max"], 120)
        ws = rx_grid / r_
        u_k, w_k, kept_k, cons_k = cmap(ws, s_, q_, np.ones(ws.shape, dtype=bool))
        _, w_z, kept_z, cons_z = cmap(ws, s_, q_, np.zeros(ws.shape, dtype=bool))
        a_v = 1.0 if a_ is None else a_
        edges = [float(np.asarray(_lam(cand[key])(np.ones(1), s_, q_, lam_, beta_, a_v))[0])
                 for key in (("mu_bar",) if penalty == "l1" else ("kept_edge", "zeroed_edge"))]
        all_found = _scan_fixed_points(prox, s_, q_, beta_, ws)
        for i, rx in enumerate(rx_grid):
            if any(abs(rx - e) <= 0.01 * abs(e) for e in edges):
                continue  # within grid resolution of an edge: existence there is decided by the tie convention
            n_pts += 1
            found = all_found[i]
            kept_found = [(w, u) for w, u in found if u != 0]
            zero_found = [(w, u) for w, u in found if u == 0]
            cand_kept = bool(kept_k[i] and cons_k[i])
            cand_zero = bool((not kept_z[i]) and cons_z[i])
            n_band += bool(kept_found and zero_found)
            ok = (bool(kept_found) == cand_kept) and (bool(zero_found) == cand_zero)
            if ok and kept_found:
                wk, uk = max(kept_found)  # the largest kept fixed point (the candidate's larger root)
                ok = abs(wk - w_k[i]) <= 1e-8 * (1 + abs(wk)) and abs(uk - u_k[i]) <= 1e-8 * (1 + abs(uk))
            if ok and zero_found:
                ok = abs(zero_found[0][0] - w_z[i]) <= 1e-8 * (1 + abs(w_z[i]))
            if not ok:
                mismatches.append(f"rx={rx:.4g}: scan kept={len(kept_found)} zeroed={len(zero_found)}, "
                                  f"candidate kept={cand_kept} zeroed={cand_zero}")
    return Check("brute-force", f"{penalty}: coordinate fixed points found by a brute-force scan (prox by global "
                 "minimization) agree with the candidate map: which branches exist, and their values",
                 not mismatches and n_pts > 0,
                 f"{n_pts} points ({n_band} inside a band), {len(instances)} parameter sets; "
                 + (f"{len(mismatches)} mismatches, first: {mismatches[0]}" if mismatches else "no mismatch"))


def _verify_rvsm(penalty: str, cand: Mapping[str, sp.Expr], instances: Sequence[dict], tol: float = 1e-10) -> Check:
    """Plain RVSM iterated to convergence from given starts vs the candidate map's two-parameter fixed point."""
    worst, details, ok = 0.0, [], True
    for inst in instances:
        w_star = np.asarray(inst["w_star"], dtype=float)
        k_, lam_, beta_, a_ = inst["k"], inst["lam"], inst["beta"], inst.get("a")
        prox = _prox_np(penalty, lam_, beta_, a_)
        cmap = _coordinate_map(penalty, cand, lam_, beta_, a_)
        kept_sets = set()
        for w0 in inst["starts"]:
            w0 = np.asarray(w0, dtype=float)
            w, u, it = _rvsm_limit(w_star, k_, prox, beta_, w0, inst["eta"])
            try:
                pred = _solve_two_parameter(w_star, k_, cmap, u != 0)
                err = max(float(np.max(np.abs(pred["u"] - u))), float(np.max(np.abs(pred["w"] - w))))
                cons = pred["consistent"]
            except (ValueError, RuntimeError, FloatingPointError, ZeroDivisionError) as exc:
                err, cons = np.inf, False
                details.append(f"solver failed: {exc!r}")
            kept_sets.add(tuple(u != 0))
            worst = max(worst, err)
            ok &= bool(err <= tol and cons)
            details.append(f"d={w_star.size} k={k_} lam={lam_} beta={beta_}{'' if a_ is None else f' a={a_}'}: "
                           f"{it} iterations, max|diff|={err:.2e}, branches consistent={cons}")
        if inst.get("expect_distinct", False):
            ok &= len(kept_sets) == len(inst["starts"])
            details.append(f"distinct supports from {len(inst['starts'])} starts: {len(kept_sets)}")
    return Check("numeric", f"{penalty}: RVSM iterated to convergence (plain NumPy) matches the fixed point of the "
                 f"candidate map's two-parameter self-consistency equation to {tol:g}", ok,
                 f"worst {worst:.2e}; " + "; ".join(details))


def _sym_cases(expr_fn: Callable[[int], sp.Expr]) -> list[sp.Expr]:
    return [expr_fn(sig) for sig in (1, -1)]


_L1_RVSM = (
    {"w_star": [1.0, -0.8, 0.5, 0.25, -0.1, 0.0], "k": 3, "lam": 0.04, "beta": 1.0, "eta": 0.5,
     "starts": [[1.0, -0.8, 0.5, 0.25, -0.1, 0.0], [0.3, 0.2, -0.1, 0.4, 0.5, -0.3]]},
    {"w_star": [0.9, 0.0, -0.6, 0.35, 0.2, 0.0, -0.05, 1.2], "k": 5, "lam": 0.02, "beta": 0.5, "eta": 0.6,
     "starts": [[0.9, 0.0, -0.6, 0.35, 0.2, 0.0, -0.05, 1.2]]},
)
_L1_SCAN = ({"s": 0.3, "q": 0.32, "lam": 0.05, "beta": 1.0, "rx_max": 0.6},
            {"s": 0.21, "q": 0.18, "lam": 0.02, "beta": 0.3, "rx_max": 0.4})


def verify_limit_map_l1(candidate: Mapping[str, sp.Expr], *, numeric: bool = True) -> tuple[Check, ...]:
    """Verify an l1 limit map given as ``{"u_kept", "w_kept", "w_zeroed", "mu_bar"}`` (expressions in ``w*_i, s, q,
    lam, beta``; kept iff ``r |w*_i| > mu_bar``).

    Checks: (1) the kept branch satisfies the stationarity equation and the soft-threshold optimality
    ``u = w - (lam/beta) sign w`` for both signs of ``w*_i``; (2) the zeroed branch satisfies the stationarity equation
    with ``u = 0``; (3) at ``r |w*_i| = mu_bar`` both branches sit exactly at the prox threshold ``lam/beta`` (so the
    case conditions are ``r |w*_i| > mu_bar`` and ``<= mu_bar``); (4) brute-force scan of the coordinate fixed points;
    (5) plain RVSM iteration vs the two-parameter fixed point (``numeric=True``).
    """
    c = candidate
    rr = s / q
    checks = [
        _verify_all_zero(_sym_cases(lambda sg: _stationarity(c["w_kept"], c["u_kept"], w_star_i).subs(w_star_i, sg * x))
                         + _sym_cases(lambda sg: (c["u_kept"] - c["w_kept"] + lam / beta * sg).subs(w_star_i, sg * x)),
                         "l1 kept branch: (q+beta) w = s w* + beta u and u = w - (lam/beta) sign(w), both signs of "
                         "w*_i"),
        _verify_all_zero(_sym_cases(lambda sg: _stationarity(c["w_zeroed"], 0, w_star_i).subs(w_star_i, sg * x)),
                         "l1 zeroed branch: (q+beta) w = s w* with u = 0"),
        _verify_all_zero([c["w_kept"].subs(w_star_i, c["mu_bar"] / rr) - lam / beta,
                          c["w_zeroed"].subs(w_star_i, c["mu_bar"] / rr) - lam / beta],
                         "l1 case edges: at r|w*_i| = mu_bar the kept and the zeroed w_i both equal the threshold "
                         "lam/beta"),
    ]
    if numeric:
        checks.append(_verify_scan("l1", c, _L1_SCAN))
        checks.append(_verify_rvsm("l1", c, _L1_RVSM))
    return tuple(checks)


_L0_RVSM = (
    # coordinate 3 (0.15) lies in the band (gamma, gamma (1 + beta/q)] = (0.1, ~0.3]: kept from the start w*, zeroed
    # from a start with it set to 0; coordinate 2 (0.6) is above the band and ends kept from both.
    {"w_star": [1.0, -0.8, 0.6, 0.15, -0.05, 0.0], "k": 2, "lam": 0.005, "beta": 1.0, "eta": 0.5,
     "starts": [[1.0, -0.8, 0.6, 0.15, -0.05, 0.0], [1.0, -0.8, 0.0, 0.0, -0.05, 0.0]], "expect_distinct": True},
    # band ~(0.2, 0.4]: coordinate 2 (-0.3) inside, 1 (0.45) above, 3 (0.1) below
    {"w_star": [0.7, 0.45, -0.3, 0.1, 0.0], "k": 4, "lam": 0.005, "beta": 0.25, "eta": 0.8,
     "starts": [[0.7, 0.45, -0.3, 0.1, 0.0], [0.7, 0.0, 0.0, 0.0, 0.0]], "expect_distinct": True},
)
_L0_SCAN = ({"s": 0.3, "q": 0.32, "lam": 0.02, "beta": 1.0, "rx_max": 0.8},
            {"s": 0.21, "q": 0.18, "lam": 0.01, "beta": 0.4, "rx_max": 0.8})


def verify_limit_map_l0(candidate: Mapping[str, sp.Expr], *, numeric: bool = True) -> tuple[Check, ...]:
    """Verify an l0 limit map ``{"u_kept", "w_kept", "w_zeroed", "kept_edge", "zeroed_edge"}`` (kept iff
    ``r|w*_i| > kept_edge``, zeroed iff ``r|w*_i| <= zeroed_edge``).

    Checks: (1) kept: ``u = w`` (hard thresholding keeps the value) and the stationarity equation; (2) zeroed: the
    stationarity equation with ``u = 0``; (3) at each edge the corresponding ``|w_i|`` equals
    ``gamma = sqrt(2 lam/beta)``; (4) brute-force scan (finds the band where both branches exist);
    (5) RVSM from two starts reaches the two candidates inside the band, matching the two-parameter fixed point of
    each.
    """
    c = candidate
    rr = s / q
    gamma = limit_map_l0_exprs()["gamma"]
    checks = [
        _verify_all_zero(_sym_cases(lambda sg: _stationarity(c["w_kept"], c["u_kept"], w_star_i).subs(w_star_i, sg * x))
                         + _sym_cases(lambda sg: (c["u_kept"] - c["w_kept"]).subs(w_star_i, sg * x)),
                         "l0 kept branch: u = w and (q+beta) w = s w* + beta u"),
        _verify_all_zero(_sym_cases(lambda sg: _stationarity(c["w_zeroed"], 0, w_star_i).subs(w_star_i, sg * x)),
                         "l0 zeroed branch: (q+beta) w = s w* with u = 0"),
        _verify_all_zero([c["w_kept"].subs(w_star_i, c["kept_edge"] / rr) - gamma,
                          c["w_zeroed"].subs(w_star_i, c["zeroed_edge"] / rr) - gamma],
                         "l0 band edges: |w_kept| = gamma at r|w*_i| = kept_edge, |w_zeroed| = gamma at "
                         "r|w*_i| = zeroed_edge"),
    ]
    if numeric:
        checks.append(_verify_scan("l0", c, _L0_SCAN))
        checks.append(_verify_rvsm("l0", c, _L0_RVSM))
    return tuple(checks)


_TL1_RVSM = (
    # supercritical prox (mu = 0.01 > a^2/(2(a+1)) = 0.0045); coordinate 3 (0.3) lies in the band (~[0.21, 0.40]).
    {"w_star": [1.0, -0.7, 0.5, 0.3, -0.15, 0.0], "k": 3, "lam": 0.01, "beta": 1.0, "a": 0.1, "eta": 0.5,
     "starts": [[1.0, -0.7, 0.5, 0.3, -0.15, 0.0], [1.0, -0.7, 0.0, 0.0, -0.15, 0.0]], "expect_distinct": True},
    # subcritical prox, no band at these values: a unique limit from two starts
    {"w_star": [0.8, -0.5, 0.3, 0.05, 0.0], "k": 2, "lam": 0.02, "beta": 1.0, "a": 2.0, "eta": 0.5,
     "starts": [[0.8, -0.5, 0.3, 0.05, 0.0], [0.1, 0.1, 0.1, 0.1, 0.1]]},
)
_TL1_SCAN = (
    {"s": 0.34, "q": 0.32, "lam": 0.01, "beta": 1.0, "a": 0.1, "rx_max": 0.6},  # supercritical: band
    {"s": 0.34, "q": 0.32, "lam": 0.1, "beta": 1.0, "a": 1.0, "rx_max": 1.6},  # subcritical mu, mu_bar > crit: band
    {"s": 0.5, "q": 0.52, "lam": 0.02, "beta": 1.0, "a": 2.0, "rx_max": 0.4},  # subcritical, no band
)


def verify_limit_map_tl1(candidate: Mapping[str, sp.Expr], *, numeric: bool = True) -> tuple[Check, ...]:
    """Verify a TL1 limit map ``{"kept_equation", "w_of_u", "w_zeroed", "kept_edge", "zeroed_edge"}``.

    Checks: (1) ``w_of_u`` is the prox's stationarity (``u - w + (lam/beta) rho_a'(u) = 0``, ``rho_a'`` by
    differentiating ``rho_a``) and, with it, the stationarity equation equals ``q`` times the kept equation, for
    ``u > 0`` and ``u < 0``; (2) the zeroed branch; (3) brute-force scan of the coordinate fixed points (band edges and
    kept values) in the supercritical regime, the subcritical regime with ``mu_bar`` above the critical value, and
    one without band; (4) RVSM from two starts inside a band and a unique limit outside.
    """
    c = candidate
    mu_t = lam / beta

    def kept_case(sg):
        uu = sg * u_pos
        drho = sp.diff(_tl1_rho(u_i), u_i).subs(u_i, uu)
        return [
            (uu - c["w_of_u"].subs(u_i, uu) + mu_t * drho),
            _stationarity(c["w_of_u"].subs(u_i, uu), uu, w_star_i) - q * c["kept_equation"].subs(u_i, uu),
        ]

    checks = [
        _verify_all_zero(kept_case(1) + kept_case(-1), "TL1 kept branch: w = u + (lam/beta) rho_a'(u) (prox "
                         "stationarity) and (q+beta) w - s w* - beta u = q (kept equation), for u > 0 and u < 0"),
        _verify_all_zero(_sym_cases(lambda sg: _stationarity(c["w_zeroed"], 0, w_star_i).subs(w_star_i, sg * x)),
                         "TL1 zeroed branch: (q+beta) w = s w* with u = 0"),
    ]
    if numeric:
        checks.append(_verify_scan("tl1", c, _TL1_SCAN))
        checks.append(_verify_rvsm("tl1", c, _TL1_RVSM))
    return tuple(checks)


# ---------------------------------------------------------------------------------------------------------------
# Derivations (records for the report)
_FP_INSTANCES = (
    ("l1", {"w_star": [1.0, -0.8, 0.5, 0.25, -0.1, 0.0], "k": 3, "lam": 0.04, "beta": 1.0, "eta": 0.5}),
    ("l0", {"w_star": [1.0, -0.8, 0.6, 0.15, -0.05, 0.0], "k": 2, "lam": 0.005, "beta": 1.0, "eta": 0.5}),
    ("tl1", {"w_star": [1.0, -0.7, 0.5, 0.3, -0.15, 0.0], "k": 3, "lam": 0.01, "beta": 1.0, "a": 0.1, "eta": 0.5}),
)


def derive_fixed_point_equations() -> Derivation:
    """Fixed-point equations of RVSM and the two-parameter self-consistency map.

    Notes
    -----
    ``w = w - eta (q w - s w* + beta (w - u))`` with ``eta > 0`` holds iff ``(q + beta) w_bar = s w* + beta u_bar``;
    the u-update holds iff ``u_bar = prox_{(lam/beta)P}(w_bar)``. ``s = (pi - t)/(k pi)`` and ``q = A(w)/k^2`` depend on
    ``w_bar`` through ``(|w_bar|, t_bar)`` only.
    """
    fpe = fixed_point_equations_exprs()
    scm = self_consistency_map_exprs()
    at_truth = {nw: ns_sym, theta: 0}
    s0, q0 = sp.simplify(scm["s_of_n_t"].subs(at_truth)), sp.simplify(scm["q_of_n_t"].subs(at_truth))
    checks = [
        _verify_all_zero([fpe["w_update"].subs(w_i, fpe["w_bar"]) - fpe["w_bar"], sp.diff(fpe["w_bar"], eta),
                          fpe["stationarity"].subs(w_i, fpe["w_bar"])],
                         "w_bar = (s w* + beta u)/(q + beta) is the fixed point of the w-update, independent of eta"),
        _verify_all_zero([s0 - 1 / k, q0 - 1 / k,
                          fpe["stationarity"].subs({w_i: w_star_i, u_i: w_star_i, s: s0, q: q0})],
                         "at lam = 0 the truth is a fixed point: s = q = 1/k at (|w|, t) = (|w*|, 0)"),
    ]
    fs, fq = _grad_coefficients_np()
    worst_stat, worst_prox, notes = 0.0, 0.0, []
    for penalty, inst in _FP_INSTANCES:
        w_star = np.asarray(inst["w_star"], dtype=float)
        prox = _prox_np(penalty, inst["lam"], inst["beta"], inst.get("a"))
        w, u, it = _rvsm_limit(w_star, inst["k"], prox, inst["beta"], w_star, inst["eta"])
        n_, t_ = _norm_angle(w, w_star)
        ns_ = float(np.linalg.norm(w_star))
        s_, q_ = fs(n_, ns_, t_, inst["k"]), fq(n_, ns_, t_, inst["k"])
        worst_stat = max(worst_stat, float(np.max(np.abs((q_ + inst["beta"]) * w - s_ * w_star - inst["beta"] * u))))
        worst_prox = max(worst_prox, float(np.max(np.abs(prox(w) - u))))
        notes.append(f"{penalty}: {it} iterations, q = {q_:.4f}")
    checks.append(Check("numeric", "limits of plain RVSM runs (l1, l0, TL1) satisfy (q+beta) w = s w* + beta u "
                        "with s, q evaluated at (|w|, t) of the limit, and u = prox(w)",
                        worst_stat <= 1e-12 and worst_prox == 0,
                        f"max stationarity residual {worst_stat:.2e}, max |prox(w) - u| {worst_prox:.1e}; "
                        + "; ".join(notes)))
    latex = (
        r"One RVSM step is $w \leftarrow w - \eta(\nabla\ell(w) + \beta(w - u))$, $u \leftarrow "
        r"\operatorname{prox}_{(\lambda/\beta)P}(w)$, with $\nabla\ell(w) = q\,w - s\,w^*$ (section 2). At a limit "
        r"$(\bar w, \bar u)$ both steps are stationary; since $\eta > 0$,"
        "\n$$ (q + \\beta)\\,\\bar w = s\\,w^* + \\beta\\,\\bar u, \\qquad "
        r"\bar u = \operatorname{prox}_{(\lambda/\beta)P}(\bar w), $$" "\n"
        r"coordinatewise once $s, q$ are fixed. Here $s = (\pi - \bar t)/(k\pi)$ and $q = A(\bar w)/k^2$ depend on "
        r"$\bar w$ only through $(|\bar w|, \bar t)$, so the limit is the fixed point of the two-parameter map "
        r"$(n, t) \mapsto (|W(s(t), q(n,t))|, \angle(W, w^*))$, $W$ the coordinatewise limit map. At $\lambda = 0$: "
        r"$s = q = 1/k$ and $\bar w = \bar u = w^*$."
    )
    statement = {"w_update": fpe["w_update"], "stationarity": fpe["stationarity"], "w_bar": fpe["w_bar"],
                 "r": fpe["r"], "s_of_n_t": scm["s_of_n_t"], "q_of_n_t": scm["q_of_n_t"]}
    return Derivation("fixed_point_equations", "RVSM fixed-point equations", statement, tuple(checks), latex,
                      CONVENTIONS)


def derive_limit_map_l1() -> Derivation:
    """The l1 limit map ``u_bar = soft_threshold(r w*, mu_bar)``, derived by case analysis of the prox."""
    ca = _l1_case_analysis()
    m = limit_map_l1_exprs()
    soft_form = [(m["u_kept"] - sg * (s / q * x - m["mu_bar"])).subs(w_star_i, sg * x) for sg in (1, -1)]
    checks = [
        Check("symbolic", "a kept coordinate with sign(u) = -sign(w*_i) is inconsistent (w_i would have the sign of "
              "w*_i)", ca["wrong_branch_impossible"], "w_i = (s|w*_i| + lam)/q > 0 for w*_i > 0, sigma = -1"),
        verify_symbolic_zero(ca["x_edge_kept"] - ca["x_edge_zeroed"], "the kept and the zeroed case edges coincide "
                             "(the map is unique given s, q)"),
        verify_symbolic_zero(m["mu_bar"] - lam * (1 / beta + 1 / q), "mu_bar = r * edge equals lam (1/beta + 1/q)"),
        _verify_all_zero(soft_form,
                         "kept u_bar_i = sign(w*_i)(r|w*_i| - mu_bar): u_bar = soft_threshold(r w*, mu_bar)"),
        *verify_limit_map_l1(m),
    ]
    latex = (
        r"Soft thresholding at $\lambda/\beta$: $\bar u_i \neq 0$ iff $\bar u_i = \bar w_i - (\lambda/\beta)\sigma$, "
        r"$\sigma = \operatorname{sign}\bar w_i$, $|\bar w_i| > \lambda/\beta$. With the stationarity equation this "
        r"gives $q\bar w_i = s w^*_i - \lambda\sigma$; $\sigma = -\operatorname{sign} w^*_i$ is inconsistent "
        r"($q > 0$), so $\bar w_i = (s w^*_i - \lambda\operatorname{sign} w^*_i)/q$, kept iff "
        r"$r|w^*_i| > \bar\mu$ with "
        r"$r = s/q$ and" "\n$$ \\bar\\mu = " + sp.latex(m["mu_bar"]) + r" = \lambda\Big(\frac1\beta + \frac1q\Big). $$"
        "\n" r"Zeroed: $\bar w_i = s w^*_i/(q + \beta)$, consistent iff $|\bar w_i| \le \lambda/\beta$, the same edge. "
        r"Hence $\bar u = \operatorname{soft}(r w^*, \bar\mu)$, unique given $(s, q)$."
    )
    statement = {"u_bar_i": m["u"], "w_bar_i": m["w"], "mu_bar": m["mu_bar"], "r": s / q,
                 "kept_condition": m["kept_condition"]}
    return Derivation("limit_map_l1", "Limit map under the l1 penalty", statement, tuple(checks), latex, CONVENTIONS)


def derive_limit_map_l0() -> Derivation:
    """The l0 limit map: kept ``u = w = r w*``, zeroed ``w = s w*/(q + beta)``, and the band where both hold."""
    m = limit_map_l0_exprs()
    lo, hi = m["kept_edge"], m["zeroed_edge"]
    g_mu = _hard_threshold_level()
    checks = [
        verify_symbolic_zero(mu * 1 - g_mu**2 / 2, "hard threshold: at |x| = sqrt(2 mu) the prox objective ties "
                             "(mu = x^2/2), so by the tie convention |x| = gamma is set to 0: kept needs "
                             "r|w*_i| > gamma (strict)"),
        verify_symbolic_zero(hi - lo * (1 + beta / q), "zeroed edge = gamma (1 + beta/q)"),
        Check("symbolic", "the band (gamma, gamma (1 + beta/q)] is non-empty for every lam, beta, q > 0",
              bool(sp.simplify(hi - lo).subs(lam, _lam_pos).is_positive),
              f"zeroed_edge - kept_edge = {sp.simplify(hi - lo)}"),
        *verify_limit_map_l0(m),
    ]
    rxs = s / q * sp.Abs(w_star_i)
    latex = (
        r"Hard thresholding at $\gamma = \sqrt{2\lambda/\beta}$ (the objective ties at $|x| = \gamma$; ties go to 0). "
        r"Kept: $\bar u_i = \bar w_i$, so $q\bar w_i = s w^*_i$, $\bar u_i = \bar w_i = r w^*_i$, self-consistent iff "
        r"$r|w^*_i| > \gamma$. Zeroed: $\bar w_i = s w^*_i/(q+\beta)$, self-consistent iff "
        r"$|\bar w_i| \le \gamma$, i.e."
        "\n$$ r|w^*_i| \\le " + sp.latex(hi) + r" = \gamma\Big(1 + \frac{\beta}{q}\Big). $$" "\n"
        r"For $\gamma < r|w^*_i| \le \gamma(1+\beta/q)$ both are fixed points: the path decides (hysteresis)."
    )
    statement = {"gamma": m["gamma"], "u_kept": m["u_kept"], "w_kept": m["w_kept"], "w_zeroed": m["w_zeroed"],
                 "kept_condition": sp.StrictGreaterThan(rxs, lo), "zeroed_condition": sp.LessThan(rxs, hi)}
    return Derivation("limit_map_l0", "Limit map under the l0 penalty (with its band)", statement, tuple(checks),
                      latex, CONVENTIONS)


def derive_limit_map_tl1() -> Derivation:
    """The TL1 limit map: kept coordinates solve ``u + mu_bar rho_a'(u) = r w*_i``; zeroed as for l0; band edges."""
    t = _tl1_analysis()
    m = limit_map_tl1_exprs()
    thr = t["threshold"]
    checks = [
        verify_symbolic_zero(t["mu_bar"] - mu_bar_expr(), "the coefficient of rho_a'(u) in the kept equation is the "
                             "same mu_bar = lam (1/beta + 1/q) as for l1"),
        verify_symbolic_zero(thr.args[0][0].subs(mu, t["critical_mu"]) - thr.args[1][0].subs(mu, t["critical_mu"]),
                             "the two TL1 threshold regimes meet continuously at mu = a^2/(2(a+1))"),
        verify_symbolic_zero(t["X_min"] - (sp.Rational(3, 2) * sp.cbrt(2 * t["mu_bar"] * a * (a + 1)) - a),
                             "min of X(u) = u + mu_bar rho'(u) is (3/2)(2 mu_bar a (a+1))^(1/3) - a"),
        *verify_limit_map_tl1(m),
    ]
    latex = (
        r"A kept coordinate lies on the nonzero branch of the TL1 prox at $\mu = \lambda/\beta$: "
        r"$\bar w_i = \bar u_i + \mu\rho_a'(\bar u_i)$. Eliminating $\bar w_i$ from the stationarity equation and "
        r"dividing by $q$:" "\n$$ " + sp.latex(t["kept_equation"]) + r" = 0, $$" "\n"
        r"i.e. $u + \bar\mu\rho_a'(u) = r w^*_i$ with the same $\bar\mu$ as for $\ell_1$. The prox returns that "
        r"$u$ iff "
        r"$|u| > u_0 = \max(\sqrt{2\mu(a+1)} - a, 0)$ (the tie of the objective with 0 at the threshold "
        r"$\tau(\mu)$). With $X(u) = u + \bar\mu a(a+1)/(a+u)^2$ (convex), kept exists iff $r|w^*_i| \ge X(u_c) = "
        r"\tfrac32(2\bar\mu a(a+1))^{1/3} - a$ when $u_c > u_0$, else iff $r|w^*_i| > X(u_0)$. Zeroed exists iff "
        r"$r|w^*_i| \le \tau(\mu)(1 + \beta/q)$. Both hold in a band; it always exists in the supercritical regime "
        r"and also in the subcritical one once $\bar\mu > a^2/(2(a+1))$."
    )
    statement = {"kept_equation": m["kept_equation"], "w_of_u": m["w_of_u"], "w_zeroed": m["w_zeroed"],
                 "mu_bar": m["mu_bar"], "prox_threshold": thr, "u_start": m["u_start"], "kept_edge": m["kept_edge"],
                 "zeroed_edge": m["zeroed_edge"]}
    return Derivation("limit_map_tl1", "Limit map under the transformed-l1 penalty", statement, tuple(checks), latex,
                      CONVENTIONS)
