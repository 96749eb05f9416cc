"""Which kept roots of the limit map are fixed points of RVSM, and which of them are stable (theory page section 5).

A kept coordinate of an RVSM limit solves ``X(u) = u + mu_bar rho'(u) = r |w*_i|`` (:mod:`theory.fixed_points`,
``mu_bar = lam (1/beta + 1/q)``). For TL1, ``X`` is convex with its minimum at ``u_c``, ``(a + u_c)^3 =
2 mu_bar a (a+1)``, so the equation can have two positive roots. Derived here:

1. **Fixed points.** Both roots are fixed points wherever they lie above the prox's output gap
   ``u_start(mu) = max(sqrt(2 mu (a+1)) - a, 0)``, ``mu = lam/beta``. The prox works at ``mu``, not at ``mu_bar``: it
   returns the larger root of ``W(u) = u + mu rho'(u) = w``, and ``W`` is increasing for ``u > u_m(mu)``,
   ``(a + u_m)^3 = 2 mu a (a+1)``. Since ``mu < mu_bar`` (``q > 0``), ``u_m(mu) < u_c(mu_bar)``: a root on the
   *decreasing* side of ``X`` (the smaller one, ``X' < 0``) can sit on the *increasing* side of ``W`` (``W' > 0``),
   where ``prox(W(u)) = u``. In the supercritical regime ``u_start = u_tie > u_m``, in the subcritical one
   ``u_start = 0`` and ``W`` is increasing on all of ``u > 0``. The smaller root itself is the middle root of the
   cubic ``z^3 - (a + x) z^2 + mu_bar a (a+1) = 0`` (``z = a + u``, ``x = r|w*_i|``), in trigonometric form
   ``z = ((a + x)/3)(1 + 2 cos((phi - 2 pi)/3))`` with the ``phi`` of TL1's shrink; it is positive iff
   ``X(u_c) <= x < X(0+) = mu_bar (a+1)/a``.
2. **Linearization.** Folding ``u = prox(w)`` in, a Gauss-Seidel step is ``w <- w - eta grad Phi(w)`` with
   ``Phi(w) = l(w) + min_u [lam P(u) + (beta/2)|w - u|^2]``; on a frozen support its Jacobian is ``I - eta M``,
   ``M = H + beta (I - D)``, ``H`` the Hessian of the loss and ``D = diag(prox'(w_i))``:
   ``prox' = 1/W'(u_i) = 1/(1 + mu rho''(u_i))`` on kept coordinates (implicit differentiation), 0 on zeroed ones.
   ``M`` is symmetric, so the fixed point is linearly stable iff every eigenvalue of ``M`` lies in ``(0, 2/eta)``.
3. **The Hessian of the loss** in closed form: ``H = q I + c_r w_hat w_hat^T - c_t e e^T`` with ``w_hat = w/|w|``,
   ``e`` the unit part of ``w*`` orthogonal to ``w``, ``c_r = |w*| (k sin t + k^2 - k)/(k^2 pi |w|)`` and
   ``c_t = |w*| sin t/(k pi |w|)``.
4. **Why the smaller root can be stable.** With ``(s, q)`` frozen, a kept coordinate's own entry of ``M`` is
   ``q + beta (1 - 1/W') = q X'(u)/W'(u)``: negative at the smaller root, so one coordinate alone would repel. But
   ``(s, q)`` move with ``|w|``: ``H`` adds the radial curvature ``c_r``, which is large when ``q`` is small (``q``
   is a small difference of ``O(1/k)`` terms there). The smaller-root example (``k = 13``, TL1 ``a = 2.483``,
   ``q = 0.0058``, kept ``u = -0.931``, the smaller of the roots 0.931 and 10.08) has ``M`` eigenvalues 0.306 and
   0.416: RVSM converges to it at the rate ``0.816 = 1 - eta 0.306``. Where a smaller root lies between a stable
   larger-root and a stable zeroed fixed point it is typically the unstable one between them (the separatrix).

5. **Symmetric starts.** The iteration is equivariant under the signed permutations of coordinates that fix ``w*``
   (``s``, ``q`` see ``w`` only through ``|w|`` and ``w . w*``; the prox is coordinatewise and odd), exactly in
   floating point. From a start fixed by such a permutation RVSM stays in its fixed subspace, and converges there to
   any fixed point whose Jacobian restricted to that subspace has spectral radius below 1, even if it is unstable
   across it (``w* = w0 = (1, 1)``, ``k = 8``, TL1 ``a = 1``, ``lam = 0.1``, ``beta = 1``: radius 0.767 on the line
   ``w_1 = w_2``, 1.002 across it; ``numerics.limits.invariant_subspace``).

Every ``verify_*`` function takes the candidate (expressions), so a deliberately wrong formula goes through the very
same verification (tests/test_theory_stability.py). The numerical verifications use an RVSM written in plain NumPy
with the prox computed by global minimization (:mod:`theory.fixed_points`), independent of :mod:`numerics`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from . import fixed_points as fp
from .record import Check, Derivation
from .symbols import a, beta, eta, k, lam, mu, ns, nw, theta
from .verify import verify_symbolic_zero

__all__ = [
    "derive_kept_root_stability",
    "kept_root_exprs",
    "loss_hessian_exprs",
    "rvsm_jacobian",
    "smaller_root",
    "stability_exprs",
    "verify_kept_roots_are_fixed_points",
    "verify_loss_hessian",
    "verify_prox_slope",
    "verify_smaller_root",
    "verify_stability",
]

u = sp.Symbol("u", positive=True)  # a kept prox output (magnitude)
w_sym = sp.Symbol("w", positive=True)
x = sp.Symbol("x", positive=True)  # r |w*_i|
z = sp.Symbol("z", positive=True)  # a + u
q = fp.q
mu_bar = sp.Symbol("mu_bar", positive=True)
_px, _py = sp.symbols("p_x p_y", real=True)  # w in the plane of (w, w*), w* = (|w*|, 0)

CONVENTIONS = (
    *fp.CONVENTIONS,
    "update order Gauss-Seidel (u^{t+1} = prox(w^{t+1}), the default of numerics.run)",
    "stability: spectral radius of the Jacobian of the RVSM map with the support frozen, below 1",
)


def _rho(y: sp.Expr) -> sp.Expr:
    return (a + 1) * y / (a + y)


# ---------------------------------------------------------------------------------------------------------------
# Symbolic derivations
@functools.cache
def kept_root_exprs() -> dict[str, sp.Expr]:
    """The two kept-branch functions of TL1 and what follows from them.

    Returns
    -------
    dict
        ``"W"`` (``u + mu rho'(u)``: the prox's stationarity at ``mu``), ``"X"`` (``u + mu_bar rho'(u)``: the kept
        equation), ``"W_prime"``, ``"X_prime"``, ``"prox_slope"`` (``dprox/dw = 1/W'(u)``, by implicit
        differentiation of ``W(u) = w``), ``"u_m"`` (where ``W' = 0``), ``"u_c"`` (where ``X' = 0``), ``"u_tie"``
        (``sqrt(2 mu (a+1)) - a``: the prox's smallest nonzero output in the supercritical regime),
        ``"frozen_curvature"`` (``q + beta (1 - prox')``) and ``"frozen_curvature_factored"`` (``q X'/W'``),
        ``"cubic"`` (``X(u) = x`` times ``z^2``, ``z = a + u``), ``"smaller_root"`` (the middle root of the cubic
        minus ``a``), ``"X_at_0"`` (``mu_bar (a+1)/a``).
    """
    d1 = sp.diff(_rho(u), u)
    w_fun = u + mu * d1
    x_fun = u + mu_bar * d1
    wp, xp = sp.factor(sp.diff(w_fun, u)), sp.factor(sp.diff(x_fun, u))
    # implicit differentiation of W(u(w)) = w
    slope = sp.simplify(sp.idiff(w_fun - w_sym, u, w_sym))
    (u_m,) = [r for r in sp.solve(sp.Eq(sp.diff(w_fun, u).subs(u, z - a), 0), z)] or [None]
    (u_c,) = [r for r in sp.solve(sp.Eq(sp.diff(x_fun, u).subs(u, z - a), 0), z)] or [None]
    frozen = q + beta * (1 - slope)
    mb = lam * (1 / beta + 1 / q)
    frozen_factored = q * xp / wp
    cubic = sp.expand((x_fun - x).subs(u, z - a) * z**2)
    p = a + x
    phi = sp.acos(1 - 27 * mu_bar * a * (a + 1) / (2 * p**3))
    middle = p / 3 * (1 + 2 * sp.cos((phi - 2 * sp.pi) / 3)) - a
    return {
        "W": w_fun, "X": x_fun, "W_prime": wp, "X_prime": xp, "prox_slope": slope,
        "u_m": u_m - a, "u_c": u_c - a, "u_tie": sp.sqrt(2 * mu * (a + 1)) - a,
        "frozen_curvature": frozen, "frozen_curvature_factored": frozen_factored, "mu_bar_of_q": mb,
        "cubic": cubic, "smaller_root": middle, "X_at_0": sp.limit(x_fun, u, 0, "+"),
    }


@functools.cache
def loss_hessian_exprs() -> dict[str, sp.Expr]:
    """The Hessian of the population loss, derived in the plane of ``(w, w*)``.

    Returns
    -------
    dict
        ``"hessian_plane"``: the 2x2 Jacobian of ``grad l = q w - s w*`` in the plane coordinates
        ``w = (|w| cos t, |w| sin t)``, ``w* = (|w*|, 0)``; ``"radial"`` (``c_r = w_hat^T H w_hat - q``),
        ``"transverse"`` (``c_t = q - e^T H e``, ``e = (sin t, -cos t)`` the unit part of ``w*`` orthogonal to
        ``w``), ``"mixed"`` (``w_hat^T H e``, zero), ``"q"``; and the structured forms ``"radial_structured"``
        (``|w*| (k sin t + k^2 - k)/(k^2 pi |w|)``) and ``"transverse_structured"`` (``|w*| sin t/(k pi |w|)``).

    Notes
    -----
    ``q`` and ``s`` depend on ``w`` only through ``|w|`` and ``w . w*``, whose gradients lie in the plane of ``w``
    and ``w*``: on every direction ``v`` orthogonal to that plane ``H v = q v``. So
    ``H = q I + c_r w_hat w_hat^T - c_t e e^T`` in every dimension.
    """
    from . import loss  # the gradient coefficients (q, s) in (|w|, |w*|, t, k)

    q_expr, s_expr = loss.gradient_coefficients()
    n_xy = sp.sqrt(_px**2 + _py**2)
    t_xy = sp.atan2(_py, _px)
    sub = {nw: n_xy, theta: t_xy}
    g = sp.Matrix([q_expr.subs(sub) * _px - s_expr.subs(sub) * ns, q_expr.subs(sub) * _py])
    hess = g.jacobian([_px, _py])
    polar = {_px: nw * sp.cos(theta), _py: nw * sp.sin(theta)}
    # on (0, pi): atan2(|w| sin t, |w| cos t) = t, sqrt(|w|^2) = |w|
    hp = hess.subs(polar)
    hp = hp.replace(sp.atan2, lambda yy, xx: theta).applyfunc(lambda e: sp.simplify(sp.trigsimp(e)))
    wh = sp.Matrix([sp.cos(theta), sp.sin(theta)])
    e = sp.Matrix([sp.sin(theta), -sp.cos(theta)])
    qv = sp.simplify(q_expr)
    radial = sp.simplify((wh.T * hp * wh)[0] - qv)
    transverse = sp.simplify(qv - (e.T * hp * e)[0])
    mixed = sp.simplify((wh.T * hp * e)[0])
    mixed_t = sp.simplify((e.T * hp * wh)[0])
    return {
        "hessian_plane": hp, "radial": radial, "transverse": transverse, "mixed": mixed, "mixed_transposed": mixed_t,
        "q": qv,
        "radial_structured": ns * (k * sp.sin(theta) + k**2 - k) / (k**2 * sp.pi * nw),
        "transverse_structured": ns * sp.sin(theta) / (k * sp.pi * nw),
    }


@functools.cache
def stability_exprs() -> dict[str, sp.Expr]:
    """The stability statement as expressions: ``"jacobian_entry"`` (the Gauss-Seidel Jacobian's diagonal entry of
    a coordinate, ``1 - eta (H_ii + beta (1 - D_i))``, from differentiating one step), ``"jacobian_derived"`` (the
    same by differentiating the step with SymPy), and the structured candidate pieces used by :func:`rvsm_jacobian`:
    ``"radial"``, ``"transverse"`` (loss Hessian) and ``"prox_slope"`` (``D_i`` of a kept TL1 coordinate, in
    ``u``, ``mu``, ``a``)."""
    h_ii, p_fun = sp.Symbol("H_ii"), sp.Function("P")
    wv = sp.Symbol("w_i", real=True)
    g_fun = sp.Function("g")  # one coordinate of grad l, with d g/d w_i = H_ii
    step = wv - eta * (g_fun(wv) + beta * (wv - p_fun(wv)))
    derived = sp.diff(step, wv).subs(sp.Derivative(g_fun(wv), wv), h_ii)
    dsym = sp.Symbol("D_i")
    derived = derived.subs(sp.Derivative(p_fun(wv), wv), dsym)
    entry = 1 - eta * (h_ii + beta * (1 - dsym))
    h = loss_hessian_exprs()
    return {"jacobian_entry": entry, "jacobian_derived": sp.expand(derived), "radial": h["radial_structured"],
            "transverse": h["transverse_structured"], "prox_slope": kept_root_exprs()["prox_slope"]}


# ---------------------------------------------------------------------------------------------------------------
# NumPy: the Jacobian from candidate pieces, the smaller root, an independent RVSM
def _np(expr: sp.Expr, args: tuple) -> Callable:
    return sp.lambdify(args, expr, "numpy")


def rvsm_jacobian(candidate: Mapping[str, sp.Expr], w: np.ndarray, u_vec: np.ndarray, w_star: np.ndarray, k_: int,
                  lam_: float, beta_: float, a_: float, eta_: float) -> np.ndarray:
    """The Gauss-Seidel RVSM Jacobian ``I - eta (H + beta (I - D))`` built from a candidate
    ``{"radial", "transverse", "prox_slope"}`` (expressions as in :func:`stability_exprs`) at ``(w, u)``."""
    from . import loss

    q_expr, _ = loss.gradient_coefficients()
    n_, ns_ = float(np.linalg.norm(w)), float(np.linalg.norm(w_star))
    t_ = fp._norm_angle(w, w_star)[1]
    args = (nw, ns, theta, k)
    qv = float(_np(q_expr, args)(n_, ns_, t_, k_))
    c_r = float(_np(candidate["radial"], args)(n_, ns_, t_, k_))
    c_t = float(_np(candidate["transverse"], args)(n_, ns_, t_, k_))
    wh = w / n_
    perp = w_star - (w_star @ wh) * wh
    e = perp / np.linalg.norm(perp) if np.linalg.norm(perp) > 0 else np.zeros_like(w)
    hess = qv * np.eye(w.size) + c_r * np.outer(wh, wh) - c_t * np.outer(e, e)
    slope_f = _np(candidate["prox_slope"], (u, mu, a))
    kept = u_vec != 0
    dvec = np.where(kept, np.asarray(slope_f(np.where(kept, np.abs(u_vec), 1.0), lam_ / beta_, a_), dtype=float)
                    * np.ones_like(u_vec), 0.0)
    return np.eye(w.size) - eta_ * (hess + beta_ * np.diag(1.0 - dvec))


def smaller_root(candidate: sp.Expr, x_: np.ndarray, mu_bar_: float, a_: float) -> np.ndarray:
    """The candidate smaller-root expression (in ``x``, ``mu_bar``, ``a``) evaluated, NaN where not real."""
    f = _np(candidate, (x, mu_bar, a))
    with np.errstate(all="ignore"):
        xa = np.asarray(x_, dtype=complex)
        val = np.broadcast_to(np.asarray(f(xa, mu_bar_, a_), dtype=complex), xa.shape)
    return np.where(np.abs(val.imag) <= 1e-12 * (1 + np.abs(val.real)), val.real, np.nan)


def _cubic_roots(x_: float, mu_bar_: float, a_: float) -> np.ndarray:
    """Positive roots ``u`` of ``u + mu_bar a (a+1)/(a+u)^2 = x``, ascending (companion matrix, polished)."""
    c = mu_bar_ * a_ * (a_ + 1.0)
    zs = np.roots([1.0, -(a_ + x_), 0.0, c])
    zs = zs[np.abs(zs.imag) <= 1e-7 * (1 + np.abs(zs.real))].real
    for _ in range(4):
        zs = zs - (zs**3 - (a_ + x_) * zs**2 + c) / np.where(3 * zs**2 - 2 * (a_ + x_) * zs == 0, 1.0,
                                                              3 * zs**2 - 2 * (a_ + x_) * zs)
    us = np.sort(zs - a_)
    return us[us > 0]


def _tl1_drho(v: np.ndarray, a_: float) -> np.ndarray:
    return np.sign(v) * a_ * (a_ + 1.0) / (a_ + np.abs(v)) ** 2


def _step_tl1(w: np.ndarray, w_star: np.ndarray, k_: int, lam_: float, beta_: float, a_: float,
              eta_: float) -> np.ndarray:
    """One plain-NumPy Gauss-Seidel RVSM step on ``w`` (``u = prox(w)`` by global minimization)."""
    fs, fq = fp._grad_coefficients_np()
    n_, t_ = fp._norm_angle(w, w_star)
    ns_ = float(np.linalg.norm(w_star))
    g = fq(n_, ns_, t_, k_) * w - fs(n_, ns_, t_, k_) * w_star
    return w - eta_ * (g + beta_ * (w - fp._prox_tl1_np(w, lam_ / beta_, a_)))


def _self_consistent_point(w_star: np.ndarray, k_: int, lam_: float, beta_: float, a_: float, kept: np.ndarray,
                           small: np.ndarray, start: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
    """The fixed point with kept set ``kept`` and the smaller root where ``small`` (the largest elsewhere), by a
    root solve of the two-parameter map in ``(|w|, t)`` from ``start``; kept roots from the companion matrix."""
    from scipy import optimize

    fs, fq = fp._grad_coefficients_np()
    ns_ = float(np.linalg.norm(w_star))

    def build(zv):
        s_, q_ = float(fs(zv[0], ns_, zv[1], k_)), float(fq(zv[0], ns_, zv[1], k_))
        mb = lam_ * (1 / beta_ + 1 / q_)
        u_v = np.zeros_like(w_star)
        for i in np.flatnonzero(kept):
            roots = _cubic_roots(s_ / q_ * abs(w_star[i]), mb, a_)
            if roots.size == 0:
                return None
            u_v[i] = np.sign(w_star[i]) * (roots[0] if small[i] else roots[-1])
        w_v = np.where(kept, u_v + lam_ / beta_ * _tl1_drho(u_v, a_), s_ * w_star / (q_ + beta_))
        return w_v, u_v

    def resid(zv):
        out = build(zv)
        if out is None:
            return np.array([1e3, 1e3])
        return np.array(fp._norm_angle(out[0], w_star)) - zv

    sol = optimize.root(resid, np.array(start, dtype=float), method="hybr", options={"xtol": 1e-15})
    built = build(sol.x)
    if built is None:
        return np.full_like(w_star, np.nan), np.full_like(w_star, np.nan), np.inf
    return built[0], built[1], float(np.max(np.abs(resid(sol.x))))


# ---------------------------------------------------------------------------------------------------------------
# Verifications. Each takes the candidate, so a wrong formula goes through the same checks.
_POINT = {u: sp.Rational(2, 5), mu: sp.Rational(1, 7), mu_bar: sp.Rational(5, 3), a: sp.Rational(3, 2),
          q: sp.Rational(2, 9), beta: sp.Rational(1, 2), lam: sp.Rational(1, 14), w_sym: sp.Rational(3, 4),
          x: sp.Rational(6, 5), nw: sp.Rational(6, 5), ns: sp.Rational(7, 5), theta: sp.Rational(2, 3), k: 5}


def verify_prox_slope(candidate: sp.Expr, *, cases: Sequence[tuple[float, float]] = ((0.1, 0.3), (0.05, 1.0),
                                                                                     (0.3, 2.0), (0.02, 0.08))
                      ) -> Check:
    """``dprox/dw`` on the nonzero branch (candidate in ``u``, ``mu``, ``a``) against central differences of the
    prox computed by global minimization, at outputs ``u`` above the gap, in both regimes (``(mu, a)`` cases)."""
    f = _np(candidate, (u, mu, a))
    worst, rows = 0.0, []
    for mu_, a_ in cases:
        gap = max(math.sqrt(2 * mu_ * (a_ + 1)) - a_, 0.0)
        for uu in (gap + 0.05, gap + 0.3, gap + 1.5):
            w0 = uu + mu_ * a_ * (a_ + 1) / (a_ + uu) ** 2
            h = 1e-6
            fd = (fp._prox_tl1_np(np.array([w0 + h]), mu_, a_)[0] - fp._prox_tl1_np(np.array([w0 - h]), mu_, a_)[0]
                  ) / (2 * h)
            c = float(f(uu, mu_, a_))
            err = abs(c - fd) / max(1.0, abs(fd)) if np.isfinite(c) else np.inf
            worst = max(worst, err) if np.isfinite(err) else np.inf
        rows.append(f"mu={mu_}, a={a_} ({'super' if mu_ > a_ * a_ / (2 * (a_ + 1)) else 'sub'}critical)")
    return Check("finite-difference", "prox slope on the nonzero branch dprox/dw = 1/(1 + mu rho''(u)) vs central "
                 "differences of the globally minimizing TL1 prox", worst <= 1e-6,
                 f"worst relative difference {worst:.2e} (h = 1e-6, rounding ~1e-10); " + "; ".join(rows))


def verify_loss_hessian(candidate: Mapping[str, sp.Expr], *, dims: Sequence[int] = (2, 3, 5), seed: int = 3,
                        h: float = 1e-4, atol: float = 1e-6) -> Check:
    """``q I + c_r w_hat w_hat^T - c_t e e^T`` (candidate ``{"radial", "transverse"}`` in ``|w|, |w*|, t, k``)
    against central second differences of the closed-form loss at random points away from ``t = 0, pi`` (where the
    loss is smooth: error O(h^2) + rounding 1e-16/h^2 ~ 1e-8, hence ``atol = 1e-6``)."""
    from . import loss

    rng = np.random.default_rng(seed)
    evaluate = loss.loss_at_vectors(loss.loss_expr())
    q_f = _np(loss.gradient_coefficients()[0], (nw, ns, theta, k))
    fr, ftr = (_np(candidate[key], (nw, ns, theta, k)) for key in ("radial", "transverse"))
    worst, rows = 0.0, []
    for dim in dims:
        for k_ in (1, 3, 13):
            w_star = rng.standard_normal(dim)
            w = rng.standard_normal(dim) * 0.8
            fd = np.empty((dim, dim))
            eye = np.eye(dim)
            for i in range(dim):
                for j in range(dim):
                    ei, ej = h * eye[i], h * eye[j]
                    fd[i, j] = (evaluate(w + ei + ej, w_star, k_) - evaluate(w + ei - ej, w_star, k_)
                                - evaluate(w - ei + ej, w_star, k_) + evaluate(w - ei - ej, w_star, k_)) / (4 * h * h)
            n_, t_ = fp._norm_angle(w, w_star)
            ns_ = float(np.linalg.norm(w_star))
            wh = w / n_
            perp = w_star - (w_star @ wh) * wh
            e = perp / np.linalg.norm(perp)
            pred = (q_f(n_, ns_, t_, k_) * eye + fr(n_, ns_, t_, k_) * np.outer(wh, wh)
                    - ftr(n_, ns_, t_, k_) * np.outer(e, e))
            err = float(np.max(np.abs(pred - fd)))
            worst = err if not np.isfinite(err) else max(worst, err)
        rows.append(f"d={dim}")
    return Check("finite-difference", "Hessian of the loss q I + c_r w_hat w_hat^T - c_t e e^T vs central second "
                 "differences of the closed-form loss (k = 1, 3, 13)", bool(np.isfinite(worst) and worst <= atol),
                 f"worst entry error {worst:.2e} (atol {atol}); " + ", ".join(rows))


def verify_smaller_root(candidate: sp.Expr, *, cases: Sequence[tuple[float, float]] = ((2.483, 13.3), (0.1, 0.05),
                                                                                      (1.0, 1.0), (5.0, 40.0))
                        ) -> Check:
    """The candidate smaller root (in ``x``, ``mu_bar``, ``a``) against the companion-matrix roots of the cubic, on
    a grid of ``x`` that covers no root, two roots and one root; NaN (not real) must coincide with "fewer than two
    positive roots"."""
    bad, n_two, n_pts = [], 0, 0
    for a_, mb in cases:
        xs = np.linspace(0.02, 2.0 * mb * (a_ + 1) / a_ + 1.0, 160)
        vals = smaller_root(candidate, xs, mb, a_)
        for xv, val in zip(xs, vals, strict=True):
            roots = _cubic_roots(float(xv), mb, a_)
            n_pts += 1
            if roots.size == 2 and roots[1] - roots[0] > 1e-6 * (1 + roots[1]):
                n_two += 1
                if not (np.isfinite(val) and abs(val - roots[0]) <= 1e-9 * (1 + roots[1])):
                    bad.append(f"a={a_}, mu_bar={mb}, x={xv:.4g}: candidate {val}, roots {roots}")
            elif roots.size < 2 and np.isfinite(val) and val > 0:
                bad.append(f"a={a_}, mu_bar={mb}, x={xv:.4g}: candidate {val} but roots {roots}")
    return Check("numeric", "smaller kept root: the middle root of z^3 - (a+x) z^2 + mu_bar a(a+1) = 0 (z = a+u) in "
                 "trigonometric form, vs the companion-matrix roots", not bad and n_two > 0,
                 f"{n_pts} points, {n_two} with two positive roots; "
                 + (f"{len(bad)} mismatches, first: {bad[0]}" if bad else "no mismatch"))


_WINDOW_CASES = (  # (mu, a, mu_bar): subcritical and supercritical prox, mu_bar > mu
    (0.19, 2.483, 13.3), (0.05, 1.0, 0.9), (0.3, 0.5, 1.2), (0.02, 0.1, 0.2), (0.8, 1.0, 3.0),
)


def verify_kept_roots_are_fixed_points(u_start: sp.Expr, *, cases: Sequence[tuple[float, float, float]] =
                                       _WINDOW_CASES) -> Check:
    """Which kept roots are fixed points: a root ``u`` of ``X(u) = x`` (either one) is consistent, i.e. the globally
    minimizing prox at ``mu`` returns it from ``w = u + mu rho'(u)``, iff ``u > u_start`` (candidate in ``mu``,
    ``a``). Brute force over a grid of ``x`` with two roots, in both prox regimes."""
    f = _np(u_start, (mu, a))
    bad, n_small_ok, n_small_bad, n_pts = [], 0, 0, 0
    for mu_, a_, mb in cases:
        gap = float(f(mu_, a_))
        xs = np.linspace(0.01, mb * (a_ + 1) / a_ * 1.5, 200)
        for xv in xs:
            roots = _cubic_roots(float(xv), mb, a_)
            for j, uu in enumerate(roots):
                n_pts += 1
                w0 = uu + mu_ * a_ * (a_ + 1) / (a_ + uu) ** 2
                got = fp._prox_tl1_np(np.array([w0]), mu_, a_)[0]
                consistent = abs(got - uu) <= 1e-9 * (1 + uu)
                if abs(uu - gap) <= 1e-6 * (1 + uu):
                    continue  # at the gap itself the tie convention decides
                if consistent != bool(uu > gap):
                    bad.append(f"mu={mu_}, a={a_}, mu_bar={mb}, x={xv:.4g}, u={uu:.6g}: prox gives {got:.6g}, "
                               f"u_start = {gap:.6g}")
                if roots.size == 2 and j == 0:
                    n_small_ok += consistent
                    n_small_bad += not consistent
    return Check("brute-force", "a kept root u of u + mu_bar rho'(u) = x (the larger or the smaller one) is returned "
                 "by the prox at mu from w = u + mu rho'(u) iff u > u_start(mu) = max(sqrt(2 mu(a+1)) - a, 0)",
                 not bad and n_small_ok > 0 and n_small_bad > 0,
                 f"{n_pts} roots; smaller roots consistent: {n_small_ok}, inconsistent: {n_small_bad}; "
                 + (f"{len(bad)} mismatches, first: {bad[0]}" if bad else "no mismatch"))


#: The smaller-root example: RVSM reaches the smaller kept root, a stable fixed point (no larger-root fixed point
#: exists for this problem).
_EXAMPLE = {"w_star": [-0.9900207784249657, -0.8170524907856052], "k": 13, "a": 2.483, "lam": 0.07564,
            "beta": 0.3974, "eta": 0.6003, "w0": [-1.0624753663382795, -0.9540614307210286]}
#: A problem with three fixed points (found by numerics.limits.fixed_points; only the data is used here): both
#: coordinates kept on the larger root (stable), the second one zeroed (stable), and between them the second one
#: kept on its smaller root (unstable: the separatrix). ``start`` is (|w|, t) near each, for the root solve.
_BAND = {"w_star": [-1.3323454211747188, 0.6052935754185879], "k": 11, "a": 0.8842192767005106,
         "lam": 0.020668874624666187, "beta": 0.42184998012149494, "eta": 1.2466780784755163,
         "unstable": {"small": [False, True], "start": (1.4188, 0.3161)},
         "stable": {"small": [False, False], "start": (1.4243, 0.1850)}}


def _empirical_rate(w_star: np.ndarray, k_: int, lam_: float, beta_: float, a_: float, eta_: float,
                    w_start: np.ndarray, iters: int) -> tuple[np.ndarray, float]:
    """Iterate plain RVSM ``iters`` steps; return the last iterate and the geometric-mean ratio of successive step
    norms over the last half of the steps whose norm is above 1e-11 (before rounding dominates)."""
    w = np.array(w_start, dtype=float)
    norms = []
    for _ in range(iters):
        w_new = _step_tl1(w, w_star, k_, lam_, beta_, a_, eta_)
        norms.append(float(np.linalg.norm(w_new - w)))
        w = w_new
    v = np.array([s_ for s_ in norms if 1e-11 < s_ < 1e-3])
    if v.size < 8:
        return w, math.nan
    tail = v[v.size // 2:]
    return w, float(np.exp(np.mean(np.log(tail[1:] / tail[:-1]))))


def verify_stability(candidate: Mapping[str, sp.Expr], *, example: Mapping = _EXAMPLE, band: Mapping = _BAND
                     ) -> Check:
    """The linearized map built from the candidate pieces (:func:`rvsm_jacobian`) against plain RVSM.

    (1) The smaller-root example: RVSM from its start converges to the *smaller* kept root; the candidate's spectral
    radius there must be below 1 and equal the observed linear rate (ratio of successive steps) to 1e-3.
    (2) A smaller-root fixed point between two stable ones (solved independently from the companion-matrix roots):
    it must be predicted unstable, and RVSM started 1e-9 away from it along the leading eigenvector of a
    finite-difference Jacobian must leave it, the distance growing at the predicted rate (to 1e-3).
    (3) The larger-root fixed point of the same problem: predicted stable, and RVSM started 1e-6 away returns to it
    at the predicted rate.
    """
    rows, ok = [], True

    def radius(w_v, u_v, ws_, k_, lam_, beta_, a_, eta_):
        jac = rvsm_jacobian(candidate, w_v, u_v, ws_, k_, lam_, beta_, a_, eta_)
        if not np.all(np.isfinite(jac)):
            return math.nan  # a NaN candidate fails every comparison below
        return float(np.max(np.abs(np.linalg.eigvals(jac))))

    # (1) the example
    ex = example
    ws = np.asarray(ex["w_star"], dtype=float)
    k_, a_, lam_, beta_, eta_ = ex["k"], ex["a"], ex["lam"], ex["beta"], ex["eta"]
    w_lim, rate = _empirical_rate(ws, k_, lam_, beta_, a_, eta_, np.asarray(ex["w0"], dtype=float), 400)
    u_lim = fp._prox_tl1_np(w_lim, lam_ / beta_, a_)
    fs, fq = fp._grad_coefficients_np()
    n_, t_ = fp._norm_angle(w_lim, ws)
    ns_ = float(np.linalg.norm(ws))
    s_, q_ = fs(n_, ns_, t_, k_), fq(n_, ns_, t_, k_)
    roots = _cubic_roots(s_ / q_ * abs(ws[0]), lam_ * (1 / beta_ + 1 / q_), a_)
    on_small = roots.size == 2 and abs(abs(u_lim[0]) - roots[0]) <= 1e-9
    rho = radius(w_lim, u_lim, ws, k_, lam_, beta_, a_, eta_)
    ok &= bool(on_small and u_lim[1] == 0 and rho < 1 and abs(rho - rate) <= 1e-3)
    rows.append(f"example: RVSM ends at u = {np.array2string(u_lim, precision=6)}, kept roots "
                f"{np.array2string(roots, precision=6)} (smaller reached: {on_small}), predicted rate {rho:.6f}, "
                f"observed {rate:.6f}")
    # (2) an unstable smaller-root fixed point
    b = band
    ws = np.asarray(b["w_star"], dtype=float)
    k_, a_, lam_, beta_, eta_ = b["k"], b["a"], b["lam"], b["beta"], b["eta"]
    kept = ws != 0
    w_u, u_u, res = _self_consistent_point(ws, k_, lam_, beta_, a_, kept, np.asarray(b["unstable"]["small"]),
                                           b["unstable"]["start"])
    if np.isfinite(res) and res < 1e-10:
        rho_u = radius(w_u, u_u, ws, k_, lam_, beta_, a_, eta_)
        vals, vecs = np.linalg.eig(_fd_jacobian(ws, k_, lam_, beta_, a_, eta_, w_u))
        w = w_u + 1e-9 * np.real(vecs[:, int(np.argmax(np.abs(vals)))])
        dist = []
        while len(dist) < 20_000:
            w = _step_tl1(w, ws, k_, lam_, beta_, a_, eta_)
            dist.append(float(np.linalg.norm(w - w_u)))
            if dist[-1] > 1e-4:
                break
        dv = np.array(dist)
        sel = dv[(dv > 1e-8) & (dv < 1e-5)]
        growth = float(np.exp(np.mean(np.log(sel[1:] / sel[:-1])))) if sel.size > 4 else math.nan
        left = dv[-1] > 1e-4
        ok &= bool(rho_u > 1 and left and abs(rho_u - growth) <= 1e-3)
        rows.append(f"smaller root u = {np.array2string(u_u, precision=6)}: predicted spectral radius "
                    f"{rho_u:.6f}, observed growth {growth:.6f}, left after {dv.size} steps: {left}")
    else:
        ok = False
        rows.append(f"the smaller-root fixed point was not found (residual {res})")
    # (3) the larger root of the same problem is stable
    w_l, u_l, res_l = _self_consistent_point(ws, k_, lam_, beta_, a_, kept, np.asarray(b["stable"]["small"]),
                                             b["stable"]["start"])
    w_end, rate_l = _empirical_rate(ws, k_, lam_, beta_, a_, eta_, w_l + 1e-6 * np.array([1.0, -1.0]), 3000)
    rho_l = radius(w_l, u_l, ws, k_, lam_, beta_, a_, eta_)
    back = float(np.max(np.abs(w_end - w_l)))
    ok &= bool(res_l < 1e-10 and rho_l < 1 and back < 1e-10 and abs(rho_l - rate_l) <= 1e-3)
    rows.append(f"larger root u = {np.array2string(u_l, precision=6)}: predicted {rho_l:.6f}, observed "
                f"{rate_l:.6f}, back within {back:.1e}")
    return Check("numeric", "linear stability of kept roots: the spectral radius of I - eta (H + beta (I - D)) vs "
                 "plain RVSM (converges to the example's smaller root at that rate; leaves an unstable smaller root "
                 "at that rate; returns to a stable larger root at that rate)", ok, "; ".join(rows))


def _fd_jacobian(w_star: np.ndarray, k_: int, lam_: float, beta_: float, a_: float, eta_: float,
                 w: np.ndarray, h: float = 1e-7) -> np.ndarray:
    """Central-difference Jacobian of one plain RVSM step (the independent reference for the unstable direction)."""
    cols = []
    for e in np.eye(w.size):
        cols.append((_step_tl1(w + h * e, w_star, k_, lam_, beta_, a_, eta_)
                     - _step_tl1(w - h * e, w_star, k_, lam_, beta_, a_, eta_)) / (2 * h))
    return np.column_stack(cols)


# ---------------------------------------------------------------------------------------------------------------
def derive_kept_root_stability() -> Derivation:
    """Which kept roots of the TL1 limit map are fixed points of RVSM and which are linearly stable."""
    kr = kept_root_exprs()
    hs = loss_hessian_exprs()
    st = stability_exprs()
    from . import critical_points

    lam_perp, lam_par = critical_points.hessian_eigenvalues_at_teacher()
    at_teacher = {theta: 0, nw: ns}
    checks = [
        verify_symbolic_zero(kr["prox_slope"] - 1 / kr["W_prime"], "implicit differentiation of W(u) = w: "
                             "dprox/dw = 1/W'(u) = 1/(1 + mu rho''(u))", numeric_points=[_POINT]),
        verify_symbolic_zero((kr["frozen_curvature"] - kr["frozen_curvature_factored"]).subs(
            mu_bar, kr["mu_bar_of_q"]).subs(mu, lam / beta), "frozen (s, q): a kept coordinate's own curvature "
            "q + beta (1 - prox') equals q X'(u)/W'(u) (with mu_bar = lam (1/beta + 1/q), mu = lam/beta)",
            numeric_points=[_POINT]),
        verify_symbolic_zero(sp.expand(kr["cubic"].subs(z, a + u) / (a + u) ** 2) - (kr["X"] - x),
                             "z^2 (X(u) - x) with z = a + u is the cubic z^3 - (a+x) z^2 + mu_bar a (a+1)",
                             numeric_points=[_POINT]),
        verify_symbolic_zero((a + kr["u_m"]) ** 3 - 2 * mu * a * (a + 1), "W' = 0 at (a+u_m)^3 = 2 mu a(a+1)",
                             numeric_points=[_POINT]),
        verify_symbolic_zero((a + kr["u_c"]) ** 3 - 2 * mu_bar * a * (a + 1), "X' = 0 at (a+u_c)^3 = "
                             "2 mu_bar a(a+1): u_m < u_c since mu < mu_bar = mu (q + beta)/q",
                             numeric_points=[_POINT]),
        verify_symbolic_zero(sp.simplify(((a + kr["u_tie"]) ** 3 / (2 * mu * a * (a + 1)))
                                         - sp.sqrt(2 * mu * (a + 1)) / a),
                             "(a + u_tie)^3/(2 mu a (a+1)) = sqrt(2 mu (a+1))/a >= 1 iff mu >= a^2/(2(a+1)): in the "
                             "supercritical regime the prox's gap u_tie lies on the increasing side of W",
                             numeric_points=[_POINT]),
        verify_symbolic_zero(hs["radial"] - hs["radial_structured"], "Hessian of l: radial curvature "
                             "c_r = |w*|(k sin t + k^2 - k)/(k^2 pi |w|)", numeric_points=[_POINT]),
        verify_symbolic_zero(hs["transverse"] - hs["transverse_structured"], "Hessian of l: transverse curvature "
                             "c_t = |w*| sin t/(k pi |w|)", numeric_points=[_POINT]),
        verify_symbolic_zero(hs["mixed"], "Hessian of l: no w_hat-e cross term", numeric_points=[_POINT]),
        verify_symbolic_zero((hs["q"] + hs["radial_structured"]).subs(at_teacher) - lam_par,
                             "at w = w*: q + c_r = (k + (k^2-k)/pi)/k^2 (the known eigenvalue along w*)",
                             numeric_points=[_POINT]),
        verify_symbolic_zero(hs["q"].subs(at_teacher) - lam_perp, "at w = w*: q = 1/k (the known eigenvalue "
                             "across w*)", numeric_points=[_POINT]),
        verify_symbolic_zero(st["jacobian_derived"] - sp.expand(st["jacobian_entry"]),
                             "d/dw_i of one Gauss-Seidel step: 1 - eta (H_ii + beta (1 - D_i))"),
        verify_prox_slope(kr["prox_slope"]),
        verify_loss_hessian(st),
        verify_smaller_root(kr["smaller_root"]),
        verify_kept_roots_are_fixed_points(sp.Max(kr["u_tie"], 0)),
        verify_stability(st),
    ]
    latex = (
        r"A kept coordinate solves $X(u) = u + \bar\mu\rho_a'(u) = r|w^*_i|$ while the prox at $\mu = \lambda/\beta$ "
        r"inverts $W(u) = u + \mu\rho_a'(u)$. Both are convex in $u$; $X' = 0$ at $(a+u_c)^3 = 2\bar\mu a(a+1)$, "
        r"$W' = 0$ at $(a+u_m)^3 = 2\mu a(a+1)$, and $\bar\mu = \mu(q+\beta)/q > \mu$ gives $u_m < u_c$. The prox "
        r"returns the root of $W(u) = w$ above $u_0 = \max(\sqrt{2\mu(a+1)} - a, 0)$, where $W$ increases; so "
        r"\emph{either} root of $X(u) = r|w^*_i|$ is a fixed point iff it exceeds $u_0$. The smaller one is "
        "\n$$ u_- = \\tfrac{a + x}{3}\\Big(1 + 2\\cos\\tfrac{\\varphi - 2\\pi}{3}\\Big) - a, \\qquad "
        r"\cos\varphi = 1 - \frac{27\bar\mu a(a+1)}{2(a+x)^3}, $$" "\n"
        r"positive iff $X(u_c) \le x < \bar\mu(a+1)/a$. Stability: with $u = \mathrm{prox}(w)$ folded in, a "
        r"Gauss-Seidel step is $w \leftarrow w - \eta\nabla\Phi(w)$, $\Phi = \ell + \min_u[\lambda P(u) + "
        r"\tfrac\beta2|w-u|^2]$; its Jacobian on a frozen support is $I - \eta M$," "\n"
        r"$$ M = \nabla^2\ell(\bar w) + \beta(I - D), \quad D = \mathrm{diag}\Big(\frac{1}{1 + \mu\rho_a''(u_i)}"
        r"\Big)_{\text{kept}}, \quad \nabla^2\ell = qI + c_r\hat w\hat w^T - c_t e e^T, $$" "\n"
        r"$c_r = |w^*|(k\sin t + k^2 - k)/(k^2\pi|w|)$, $c_t = |w^*|\sin t/(k\pi|w|)$. Stable iff the eigenvalues "
        r"of $M$ lie in $(0, 2/\eta)$. With $(s, q)$ frozen a kept coordinate contributes $qX'(u)/W'(u) < 0$ at the "
        r"smaller root, but the radial term $c_r$ (large when $q$ is small) can make $M$ positive definite: the "
        r"smaller root is then a stable limit (the example above: rate $0.816$); between a stable larger root and a "
        r"stable zeroed branch it is typically unstable."
    )
    statement = {"prox_slope": kr["prox_slope"], "frozen_curvature": kr["frozen_curvature_factored"],
                 "smaller_root": kr["smaller_root"], "u_start": sp.Max(kr["u_tie"], 0),
                 "hessian_radial": hs["radial_structured"], "hessian_transverse": hs["transverse_structured"],
                 "jacobian_entry": st["jacobian_entry"]}
    return Derivation("kept_root_stability", "Kept roots of the limit map: fixed points and linear stability",
                      statement, tuple(checks), latex, CONVENTIONS)
