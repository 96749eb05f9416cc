r"""Exact trade-off fronts of the loss against a sparsity penalty (theory page, "Exact trade-off fronts").

Everything is derived from :func:`theory.loss.loss_expr` and :func:`theory.loss.gradient_coefficients`
(``grad l = q w - s w*``, loss without a factor 1/2).

- **l1 path.** ``q = c0 - b(t)/|w|`` with ``c0 = (k + (k^2 - k)/pi)/k^2`` and ``b = (k sin t + k^2 - k)|w*|/(pi k^2)``
  (affine in ``1/|w|``). On a support with ``q > 0`` stationarity of ``l + lam |w|_1`` gives
  ``w = (s/q) soft(w*, kappa)``, ``kappa = lam/s``; with ``v = soft(w*, kappa)`` the consistency ``|w| = (s/q)|v|``
  is linear in ``|w|``: ``|w| = (s |v| + b)/c0``, and then ``q = c0 s|v|/(s|v| + b) > 0``, ``lam = kappa s``. At
  ``kappa -> max|w*_i|`` (``|v| -> 0``) ``q -> 0`` and the path ends at ``|w| = b/c0``; below it the segment
  ``w = m u`` (``u`` the unit sign vector on the ``T`` largest coordinates) has ``q < 0`` and
  ``lam = s max|w*_i| + (b - c0 m)/sqrt(T)``.
- **Envelope.** Along any smooth path of critical points ``dl/dP = -lam``, so the front is convex where ``lam``
  increases towards sparser points and concave where it decreases: a fold of ``lam`` is a nonconvex stretch.
- **l0 staircase.** ``dl/dt = |w||w*| (pi - t) sin t/(pi k) >= 0`` at fixed norms: the best support of size ``m``
  holds the ``m`` largest ``|w*_i|`` (smallest angle, ``cos t = |w*_S|/|w*|``), and ``l`` is a convex quadratic
  in ``|w|`` with minimizer ``|w*| (k h(t) + k^2 - k)/(k pi + k^2 - k)``, ``h(t) = sin t + (pi - t) cos t``.

Public API: ``l1_path_exprs()``, ``l0_scale_expr()``; the ``verify_*`` functions take candidates;
``derive_l1_front()`` (record ``"front_l1"``) and ``derive_l0_front()`` (record ``"front_l0"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy.optimize import minimize

from .loss import LOSS_CONVENTION, gradient_coefficients, loss_at_vectors, loss_expr
from .record import Check, Derivation
from .symbols import k, lam, ns, nw, theta
from .verify import verify_symbolic_zero

kappa = sp.Symbol("kappa", nonnegative=True)
s_sym = sp.Symbol("s", positive=True)
b_sym = sp.Symbol("b", positive=True)
nv = sp.Symbol("n_v", positive=True)  # |soft(w*, kappa)|
a_i = sp.Symbol("a_i", positive=True)  # |w*_i| of a kept coordinate
m_sym = sp.Symbol("m", positive=True)
t_sym = sp.Symbol("T", positive=True, integer=True)
a_max = sp.Symbol("a_max", positive=True)

CONVENTIONS = (LOSS_CONVENTION, "fronts: non-dominated points of (sum_i P(w_i), l(w)); lam >= 0 the multiplier")


def c0_expr() -> sp.Expr:
    """``c0 = (k + (k^2 - k)/pi)/k^2``, the limit of ``q`` as ``|w| -> inf``."""
    return (k + (k**2 - k) / sp.pi) / k**2


def b_expr() -> sp.Expr:
    """``b(t) = (k sin t + k^2 - k)|w*|/(pi k^2)`` with ``q = c0 - b/|w|``."""
    return (k * sp.sin(theta) + k**2 - k) * ns / (sp.pi * k**2)


@lru_cache(maxsize=1)
def l1_path_exprs() -> dict[str, sp.Expr]:
    """The closed-form l1 path, solved from the consistency ``|w| = (s/q)|v|`` with ``q = c0 - b/|w|``.

    Returns
    -------
    dict
        ``norm`` (``|w|`` in ``s``, ``b``, ``n_v``, ``k``), ``q`` on the path, ``lam`` (``kappa s``), ``segment_lam``
        (``lam`` on the segment ``w = m u`` near the origin, in ``s``, ``b``, ``a_max``, ``m``, ``T``).
    """
    c0 = c0_expr()
    q_of_n = c0 - b_sym / nw
    norm = sp.solve(sp.Eq(nw * q_of_n, s_sym * nv), nw)
    assert len(norm) == 1
    n_path = sp.simplify(norm[0])
    q_path = sp.simplify(q_of_n.subs(nw, n_path))
    # segment: one tied coordinate's stationarity q m/sqrt(T) - s a_max + lam = 0 with q = c0 - b/m
    seg = sp.solve(sp.Eq((c0 - b_sym / m_sym) * m_sym / sp.sqrt(t_sym) - s_sym * a_max + lam, 0), lam)[0]
    return {"norm": n_path, "q": q_path, "lam": kappa * s_sym, "segment_lam": sp.simplify(seg)}


@lru_cache(maxsize=1)
def l0_scale_expr() -> sp.Expr:
    """The minimizer over ``|w|`` of ``l`` at a fixed angle: ``|w*| (k h(t) + k^2 - k)/(k pi + k^2 - k)``."""
    sol = sp.solve(sp.diff(loss_expr(), nw), nw)
    assert len(sol) == 1
    return sp.simplify(sol[0])


# ----------------------------------------------------------------------------------------------------------------
# Verifications (each takes the candidate)
# ----------------------------------------------------------------------------------------------------------------
def verify_q_affine(b_candidate: sp.Expr) -> Check:
    """``q`` of :func:`theory.loss.gradient_coefficients` equals ``c0 - b/|w|`` with the candidate ``b``."""
    q, _ = gradient_coefficients()
    return verify_symbolic_zero(q - (c0_expr() - b_candidate / nw), "q = c0 - b(t)/|w| (affine in 1/|w|)")


def verify_l1_norm(norm_candidate: sp.Expr) -> Check:
    """The candidate ``|w|`` on the path satisfies ``|w| q(|w|) = s |v|`` (so ``(s/q) v`` has norm ``|w|``)."""
    q_at = c0_expr() - b_sym / norm_candidate
    return verify_symbolic_zero(norm_candidate * q_at - s_sym * nv, "|w| (c0 - b/|w|) - s |v| = 0 on the l1 path")


def verify_l1_kept_stationarity(lam_candidate: sp.Expr) -> Check:
    """A kept coordinate ``w_i = (s/q)(a_i - kappa)`` makes ``q w_i - s a_i + lam = 0`` with the candidate ``lam``."""
    q = sp.Symbol("q", positive=True)
    return verify_symbolic_zero(q * (s_sym / q) * (a_i - kappa) - s_sym * a_i + lam_candidate,
                                "q (s/q)(|w*_i| - kappa) - s |w*_i| + lam(kappa) = 0")


def verify_segment_lam(lam_candidate: sp.Expr) -> Check:
    """On ``w = m u`` with ``q = c0 - b/m`` each of the ``T`` tied coordinates is stationary with the candidate."""
    expr = (c0_expr() - b_sym / m_sym) * m_sym / sp.sqrt(t_sym) - s_sym * a_max + lam_candidate
    return verify_symbolic_zero(expr, "q m/sqrt(T) - s max|w*_i| + lam = 0 on the segment near the origin",
                                numeric_points=[{k: 3, b_sym: 0.4, m_sym: 0.7, t_sym: 2, s_sym: 0.3, a_max: 1.1}])


def _path_point(w_star: np.ndarray, k_val: int, kap: float, norm_fn: Callable, lam_fn: Callable
                ) -> tuple[np.ndarray, float]:
    v = np.sign(w_star) * np.maximum(np.abs(w_star) - kap, 0.0)
    unit = w_star / np.linalg.norm(w_star)
    t = float(np.arctan2(np.linalg.norm(v - (v @ unit) * unit), v @ unit))
    s = (np.pi - t) / (k_val * np.pi)
    b = (k_val * np.sin(t) + k_val**2 - k_val) * np.linalg.norm(w_star) / (np.pi * k_val**2)
    n = float(norm_fn(s, b, np.linalg.norm(v), k_val))
    return n * v / np.linalg.norm(v), float(lam_fn(kap, s))


def verify_l1_path_stationary(norm_candidate: sp.Expr, lam_candidate: sp.Expr, *, n_cases: int = 12,
                              seed: int = 0) -> Check:
    """Independent: the path point built from the candidates is a KKT point of ``l + lam |w|_1``, with the gradient
    taken by central finite differences of the lambdified derived loss (step 1e-6, error ~1e-9)."""
    norm_fn = sp.lambdify((s_sym, b_sym, nv, k), norm_candidate, "numpy")
    lam_fn = sp.lambdify((kappa, s_sym), lam_candidate, "numpy")
    loss = loss_at_vectors(loss_expr())
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(n_cases):
        d = int(rng.integers(2, 6))
        k_val = int(rng.integers(2, 12))
        w_star = rng.uniform(0.2, 1.5, d) * rng.choice([-1.0, 1.0], d)
        kap = float(rng.uniform(0.0, 0.95) * np.abs(w_star).max())
        w, lv = _path_point(w_star, k_val, kap, norm_fn, lam_fn)
        h = 1e-6
        g = np.array([(loss(w + h * e, w_star, k_val) - loss(w - h * e, w_star, k_val)) / (2 * h)
                      for e in np.eye(d)])
        on = w != 0
        r = np.concatenate([np.abs(g[on] + lv * np.sign(w[on])), np.maximum(np.abs(g[~on]) - lv, 0.0)])
        worst = max(worst, float(np.max(r))) if np.all(np.isfinite(r)) else np.inf
    ok = bool(np.isfinite(worst) and worst < 1e-7)
    return Check("finite-difference", "l1 path points are KKT points of l + lam |w|_1 (gradient by central "
                 "differences of the derived loss)", ok, f"{n_cases} random (w*, k, kappa); worst residual "
                 f"{worst:.2e} (allowed 1e-7: step 1e-6, O(h^2) truncation and O(eps/h) rounding)")


def verify_envelope(norm_candidate: sp.Expr, lam_candidate: sp.Expr, *, seed: int = 1) -> Check:
    """Independent: along the path ``dl/d|w|_1 = -lam`` (finite differences in ``kappa``), so a fold of ``lam`` is a
    nonconvex stretch of the front."""
    norm_fn = sp.lambdify((s_sym, b_sym, nv, k), norm_candidate, "numpy")
    lam_fn = sp.lambdify((kappa, s_sym), lam_candidate, "numpy")
    loss = loss_at_vectors(loss_expr())
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(10):
        d = int(rng.integers(2, 6))
        k_val = int(rng.integers(2, 12))
        w_star = rng.uniform(0.2, 1.5, d)
        kap = float(rng.uniform(0.05, 0.9) * np.sort(w_star)[0])  # below every breakpoint: one smooth piece
        h = 1e-5
        (wp, _), (wm, _) = (_path_point(w_star, k_val, kap + h, norm_fn, lam_fn),
                            _path_point(w_star, k_val, kap - h, norm_fn, lam_fn))
        _, lv = _path_point(w_star, k_val, kap, norm_fn, lam_fn)
        slope = (loss(wp, w_star, k_val) - loss(wm, w_star, k_val)) / (np.abs(wp).sum() - np.abs(wm).sum())
        err = abs(slope + lv)
        worst = max(worst, err) if np.isfinite(err) else np.inf
    ok = bool(np.isfinite(worst) and worst < 1e-6)
    return Check("finite-difference", "envelope dl/dP = -lam along the l1 path", ok,
                 f"10 random cases; worst |dl/dP + lam| = {worst:.2e} (allowed 1e-6 for steps 1e-5)")


def verify_loss_increases_with_angle() -> Check:
    """``dl/dt = |w||w*|(pi - t) sin t/(pi k)`` (symbolic), which is ``>= 0`` on ``[0, pi]``."""
    return verify_symbolic_zero(sp.diff(loss_expr(), theta) - nw * ns * (sp.pi - theta) * sp.sin(theta) / (sp.pi * k),
                                "dl/dt - |w||w*|(pi - t) sin t/(pi k) = 0 (l grows with the angle at fixed norms)")


def verify_l0_scale(scale_candidate: sp.Expr) -> Check:
    """The candidate optimal norm at a fixed angle zeroes ``dl/d|w|`` (``l`` is convex in ``|w|``: ``d2l = c0``)."""
    return verify_symbolic_zero(sp.diff(loss_expr(), nw).subs(nw, scale_candidate),
                                "dl/d|w| = 0 at the candidate scale")


def _staircase_values(w_star: np.ndarray, k_val: int, scale_fn: Callable) -> np.ndarray:
    loss = loss_at_vectors(loss_expr())
    d = w_star.size
    order = np.argsort(-np.abs(w_star), kind="stable")
    out = [loss(np.zeros(d), w_star, k_val)]
    for m in range(1, d + 1):
        ws = np.zeros(d)
        ws[order[:m]] = w_star[order[:m]]
        t = float(np.arctan2(np.linalg.norm(w_star - ws), np.linalg.norm(ws)))
        n = float(scale_fn(np.linalg.norm(w_star), t, k_val))
        out.append(loss(n * ws / np.linalg.norm(ws), w_star, k_val))
    return np.array(out)


def verify_l0_brute_force(scale_candidate: sp.Expr, *, n_cases: int = 2, d_max: int = 5, seed: int = 2) -> Check:
    """Independent: the staircase (top-``m`` support, candidate scale) equals the minimum over **all** supports of
    size ``m`` of ``l`` minimized by Nelder-Mead from several starts (``d <= d_max``)."""
    scale_fn = sp.lambdify((ns, theta, k), scale_candidate, "numpy")
    loss = loss_at_vectors(loss_expr())
    rng = np.random.default_rng(seed)
    worst, worst_below = 0.0, 0.0
    for _ in range(n_cases):
        d = int(rng.integers(3, d_max + 1))
        k_val = int(rng.integers(1, 10))
        w_star = rng.uniform(-1.5, 1.5, d)
        stair = _staircase_values(w_star, k_val, scale_fn)
        brute = np.full(d + 1, np.inf)
        brute[0] = loss(np.zeros(d), w_star, k_val)
        for m in range(1, d + 1):
            for sup in itertools.combinations(range(d), m):
                idx = list(sup)

                def f(x: np.ndarray, idx: list = idx, d: int = d, w_star: np.ndarray = w_star, k_val: int = k_val
                      ) -> float:
                    w = np.zeros(d)
                    w[idx] = x
                    return loss(w, w_star, k_val)

                for x0 in (w_star[idx], 0.5 * rng.standard_normal(m)):
                    res = minimize(f, x0, method="Nelder-Mead",
                                   options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 3000})
                    brute[m] = min(brute[m], res.fun)
        diff = stair - brute
        if not np.all(np.isfinite(diff)):
            worst = np.inf
            break
        worst = max(worst, float(np.max(diff)))  # staircase above the brute force: wrong
        worst_below = max(worst_below, float(np.max(-diff)))  # far below: brute force failed or staircase infeasible
    ok = bool(np.isfinite(worst) and worst < 1e-9 and worst_below < 1e-6)
    return Check("brute-force", "l0 staircase equals the minimum over all supports (Nelder-Mead per support)", ok,
                 f"{n_cases} teachers, d <= {d_max}: staircase - brute force max {worst:.2e} (allowed 1e-9), "
                 f"min {-worst_below:.2e}")


# ----------------------------------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------------------------------
def derive_l1_front() -> Derivation:
    """Derive and verify the closed-form l1 regularization path and its segment near the origin.

    Returns
    -------
    Derivation
        Named ``"front_l1"``.

    Notes
    -----
    .. math:: |w| = \\frac{s|v| + b}{c_0},\\quad q = \\frac{c_0 s|v|}{s|v| + b},\\quad \\lambda = \\kappa s,
              \\quad v = \\mathrm{soft}(w^*, \\kappa);\\qquad
              \\lambda_{seg} = s\\max_i|w^*_i| + \\frac{b - c_0 m}{\\sqrt T}.
    """
    ex = l1_path_exprs()
    b = b_expr()
    checks = (
        verify_q_affine(b),
        verify_l1_norm(ex["norm"]),
        verify_symbolic_zero(ex["q"] - c0_expr() * s_sym * nv / (s_sym * nv + b_sym),
                             "q on the path = c0 s|v|/(s|v| + b) > 0"),
        verify_l1_kept_stationarity(ex["lam"]),
        verify_segment_lam(ex["segment_lam"]),
        verify_l1_path_stationary(ex["norm"], ex["lam"]),
        verify_envelope(ex["norm"], ex["lam"]),
    )
    latex = (
        "With $\\nabla l = q w - s w^*$ and $q = c_0 - b(t)/|w|$, $c_0 = (k + (k^2-k)/\\pi)/k^2$, "
        "$b = (k\\sin t + k^2 - k)|w^*|/(\\pi k^2)$, stationarity of $l + \\lambda|w|_1$ on a support with $q > 0$ "
        "gives $w = (s/q)\\,\\mathrm{soft}(w^*, \\kappa)$, $\\kappa = \\lambda/s$. The direction and the angle depend "
        "on $\\kappa$ only, and $|w|\\,q(|w|) = s|v|$ is linear in $|w|$:\n"
        f"$$|w| = {sp.latex(ex['norm'])},\\qquad q = {sp.latex(ex['q'])},\\qquad \\lambda = \\kappa s.$$\n"
        "At $\\kappa \\to \\max|w^*_i|$, $q \\to 0$ and $|w| \\to b/c_0$; closer to the origin the critical set is "
        f"$w = m u$ with $q < 0$ and $\\lambda = {sp.latex(ex['segment_lam'])}$ ($T$ tied largest coordinates). "
        "Along the path $dl/dP = -\\lambda$: where $\\lambda(\\kappa)$ folds the front is nonconvex."
    )
    return Derivation(name="front_l1", title="Exact l1 front: the closed-form regularization path",
                      statement={"c0": c0_expr(), "b": b, **ex}, checks=checks, latex=latex,
                      conventions=CONVENTIONS)


def derive_l0_front() -> Derivation:
    """Derive and verify the exact l0 front: a staircase over the top-``m`` supports with an explicit scale.

    Returns
    -------
    Derivation
        Named ``"front_l0"``.

    Notes
    -----
    .. math:: |w|_m = |w^*|\\frac{k h(t_m) + k^2 - k}{k\\pi + k^2 - k},\\quad h(t) = \\sin t + (\\pi - t)\\cos t,
              \\quad \\cos t_m = |w^*_{S_m}|/|w^*|.
    """
    scale = l0_scale_expr()
    h = sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)
    checks = (
        verify_loss_increases_with_angle(),
        verify_symbolic_zero(sp.diff(loss_expr(), nw, 2) - c0_expr(), "d2l/d|w|^2 = c0 > 0 (convex in |w|)"),
        verify_l0_scale(scale),
        verify_symbolic_zero(scale - ns * (k * h + k**2 - k) / (k * sp.pi + k**2 - k),
                             "scale = |w*| (k h(t) + k^2 - k)/(k pi + k^2 - k)"),
        verify_l0_brute_force(scale),
    )
    latex = (
        "At fixed norms $\\partial l/\\partial t = |w||w^*|(\\pi - t)\\sin t/(\\pi k) \\ge 0$, so on a support $S$ the "
        "best direction is the projection $w^*_S$ and among supports of size $m$ the top-$m$ $|w^*_i|$ "
        "(largest $|w^*_S|$, smallest angle). At that angle $l$ is a convex quadratic in $|w|$ with minimizer\n"
        f"$$|w|_m = {sp.latex(scale)}.$$\nThe front is the staircase of these $d + 1$ points."
    )
    return Derivation(name="front_l0", title="Exact l0 front: the staircase over top-m supports",
                      statement={"scale": scale, "h": h}, checks=checks, latex=latex, conventions=CONVENTIONS)
