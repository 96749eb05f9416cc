"""Probability that a uniform random start on the sphere is nearly opposite the teacher, and its bound delta/pi.

For ``w0`` uniform on ``S^{d-1}`` and ``delta in [0, pi/2]`` (theory page section 4):
``P(angle(w0, w*) > pi - delta) = (1/2) I_{sin^2 delta}((d - 1)/2, 1/2) <= delta / pi``.

Public API: :data:`delta`, :func:`init_tail_probability_expr`, :func:`init_tail_probability`,
:func:`derive_initialization_probability`, and the verifications (taking a candidate tail function
``P(d, delta)``) :func:`verify_tail_quadrature`, :func:`verify_tail_monte_carlo`, :func:`verify_tail_bound`,
:func:`verify_tail_decreasing_in_d`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import integrate, special

from .record import Check, Derivation
from .symbols import d
from .verify import verify_monte_carlo, verify_numeric, verify_symbolic_zero

#: Half-width of the cap around -w*/|w*|: the event is angle(w0, w*) > pi - delta.
delta = sp.Symbol("delta", positive=True)
_c = sp.Symbol("c", positive=True)  # cos of the angle to the axis (c in (0, 1) on the cap side)
_u = sp.Symbol("u", positive=True)  # u = 1 - c^2
_v = sp.Symbol("v", positive=True)  # v = c^2


def _half(d_) -> sp.Expr:
    return (d_ - 1) / sp.Integer(2)


def _beta_fn(p, q) -> sp.Expr:
    """Euler's beta function through Gamma (SymPy then evaluates it at half-integers)."""
    return sp.gamma(p) * sp.gamma(q) / sp.gamma(p + q)


@lru_cache(maxsize=1)
def _steps() -> dict:
    """Symbolic steps of the derivation (general d)."""
    norm = _beta_fn(sp.Rational(1, 2), _half(d))
    # c = g_1/|g| for g ~ N(0, I_d): c^2 = chi2_1/(chi2_1 + chi2_{d-1}) ~ Beta(1/2, (d-1)/2)
    f_v = _v ** sp.Rational(-1, 2) * (1 - _v) ** (_half(d) - 1) / norm
    # c is symmetric about 0 and v = c^2 has the two preimages +-c, each carrying half the mass:
    # f_c(c) = f_v(c^2) (dv/dc) / 2 for c > 0, and f_c(-c) = f_c(c)
    f_c = sp.powsimp(f_v.subs(_v, _c**2) * sp.diff(_c**2, _c) / 2, force=True)
    density_form = (1 - _c**2) ** ((d - 3) / sp.Integer(2)) / norm
    # the tail: angle > pi - delta  <=>  cos(angle) < -cos(delta); by symmetry = int_{cos delta}^1 f_c(c) dc.
    # substitute u = 1 - c^2, c = sqrt(1 - u), dc = -du / (2 sqrt(1 - u)); limits c: cos delta -> 1  <=>  u: sin^2 -> 0
    c_of_u = sp.sqrt(1 - _u)
    integrand_u = sp.simplify(density_form.subs(_c, c_of_u) * (-sp.diff(c_of_u, _u)))
    beta_integrand = (_u ** (_half(d) - 1) * (1 - _u) ** (sp.Rational(1, 2) - 1)
                      / (2 * _beta_fn(_half(d), sp.Rational(1, 2))))
    upper = sp.simplify(1 - sp.cos(delta) ** 2)
    tail = sp.betainc_regularized(_half(d), sp.Rational(1, 2), 0, sp.sin(delta) ** 2) / 2
    return {"f_v": f_v, "f_c": f_c, "density": density_form, "integrand_u": integrand_u,
            "beta_integrand": beta_integrand, "upper": upper, "tail": tail}


def init_tail_probability_expr() -> sp.Expr:
    """``P(angle(w0, w*) > pi - delta) = (1/2) I_{sin^2 delta}((d-1)/2, 1/2)`` (SymPy in ``d`` and :data:`delta`).

    Notes
    -----
    Valid for ``delta in [0, pi/2]``, ``d >= 2``; ``I_x(p, q)`` is the regularized incomplete beta function
    (``sympy.betainc_regularized(p, q, 0, x)``, lambdifies to ``scipy.special.betainc``).
    """
    return _steps()["tail"]


def init_tail_probability(d_, delta_):
    """NumPy/SciPy value of ``(1/2) I_{sin^2 delta}((d-1)/2, 1/2)``.

    Parameters
    ----------
    d_ : int or array of int
        Dimension, ``>= 2``.
    delta_ : float or array
        Cap half-angle in ``[0, pi/2]``.

    Raises
    ------
    ValueError
        If ``d < 2`` or not an integer, or ``delta`` is outside ``[0, pi/2]``.
    """
    dv = np.asarray(d_, dtype=float)
    dl = np.asarray(delta_, dtype=float)
    if np.any(~np.isfinite(dv)) or np.any(dv < 2) or np.any(dv != np.round(dv)):
        raise ValueError(f"d must be an integer >= 2, got {d_}")
    if np.any(~np.isfinite(dl)) or np.any(dl < 0) or np.any(dl > np.pi / 2):
        raise ValueError(f"delta must lie in [0, pi/2], got {delta_}")
    return 0.5 * special.betainc((dv - 1) / 2, 0.5, np.sin(dl) ** 2)


def _angle_quadrature(d_: int, delta_: float) -> float:
    """Independent reference: the angle theta to a fixed axis has density proportional to sin(theta)^(d-2)."""
    num = integrate.quad(lambda t: np.sin(t) ** (d_ - 2), np.pi - delta_, np.pi, epsabs=0, epsrel=1e-13)[0]
    den = integrate.quad(lambda t: np.sin(t) ** (d_ - 2), 0, np.pi, epsabs=0, epsrel=1e-13)[0]
    return num / den


def verify_tail_quadrature(candidate: Callable[[int, float], float], points: Sequence[tuple], *,
                           rtol: float = 1e-9) -> Check:
    """Compare ``candidate(d, delta)`` with quadrature of the angle density ``sin^(d-2)`` (independent of the beta
    function) at ``points`` of ``(d, delta)``.

    Notes
    -----
    The surface measure of ``S^{d-1}`` in the polar angle ``theta`` from a fixed axis is proportional to
    ``sin(theta)^(d-2) dtheta`` (a ``(d-2)``-sphere of radius ``sin theta`` swept with unit speed). Quadrature is
    accurate to ~1e-13 relative; ``rtol = 1e-9`` leaves room for it near ``delta = 0`` where the tail is tiny.
    """
    return verify_numeric(candidate, _angle_quadrature, points,
                          "tail probability = quadrature of the angle density sin^(d-2) over (pi - delta, pi)",
                          method="quadrature", rtol=rtol, atol=1e-15)


def verify_tail_monte_carlo(candidate: Callable[[int, float], float], d_: int, deltas: Sequence[float], *,
                            n: int = 100_000, seed: int = 0) -> list[Check]:
    """Sample ``w0`` uniform on ``S^{d-1}`` (normalized Gaussians) and a random ``w*``; compare the frequency of
    ``angle > pi - delta`` with ``candidate(d, delta)`` within 4 standard errors (from the samples)."""
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal((n, d_))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    ws = rng.standard_normal(d_)
    ws /= np.linalg.norm(ws)
    ang = np.arccos(np.clip(w0 @ ws, -1.0, 1.0))
    return [verify_monte_carlo((ang > np.pi - dl).astype(float), float(candidate(d_, dl)),
                               f"P(angle(w0, w*) > pi - delta) at d = {d_}, delta = {dl:.4g}: Monte Carlo on the "
                               "sphere")
            for dl in deltas]


def verify_tail_bound(candidate: Callable, d_max: int = 200, n_delta: int = 400, *, slack: float = 1e-14) -> Check:
    """``candidate(d, delta) <= delta/pi + slack`` on the grid ``d = 2..d_max``, ``delta in (0, pi/2]``.

    ``slack`` covers float rounding only (at ``d = 2`` the two sides are equal).
    """
    dd = np.arange(2, d_max + 1)[:, None]
    dl = np.linspace(np.pi / 2 / n_delta, np.pi / 2, n_delta)[None, :]
    vals = np.asarray(candidate(dd, dl), dtype=float)
    excess = vals - dl / np.pi
    worst = float(np.max(excess))
    i, j = np.unravel_index(np.argmax(excess), excess.shape)
    return Check("numeric", f"P <= delta/pi on the grid d = 2..{d_max}, {n_delta} deltas in (0, pi/2]",
                 bool(worst <= slack), f"max (P - delta/pi) = {worst:.3e} at d = {int(dd[i, 0])}, "
                 f"delta = {float(dl[0, j]):.4g} (allowed {slack:g})")


def verify_tail_decreasing_in_d(candidate: Callable, d_max: int = 200, n_delta: int = 400) -> Check:
    """``candidate(d + 1, delta) <= candidate(d, delta)`` on the grid (the monotonicity step of the bound)."""
    dd = np.arange(2, d_max + 1)[:, None]
    dl = np.linspace(np.pi / 2 / n_delta, np.pi / 2, n_delta)[None, :]
    vals = np.asarray(candidate(dd, dl), dtype=float)
    incr = float(np.max(vals[1:] - vals[:-1]))
    return Check("numeric", f"P(d+1, delta) <= P(d, delta) on the grid d = 2..{d_max}", bool(incr <= 1e-15),
                 f"max increase {incr:.3e} (allowed 1e-15, rounding)")


def _tail_by_integration(d_: int) -> sp.Expr:
    """SymPy: integrate the density of c from cos(delta) to 1 for a specific small d."""
    dens = _steps()["density"].subs(d, d_)
    return sp.simplify(sp.integrate(dens, (_c, sp.cos(delta), 1)))


def derive_initialization_probability() -> Derivation:
    """``P(angle(w0, w*) > pi - delta) = (1/2) I_{sin^2 delta}((d-1)/2, 1/2) <= delta/pi`` for uniform ``w0``.

    Notes
    -----
    ``c = <w0, w*/|w*|> = g_1/|g|`` for ``g ~ N(0, I_d)``, so ``c^2 ~ Beta(1/2, (d-1)/2)`` and ``c`` has density
    ``(1 - c^2)^((d-3)/2) / B(1/2, (d-1)/2)`` on ``[-1, 1]``. The event is ``c < -cos delta``; by symmetry its
    probability is ``int_{cos delta}^1``; ``u = 1 - c^2`` turns it into
    ``int_0^{sin^2 delta} u^((d-3)/2) (1-u)^(-1/2) du / (2 B((d-1)/2, 1/2)) = (1/2) I_{sin^2 delta}((d-1)/2, 1/2)``.
    Bound: at ``d = 2`` the angle is uniform, ``P = delta/pi``; and ``P`` decreases in ``d`` because
    ``Beta(p, 1/2)`` densities have likelihood ratio ``u^(p' - p)`` increasing in ``u`` for ``p' > p``, hence
    ``Beta(p', 1/2)`` is stochastically larger and its CDF at ``sin^2 delta`` smaller.
    """
    s = _steps()
    checks: list[Check] = []
    checks.append(verify_symbolic_zero(s["f_c"] - s["density"], "density of c from c^2 ~ Beta(1/2,(d-1)/2): "
                                       "f(c) = (1-c^2)^((d-3)/2)/B(1/2,(d-1)/2)",
                                       numeric_points=[{d: dv, _c: cv} for dv in (2, 3, 7) for cv in (0.1, 0.5, 0.9)]))
    for dv in (2, 3, 4, 5):
        total = sp.simplify(2 * sp.integrate(s["density"].subs(d, dv), (_c, 0, 1)))
        checks.append(verify_symbolic_zero(total - 1, f"density of c integrates to 1 on [-1, 1] (d = {dv})"))
    checks.append(verify_symbolic_zero(s["integrand_u"] - s["beta_integrand"],
                                       "u = 1 - c^2 maps the density to u^((d-3)/2)(1-u)^(-1/2)/(2 B((d-1)/2,1/2))",
                                       numeric_points=[{d: dv, _u: uv} for dv in (2, 3, 8) for uv in (0.2, 0.7)]))
    checks.append(verify_symbolic_zero(s["upper"] - sp.sin(delta) ** 2,
                                       "limit c = cos(delta) maps to u = sin^2(delta)"))
    # small d: SymPy integrates the density in closed form; compare with scipy.special.betainc at many delta
    tail_fn = sp.lambdify((d, delta), s["tail"], modules="scipy")
    grid = np.linspace(0.01, np.pi / 2, 25)
    closed = {}
    for dv in (2, 3, 4, 5):
        closed[dv] = _tail_by_integration(dv)
        f = sp.lambdify(delta, closed[dv], modules="numpy")
        checks.append(verify_numeric(lambda dl, _f=f: _f(dl), lambda dl, _dv=dv: tail_fn(_dv, dl),
                                     [(float(g),) for g in grid],
                                     f"SymPy integral of the density (d = {dv}: {closed[dv]}) = "
                                     f"(1/2) I_(sin^2 delta)((d-1)/2, 1/2) via scipy.special.betainc",
                                     rtol=1e-12, atol=1e-15))
    # independent references: quadrature in the angle, Monte Carlo on the sphere
    qpts = [(dv, float(dl)) for dv in (2, 3, 4, 7, 12, 30, 100) for dl in (0.05, 0.4, 0.9, 1.3, np.pi / 2)]
    checks.append(verify_tail_quadrature(init_tail_probability, qpts))
    # deltas chosen so that the expected count N P is at least ~100 (otherwise the sample standard error is 0)
    mc_plan = {2: (0.3, 1.0, 1.5), 3: (0.3, 1.0, 1.5), 5: (0.4, 1.0, 1.5), 10: (0.7, 1.1, 1.5), 40: (1.2, 1.4, 1.5)}
    for i, (dv, dls) in enumerate(mc_plan.items()):
        checks.extend(verify_tail_monte_carlo(init_tail_probability, dv, dls, n=100_000, seed=10 + i))
    # the bound: d = 2 equality, monotone in d (likelihood-ratio argument), grid check
    d2 = sp.integrate(sp.simplify(s["density"].subs(d, 2)), (_c, sp.cos(delta), 1))
    checks.append(verify_symbolic_zero(d2 - delta / sp.pi, "d = 2: P = delta/pi (the angle is uniform on [0, pi])",
                                       numeric_points=[{delta: sp.pi * v} for v in (sp.Rational(1, 30),
                                                                                    sp.Rational(1, 5),
                                                                                    sp.Rational(2, 5),
                                                                                    sp.Rational(1, 2))]))
    p, pp = sp.Symbol("p", positive=True), sp.Symbol("p'", positive=True)
    beta_kernel = _u ** (pp - 1) * (1 - _u) ** sp.Rational(-1, 2), _u ** (p - 1) * (1 - _u) ** sp.Rational(-1, 2)
    log_ratio = sp.log(beta_kernel[0]) - sp.log(beta_kernel[1])
    checks.append(verify_symbolic_zero(sp.diff(sp.expand_log(log_ratio, force=True), _u) - (pp - p) / _u,
                                       "d/du log(f_{p'}/f_p) = (p' - p)/u > 0 for p' > p: monotone likelihood ratio "
                                       "in p"))
    checks.append(verify_tail_decreasing_in_d(init_tail_probability))
    checks.append(verify_tail_bound(init_tail_probability))
    latex = (
        r"For $w_0$ uniform on $S^{d-1}$, $c=\langle w_0,w^*/|w^*|\rangle=g_1/|g|$ with $g\sim N(0,I_d)$, so "
        r"$c^2\sim\mathrm{Beta}(\tfrac12,\tfrac{d-1}2)$ and $c$ has density "
        r"$(1-c^2)^{(d-3)/2}/B(\tfrac12,\tfrac{d-1}2)$. "
        r"$\angle(w_0,w^*)>\pi-\delta\iff c<-\cos\delta$; by symmetry and $u=1-c^2$: "
        r"$P=\frac{1}{2B(\frac{d-1}2,\frac12)}\int_0^{\sin^2\delta}u^{\frac{d-3}2}(1-u)^{-\frac12}du"
        r"=\tfrac12 I_{\sin^2\delta}(\tfrac{d-1}2,\tfrac12)$, $\delta\in[0,\pi/2]$. "
        r"Bound: at $d=2$ the angle is uniform, $P=\delta/\pi$; the Beta$(p,\frac12)$ family has likelihood ratio "
        r"$u^{p'-p}$ increasing in $u$, so it increases stochastically in $p=\frac{d-1}2$ and $P$ decreases in $d$: "
        r"$P\le\delta/\pi$ for all $d\ge2$."
    )
    statement = {"tail_probability": s["tail"], "density_of_cos": s["density"], "bound": delta / sp.pi}
    statement.update({f"tail_d{dv}": e for dv, e in closed.items()})
    return Derivation(
        name="initialization_probability", title="Initialization: probability of a start nearly opposite w*",
        statement=statement, checks=tuple(checks), latex=latex,
        conventions=("w0 uniform on the unit sphere S^{d-1}, d >= 2", "delta in [0, pi/2]",
                     "I_x(p, q) is the regularized incomplete beta function"),
    )
