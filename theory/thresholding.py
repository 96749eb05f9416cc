"""Thresholding (proximal) operators of the l1, l0 and transformed-l1 penalties, derived from the prox definition.

Convention (theory page section 3): ``prox_{mu P}(x) = argmin_y mu P(y) + (1/2)(y - x)^2``, coordinatewise, ``mu > 0``.
Where two minimizers tie at the threshold the operator returns 0.

Public API
----------
Symbols ``x`` (real), ``y``, ``z``; SymPy expressions for other packages to lambdify:
:func:`soft_threshold_expr`, :func:`hard_threshold_level_expr`, :func:`tl1_shrink_expr` (the trigonometric root),
:func:`tl1_shrink_stable_expr` (the same root without cancellation), :func:`tl1_threshold_exprs`.
Derivations: :func:`derive_prox_l1`, :func:`derive_prox_l0`, :func:`derive_prox_tl1`.
Plain-NumPy reference functions: :func:`brute_force_prox` (penalty-agnostic global minimizer), the penalties
:func:`l1_penalty`, :func:`l0_penalty`, :func:`tl1_penalty`, and the derived operators :func:`soft_threshold`,
:func:`hard_threshold`, :func:`tl1_prox` (NumPy, lambdified from the derived expressions); :func:`tl1_root_reference`
(the TL1 root and its condition number in many digits, by Newton's method) and :func:`tl1_rounding_cases`.
Verifications that take the *candidate* as an argument (so a wrong formula can be fed through them):
:func:`verify_prox_brute_force`, :func:`verify_threshold_brute_force`, :func:`verify_l1_subgradient`,
:func:`verify_l0_tie`, :func:`verify_tl1_root_symbolic`, :func:`verify_tl1_root_numeric`, :func:`verify_tl1_limits`,
:func:`verify_acos_half_angle`, :func:`verify_tl1_shrink_equivalent`, :func:`verify_tl1_shrink_rounding`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp
from scipy.optimize import minimize_scalar

from .record import Check, Derivation
from .symbols import a, mu
from .verify import verify_numeric, verify_symbolic_zero

#: The prox argument (real), the prox variable, and the TL1 cubic variable z = a + y.
x = sp.Symbol("x", real=True)
y = sp.Symbol("y", real=True)
z = sp.Symbol("z", positive=True)

_xp = sp.Symbol("x", positive=True)  # x > 0 (TL1 kept branch; by symmetry the sign is restored at the end)
_yp = sp.Symbol("y", positive=True)
_t = sp.Symbol("t", positive=True)  # a positive offset, for region substitutions
_c = sp.Symbol("c", real=True)  # stands for cos(phi/3)
_W = sp.Symbol("W", real=True)  # stands for cos(phi)

PROX_CONVENTION = "prox_{mu P}(x) = argmin_y mu P(y) + (1/2)(y - x)^2, coordinatewise, mu > 0"
TIE_CONVENTION = "where two minimizers tie at the threshold the operator returns 0"


# ----------------------------------------------------------------------------------------------------------------
# Plain-NumPy penalties and the brute-force reference minimizer
# ----------------------------------------------------------------------------------------------------------------
def l1_penalty(v: np.ndarray) -> np.ndarray:
    """``P(y) = |y|``."""
    return np.abs(v)


def l0_penalty(v: np.ndarray) -> np.ndarray:
    """``P(y) = 1{y != 0}``."""
    return (np.asarray(v) != 0).astype(float)


def tl1_penalty(v: np.ndarray, a_: float) -> np.ndarray:
    """Transformed l1, ``rho_a(y) = (a + 1)|y| / (a + |y|)``, ``a > 0``."""
    if not a_ > 0:
        raise ValueError(f"a must be > 0, got {a_}")
    av = np.abs(v)
    return (a_ + 1.0) * av / (a_ + av)


def _check_positive(name: str, value) -> None:
    arr = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")


def brute_force_prox(
    penalty_value_fn: Callable[[np.ndarray], np.ndarray],
    x_: float,
    mu_: float,
    *,
    n_grid: int = 4001,
    tie_rtol: float = 1e-12,
) -> float:
    """Global minimizer of ``mu P(y) + (y - x)^2 / 2`` by a fine grid plus local refinement (no formula used).

    Parameters
    ----------
    penalty_value_fn : callable
        Vectorized ``P``; must accept a NumPy array of ``y`` values.
    x_ : float
        The prox argument.
    mu_ : float
        The prox parameter, ``> 0``.
    n_grid : int
        Number of grid points on ``[-(|x|+1), |x|+1]`` (the point ``y = 0`` is always added).
    tie_rtol : float
        Relative tolerance under which the objective at 0 counts as tied with the best value; a tie returns 0.

    Returns
    -------
    float
        The minimizer; 0 when ``y = 0`` is (within ``tie_rtol``) a global minimizer.

    Notes
    -----
    Every discrete local minimum of the objective on the grid is refined by bounded Brent minimization on its two
    neighbouring cells, so that two nearly tied basins are both polished before they are compared. ``y = 0`` is
    evaluated exactly (the l0 penalty is discontinuous there). This assumes only that the minimizer lies in
    ``[-(|x|+1), |x|+1]``, which holds for any ``P >= 0`` with ``P(0) = 0`` (``y = 0``
    already beats any ``|y| > 2|x|``).
    """
    x_ = float(x_)
    _check_positive("mu", mu_)
    mu_ = float(mu_)
    if n_grid < 5:
        raise ValueError(f"n_grid must be >= 5, got {n_grid}")
    half = abs(x_) + 1.0
    grid = np.linspace(-half, half, n_grid)

    def obj(v):
        v = np.asarray(v, dtype=float)
        return mu_ * np.asarray(penalty_value_fn(v), dtype=float) + 0.5 * (v - x_) ** 2

    vals = obj(grid)
    is_min = np.zeros(n_grid, dtype=bool)
    is_min[1:-1] = (vals[1:-1] <= vals[:-2]) & (vals[1:-1] <= vals[2:])
    is_min[0] = vals[0] <= vals[1]
    is_min[-1] = vals[-1] <= vals[-2]
    idx = np.flatnonzero(is_min)
    idx = idx[np.argsort(vals[idx])][:8]  # the best few basins (two is the most these penalties have)
    best_y, best_v = 0.0, float(obj(0.0))
    h0 = best_v
    cand_y: list[float] = []
    for i in idx:
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, n_grid - 1)]
        res = minimize_scalar(lambda v: float(obj(v)), bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-14 * half})
        cand_y.extend([float(res.x), float(grid[i])])
    best_nz_y, best_nz_v = None, np.inf
    for cy in cand_y:
        if cy == 0.0:
            continue
        cv = float(obj(cy))
        if cv < best_nz_v:
            best_nz_y, best_nz_v = cy, cv
    if best_nz_y is not None and best_nz_v < h0 - tie_rtol * max(abs(h0), abs(best_nz_v)):
        best_y, best_v = best_nz_y, best_nz_v
    return best_y


def prox_objective(penalty_value_fn: Callable, v, x_, mu_):
    """``mu P(v) + (v - x)^2 / 2`` (NumPy)."""
    return mu_ * penalty_value_fn(np.asarray(v, dtype=float)) + 0.5 * (np.asarray(v, dtype=float) - x_) ** 2


# ----------------------------------------------------------------------------------------------------------------
# Verifications (each takes the candidate as an argument and can fail)
# ----------------------------------------------------------------------------------------------------------------
def verify_prox_brute_force(
    candidate: Callable[..., float],
    penalty_value_fn: Callable[..., np.ndarray],
    cases: Sequence[tuple],
    description: str,
    *,
    obj_rtol: float = 1e-10,
    loc_rtol: float = 1e-5,
) -> Check:
    """Compare ``candidate(x, mu, *params)`` with :func:`brute_force_prox` at each case ``(x, mu, *params)``.

    Passes when at every case (i) the prox objective at the candidate is no larger than at the brute-force minimizer
    plus ``obj_rtol * (|x|^2/2 + mu)`` (the candidate is a global minimizer), and (ii) the candidate is within
    ``loc_rtol * (1 + |x|)`` of the brute-force minimizer (the same one, in particular 0 on ties).

    Notes
    -----
    ``penalty_value_fn(y, *params)``. Tolerances: the objective is computed in float64 (relative error ~1e-16 of
    ``x^2/2 + mu``); the brute-force location is accurate to about ``sqrt(eps) ~ 1.5e-8`` relative where the
    objective is strongly convex near its minimum, and to about ``eps^(1/3) ~ 5e-6`` where the second derivative
    vanishes (TL1 at the critical ``mu``), hence ``loc_rtol = 1e-5``. A wrong threshold or shrinkage moves the
    objective or the location by orders of magnitude more.
    """
    worst_score, worst_obj, worst_loc, worst_at = -1.0, 0.0, 0.0, None
    ok = True
    for case in cases:
        x_, mu_, *params = (float(v) for v in case)
        pen = (lambda v, _p=tuple(params): penalty_value_fn(v, *_p)) if params else penalty_value_fn
        yc = float(candidate(x_, mu_, *params))
        yb = brute_force_prox(pen, x_, mu_)
        scale = 0.5 * x_ * x_ + mu_
        hc = float(prox_objective(pen, yc, x_, mu_))
        hb = float(prox_objective(pen, yb, x_, mu_))
        e_obj = max((hc - hb) / scale, 0.0) if np.isfinite(hc) else np.inf
        e_loc = abs(yc - yb) / (1.0 + abs(x_)) if np.isfinite(yc) else np.inf
        if not (e_obj <= obj_rtol and e_loc <= loc_rtol):
            ok = False
        score = max(e_obj / obj_rtol, e_loc / loc_rtol)
        if score > worst_score:
            worst_score, worst_obj, worst_loc, worst_at = score, e_obj, e_loc, (x_, mu_, *params, yc, yb)
    return Check(
        "brute-force",
        description,
        ok,
        f"{len(cases)} cases; worst excess objective {worst_obj:.2e} (rel, allowed {obj_rtol:g}), "
        f"location {worst_loc:.2e} (allowed {loc_rtol:g}) at (x, mu, params..., candidate, brute) = {worst_at}",
    )


def verify_threshold_brute_force(
    threshold: Callable[..., float],
    penalty_value_fn: Callable[..., np.ndarray],
    cases: Sequence[tuple],
    description: str,
    *,
    rel_step: float = 1e-5,
) -> Check:
    """Check a threshold ``t = threshold(mu, *params)`` by brute force just below and just above it.

    At ``x = t (1 - rel_step)`` the brute-force prox must be 0; at ``x = t (1 + rel_step)`` it must be nonzero.

    Notes
    -----
    Resolution: just above a jump threshold the objective gain of the kept root over 0 is about
    ``rel_step t y_jump`` (envelope theorem), just above a continuous one about ``(rel_step t)^2 / (2 h''(0))``;
    both are far above the brute-force tie tolerance ``1e-12 x^2/2`` for ``rel_step = 1e-5``.
    """
    ok = True
    fails = []
    for case in cases:
        mu_, *params = (float(v) for v in case)
        pen = (lambda v, _p=tuple(params): penalty_value_fn(v, *_p)) if params else penalty_value_fn
        t = float(threshold(mu_, *params))
        if not (np.isfinite(t) and t > 0):
            ok = False
            fails.append((mu_, *params, t, "threshold not finite positive"))
            continue
        below = brute_force_prox(pen, t * (1 - rel_step), mu_)
        above = brute_force_prox(pen, t * (1 + rel_step), mu_)
        if below != 0.0 or above == 0.0:
            ok = False
            fails.append((mu_, *params, t, below, above))
    detail = f"{len(cases)} (mu, params) cases, x = t(1 -+ {rel_step:g}); {len(fails)} failed"
    if fails:
        detail += f"; first (mu, params..., t, prox below, prox above) = {fails[0]}"
    return Check("brute-force", description, ok, detail)


def verify_l1_subgradient(candidate: Callable[[float, float], float], cases: Sequence[tuple], description: str,
                          *, tol: float = 1e-12) -> Check:
    """Optimality certificate for the (strictly convex) l1 prox objective: ``0 in y - x + mu d|y|``.

    For ``y != 0``: ``|y - x + mu sign(y)| <= tol (1 + |x|)``; for ``y = 0``: ``|x| <= mu (1 + tol)``.
    """
    worst, worst_at, ok = 0.0, None, True
    for x_, mu_ in cases:
        yc = float(candidate(x_, mu_))
        if not np.isfinite(yc):
            err = np.inf
        elif yc != 0.0:
            err = abs(yc - x_ + mu_ * np.sign(yc)) / (1 + abs(x_))
        else:
            err = max(abs(x_) - mu_, 0.0) / (1 + abs(x_))
        if not err <= tol:
            ok = False
        if not err <= worst:
            worst, worst_at = err, (x_, mu_, yc)
    return Check("numeric", description, ok, f"{len(cases)} cases; worst violation {worst:.2e} (allowed {tol:g}) "
                                             f"at (x, mu, candidate) = {worst_at}")


def verify_l0_tie(threshold_expr: sp.Expr) -> Check:
    """At ``x = threshold`` the l0 objective must tie between ``y = x`` (value ``mu``) and ``y = 0`` (``x^2/2``)."""
    h_keep = mu * 1 + sp.Rational(1, 2) * (x - x) ** 2
    h_zero = sp.Rational(1, 2) * x**2
    return verify_symbolic_zero((h_keep - h_zero).subs(x, threshold_expr),
                                "l0 objective ties between y = x and y = 0 exactly at the threshold")


def _tl1_residual_numerator(g: sp.Expr, x_sym: sp.Symbol) -> sp.Expr:
    """``(y - x)(a + y)^2 + mu a (a + 1)`` at ``y = g``: the TL1 stationarity condition times ``(a + y)^2``."""
    return (g - x_sym) * (a + g) ** 2 + mu * a * (a + 1)


def verify_tl1_root_symbolic(candidate_g: sp.Expr, x_sym: sp.Symbol = x) -> Check:
    """Symbolic proof that ``y = g(x)`` solves ``y - x + mu a(a+1)/(a+y)^2 = 0``.

    Notes
    -----
    ``candidate_g`` must contain exactly one ``cos(acos(W)/3)``. Call it ``c``; then ``4 c^3 - 3 c = W`` (triple
    angle), so the residual numerator (a polynomial in ``c``) vanishes iff its remainder modulo ``4 c^3 - 3 c - W``
    simplifies to 0. SymPy cannot simplify ``cos(acos(W)/3)`` directly; this reduction is exact.
    """
    desc = "TL1 trigonometric root substituted into the stationarity cubic gives 0 (mod the triple-angle identity)"
    hits = [e for e in candidate_g.atoms(sp.cos)
            if (lambda co: co[0] == sp.Rational(1, 3) and isinstance(co[1], sp.acos))(e.args[0].as_coeff_Mul())]
    if len(hits) != 1:
        return Check("symbolic", desc, False, f"expected one cos(acos(W)/3) in the candidate, found {len(hits)}")
    w_expr = hits[0].args[0].as_coeff_Mul()[1].args[0]
    poly = sp.Poly(sp.expand(_tl1_residual_numerator(candidate_g.subs(hits[0], _c), x_sym)), _c)
    rem = sp.rem(poly, sp.Poly(4 * _c**3 - 3 * _c - _W, _c)).as_expr().subs(_W, w_expr)
    return verify_symbolic_zero(sp.together(rem), desc)


def verify_tl1_root_numeric(candidate_g: sp.Expr, cases: Sequence[tuple], *, x_sym: sp.Symbol = x,
                            extra: dict | None = None) -> Check:
    """Evaluate the TL1 stationarity residual ``g - x + mu a(a+1)/(a+g)^2`` at ``cases`` (x, mu, a) in 30 digits.

    ``extra`` substitutes further symbols (e.g. a ``lambda`` in a deliberately wrong candidate). A complex value
    (no real trigonometric root) counts as failure.
    """
    resid = candidate_g - x_sym + mu * a * (a + 1) / (a + candidate_g) ** 2
    if extra:
        resid = resid.subs(extra)
    fn = sp.lambdify((x_sym, mu, a), resid, modules="mpmath")

    def value(x_, mu_, a_):
        with mpmath.workdps(30):
            val = mpmath.mpc(fn(mpmath.mpf(x_), mpmath.mpf(mu_), mpmath.mpf(a_)))
        return float(abs(val)) / (1.0 + abs(x_)) + (np.inf if abs(val.imag) > 1e-25 else 0.0)

    return verify_numeric(value, lambda *p: 0.0, cases,
                          "TL1 root satisfies the stationarity condition (residual/(1+|x|), 30 digits)",
                          method="numeric", rtol=0.0, atol=1e-20)


# ----------------------------------------------------------------------------------------------------------------
# l1
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _l1_steps() -> dict:
    h_pos = mu * y + (y - x) ** 2 / 2  # objective on y > 0
    h_neg = -mu * y + (y - x) ** 2 / 2  # on y < 0
    (y_pos,) = sp.solve(sp.diff(h_pos, y), y)
    (y_neg,) = sp.solve(sp.diff(h_neg, y), y)
    cond_pos = sp.solve(y_pos > 0, x)  # x > mu
    cond_neg = sp.solve(y_neg < 0, x)  # x < -mu
    # y = 0: 0 in [-mu, mu] + (0 - x)  <=>  |x| <= mu (the remaining case, so it is the Piecewise default)
    prox = sp.Piecewise((y_pos, cond_pos), (y_neg, cond_neg), (0, True))
    return {"prox": prox, "y_pos": y_pos, "y_neg": y_neg, "cond_pos": cond_pos, "cond_neg": cond_neg}


def soft_threshold_expr() -> sp.Expr:
    """Derived l1 prox as a SymPy Piecewise in :data:`x` and ``mu``.

    Notes
    -----
    ``prox_{mu |.|}(x) = x - mu`` if ``x > mu``, ``x + mu`` if ``x < -mu``, else 0, i.e.
    ``sign(x) max(|x| - mu, 0)``; continuous, so the tie convention never applies.
    """
    return _l1_steps()["prox"]


@lru_cache(maxsize=4)
def _lambdified(name: str):
    if name == "l1":
        return sp.lambdify((x, mu), soft_threshold_expr(), modules="numpy")
    if name == "l0":
        return sp.lambdify(mu, hard_threshold_level_expr(), modules="numpy")
    if name == "tl1":
        t_sub, t_sup, mu_c = tl1_threshold_exprs()
        # the kept branch in its cancellation-free form (equal to tl1_shrink_expr on the kept branch)
        return (sp.lambdify((x, mu, a), tl1_shrink_stable_expr(), modules="numpy"),
                sp.lambdify((mu, a), t_sub, modules="numpy"), sp.lambdify((mu, a), t_sup, modules="numpy"),
                sp.lambdify(a, mu_c, modules="numpy"))
    raise ValueError(name)


def soft_threshold(x_, mu_):
    """NumPy soft thresholding, lambdified from :func:`soft_threshold_expr`. Raises ValueError unless ``mu > 0``."""
    _check_positive("mu", mu_)
    return _lambdified("l1")(np.asarray(x_, dtype=float), np.asarray(mu_, dtype=float))


def _l1_cases(seed: int = 1) -> list[tuple]:
    rng = np.random.default_rng(seed)
    mus = np.exp(rng.uniform(np.log(1e-2), np.log(10.0), 40))
    out = []
    for m in mus:
        for f in (-3.0, -1.0 - 1e-6, -1.0, -0.5, 0.0, 0.3, 1.0, 1.0 + 1e-6, 2.5):
            out.append((f * m, m))
        out.append((rng.normal() * 3 * m, m))
    return out


def derive_prox_l1() -> Derivation:
    """Soft thresholding from the optimality conditions of ``mu |y| + (y - x)^2/2``.

    Notes
    -----
    The objective is strictly convex, so ``0 in dh(y)`` characterises the unique minimizer. On ``y > 0``:
    ``mu + y - x = 0``, ``y = x - mu``, consistent iff ``x > mu``; on ``y < 0``: ``y = x + mu`` iff ``x < -mu``;
    ``y = 0``: ``0 in [-mu, mu] - x`` iff ``|x| <= mu``. Hence ``prox(x) = sign(x) max(|x| - mu, 0)``.
    """
    steps = _l1_steps()
    prox = steps["prox"]
    textbook = sp.sign(x) * sp.Max(sp.Abs(x) - mu, 0)
    checks = [
        verify_symbolic_zero((prox - textbook).subs(x, mu + _t),
                             "derived prox = sign(x) max(|x|-mu, 0) on x = mu + t > mu"),
        verify_symbolic_zero((prox - textbook).subs(x, -mu - _t),
                             "derived prox = sign(x) max(|x|-mu, 0) on x = -mu - t"),
        verify_symbolic_zero((prox - textbook).subs(x, mu * sp.Rational(1, 3)),
                             "derived prox = 0 = sign(x) max(|x|-mu, 0) at x = mu/3 (inside |x| <= mu)"),
    ]
    fn = _lambdified("l1")
    cases = _l1_cases()
    checks.append(verify_l1_subgradient(lambda xx, mm: fn(xx, mm), cases,
                                        "subgradient optimality certificate 0 in y - x + mu d|y| at the derived prox"))
    checks.append(verify_prox_brute_force(lambda xx, mm: fn(xx, mm), l1_penalty, cases,
                                          "derived soft threshold = brute-force global minimizer (grid + refine)"))
    checks.append(verify_threshold_brute_force(lambda mm: mm, l1_penalty, [(c[1],) for c in cases[::10]],
                                               "l1 threshold mu: prox is 0 just below and nonzero just above"))
    latex = (
        r"Objective $h(y)=\mu|y|+\tfrac12(y-x)^2$, strictly convex, so $0\in\partial h(y)$ characterises the "
        r"minimizer. Case $y>0$: $\mu+y-x=0\Rightarrow y=x-\mu$, consistent iff $x>\mu$. Case $y<0$: "
        r"$y=x+\mu$ iff $x<-\mu$. Case $y=0$: $0\in[-\mu,\mu]-x$ iff $|x|\le\mu$. Hence "
        r"$\operatorname{prox}_{\mu|\cdot|}(x)=\operatorname{sign}(x)\max(|x|-\mu,0)$ (soft thresholding)."
    )
    return Derivation(
        name="prox_l1", title="Prox of the l1 penalty: soft thresholding",
        statement={"prox_l1": prox, "threshold": mu}, checks=tuple(checks), latex=latex,
        conventions=(PROX_CONVENTION, TIE_CONVENTION + " (the l1 map is continuous, so no tie arises)"),
    )


# ----------------------------------------------------------------------------------------------------------------
# l0
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _l0_steps() -> dict:
    h_nonzero = mu + (y - x) ** 2 / 2  # P(y) = 1 for y != 0
    (y_keep,) = sp.solve(sp.diff(h_nonzero, y), y)  # y = x
    v_keep = sp.simplify(h_nonzero.subs(y, y_keep))  # mu
    v_zero = (y - x).subs(y, 0) ** 2 / 2  # x^2/2
    level = next(s for s in sp.solve(sp.Eq(v_keep, v_zero.subs(x, _xp)), _xp) if s.is_positive)  # sqrt(2 mu)
    return {"y_keep": y_keep, "v_keep": v_keep, "v_zero": v_zero, "level": level}


def hard_threshold_level_expr() -> sp.Expr:
    """Derived l0 threshold level ``sqrt(2 mu)`` (SymPy, in ``mu``).

    Notes
    -----
    ``prox_{mu 1{.!=0}}(x) = x`` if ``|x| > sqrt(2 mu)`` else 0 (0 at the tie ``|x| = sqrt(2 mu)``). Libraries that
    threshold at ``mu`` use a different convention.
    """
    return _l0_steps()["level"]


def hard_threshold(x_, mu_):
    """NumPy hard thresholding ``x 1{|x| > sqrt(2 mu)}`` built from :func:`hard_threshold_level_expr`."""
    _check_positive("mu", mu_)
    xv = np.asarray(x_, dtype=float)
    level = _lambdified("l0")(np.asarray(mu_, dtype=float))
    return np.where(np.abs(xv) > level, xv, 0.0)


def make_hard_threshold(level_fn: Callable[[float], float]) -> Callable[[float, float], float]:
    """Hard thresholding with a given level function ``level_fn(mu)`` (used to feed wrong levels to the checks)."""
    return lambda x_, mu_: x_ if abs(x_) > level_fn(mu_) else 0.0


def _l0_cases(level_fn, seed: int = 2) -> list[tuple]:
    rng = np.random.default_rng(seed)
    mus = np.exp(rng.uniform(np.log(1e-2), np.log(10.0), 30))
    out = []
    for m in mus:
        t = float(np.sqrt(2 * m))  # true level: probe around it (and around sqrt(mu), a common wrong level)
        for f in (0.0, 0.5, 0.72, 1 - 1e-6, 1.0, 1 + 1e-6, 1.5, 3.0):
            out.append((f * t, m))
            out.append((-f * t, m))
        out.append((float(level_fn(m)), m))  # exactly at the candidate level: the tie convention
    return out


def derive_prox_l0() -> Derivation:
    """Hard thresholding: compare the objective at ``y = x`` (value ``mu``) with ``y = 0`` (value ``x^2/2``).

    Notes
    -----
    For ``y != 0`` the penalty is the constant ``mu``, so the best nonzero ``y`` is ``x`` with value ``mu``; ``y = 0``
    gives ``x^2/2``. Keep ``x`` iff ``x^2/2 > mu``, i.e. ``|x| > sqrt(2 mu)`` (tie returns 0).
    """
    s = _l0_steps()
    level = s["level"]
    level_fn = sp.lambdify(mu, level, "numpy")
    cand = make_hard_threshold(level_fn)
    checks = [
        verify_symbolic_zero(s["y_keep"] - x, "best nonzero y for l0 is y = x"),
        verify_l0_tie(level),
        verify_prox_brute_force(cand, l0_penalty, _l0_cases(level_fn),
                                "derived hard threshold = brute-force global minimizer, incl. x = +-level (tie -> 0)"),
        verify_threshold_brute_force(level_fn, l0_penalty, [(m,) for m in (1e-2, 0.1, 0.37, 1.0, 4.0, 10.0)],
                                     "l0 threshold sqrt(2 mu): prox is 0 just below and nonzero just above"),
    ]
    prox = sp.Piecewise((x, sp.Abs(x) > level), (0, True))
    latex = (
        r"$h(y)=\mu\,\mathbf 1\{y\ne0\}+\tfrac12(y-x)^2$. For $y\ne0$ the penalty is constant, so the best nonzero "
        r"$y$ is $y=x$ with $h=\mu$; at $y=0$, $h=x^2/2$. Keep $x$ iff $x^2/2>\mu$: the tie $x^2/2=\mu$ solved by "
        r"SymPy gives the level $\sqrt{2\mu}$, and $\operatorname{prox}(x)=x\,\mathbf 1\{|x|>\sqrt{2\mu}\}$ "
        r"(0 at the tie). Thresholding at $\mu$ (some libraries) is a different convention."
    )
    return Derivation(
        name="prox_l0", title="Prox of the l0 penalty: hard thresholding at sqrt(2 mu)",
        statement={"prox_l0": prox, "threshold": level}, checks=tuple(checks), latex=latex,
        conventions=(PROX_CONVENTION, TIE_CONVENTION + ": |x| = sqrt(2 mu) maps to 0"),
    )


# ----------------------------------------------------------------------------------------------------------------
# TL1
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _tl1_steps() -> dict:
    """The TL1 derivation, step by step (x > 0, y > 0; the map is odd)."""
    xx, yy = _xp, _yp
    rho = (a + 1) * yy / (a + yy)
    h = mu * rho + (yy - xx) ** 2 / 2
    dh = sp.diff(h, yy)  # y - x + mu a(a+1)/(a+y)^2
    # cubic in z = a + y: multiply the stationarity condition by z^2
    cubic = sp.Poly(sp.numer(sp.together(dh.subs(yy, z - a))), z).monic()  # z^3 - (a+x) z^2 + mu a (a+1)
    _, b2, b1, _ = cubic.all_coeffs()
    s = sp.Symbol("s", real=True)
    depressed = sp.Poly(sp.expand(cubic.as_expr().subs(z, s - b2 / 3)), s)  # s^3 + p s + q
    _, zero2, p, q = depressed.all_coeffs()
    p, q = sp.factor(p), sp.factor(q)
    m = 2 * sp.sqrt(sp.factor(-p / 3))  # = 2 (a + x)/3
    theta = sp.Symbol("theta", real=True)
    # s = m cos(theta): m^3 cos^3 + p m cos + q = 0; with 4 cos^3 = cos(3 theta) + 3 cos and p = -3 m^2/4 the cos terms
    # cancel, leaving (m^3/4) cos(3 theta) + q = 0.
    trig = sp.expand((m * sp.cos(theta)) ** 3 + p * m * sp.cos(theta) + q)
    trig = sp.expand(trig.subs(sp.cos(theta) ** 3, (_W + 3 * sp.cos(theta)) / 4))
    (w_sol,) = sp.solve(trig, _W)  # cos(phi) = -4 q / m^3
    w_sol = sp.factor(sp.simplify(w_sol))
    phi = sp.acos(w_sol)
    z_root = -b2 / 3 + m * sp.cos(phi / 3)  # k = 0 branch: the largest root
    g = sp.expand(z_root - a)
    # thresholds
    (t_sub,) = sp.solve(dh.subs(yy, 0), xx)  # root leaves 0: x = mu rho'(0+)
    d2h0 = sp.diff(h, yy, 2).subs(yy, 0)  # 1 - 2 mu (a+1)/a^2
    (mu_c,) = sp.solve(d2h0, mu)
    tie = sp.simplify((h - h.subs(yy, 0)) / yy)  # h(y) = h(0), y > 0, divided by y
    (x_of_y,) = sp.solve(tie, xx)
    elim = sp.factor(sp.numer(sp.together(dh.subs(xx, x_of_y))))
    # elim = y ((a + y)^2 - 2 mu (a + 1)); y is a positive symbol, so SymPy keeps only sqrt(2 mu (a+1)) - a (which
    # is positive exactly when mu > mu_c: the supercritical regime)
    (y_jump,) = sp.solve(elim, yy)
    t_sup_raw = sp.simplify(x_of_y.subs(yy, y_jump))
    # SymPy leaves sqrt(a+1) in a denominator; use the tidy form only when it is provably the same expression
    t_sup_tidy = sp.sqrt(2 * mu * (a + 1)) - a / 2
    t_sup = t_sup_tidy if sp.simplify(sp.expand(t_sup_raw - t_sup_tidy)) == 0 else t_sup_raw
    return {"rho": rho, "h": h, "dh": dh, "cubic": cubic.as_expr(), "depressed": depressed.as_expr(), "p": p,
            "q": q, "m": m, "cos_phi": w_sol, "phi": phi, "g": g, "t_sub": t_sub, "mu_c": sp.factor(mu_c),
            "d2h0": d2h0, "x_of_y": x_of_y, "elim": elim, "y_jump": y_jump, "t_sup": t_sup, "t_sup_raw": t_sup_raw,
            "depressed_s2_coeff": zero2, "cubic_z1_coeff": b1}


def tl1_shrink_expr() -> sp.Expr:
    """Derived TL1 kept branch ``g(x)`` for ``x > 0`` (SymPy in :data:`x`, ``mu``, ``a``); valid for ``x > t``.

    Notes
    -----
    ``g(x) = (2/3)(a + x) cos(phi/3) - 2a/3 + x/3``, ``phi = arccos(1 - 27 mu a (a+1) / (2 (a + x)^3))``: the largest
    root of ``z^3 - (a + x) z^2 + mu a (a + 1) = 0`` minus ``a``. For ``x < 0`` use ``-g(-x)``.
    """
    return _tl1_steps()["g"].subs(_xp, x)


def tl1_threshold_exprs() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """Derived TL1 thresholds ``(subcritical_threshold, supercritical_threshold, critical_mu)`` (SymPy in mu, a).

    Notes
    -----
    ``mu <= mu_c = a^2 / (2 (a + 1))``: threshold ``mu (a + 1)/a`` (continuous map); otherwise
    ``sqrt(2 mu (a + 1)) - a/2`` (the map jumps there by ``sqrt(2 mu (a + 1)) - a``; the tie returns 0).
    """
    s = _tl1_steps()
    return s["t_sub"], s["t_sup"], s["mu_c"]


def tl1_threshold(mu_, a_):
    """NumPy TL1 threshold (regime chosen by ``mu <= a^2/(2(a+1))``). Raises ValueError unless mu, a > 0."""
    _check_positive("mu", mu_)
    _check_positive("a", a_)
    _, f_sub, f_sup, f_c = _lambdified("tl1")
    mu_, a_ = np.asarray(mu_, dtype=float), np.asarray(a_, dtype=float)
    return np.where(mu_ <= f_c(a_), f_sub(mu_, a_), f_sup(mu_, a_))


def make_tl1_prox(shrink: Callable, threshold: Callable) -> Callable:
    """``sign(x) shrink(|x|, mu, a)`` if ``|x| > threshold(mu, a)`` else 0 (NumPy; for feeding candidates)."""

    def prox(x_, mu_, a_):
        xv = np.asarray(x_, dtype=float)
        ax = np.abs(xv)
        keep = ax > threshold(mu_, a_)
        with np.errstate(invalid="ignore"):
            kept = shrink(np.where(keep, ax, 1.0), mu_, a_)
        return np.where(keep, np.sign(xv) * kept, 0.0)

    return prox


def tl1_prox(x_, mu_, a_):
    """NumPy TL1 prox assembled from the derived expressions (:func:`tl1_shrink_stable_expr`, the cancellation-free
    form of :func:`tl1_shrink_expr`, and :func:`tl1_threshold_exprs`)."""
    _check_positive("mu", mu_)
    _check_positive("a", a_)
    return make_tl1_prox(_lambdified("tl1")[0], tl1_threshold)(x_, mu_, a_)


def _tl1_cases(seed: int = 3, n_pairs: int = 40) -> tuple[list[tuple], list[tuple]]:
    """(mu, a) pairs in both regimes, and (x, mu, a) cases around and beyond the threshold."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n_pairs):
        a_ = float(np.exp(rng.uniform(np.log(0.05), np.log(20.0))))
        mu_c = a_**2 / (2 * (a_ + 1))
        ratio = float(np.exp(rng.uniform(np.log(0.02), np.log(0.95)))) if i % 2 == 0 else \
            float(np.exp(rng.uniform(np.log(1.05), np.log(50.0))))
        pairs.append((ratio * mu_c, a_))
    for a_ in (0.3, 2.0):  # at the critical mu and just around it
        mu_c = a_**2 / (2 * (a_ + 1))
        pairs += [(mu_c, a_), (mu_c * (1 - 1e-3), a_), (mu_c * (1 + 1e-3), a_)]
    cases = []
    for mu_, a_ in pairs:
        t = float(tl1_threshold(mu_, a_))
        for f in (0.3, 1 - 1e-4, 1.0, 1 + 1e-4, 1.2, 2.0, 5.0):
            cases += [(f * t, mu_, a_), (-f * t, mu_, a_)]
    return pairs, cases


def verify_tl1_limits(prox_fn: Callable, cases: Sequence[tuple] | None = None) -> tuple[Check, Check]:
    """TL1 prox -> hard threshold as a -> 0+ and -> soft threshold as a -> inf (numerically, with derived bounds).

    Notes
    -----
    Kept branch: ``y = x - mu rho_a'(y)``. As ``a -> 0``, ``rho_a'(y) = a(a+1)/(a+y)^2 <= a(a+1)/y^2`` and
    ``y^2 >= 2 mu (1 - O(sqrt a))`` on the kept branch, so ``|y - x| <= a(a+1)/2 (1 + o(1))``: the bound ``a``
    (at ``a = 1e-6``). As ``a -> inf``, ``|1 - rho_a'(y)| = |a(2y - 1) + y^2|/(a + y)^2 <= (|2y-1| + y^2/a)/a``, so
    ``|y - (x - mu)| <= 2 mu (2|x| + 1 + x^2/a)/a`` (the factor 2 covers ``1/(1 - mu |rho''|)`` for large ``a``).
    Points within ``1e-3`` relative of a threshold are excluded (the thresholds themselves move by ``O(a)``,
    resp. ``O(mu/a)``).
    """
    if cases is None:
        rng = np.random.default_rng(7)
        cases = [(float(rng.uniform(-6, 6)), float(np.exp(rng.uniform(np.log(0.05), np.log(3.0))))) for _ in range(300)]
    a_small, a_large = 1e-6, 1e6
    worst0, worst_inf, n0, ninf = 0.0, 0.0, 0, 0
    ok0 = ok_inf = True
    for x_, mu_ in cases:
        if abs(abs(x_) - np.sqrt(2 * mu_)) > 1e-3 * np.sqrt(2 * mu_):
            hard = x_ if abs(x_) > np.sqrt(2 * mu_) else 0.0
            e = abs(float(prox_fn(x_, mu_, a_small)) - hard)
            n0 += 1
            worst0 = max(worst0, e / a_small)
            ok0 &= bool(e <= a_small)
        if abs(abs(x_) - mu_) > 1e-3 * mu_:
            soft = np.sign(x_) * max(abs(x_) - mu_, 0.0)
            e = abs(float(prox_fn(x_, mu_, a_large)) - soft)
            bound = 2 * mu_ * (2 * abs(x_) + 1 + x_**2 / a_large) / a_large
            ninf += 1
            worst_inf = max(worst_inf, e / bound)
            ok_inf &= bool(e <= bound)
    return (
        Check("numeric", "TL1 prox -> hard threshold sqrt(2 mu) as a -> 0+ (a = 1e-6; |diff| <= a)", ok0,
              f"{n0} points; worst |diff|/a = {worst0:.3g}"),
        Check("numeric", "TL1 prox -> soft threshold mu as a -> inf (a = 1e6; |diff| <= 2 mu (2|x|+1+x^2/a)/a)",
              ok_inf, f"{ninf} points; worst |diff|/bound = {worst_inf:.3g}"),
    )


# ----------------------------------------------------------------------------------------------------------------
# TL1: the cancellation-free form of the kept branch
# ----------------------------------------------------------------------------------------------------------------
_s = sp.Symbol("s", positive=True)  # stands for u = sin(phi/2), in (0, 1] on the kept branch
_vt = sp.Symbol("vartheta", positive=True)  # phi/6, in (0, pi/6] on the kept branch

#: Worst-case relative error of the cancellation-free shrink, in units of ``eps * kappa`` (see
#: :func:`verify_tl1_shrink_rounding`).
TL1_SHRINK_ROUNDING_BOUND = 20.0


@lru_cache(maxsize=1)
def _tl1_stable_steps() -> dict:
    """The cancellation-free kept branch, step by step (x > 0)."""
    xx = _xp
    zz = a + xx
    d0 = mu * a * (a + 1) / zz**2  # mu rho_a'(x): the first-order shrinkage
    u2 = sp.Rational(27, 4) * d0 / zz  # sin^2(phi/2) = (1 - cos phi)/2
    u = sp.sqrt(u2)
    g_stable = xx - sp.Rational(4, 3) * zz * sp.sin(sp.asin(u) / 3) ** 2
    psi = 9 * (sp.sin(sp.asin(_s) / 3) / _s) ** 2  # g = x - d0 psi(u)
    return {"d0": d0, "u2": u2, "u": u, "g_stable": g_stable, "psi": psi}


def tl1_shrink_stable_expr() -> sp.Expr:
    """TL1 kept branch without cancellation, for ``x > 0`` (SymPy in :data:`x`, ``mu``, ``a``); valid for ``x > t``.

    Notes
    -----
    ``g(x) = x - (4/3)(a + x) sin^2(arcsin(u)/3)``, ``u = sin(phi/2) = sqrt(27 mu a (a+1) / (4 (a + x)^3))``; equal to
    :func:`tl1_shrink_expr` on the kept branch (``u <= 1``) by ``1 - cos(phi) = 2 sin^2(phi/2)`` and
    ``1 - cos(phi/3) = 2 sin^2(phi/6)``. Equivalently ``g = x - d0 psi(u)`` with ``d0 = mu a(a+1)/(a+x)^2`` (the
    first-order shrinkage ``mu rho_a'(x)``) and ``psi(u) = 9 (sin(arcsin(u)/3)/u)^2`` in ``[1, 9/4]``, the scaling
    :mod:`numerics.penalties` evaluates. The trigonometric form subtracts terms of size ``a + x`` (absolute error
    ``~ (a + x) eps``); this one computes the shrinkage as a product of positive factors, so the only subtraction is
    ``x - shrinkage``, whose rounding is that of the prox's own conditioning.
    """
    return _tl1_stable_steps()["g_stable"].subs(_xp, x)


def _to_half_angle(expr: sp.Expr) -> sp.Expr:
    """``expr(x > 0, mu, a)`` on the kept branch rewritten in ``vartheta = phi/6`` (see
    :func:`verify_tl1_shrink_equivalent`); inverse trigonometric atoms it does not recognise are left as they are."""
    zz = a + _xp
    e = expr.subs(mu, 4 * zz**3 * _s**2 / (27 * a * (a + 1)))  # u = s (sqrt(s^2) = s for s > 0)
    rep = {}
    for at in e.atoms(sp.asin):
        if sp.simplify(at.args[0] - _s) == 0:
            rep[at] = 3 * _vt  # s = sin(3 vartheta), 3 vartheta in (0, pi/2]
    for at in e.atoms(sp.acos):
        if sp.simplify(at.args[0] - (1 - 2 * _s**2)) == 0:
            rep[at] = 6 * _vt  # acos(1 - 2 s^2) = 2 asin(s) on s in [0, 1] (verify_acos_half_angle)
    return e.xreplace(rep).subs(_s, sp.sin(3 * _vt))


def verify_acos_half_angle() -> Check:
    """``arccos(1 - 2 s^2) = 2 arcsin(s)`` for ``s`` in ``[0, 1]`` (the step ``phi = 2 arcsin(sin(phi/2))``).

    Notes
    -----
    ``cos(2 arcsin s) = 1 - 2 sin^2(arcsin s) = 1 - 2 s^2`` (symbolic), and ``2 arcsin s`` lies in ``[0, pi]`` for
    ``s`` in ``[0, 1]`` (arcsin is increasing from 0 to ``pi/2``), where ``arccos`` inverts ``cos``; the identity is
    also evaluated at 41 points of ``[0, 1]`` with 50 digits.
    """
    sym = sp.simplify(sp.expand_trig(sp.cos(2 * sp.asin(_s))) - (1 - 2 * _s**2)) == 0
    with mpmath.workdps(50):
        worst = max(abs(mpmath.acos(1 - 2 * mpmath.mpf(k) ** 2 / 1600) - 2 * mpmath.asin(mpmath.mpf(k) / 40))
                    for k in range(41))
    ok = bool(sym and worst < mpmath.mpf(10) ** -45)
    return Check("symbolic+numeric", "half angle: arccos(1 - 2 s^2) = 2 arcsin(s) on 0 <= s <= 1", ok,
                 f"cos(2 asin s) - (1 - 2 s^2) simplifies to 0: {sym}; 2 asin s in [0, pi]; "
                 f"max |difference| at 41 points (50 digits) = {float(worst):.1e}")


def verify_tl1_shrink_equivalent(candidate_g: sp.Expr, reference_g: sp.Expr | None = None, *,
                                 x_sym: sp.Symbol = x) -> Check:
    """Symbolic proof that ``candidate_g`` equals the trigonometric root :func:`tl1_shrink_expr` on the kept branch.

    Notes
    -----
    Domain: ``x, mu, a > 0`` with ``27 mu a (a+1) <= 4 (a + x)^3`` (a real trigonometric root, which holds above the
    threshold in both regimes; :func:`derive_prox_tl1` proves it). There ``mu = 4 (a+x)^3 s^2 / (27 a (a+1))`` with
    ``s = sin(phi/2)`` in ``(0, 1]`` parametrizes every ``mu``, and ``s = sin(3 vartheta)``, ``vartheta = phi/6`` in
    ``(0, pi/6]``. Both expressions are rewritten in ``vartheta``: ``arcsin(s) = 3 vartheta`` and
    ``arccos(1 - 2 s^2) = 6 vartheta`` (:func:`verify_acos_half_angle`); the difference must then simplify to 0
    (with ``expand_trig``), and it is also evaluated at three points with 30 digits (a guard against an unfinished
    simplification; a wrong candidate differs there).
    """
    ref = _tl1_steps()["g"] if reference_g is None else reference_g.subs(x_sym, _xp)
    diff = sp.expand_trig(_to_half_angle(candidate_g.subs(x_sym, _xp)) - _to_half_angle(ref))
    points = [{_xp: sp.Rational(7, 10), a: sp.Rational(3, 10), _vt: sp.Rational(1, 5)},
              {_xp: 3, a: 50, _vt: sp.Rational(1, 20)},
              {_xp: sp.Rational(1, 1000), a: 1000, _vt: sp.Rational(1, 2)}]
    return verify_symbolic_zero(diff, "TL1 shrink: the candidate equals the trigonometric root (2/3)(a+x)cos(phi/3) "
                                      "- 2a/3 + x/3 for every mu on the kept branch (written in phi/6)",
                                numeric_points=points)


def tl1_root_reference(x_: float, mu_: float, a_: float, *, dps: int = 50) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Largest root ``g`` of ``g - x + mu a(a+1)/(a+g)^2 = 0`` (``x > 0``) in ``dps`` digits, and the relative
    condition number ``kappa = (|x dg/dx| + |mu dg/dmu|)/g = (2x - g)/(g D)``, ``D = 1 - 2 mu a(a+1)/(a+g)^3``.

    Notes
    -----
    Newton's method from ``g = x``, independent of any closed form: ``F(g) = g - x + K/(a+g)^2`` is convex on
    ``g > -a`` and ``F(x) > 0``, so the iterates decrease monotonically to the largest root (``F' > 0`` on the way,
    since ``F'`` increases and is ``>= 0`` at that root). The inputs are taken as exact binary numbers. On the kept
    branch the largest root is the prox (for ``x`` above the threshold).
    """
    with mpmath.workdps(dps + 10):
        xm, mm, am = mpmath.mpf(float(x_)), mpmath.mpf(float(mu_)), mpmath.mpf(float(a_))
        K = mm * am * (am + 1)
        g = xm
        for _ in range(2000):
            F = g - xm + K / (am + g) ** 2
            step = F / (1 - 2 * K / (am + g) ** 3)
            g -= step
            if abs(step) <= abs(g) * mpmath.mpf(10) ** (-dps - 5):
                break
        D = 1 - 2 * K / (am + g) ** 3
        return +g, (2 * xm - g) / (g * D)


def tl1_rounding_cases(dtype=np.float64, *, n_a: int = 12, seed: int = 0) -> list[tuple[float, float, float]]:
    """Kept-branch cases ``(x, mu, a)`` exactly representable in ``dtype``, ``a`` in [1e-3, 1e8], both regimes.

    ``mu = f mu_c(a)`` with ``f`` in {1e-12, 1e-6, 1e-2, 0.3, 0.9} (subcritical) and {1.1, 3, 30, 1e3, 1e5}
    (supercritical); ``x = m t`` with ``m`` in {1.001, 1.01, 1.1, 2, 19, 1e3, 1e6} times the threshold ``t``, plus
    one log-uniform ``m`` in [1.001, 1e6] per pair.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for a_ in np.geomspace(1e-3, 1e8, n_a):
        a_ = float(np.float32(a_))  # exact in float32 and float64
        mu_c = a_ * a_ / (2 * (a_ + 1))
        for f in (1e-12, 1e-6, 1e-2, 0.3, 0.9, 1.1, 3.0, 30.0, 1e3, 1e5):
            m_ = float(dtype(f * mu_c))
            t = float(tl1_threshold(m_, a_))
            for mult in (1.001, 1.01, 1.1, 2.0, 19.0, 1e3, 1e6, float(np.exp(rng.uniform(0.0, np.log(1e6))))):
                cases.append((float(dtype(mult * t)), m_, a_))
    return cases


def verify_tl1_shrink_rounding(candidate: Callable, cases: Sequence[tuple], dtype, *,
                               bound: float = TL1_SHRINK_ROUNDING_BOUND) -> Check:
    """Relative error of a floating-point TL1 shrink, ``candidate(x, mu, a) -> g`` in ``dtype``, against
    :func:`tl1_root_reference`: passes when ``|g - g_ref| <= bound * eps * kappa * g_ref`` at every case.

    Notes
    -----
    ``x`` and ``mu`` are passed as ``dtype`` arrays and ``a`` as a ``dtype`` scalar; the result must have that dtype
    (a candidate that computes in higher precision is not testing this precision) and be finite. ``kappa >= 1`` is
    the condition number of the prox (:func:`tl1_root_reference`): no algorithm working in ``dtype`` can beat
    ``eps kappa`` in general, since rounding ``x`` or ``mu`` by half an ulp moves the root by up to that much.
    The bound ``20 eps kappa`` is the first-order worst case of the cancellation-free form (about 40 roundings of
    ``eps/2``, each amplified by at most ``kappa``; the derivation is in ``tests/test_numerics_tl1_accuracy.py``);
    a form that cancels terms of size ``a + x`` exceeds it by ``~ a / x`` wherever ``a >> x``.
    """
    dtype = np.dtype(dtype)
    eps = float(np.finfo(dtype).eps)
    xs = np.array([c[0] for c in cases], dtype=dtype)
    ms = np.array([c[1] for c in cases], dtype=dtype)
    worst, worst_at, ok = 0.0, None, True
    by_a: dict[float, list[int]] = {}
    for i, c in enumerate(cases):
        by_a.setdefault(float(c[2]), []).append(i)
    out = np.empty(len(cases), dtype=float)
    for a_, idx in by_a.items():
        with np.errstate(all="ignore"):
            got = np.asarray(candidate(xs[idx], ms[idx], dtype.type(a_)))
        if got.dtype != dtype:
            return Check("numeric", f"TL1 shrink rounding in {dtype.name}", False,
                         f"candidate returned {got.dtype}, not {dtype.name}")
        out[idx] = got.astype(float)
    for (x_, m_, a_), g_c in zip(cases, out, strict=True):
        g_ref, kappa = tl1_root_reference(float(dtype.type(x_)), float(dtype.type(m_)), a_, dps=40)
        ratio = float(abs(mpmath.mpf(float(g_c)) - g_ref) / (g_ref * kappa)) / eps if np.isfinite(g_c) else np.inf
        if not ratio <= bound:
            ok = False
        if not ratio <= worst:
            worst, worst_at = ratio, (x_, m_, a_, float(g_c), float(g_ref), float(kappa))
    return Check("numeric", f"TL1 shrink in {dtype.name}: relative error <= {bound:g} eps kappa against 40-digit "
                            f"roots (a in [1e-3, 1e8], both regimes)", ok,
                 f"{len(cases)} cases; worst |error|/(g eps kappa) = {worst:.3g} at (x, mu, a, candidate, root, "
                 f"kappa) = {worst_at}")


def lambdify_dtype(expr: sp.Expr, args: tuple) -> Callable:
    """``sp.lambdify`` for NumPy whose numeric constants are plain Python floats, so that ``float32`` inputs are
    computed in ``float32`` (a ``numpy.sqrt(3)`` constant would promote them to ``float64``)."""
    consts = {e: e.evalf(20) for e in expr.atoms(sp.Rational, sp.Pow)
              if e.is_number and not e.is_Integer}  # 3/2, sqrt(3), ...: Python floats in the generated code
    return sp.lambdify(args, expr.xreplace(consts), modules="numpy")


def derive_prox_tl1() -> Derivation:
    """TL1 prox from its stationarity cubic, solved in trigonometric form, with both threshold regimes.

    Notes
    -----
    For ``x > 0`` the minimizer is ``>= 0``. On ``y > 0``: ``y - x + mu a(a+1)/(a+y)^2 = 0``, i.e. with
    ``z = a + y``: ``z^3 - (a+x) z^2 + mu a(a+1) = 0``; depressed by ``z = s + (a+x)/3`` to ``s^3 + p s + q = 0``,
    ``p = -(a+x)^2/3``; ``s = (2(a+x)/3) cos(phi/3)``, ``cos(phi) = 1 - 27 mu a(a+1)/(2(a+x)^3)``. Hence
    ``g(x) = (2/3)(a + x) cos(phi/3) - 2a/3 + x/3``.
    ``h''(0+) = 1 - 2 mu (a+1)/a^2``: for ``mu <= mu_c = a^2/(2(a+1))`` the objective is convex on ``y >= 0``, the root
    leaves 0 at ``x = mu rho'(0+) = mu (a+1)/a`` and the map is continuous. Otherwise the threshold is where
    ``h(y) = h(0)`` and ``h'(y) = 0`` hold together: eliminating ``x`` gives ``(a+y)^2 = 2 mu (a+1)``, the jump
    ``y = sqrt(2 mu (a+1)) - a`` and ``t = sqrt(2 mu (a+1)) - a/2``.
    """
    s = _tl1_steps()
    xx, yy = _xp, _yp
    g = s["g"]
    t_sub, t_sup, mu_c = s["t_sub"], s["t_sup"], s["mu_c"]
    checks: list[Check] = []
    checks.append(verify_symbolic_zero(s["dh"] - (yy - xx + mu * a * (a + 1) / (a + yy) ** 2),
                                       "derivative of the TL1 prox objective on y > 0 is y - x + mu a(a+1)/(a+y)^2"))
    checks.append(verify_symbolic_zero(s["cos_phi"] - (1 - 27 * mu * a * (a + 1) / (2 * (a + xx) ** 3)),
                                       "trigonometric solution of the depressed cubic: "
                                       "cos(phi) = 1 - 27 mu a(a+1)/(2(a+x)^3)"))
    checks.append(verify_symbolic_zero(g - (sp.Rational(2, 3) * (a + xx) * sp.cos(s["phi"] / 3) - 2 * a / 3 + xx / 3),
                                       "root minus a equals (2/3)(a+x)cos(phi/3) - 2a/3 + x/3"))
    checks.append(Check("symbolic", "z = s + (a+x)/3 removes the s^2 term (depressed cubic s^3 + p s + q)",
                        s["depressed_s2_coeff"] == 0 and s["cubic_z1_coeff"] == 0,
                        f"s^2 coefficient {s['depressed_s2_coeff']}, p = {s['p']}, q = {s['q']}"))
    checks.append(verify_tl1_root_symbolic(g, xx))
    _, cases = _tl1_cases()
    kept = [c for c in cases if c[0] > float(tl1_threshold(c[1], c[2])) * (1 + 1e-9)][::3]
    checks.append(verify_tl1_root_numeric(g, kept, x_sym=xx))
    # the regime boundary and the thresholds
    checks.append(verify_symbolic_zero(t_sub - mu * sp.diff(s["rho"], yy).subs(yy, 0),
                                       "subcritical threshold = mu rho'(0+) (the root leaves y = 0 there)"))
    checks.append(verify_symbolic_zero(s["dh"].subs({yy: s["y_jump"], xx: t_sup}),
                                       "supercritical threshold: h'(y_jump) = 0 at x = t_sup"))
    checks.append(verify_symbolic_zero((s["h"] - s["h"].subs(yy, 0)).subs({yy: s["y_jump"], xx: t_sup}),
                                       "supercritical threshold: h(y_jump) = h(0) at x = t_sup (the tie)"))
    checks.append(verify_symbolic_zero(s["t_sup_raw"] - (sp.sqrt(2 * mu * (a + 1)) - a / 2),
                                       "eliminating y between h'(y) = 0 and h(y) = h(0) gives "
                                       "x = sqrt(2 mu (a+1)) - a/2"))
    checks.append(verify_symbolic_zero((t_sub - t_sup).subs(mu, mu_c),
                                       "the two thresholds coincide at the critical mu = a^2/(2(a+1)) "
                                       "(and y_jump = 0)"))
    # a real trigonometric root exists on the kept branch: (a+x)^3 >= 27 mu a(a+1)/4 at both thresholds (and the
    # left side increases with x). With mu = al mu_c resp. sqrt(2 mu(a+1)) = be a, the margins factor as squares.
    al, be = sp.Symbol("alpha", positive=True), sp.Symbol("beta_", positive=True)
    disc = (a + xx) ** 3 - 27 * mu * a * (a + 1) / 4
    margin_sub = sp.expand(disc.subs(xx, t_sub).subs(mu, al * mu_c))
    margin_sup = sp.expand(disc.subs(xx, t_sup).subs(mu, be**2 * a**2 / (2 * (a + 1))))
    checks.append(verify_symbolic_zero(margin_sub - a**3 * (al - 1) ** 2 * (al + 8) / 8,
                                       "real root at the subcritical threshold (mu = al mu_c): "
                                       "(a+t)^3 - 27 mu a(a+1)/4 = a^3(al-1)^2(al+8)/8 >= 0"))
    checks.append(verify_symbolic_zero(margin_sup - a**3 * (be - 1) ** 2 * (8 * be + 1) / 8,
                                       "real root at the supercritical threshold (2 mu(a+1) = be^2 a^2): "
                                       "(a+t)^3 - 27 mu a(a+1)/4 = a^3(be-1)^2(8be+1)/8 >= 0"))
    # brute force: thresholds and the whole map
    pairs, cases = _tl1_cases()
    tl1_pen = tl1_penalty
    checks.append(verify_threshold_brute_force(tl1_threshold, tl1_pen, pairs,
                                               "TL1 threshold (both regimes): prox 0 just below, nonzero just above"))
    checks.append(verify_prox_brute_force(tl1_prox, tl1_pen, cases,
                                          "derived TL1 prox = brute-force global minimizer (both regimes, x = +-t)"))
    # limits
    checks.append(Check("symbolic", "thresholds as a -> 0+ (supercritical, mu_c -> 0): t_sup -> sqrt(2 mu)",
                        sp.limit(t_sup, a, 0, "+") == sp.sqrt(2 * mu) and sp.limit(mu_c, a, 0, "+") == 0,
                        f"lim t_sup = {sp.limit(t_sup, a, 0, '+')}, lim mu_c = {sp.limit(mu_c, a, 0, '+')}"))
    checks.append(Check("symbolic", "thresholds as a -> inf (subcritical, mu_c -> inf): t_sub -> mu",
                        sp.limit(t_sub, a, sp.oo) == mu and sp.limit(mu_c, a, sp.oo) == sp.oo,
                        f"lim t_sub = {sp.limit(t_sub, a, sp.oo)}, lim mu_c = {sp.limit(mu_c, a, sp.oo)}"))
    checks.extend(verify_tl1_limits(tl1_prox))
    # the cancellation-free form of the kept branch (what numerics evaluates), equal to g, and its rounding
    st = _tl1_stable_steps()
    g_stable = st["g_stable"]
    checks.append(verify_symbolic_zero((1 - s["cos_phi"]) / 2 - st["u2"],
                                       "half angle: sin^2(phi/2) = (1 - cos phi)/2 = 27 mu a(a+1)/(4(a+x)^3) = u^2"))
    checks.append(verify_acos_half_angle())
    checks.append(verify_tl1_shrink_equivalent(g_stable, x_sym=xx))
    checks.append(verify_symbolic_zero(g_stable - (xx - st["d0"] * st["psi"].subs(_s, st["u"])),
                                       "scaled form: (4/3)(a+x) sin^2(asin(u)/3) = mu rho_a'(x) psi(u), "
                                       "psi(u) = 9 (sin(asin(u)/3)/u)^2"))
    psi_0, psi_1 = sp.limit(st["psi"], _s, 0, "+"), sp.simplify(st["psi"].subs(_s, 1))
    checks.append(Check("symbolic", "psi(0+) = 1 (first-order shrinkage mu rho_a'(x)) and psi(1) = 9/4",
                        psi_0 == 1 and psi_1 == sp.Rational(9, 4), f"psi(0+) = {psi_0}, psi(1) = {psi_1}"))
    checks.append(verify_tl1_root_numeric(g_stable, tl1_rounding_cases(np.float64, n_a=6)[::5], x_sym=xx))
    f_stable = lambdify_dtype(g_stable, (xx, mu, a))
    for dt in (np.float64, np.float32):
        checks.append(verify_tl1_shrink_rounding(f_stable, tl1_rounding_cases(dt), dt))

    g_x = g.subs(xx, x)
    t_expr = sp.Piecewise((t_sub, mu <= mu_c), (t_sup, True))
    statement = {
        "stationarity_cubic": s["cubic"], "cos_phi": s["cos_phi"].subs(xx, x), "shrink_g": g_x,
        "threshold_subcritical": t_sub, "threshold_supercritical": t_sup, "critical_mu": mu_c,
        "jump_size": s["y_jump"], "shrink_g_stable": g_stable.subs(xx, x),
        "prox_tl1": sp.Piecewise((sp.sign(x) * g.subs(xx, sp.Abs(x)), sp.Abs(x) > t_expr), (0, True)),
    }
    latex = (
        r"$\rho_a(y)=\frac{(a+1)|y|}{a+|y|}$, $h(y)=\mu\rho_a(y)+\tfrac12(y-x)^2$; the map is odd, take $x>0$, "
        r"$y\ge0$. Stationarity on $y>0$: $y-x+\frac{\mu a(a+1)}{(a+y)^2}=0$, i.e. with $z=a+y$: "
        r"$z^3-(a+x)z^2+\mu a(a+1)=0$. With $z=s+\frac{a+x}3$: $s^3+ps+q=0$, $p=-\frac{(a+x)^2}{3}$; "
        r"$s=\frac{2(a+x)}3\cos\theta$ and $4\cos^3\theta-3\cos\theta=\cos3\theta$ give "
        r"$\cos\varphi=1-\frac{27\mu a(a+1)}{2(a+x)^3}$, $\varphi=3\theta$; the largest root gives "
        r"$g(x)=\frac23(a+x)\cos\frac\varphi3-\frac{2a}3+\frac x3$. "
        r"$h''(0^+)=1-\frac{2\mu(a+1)}{a^2}$, zero at $\mu_c=\frac{a^2}{2(a+1)}$. Subcritical $\mu\le\mu_c$: $h$ is "
        r"convex on $y\ge0$, the root leaves 0 at $x=\mu\rho_a'(0^+)=\mu\frac{a+1}a$ (continuous map). "
        r"Supercritical: eliminate $x$ between $h(y)=h(0)$, i.e. $x=\frac y2+\frac{\mu(a+1)}{a+y}$, and $h'(y)=0$: "
        r"$(a+y)^2=2\mu(a+1)$, jump $y=\sqrt{2\mu(a+1)}-a$, threshold $t=\sqrt{2\mu(a+1)}-\frac a2$ (0 at the tie). "
        r"Limits: $a\to0^+$ hard thresholding at $\sqrt{2\mu}$; $a\to\infty$ soft thresholding at $\mu$. "
        r"Without cancellation: $1-\cos\varphi=2\sin^2\frac\varphi2$ gives $u=\sin\frac\varphi2="
        r"\sqrt{\frac{27\mu a(a+1)}{4(a+x)^3}}\in[0,1]$ and $\varphi=2\arcsin u$; with $\vartheta=\varphi/6$, "
        r"$\cos2\vartheta=1-2\sin^2\vartheta$ gives $g(x)=x-\frac43(a+x)\sin^2\vartheta"
        r"=x-\mu\rho_a'(x)\,\psi(u)$, $\psi(u)=9\big(\sin(\tfrac13\arcsin u)/u\big)^2\in[1,\tfrac94]$: "
        r"the shrinkage is a product of positive factors, and the only subtraction left is the intrinsic $x-$shrinkage."
    )
    return Derivation(
        name="prox_tl1", title="Prox of the transformed-l1 penalty (trigonometric root, two threshold regimes)",
        statement=statement, checks=tuple(checks), latex=latex,
        conventions=(PROX_CONVENTION,
                     TIE_CONVENTION + ": in the supercritical regime |x| = sqrt(2 mu (a+1)) - a/2 maps to 0",
                     "a > 0; mu is the prox parameter (lambda/beta in RVSM), also inside phi"),
    )
