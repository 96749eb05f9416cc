"""Critical points of the population loss (theory page section 2): the teacher w* (global minimum), the origin (strict
local maximum for k >= 2), the saddle on the ray opposite w*, and the Hessian at w*.

Everything is derived from :func:`theory.loss.loss_expr` and :func:`theory.loss.gradient_coefficients`.

Public API
----------
``saddle_scale_expr()``                c(k) with the saddle at w = -c w*.
``hessian_eigenvalues_at_teacher()``   (lambda_perp, lambda_par) in k: on the d-1 directions orthogonal to w*, along w*.
``origin_leading_coefficient_expr()``  C(t) with l(eps v) - l(0) = C(t) eps + O(eps^2), |v| = 1, t = angle(v, w*).
``verify_global_minimum``, ``verify_origin_local_max``, ``verify_saddle``, ``verify_hessian_finite_difference``
take candidate expressions and return a :class:`Check`.
``derive_critical_points()`` returns the record ``"critical_points"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import sympy as sp

from .loss import LOSS_CONVENTION, gradient_coefficients, loss_at_vectors, loss_expr
from .record import Check, Derivation
from .symbols import k, ns, nw, theta
from .verify import verify_symbolic_zero

_eps = sp.Symbol("epsilon", positive=True)
_c = sp.Symbol("c", positive=True)
_va, _vb, _vc = sp.symbols("v_a v_b v_c", real=True)


# ----------------------------------------------------------------------------------------------------------------
# Derivations.
# ----------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _origin_steps() -> dict[str, sp.Expr]:
    loss = loss_expr()
    l0 = sp.simplify(sp.limit(loss, nw, 0))
    # w = eps v with |v| = 1: |w| = eps, angle(w, w*) = angle(v, w*) = theta.
    series = sp.expand(sp.series(loss.subs(nw, _eps), _eps, 0, 2).removeO())
    lead = sp.simplify(series.coeff(_eps, 1))
    h = sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)
    return {"loss_at_origin": l0, "leading_coefficient": lead, "h": h, "dh": sp.simplify(sp.diff(h, theta)),
            "constant_term": sp.simplify(series.coeff(_eps, 0) - l0)}


def origin_leading_coefficient_expr() -> sp.Expr:
    """C(t, k, |w*|) with l(eps v) - l(0) = C eps + O(eps^2) for a unit vector v at angle t to w*.

    Notes
    -----
    .. math:: C = -\\frac{|w^*|}{\\pi k^2}\\big[k(\\sin t + (\\pi - t)\\cos t) + k^2 - k\\big],

    negative for every t in [0, pi] when k >= 2, because h(t) = sin t + (pi - t) cos t >= 0 there.
    """
    return _origin_steps()["leading_coefficient"]


@lru_cache(maxsize=1)
def _saddle_steps() -> dict[str, sp.Expr]:
    q, s = gradient_coefficients()
    # At t = pi, s = 0 and grad l = q w: a critical point on the ray w = -c w* (c > 0) needs q = 0.
    q_pi = sp.simplify(q.subs(theta, sp.pi))
    sols = sp.solve(sp.Eq(q_pi.subs(nw, _c * ns), 0), _c)
    if len(sols) != 1:
        raise RuntimeError(f"expected one positive saddle scale, SymPy found {sols}")
    c = sp.simplify(sols[0])
    loss = loss_expr()
    along_ray = sp.simplify(sp.diff(loss.subs(theta, sp.pi), nw, 2))
    # Rotate toward w* at fixed |w| = c|w*|: t = pi - eps.
    rot = sp.expand(sp.series(loss.subs({nw: c * ns, theta: sp.pi - _eps}) - loss.subs({nw: c * ns, theta: sp.pi}),
                              _eps, 0, 4).removeO())
    return {"s_at_pi": sp.simplify(s.subs(theta, sp.pi)), "q_at_pi": q_pi, "saddle_scale": c,
            "curvature_along_ray": along_ray, "rotation_series": sp.simplify(rot)}


def saddle_scale_expr() -> sp.Expr:
    """c(k) such that w = -c w* is a critical point (a saddle for k >= 2), solved from grad l = 0 at t = pi.

    Notes
    -----
    .. math:: c = \\frac{k^2 - k}{k^2 + (\\pi - 1)k}.
    """
    return _saddle_steps()["saddle_scale"]


@lru_cache(maxsize=1)
def _hessian_steps() -> dict:
    # Rotation invariance: take w* = |w*| e1 in d = 3 and w = w* + eps (v_a, v_b, v_c). Then
    # |w| = sqrt((|w*| + eps v_a)^2 + eps^2 rho^2), t = atan(eps rho / (|w*| + eps v_a)), rho = sqrt(v_b^2 + v_c^2).
    # l(w* + eps v) = (1/2) eps^2 v^T H v + O(eps^3); H is the Hessian of the eps^2 coefficient in v.
    rho = sp.sqrt(_vb**2 + _vc**2)
    x1 = ns + _eps * _va
    lw = loss_expr().subs({nw: sp.sqrt(x1**2 + _eps**2 * rho**2), theta: sp.atan(_eps * rho / x1)})
    series = sp.expand(sp.series(lw, _eps, 0, 3).removeO())
    c0 = sp.simplify(series.coeff(_eps, 0))
    c1 = sp.simplify(series.coeff(_eps, 1))
    hess = sp.simplify(sp.hessian(series.coeff(_eps, 2), (_va, _vb, _vc)))
    eig = {sp.simplify(key): val for key, val in hess.eigenvals().items()}
    lam_perp = sp.simplify(hess[1, 1])
    lam_par = sp.simplify(hess[0, 0])
    return {"order0": c0, "order1": c1, "hessian": hess, "eigenvalues": eig, "lam_perp": lam_perp,
            "lam_par": lam_par}


def hessian_eigenvalues_at_teacher() -> tuple[sp.Expr, sp.Expr]:
    """Eigenvalues of the Hessian of l at w*: (lambda_perp, lambda_par), expressions in k.

    Returns
    -------
    lambda_perp : sympy expression
        Eigenvalue on the d - 1 directions orthogonal to w* (multiplicity d - 1).
    lambda_par : sympy expression
        Eigenvalue along w*.

    Notes
    -----
    .. math:: \\lambda_\\perp = \\frac1k, \\qquad \\lambda_\\parallel = \\frac{k + (k^2-k)/\\pi}{k^2}.

    Derived from the second-order expansion of l(w* + eps v) in explicit coordinates (d = 3, w* = |w*| e1).
    """
    steps = _hessian_steps()
    return steps["lam_perp"], steps["lam_par"]


# ----------------------------------------------------------------------------------------------------------------
# Verifications (each takes the candidate, so a wrong formula can be fed through the same code).
# ----------------------------------------------------------------------------------------------------------------


def verify_global_minimum(
    loss_candidate: sp.Expr, *, k_values: Sequence[int] = (1, 2, 5, 20), n_grid: int = 301,
) -> Check:
    """l(w*) = 0, grad l(w*) = 0, and brute-force minimization of l over a (|w|/|w*|, t) grid finds min 0 at w*.

    Notes
    -----
    l >= 0 holds because l is the expectation of a square; the grid search is an independent numerical witness:
    l on |w|/|w*| in [0, 3] x t in [0, pi] (``n_grid`` points each, |w*| = 1) must have minimum >= -1e-14 attained
    at the grid point (1, 0). The gradient at w* is (q - s) w* with q, s from the candidate loss by the chain rule.
    """
    at_teacher = verify_symbolic_zero(loss_candidate.subs({nw: ns, theta: 0}), "l(w*)")
    l_nw = sp.diff(loss_candidate, nw).subs({nw: ns, theta: 0})
    grad_zero = verify_symbolic_zero(l_nw, "d l/d|w| at w*")
    # d l/d t is zero at t = 0 for any smooth function of cos t; the radial derivative is the one that can fail.
    f = sp.lambdify((nw, ns, theta, k), loss_candidate, "numpy")
    r = np.linspace(0.0, 3.0, n_grid)
    t = np.linspace(0.0, np.pi, n_grid)
    rr, tt = np.meshgrid(r, t, indexing="ij")
    rows, grid_ok = [], True
    for k_val in k_values:
        vals = np.broadcast_to(f(rr, 1.0, tt, k_val), rr.shape)
        idx = np.unravel_index(int(np.argmin(vals)), vals.shape)
        vmin = float(vals[idx])
        ok = vmin >= -1e-14 and abs(r[idx[0]] - 1.0) < 1e-12 and t[idx[1]] == 0.0
        grid_ok &= ok
        rows.append(f"k={k_val}: min {vmin:.2e} at (|w|/|w*|, t)=({r[idx[0]]:.3f}, {t[idx[1]]:.3f})")
    ok = at_teacher.passed and grad_zero.passed and grid_ok
    return Check("symbolic+brute-force", "w* is the global minimum: l(w*)=0, grad l(w*)=0, grid minimum at w*", ok,
                 f"l(w*): {at_teacher.detail}; dl/d|w|(w*): {grad_zero.detail}; " + "; ".join(rows))


def verify_origin_local_max(
    loss_candidate: sp.Expr, *, k_values: Sequence[int] = (2, 3, 10), n_theta: int = 181, n_dirs: int = 20,
    eps: float = 1e-4, seed: int = 6,
) -> Check:
    """w = 0 is a strict local maximum for k >= 2: the O(eps) coefficient of l(eps v) - l(0) is < 0 for all t.

    Notes
    -----
    The leading coefficient C(t) of the candidate is computed by a series in eps and evaluated on a grid of
    t in [0, pi] including the endpoint t = pi (where h(t) = sin t + (pi - t) cos t vanishes, so only the
    off-diagonal term -(k^2-k)|w*|/(pi k^2) keeps C < 0). As a direct witness, l(eps v) < l(0) is also checked at
    ``n_dirs`` random unit directions v in d = 4 plus v = -w*/|w*|.
    """
    l0 = sp.limit(loss_candidate, nw, 0)
    lead = sp.expand(sp.series(loss_candidate.subs(nw, _eps), _eps, 0, 2).removeO()).coeff(_eps, 1)
    f_lead = sp.lambdify((ns, theta, k), lead, "numpy")
    f_l0 = sp.lambdify((ns, k), l0, "numpy")
    evaluate = loss_at_vectors(loss_candidate)
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, np.pi, n_theta)
    ok, rows = True, []
    for k_val in k_values:
        worst_c = float(np.max(np.broadcast_to(f_lead(1.0, t, k_val), t.shape)))
        w_star = rng.standard_normal(4)
        w_star /= np.linalg.norm(w_star)
        dirs = [-w_star] + [v / np.linalg.norm(v) for v in rng.standard_normal((n_dirs, 4))]
        worst_diff = max(evaluate(eps * v, w_star, k_val) - float(f_l0(1.0, k_val)) for v in dirs)
        ok &= worst_c < 0 and worst_diff < 0
        rows.append(f"k={k_val}: max_t C(t) = {worst_c:.4g}, max_v l(eps v)-l(0) = {worst_diff:.3g}")
    return Check("symbolic+numeric", f"w=0 strict local max for k in {tuple(k_values)}: C(t) < 0 on [0, pi]", ok,
                 f"|w*|=1, eps={eps}; " + "; ".join(rows))


def verify_h_nonnegative(*, n_theta: int = 2001) -> Check:
    """h(t) = sin t + (pi - t) cos t >= 0 on [0, pi]: h(pi) = 0 and h'(t) = -(pi - t) sin t <= 0 (symbolic).

    Also evaluated on a grid as a numerical witness.
    """
    steps = _origin_steps()
    h, dh = steps["h"], steps["dh"]
    end = verify_symbolic_zero(h.subs(theta, sp.pi), "h(pi)")
    deriv = verify_symbolic_zero(dh + (sp.pi - theta) * sp.sin(theta), "h'(t) + (pi - t) sin t")
    t = np.linspace(0.0, np.pi, n_theta)
    hmin = float(np.min(sp.lambdify(theta, h, "numpy")(t)))
    ok = end.passed and deriv.passed and hmin >= -1e-15
    return Check("symbolic", "h(t) = sin t + (pi-t) cos t >= 0 on [0, pi] (h(pi)=0, h' = -(pi-t) sin t <= 0)", ok,
                 f"h(pi): {end.detail}; h': {deriv.detail}; grid min {hmin:.3g}")


def verify_saddle(
    scale_candidate: sp.Expr, *, k_values: Sequence[int] = (2, 3, 5, 16), dim: int = 4, h: float = 1e-5,
    rel: float = 1e-2, seed: int = 7,
) -> Check:
    """w = -c w* with c = ``scale_candidate`` (an expression in k) is a saddle of l, for each k in ``k_values``.

    Three conditions per k, on the closed-form loss at actual vectors (|w*| = 1, random direction in ``dim``):

    1. critical point: central finite-difference gradient at w = -c w* has norm < 1e-8 (h = 1e-5 gives
       truncation ~1e-10 and rounding ~1e-11);
    2. positive curvature along the ray: l(-(1 +- rel) c w*) > l(-c w*);
    3. descent when rotating toward w*: l decreases when w is rotated by a small angle toward w* at fixed |w|.
    """
    rng = np.random.default_rng(seed)
    evaluate = loss_at_vectors(loss_expr())
    f_c = sp.lambdify(k, scale_candidate, "numpy")
    ok, rows = True, []
    for k_val in k_values:
        c = float(f_c(k_val))
        w_star = rng.standard_normal(dim)
        w_star /= np.linalg.norm(w_star)
        w = -c * w_star
        grad = np.array([(evaluate(w + h * e, w_star, k_val) - evaluate(w - h * e, w_star, k_val)) / (2 * h)
                         for e in np.eye(dim)])
        gnorm = float(np.linalg.norm(grad))
        base = evaluate(w, w_star, k_val)
        ray_up = min(evaluate((1 + rel) * w, w_star, k_val), evaluate((1 - rel) * w, w_star, k_val)) - base
        perp = rng.standard_normal(dim)
        perp -= (perp @ w_star) * w_star
        perp /= np.linalg.norm(perp)
        ang = 0.05  # rotate w by 0.05 rad toward w* in the plane (w*, perp): angle(w, w*) = pi - 0.05
        w_rot = c * (-np.cos(ang) * w_star + np.sin(ang) * perp)
        rot_down = evaluate(w_rot, w_star, k_val) - base
        this_ok = c > 0 and gnorm < 1e-8 and ray_up > 0 and rot_down < 0
        ok &= this_ok
        rows.append(f"k={k_val}: c={c:.6f}, |grad|={gnorm:.2e}, ray {ray_up:.2e} > 0, rotation {rot_down:.2e} < 0")
    return Check("finite-difference", f"w = -c w* is a saddle for k in {tuple(k_values)}", ok, "; ".join(rows))


def _fd_hessian(evaluate, w: np.ndarray, w_star: np.ndarray, k_val: int, h: float) -> np.ndarray:
    dim = w.shape[0]
    eye = np.eye(dim)
    hess = np.empty((dim, dim))
    for i in range(dim):
        for j in range(i, dim):
            ei, ej = h * eye[i], h * eye[j]
            val = (evaluate(w + ei + ej, w_star, k_val) - evaluate(w + ei - ej, w_star, k_val)
                   - evaluate(w - ei + ej, w_star, k_val) + evaluate(w - ei - ej, w_star, k_val)) / (4 * h * h)
            hess[i, j] = hess[j, i] = val
    return hess


def verify_hessian_finite_difference(
    lam_perp_candidate: sp.Expr, lam_par_candidate: sp.Expr, *, k_values: Sequence[int] = (1, 2, 4, 10),
    dim: int = 5, h: float = 1e-4, atol: float = 2e-4, seed: int = 8,
) -> Check:
    """Finite-difference Hessian of the closed-form loss at w* against lambda_perp (I - P) + lambda_par P.

    Notes
    -----
    P = w* w*^T / |w*|^2. The comparison is entrywise, so it checks the eigenvectors as well as the eigenvalues.
    The loss is C^2 but not C^3 at w*: the angle enters through sin t + (pi - t) cos t = pi - pi t^2/2 + t^3/3 + ...,
    and t ~ |perpendicular displacement| / |w*|, so the second difference carries an O(h) error
    (about h / (3 pi k |w*|) ~ 1e-5 at h = 1e-4); rounding adds ~ 1e-16 / h^2 = 1e-8. Hence ``atol = 2e-4``, far
    below any plausible mistake (e.g. 1/k^2 instead of 1/k differs by >= 0.09 for k <= 10, k >= 2).
    """
    rng = np.random.default_rng(seed)
    evaluate = loss_at_vectors(loss_expr())
    f_perp = sp.lambdify(k, lam_perp_candidate, "numpy")
    f_par = sp.lambdify(k, lam_par_candidate, "numpy")
    ok, rows = True, []
    for k_val in k_values:
        w_star = rng.standard_normal(dim) * rng.uniform(0.7, 1.5)
        hess = _fd_hessian(evaluate, w_star.copy(), w_star, k_val, h)
        p = np.outer(w_star, w_star) / float(w_star @ w_star)
        predicted = float(f_perp(k_val)) * (np.eye(dim) - p) + float(f_par(k_val)) * p
        err = float(np.max(np.abs(hess - predicted)))
        eig = np.linalg.eigvalsh(hess)
        ok &= err <= atol
        rows.append(f"k={k_val}: max entry error {err:.2e}, FD eigenvalues {np.array2string(eig, precision=5)}")
    return Check("finite-difference", f"Hessian at w* vs central second differences (d={dim}, h={h})", ok,
                 f"atol {atol}; " + "; ".join(rows))


# ----------------------------------------------------------------------------------------------------------------
# The record.
# ----------------------------------------------------------------------------------------------------------------

_LATEX = r"""
**Global minimum.** $l(w) = \mathbb E[(f(Z;w)-f(Z;w^*))^2]\ge 0$ and $l(w^*)=0$, so $w^*$ is a global minimum;
the gradient there is $(q-s)w^* = 0$.

**Origin.** $l(0) = \frac{1}{k^2}\big[\frac k2 + \frac{k^2-k}{2\pi}\big]|w^*|^2$. For a unit vector $v$ at angle $t$
to $w^*$ (the angle of $\varepsilon v$ does not depend on $\varepsilon$),
$$ l(\varepsilon v) - l(0) = -\frac{|w^*|}{\pi k^2}\big[k\,h(t) + k^2 - k\big]\varepsilon + O(\varepsilon^2),
 \qquad h(t) = \sin t + (\pi - t)\cos t. $$
Since $h(\pi) = 0$ and $h'(t) = -(\pi - t)\sin t \le 0$, $h\ge0$ on $[0,\pi]$; for $k\ge2$ the bracket is at least
$k^2-k>0$, so $0$ is a strict local maximum (where $l$ is not differentiable). For $k=1$ the coefficient vanishes
at $t=\pi$ and the argument gives no strict maximum.

**Saddle.** At $t=\pi$, $s = 0$ and $\nabla l = q\,w$; $q=0$ on $w=-c\,w^*$ gives
$$ c = \frac{k^2-k}{k^2+(\pi-1)k}. $$
Along the ray $\partial^2_{|w|} l = (k + (k^2-k)/\pi)/k^2 > 0$; rotating toward $w^*$ at fixed $|w| = c|w^*|$
($t = \pi - \varepsilon$) gives $l - l_{\rm saddle} = -\frac{c|w^*|^2}{3\pi k}\varepsilon^3 + O(\varepsilon^4) < 0$:
a saddle for $k \ge 2$ (degenerate across the ray: the decrease is cubic in the angle).

**Hessian at $w^*$.** With $w^* = |w^*|e_1$ (rotation invariance) and $w = w^* + \varepsilon v$ in $d=3$,
SymPy expands $l$ to second order, $l = \frac{\varepsilon^2}{2} v^\top H v + O(\varepsilon^3)$, and
$$ H = \mathrm{diag}\Big(\frac{k + (k^2-k)/\pi}{k^2},\ \frac1k,\ \frac1k\Big):\quad
 \lambda_\perp = \frac1k\ (d-1\text{ times}),\qquad \lambda_\parallel = \frac{k+(k^2-k)/\pi}{k^2}. $$
"""


def derive_critical_points() -> Derivation:
    """Derive and verify the critical points of l: global minimum, local maximum at 0, saddle, Hessian at w*.

    Returns
    -------
    Derivation
        Named ``"critical_points"``.

    Notes
    -----
    .. math:: c = \\frac{k^2-k}{k^2+(\\pi-1)k},\\qquad \\lambda_\\perp = \\frac1k,\\qquad
              \\lambda_\\parallel = \\frac{k + (k^2-k)/\\pi}{k^2}.
    """
    loss = loss_expr()
    origin = _origin_steps()
    saddle = _saddle_steps()
    hess = _hessian_steps()
    lam_perp, lam_par = hess["lam_perp"], hess["lam_par"]
    q, s = gradient_coefficients()
    c = saddle["saddle_scale"]
    h = origin["h"]
    checks = (
        verify_global_minimum(loss),
        verify_symbolic_zero((q - s).subs({nw: ns, theta: 0}), "gradient at w*: q - s = 0 at |w| = |w*|, t = 0"),
        verify_h_nonnegative(),
        verify_symbolic_zero(origin["leading_coefficient"] + ns * (k * h + k**2 - k) / (sp.pi * k**2),
                             "leading O(eps) coefficient of l(eps v) - l(0) equals -|w*|(k h(t) + k^2 - k)/(pi k^2)"),
        verify_origin_local_max(loss),
        verify_symbolic_zero(c - (k**2 - k) / (k**2 + (sp.pi - 1) * k),
                             "solved saddle scale equals (k^2-k)/(k^2+(pi-1)k)"),
        verify_symbolic_zero(saddle["s_at_pi"], "s = 0 at t = pi, so grad l = q w on the ray opposite w*"),
        verify_symbolic_zero(saddle["curvature_along_ray"] - (k + (k**2 - k) / sp.pi) / k**2,
                             "curvature along the ray at t = pi is (k + (k^2-k)/pi)/k^2 > 0"),
        verify_symbolic_zero(saddle["rotation_series"] + c * ns**2 * _eps**3 / (3 * sp.pi * k),
                             "rotating toward w* by eps: l - l_saddle = -c|w*|^2 eps^3/(3 pi k) + O(eps^4)"),
        verify_saddle(c),
        verify_symbolic_zero(hess["order0"] + hess["order1"], "l(w* + eps v) has no O(1) or O(eps) term"),
        verify_symbolic_zero(lam_perp - 1 / k, "Hessian eigenvalue orthogonal to w* is 1/k"),
        verify_symbolic_zero(lam_par - (k + (k**2 - k) / sp.pi) / k**2,
                             "Hessian eigenvalue along w* is (k + (k^2-k)/pi)/k^2"),
        Check("symbolic", "Hessian (d=3) is diagonal with eigenvalues {lambda_par: 1, lambda_perp: 2}",
              hess["hessian"].is_diagonal() and hess["eigenvalues"].get(sp.simplify(lam_perp)) == 2,
              f"H = {hess['hessian'].tolist()}, eigenvalues {hess['eigenvalues']}"),
        verify_hessian_finite_difference(lam_perp, lam_par),
    )
    statement = {
        "loss_at_origin": origin["loss_at_origin"],
        "origin_leading_coefficient": origin["leading_coefficient"],
        "saddle_scale": c,
        "curvature_along_ray_at_saddle": saddle["curvature_along_ray"],
        "rotation_series_at_saddle": saddle["rotation_series"],
        "hessian_eigenvalue_perp": lam_perp,
        "hessian_eigenvalue_par": lam_par,
    }
    return Derivation(
        name="critical_points",
        title="Critical points: global minimum, local maximum at 0, saddle, Hessian at w*",
        statement=statement,
        checks=checks,
        latex=_LATEX,
        conventions=(LOSS_CONVENTION, "t = angle(w, w*) in [0, pi]", "origin claim for k >= 2; saddle at w = -c w*"),
    )
