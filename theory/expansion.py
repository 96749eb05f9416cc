"""First-order expansion of the l1 RVSM limit in lambda (theory page section 5).

Derived here: the first-order term of the l1 limit in lambda, with the lambda-derivative of r = s/q (the naive
``prox_{lam (k + 1/beta)}(w*)`` leaves it out), and a remainder of order lambda^2.

At ``lam = 0`` the limit is ``w_bar = u_bar = w*`` with ``t_bar = 0`` and ``s = q = 1/k``. For small ``lam >= 0`` every
coordinate on the support of ``w*`` is kept, so by the l1 limit map (:mod:`theory.fixed_points`)

    w_bar = r w* - (lam/q) sigma,    u_bar = r w* - mu_bar sigma,    sigma = sign(w*),  r = s/q,
    mu_bar = lam (1/beta + 1/q).

``|w_bar|`` and ``t_bar`` depend on ``w*`` only through ``|w*|``, ``|w*|_1 = sigma . w*`` and the support size
``m = |sigma|^2`` (write ``sigma = (|w*|_1/|w*|) e + sigma_perp``, ``e = w*/|w*|``,
``|sigma_perp|^2 = m - |w*|_1^2/|w*|^2``).
Differentiating the two scalar fixed-point equations ``s = s(|w_bar|, t_bar)``, ``q = q(|w_bar|, t_bar)`` at
``lam = 0`` (implicit function theorem; ``t_bar = atan(perp/par)`` is linear in ``lam`` from the right, ``lam >= 0``)
gives ``s'(0)``, ``q'(0)`` and ``r'(0)``, and

    u_bar = w* + lam v + O(lam^2),    v = r'(0) w* - (k + 1/beta) sigma.

The naive ``prox_{lam (k + 1/beta)}(w*)`` has direction ``-(k + 1/beta) sigma``: it drops ``r'(0) w*``, which is not
zero for ``k >= 2``, so its error is of the same order as ``|u_bar - w*|``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from . import fixed_points as fpm
from .record import Check, Derivation
from .symbols import k, lam, ns, nw, theta
from .verify import verify_numeric, verify_symbolic_zero

__all__ = [
    "derive_small_lambda_expansion",
    "expansion_derivatives_exprs",
    "first_order_direction",
    "naive_first_order_direction",
    "verify_first_order_direction",
]

L1 = sp.Symbol("L_1", positive=True)  # |w*|_1
m = sp.Symbol("m", positive=True, integer=True)  # support size of w*
p_perp = sp.Symbol("p_perp", nonnegative=True)  # |sigma_perp| = sqrt(m - L1^2/ns^2)
s1, q1 = sp.symbols("s_1 q_1", real=True)  # s'(0), q'(0)


@functools.cache
def _reduction() -> dict[str, sp.Expr]:
    """|w_bar|, t_bar in terms of (|w*|, |w*|_1, m) along the kept-support branch of the l1 map."""
    S, Q = sp.symbols("S Q", positive=True)
    l1map = fpm.limit_map_l1_exprs()
    # The kept branch of the l1 map, per coordinate: w_i = r w*_i - (lam/q) sign(w*_i)  (checked in the derivation).
    kept_form = l1map["w_kept"] - (fpm.s / fpm.q * fpm.w_star_i - lam / fpm.q * sp.sign(fpm.w_star_i))
    R, c = S / Q, lam / Q  # w = R w* - c sigma
    # Inner products: w*.w* = ns^2, w*.sigma = L1, sigma.sigma = m  =>  bilinear expansion of |w|^2 and w.w*.
    norm2 = R**2 * ns**2 - 2 * R * c * L1 + c**2 * m
    dot = R * ns**2 - c * L1
    par = dot / ns  # component of w along e = w*/|w*|
    perp = c * p_perp  # |w - par e| = c |sigma_perp|
    return {"S": S, "Q": Q, "kept_form": kept_form, "norm2": norm2, "par": par, "perp": perp,
            "pythagoras": sp.expand(norm2 - par**2 - perp**2).subs(p_perp**2, m - L1**2 / ns**2)}


def expansion_derivatives_exprs() -> dict[str, sp.Expr]:
    """The lam-derivatives at ``lam = 0`` of the l1 limit's scalars, in ``(k, |w*|, |w*|_1, m)``.

    Returns
    -------
    dict
        ``"t1"`` (``dt_bar/dlam``), ``"n1"`` (``d|w_bar|/dlam``), ``"s1"`` (``s'(0)``), ``"q1"`` (``q'(0)``),
        ``"r1"`` (``r'(0)`` of ``r = s/q``), ``"mu_bar1"`` (``d mu_bar/dlam = k + 1/beta``), ``"p_perp"``
        (``|sigma_perp| = sqrt(m - |w*|_1^2/|w*|^2)``); symbols ``ns`` (|w*|), ``L_1`` (|w*|_1), ``m``.

    Notes
    -----
    With ``S(lam) = 1/k + s1 lam``, ``Q(lam) = 1/k + q1 lam``, ``par = (S/Q)|w*| - (lam/Q)|w*|_1/|w*|``,
    ``perp = (lam/Q)|sigma_perp|``, ``t = atan(perp/par)``, ``n = sqrt(par^2 + perp^2)``, the equations
    ``S = s(n, t)``, ``Q = q(n, t)`` differentiated at ``lam = 0`` are linear in ``(s1, q1)``. The result:
    ``t1 = k |sigma_perp|/|w*|``, ``s1 = -|sigma_perp|/(pi |w*|)``,
    ``r1 = k (k-1) |w*|_1 / (|w*|^2 (pi + k - 1))`` (independent of ``sigma_perp``), ``q1 = s1 - r1/k``.
    """
    full = _expansion_analysis()
    return {key: full[key] for key in ("t1", "n1", "s1", "q1", "r1", "mu_bar1", "p_perp")}


@functools.cache
def _expansion_analysis() -> dict[str, sp.Expr]:
    red = _reduction()
    S, Q = red["S"], red["Q"]
    scm = fpm.self_consistency_map_exprs()
    n_expr = sp.sqrt(red["norm2"])
    t_expr = sp.atan(red["perp"] / red["par"])  # par > 0 near lam = 0; t >= 0 for lam >= 0 (one-sided)
    ansatz = {S: 1 / k + s1 * lam, Q: 1 / k + q1 * lam}
    eq_s = S - scm["s_of_n_t"].subs({nw: n_expr, theta: t_expr}, simultaneous=True)
    eq_q = Q - scm["q_of_n_t"].subs({nw: n_expr, theta: t_expr}, simultaneous=True)
    base = [sp.simplify(e.subs(ansatz).subs(lam, 0)) for e in (eq_s, eq_q)]
    lin = [sp.simplify(sp.diff(e.subs(ansatz), lam).subs(lam, 0)) for e in (eq_s, eq_q)]
    sol = sp.solve(lin, [s1, q1], dict=True)
    if len(sol) != 1:
        raise RuntimeError(f"implicit-function system for (s'(0), q'(0)) is not uniquely solvable: {sol}")
    s1v, q1v = sp.simplify(sol[0][s1]), sp.simplify(sol[0][q1])
    t1 = sp.simplify(sp.diff(t_expr.subs(ansatz), lam).subs(lam, 0))
    n1 = sp.simplify(sp.diff(n_expr.subs(ansatz), lam).subs(lam, 0).subs({s1: s1v, q1: q1v}))
    r1 = sp.simplify(sp.diff((S / Q).subs(ansatz), lam).subs(lam, 0).subs({s1: s1v, q1: q1v}))
    mu_bar1 = sp.simplify(sp.diff(fpm.mu_bar_expr().subs({fpm.q: ansatz[Q]}), lam).subs(lam, 0))
    jac = sp.Matrix(lin).jacobian([s1, q1])
    return {"t1": t1, "n1": n1, "s1": s1v, "q1": q1v, "r1": r1, "mu_bar1": mu_bar1, "p_perp": p_perp,
            "_base": base, "_lin": lin, "_det": sp.simplify(jac.det())}


def _validate(w_star: np.ndarray, k_: int, beta_: float) -> np.ndarray:
    w_star = np.asarray(w_star, dtype=float)
    if w_star.ndim != 1 or w_star.size == 0 or not np.all(np.isfinite(w_star)) or not np.any(w_star):
        raise ValueError("w_star must be a finite, nonzero 1-D array")
    if int(k_) != k_ or k_ < 1:
        raise ValueError(f"k must be an integer >= 1, got {k_!r}")
    if not (np.isfinite(beta_) and beta_ > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta_!r}")
    return w_star


@functools.cache
def _r1_numpy() -> Callable:
    return sp.lambdify((k, ns, L1), _expansion_analysis()["r1"], "numpy")


def first_order_direction(w_star: np.ndarray, k: int, beta: float) -> np.ndarray:
    """Direction ``v`` of the first-order expansion ``u_bar = w* + lam v + O(lam^2)`` of the l1 limit.

    Parameters
    ----------
    w_star : ndarray, shape (d,)
        Teacher filter (finite, nonzero).
    k : int
        Number of patches, ``k >= 1``.
    beta : float
        Splitting parameter, ``beta > 0``.

    Returns
    -------
    ndarray, shape (d,)
        ``v = r'(0) w* - (k + 1/beta) sign(w*)`` (zero off the support of ``w*``).

    Notes
    -----
    ``r'(0) = k (k - 1) |w*|_1 / (|w*|^2 (pi + k - 1))`` (see :func:`expansion_derivatives_exprs`).
    """
    w_star = _validate(w_star, k, beta)
    r1 = float(_r1_numpy()(k, np.linalg.norm(w_star), np.abs(w_star).sum()))
    return r1 * w_star - (k + 1.0 / beta) * np.sign(w_star)


def naive_first_order_direction(w_star: np.ndarray, k: int, beta: float) -> np.ndarray:
    """Direction of the naive ``prox_{lam (k + 1/beta)}(w*)``: ``-(k + 1/beta) sign(w*)`` (it misses ``r'(0) w*``)."""
    w_star = _validate(w_star, k, beta)
    return -(k + 1.0 / beta) * np.sign(w_star)


# ---------------------------------------------------------------------------------------------------------------
_INSTANCES = (
    {"w_star": [1.0, -0.5, 0.3, 0.0, 0.8], "k": 4, "beta": 1.0},
    {"w_star": [0.6, 0.0, -1.2, 0.4, 0.0, 0.0, 0.9], "k": 2, "beta": 0.5},
    {"seed": 3, "d": 20, "k": 10, "beta": 1.0},  # the original statement's setting (d = 20, k = 10), sparse teacher
)


def _instance_w_star(inst: dict) -> np.ndarray:
    if "w_star" in inst:
        return np.asarray(inst["w_star"], dtype=float)
    rng = np.random.default_rng(inst["seed"])
    w = rng.choice([-1.0, 1.0], inst["d"]) * rng.uniform(0.5, 1.5, inst["d"])
    w[rng.permutation(inst["d"])[: inst["d"] // 2]] = 0.0
    return w


def _exact_u(w_star: np.ndarray, k_: int, lam_: float, beta_: float) -> np.ndarray:
    sol = fpm.predicted_limit(w_star, k_, "l1", lam_, beta_)
    if not sol["consistent"] or sol["residual"] > 1e-13 or not np.all(sol["kept"] == (w_star != 0)):
        raise RuntimeError(f"exact l1 fixed point not resolved at lam={lam_} (residual {sol['residual']:.2e})")
    return sol["u"]


def verify_first_order_direction(direction: Callable[[np.ndarray, int, float], np.ndarray],
                                 lams: Sequence[float] = tuple(np.geomspace(1e-2, 1e-5, 7)),
                                 instances: Sequence[dict] = _INSTANCES, slope_tol: float = 0.1) -> Check:
    """Log-log slopes of ``|u_bar - w*|`` (should be 1) and ``|u_bar - (w* + lam v)|`` (should be 2).

    ``u_bar`` is the exact l1 fixed point (two-parameter root solve of :func:`theory.fixed_points.predicted_limit`,
    itself verified against plain RVSM), ``v = direction(w_star, k, beta)`` the candidate.
    """
    lams = np.asarray(lams, dtype=float)
    ok, details = True, []
    for inst in instances:
        w_star = _instance_w_star(inst)
        v = np.asarray(direction(w_star, inst["k"], inst["beta"]), dtype=float)
        e0, e1 = [], []
        for lam_ in lams:
            u = _exact_u(w_star, inst["k"], float(lam_), inst["beta"])
            e0.append(np.linalg.norm(u - w_star))
            e1.append(np.linalg.norm(u - w_star - lam_ * v))
        slope0 = float(np.polyfit(np.log(lams), np.log(e0), 1)[0])
        slope1 = float(np.polyfit(np.log(lams), np.log(np.maximum(e1, 1e-300)), 1)[0])
        good = abs(slope0 - 1) <= slope_tol and abs(slope1 - 2) <= slope_tol
        ok &= good
        details.append(f"d={w_star.size} k={inst['k']} beta={inst['beta']}: slope |u-w*| = {slope0:.3f}, "
                       f"slope remainder = {slope1:.3f} (remainder/lam^2 at lam={lams[-1]:.0e}: "
                       f"{e1[-1] / lams[-1] ** 2:.3g})")
    return Check("numeric", "exact l1 limit vs the first-order expansion over lam in "
                 f"[{lams.min():.0e}, {lams.max():.0e}]: |u - w*| ~ lam^1 and |u - (w* + lam v)| ~ lam^2 "
                 f"(log-log slopes within {slope_tol})", ok, "; ".join(details))


def _verify_derivatives_fd(ex: dict) -> Check:
    """s'(0), q'(0), r'(0) against one-sided difference quotients of the exact solution at small lam."""
    f = {key: sp.lambdify((k, ns, L1, m), ex[key].subs(p_perp, sp.sqrt(m - L1**2 / ns**2)), "numpy")
         for key in ("s1", "q1", "r1")}
    points, refs = [], {}
    lam_ = 1e-7  # difference quotient error O(lam) ~ 1e-7 relative; rounding ~ 1e-16/lam ~ 1e-9
    for inst in _INSTANCES:
        w_star = _instance_w_star(inst)
        k_, beta_ = inst["k"], inst["beta"]
        sol = fpm.predicted_limit(w_star, k_, "l1", lam_, beta_)
        pt = (k_, float(np.linalg.norm(w_star)), float(np.abs(w_star).sum()), int(np.count_nonzero(w_star)))
        refs[pt] = {"s1": (sol["s"] - 1 / k_) / lam_, "q1": (sol["q"] - 1 / k_) / lam_,
                    "r1": (sol["s"] / sol["q"] - 1) / lam_}
        points.append(pt)
    checks = [verify_numeric(lambda *p, key=key: f[key](*p), lambda *p, key=key: refs[p][key], points,
                             f"{key} vs difference quotient", method="finite-difference", rtol=1e-4, atol=1e-6)
              for key in ("s1", "q1", "r1")]
    return Check("finite-difference", "s'(0), q'(0), r'(0) agree with (x(lam) - x(0))/lam of the exact fixed point at "
                 f"lam = {lam_:g}", all(c.passed for c in checks), " | ".join(c.detail for c in checks))


def derive_small_lambda_expansion() -> Derivation:
    """First-order expansion of the l1 limit in lam, with the lam-derivatives of s, q, r at 0."""
    red = _reduction()
    ex = _expansion_analysis()
    kk = sp.Symbol("j", nonnegative=True, integer=True)
    r1_k_ge_2 = sp.simplify(ex["r1"].subs(k, kk + 2))
    naive_ratio = []
    for inst in _INSTANCES:
        w_star = _instance_w_star(inst)
        v = first_order_direction(w_star, inst["k"], inst["beta"])
        vn = naive_first_order_direction(w_star, inst["k"], inst["beta"])
        naive_ratio.append(float(np.linalg.norm(v - vn) / np.linalg.norm(v)))
    checks = [
        verify_symbolic_zero(red["kept_form"], "kept branch of the l1 map: w_i = r w*_i - (lam/q) sign(w*_i)"),
        verify_symbolic_zero(red["pythagoras"], "reduction: |w|^2 = par^2 + perp^2 with par = w.e, "
                             "perp = (lam/q)|sigma_perp|, |sigma_perp|^2 = m - |w*|_1^2/|w*|^2 (w depends on w* via "
                             "|w*|, |w*|_1, m only)"),
        verify_symbolic_zero(sp.Add(*[sp.Abs(b) for b in ex["_base"]]), "lam = 0: s = q = 1/k solves the fixed-point "
                             "equations at (|w|, t) = (|w*|, 0)"),
        Check("symbolic", "the linear system for (s'(0), q'(0)) is non-singular", ex["_det"] != 0,
              f"determinant {ex['_det']}"),
        _verify_reduction_numeric(),
        Check("symbolic", "r'(0) > 0 for every k >= 2 (so the naive prox_{lam(k + 1/beta)}(w*) is not first-order "
              "correct); r'(0) = 0 only for k = 1", bool(r1_k_ge_2.is_positive) and ex["r1"].subs(k, 1) == 0,
              f"r'(0) at k = j + 2: {r1_k_ge_2}; |v - v_naive|/|v| at the test instances: "
              + ", ".join(f"{x:.3f}" for x in naive_ratio)),
        _verify_derivatives_fd(ex),
        verify_first_order_direction(first_order_direction),
    ]
    latex = (
        r"For small $\lambda \ge 0$ every coordinate on the support of $w^*$ is kept, so "
        r"$\bar w = r w^* - (\lambda/q)\sigma$ and $\bar u = r w^* - \bar\mu\sigma$, "
        r"$\sigma = \operatorname{sign} w^*$. "
        r"With $e = w^*/|w^*|$, $\sigma = (\|w^*\|_1/|w^*|)e + \sigma_\perp$, "
        r"$|\sigma_\perp|^2 = m - \|w^*\|_1^2/|w^*|^2$: $\tan\bar t = (\lambda/q)|\sigma_\perp| / "
        r"(r|w^*| - (\lambda/q)\|w^*\|_1/|w^*|)$, one-sided linear in $\lambda$. Differentiating "
        r"$s = s(|\bar w|, \bar t)$, "
        r"$q = q(|\bar w|, \bar t)$ at $\lambda = 0$:"
        "\n$$ \\bar t'(0) = " + sp.latex(ex["t1"]) + r",\quad s'(0) = " + sp.latex(ex["s1"]) + r",\quad q'(0) = "
        + sp.latex(ex["q1"]) + r",\quad r'(0) = " + sp.latex(ex["r1"]) + " $$\n"
        r"($L_1 = \|w^*\|_1$, $n_s = |w^*|$). Hence $\bar u = w^* + \lambda v + O(\lambda^2)$ with "
        r"$v = r'(0)\,w^* - (k + 1/\beta)\,\sigma$. The naive $\operatorname{prox}_{\lambda(k+1/\beta)}(w^*)$ drops "
        r"$r'(0) w^*$, which is nonzero for $k \ge 2$."
    )
    statement = {"t1": ex["t1"], "n1": ex["n1"], "s1": ex["s1"], "q1": ex["q1"], "r1": ex["r1"],
                 "mu_bar1": ex["mu_bar1"], "p_perp_squared": m - L1**2 / ns**2}
    return Derivation("small_lambda_expansion", "First-order expansion of the l1 limit in lambda", statement,
                      tuple(checks), latex, fpm.CONVENTIONS)


def _verify_reduction_numeric() -> Check:
    """The reduced scalar formulas for |w| and w.w* agree with direct vector computation on random vectors."""
    red = _reduction()
    S, Q = red["S"], red["Q"]
    f_norm = sp.lambdify((S, Q, lam, ns, L1, m), sp.sqrt(red["norm2"]), "numpy")
    f_perp = sp.lambdify((S, Q, lam, ns, L1, m), red["perp"].subs(p_perp, sp.sqrt(m - L1**2 / ns**2)), "numpy")
    rng = np.random.default_rng(0)
    pts, direct = [], {}
    for _ in range(6):
        w_star = rng.standard_normal(9) * (rng.random(9) < 0.6)
        if not np.any(w_star):
            w_star[0] = 1.0
        S_, Q_, lam_ = rng.uniform(0.1, 1), rng.uniform(0.1, 1), rng.uniform(0, 0.3)
        w = S_ / Q_ * w_star - lam_ / Q_ * np.sign(w_star)
        e = w_star / np.linalg.norm(w_star)
        pt = (S_, Q_, lam_, float(np.linalg.norm(w_star)), float(np.abs(w_star).sum()), int(np.count_nonzero(w_star)))
        direct[pt] = (float(np.linalg.norm(w)), float(np.linalg.norm(w - (w @ e) * e)))
        pts.append(pt)
    c1 = verify_numeric(f_norm, lambda *p: direct[p][0], pts, "|w|")
    c2 = verify_numeric(f_perp, lambda *p: direct[p][1], pts, "perp")
    return Check("numeric", "reduced formulas for |w| and |w - (w.e)e| equal the vector computations (random w*)",
                 c1.passed and c2.passed, f"{c1.detail} | {c2.detail}")
