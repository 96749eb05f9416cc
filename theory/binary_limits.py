"""Fixed points of the split iteration with the expected coarse gradient (theory page section 6).

Iteration (``g`` the expected coarse gradient of :mod:`theory.binary`, ``g(w) = c (w_hat - e)``, ``e = w*/|w*|``):

    w <- w - eta (g(w) + beta (w - u));   [normalize=True: w <- w/|w|];   u <- prox_{(lam/beta) P}(w).

The normalization goes right after each w-update and BEFORE the u-update (so u = prox(w) of the unit w); this is the
numerics convention ``normalize=True``: "after each w-update, w <- w/|w|".

Without normalization (derived here, checked by iterating):
* ``<g(w), w> = c |w| (1 - cos t) >= 0``: the coarse step never pushes |w| outward to first order.
* l1 and TL1 (lam > 0): there is NO fixed point with w != 0. Writing v = w/|w|, every coordinate of a fixed point
  has ``|v_i| < |e_i|`` (or v_i = e_i = 0), so |v| < |e| = 1, a contradiction.
* l0: the penalty does not act on kept coordinates, and the fixed points with w != 0 are exactly the ray
  ``w = n e`` with ``n min_{e_i != 0} |e_i| > sqrt(2 lam/beta)`` (then u = w): THE COLLAPSE CLAIM FAILS FOR l0 from
  starts near that ray.
* In discrete time the iterates do not reach 0 either: in the region where u = 0 the map
  ``w -> (1 - eta beta) w - eta c (w_hat - e)`` has the period-2 orbit
  ``|w| = eta c/(2 - eta beta)``, ``cos t = 1 - eta beta/2`` (mirror images about e; rotating the plane about e
  gives a (d-2)-sphere of such orbits). Its in-plane monodromy has ``det = (1 - eta beta)^2`` and satisfies the
  Jury conditions for ``0 < eta beta < 1``: it attracts (neutral only along the family).
* The ray ``{n e, n > 0}`` is invariant there, ``F(n e) = (1 - eta beta) n e``, so ON it ``|w| -> 0``; but its
  perpendicular multiplier ``1 - eta beta - eta c/n`` is below -1 for ``n < eta c/(2 - eta beta)``: it repels, and
  only iterates that land exactly on it collapse (the start on it, or ``|w| = eta c/(1 - eta beta)`` where
  ``F(w) = eta c e``; in floating point also an l1 kept phase, which contracts the perpendicular part by
  ``1 - eta c/|w|`` per step, can round it to exactly 0 when the nonzero ``|e_i|`` are equal; on the ray the
  floating-point n then stalls at the rounding floor ~ eps c/beta, where a rounded sign flip of n makes the next
  step jump to ~2 eta c e and the decay start again).
  So from every other start "u collapses to 0" holds when the orbit's radius is below the prox threshold, and
  "|w| -> 0" holds only up to O(eta c).

With normalization, at a fixed point ``w - eta(c(w - e) + beta(w - u)) = nu w`` (nu > 0, |w| = 1). With
``kappa = (1 - nu)/eta`` this is ``(c - kappa + beta) w = c e + beta u``: the ReLU-case stationarity equation of
:mod:`theory.fixed_points` with ``s = c``, ``q = c - kappa`` and ``w* -> e``, closed by |w| = 1 instead of the
two-parameter map. Hence with ``r' = c/q``:
* l1: ``u_bar = soft(r' e, mu_bar) = r' soft(e, tau)``, ``tau = mu_bar/r' = lam/c + lam/(beta r')`` (THEORY s.6's
  formula holds, with our c);
* l0: kept ``u_i = w_i = r' e_i`` iff ``r'|e_i| > gamma = sqrt(2 lam/beta)``, zeroed iff
  ``r'|e_i| <= gamma (1 + beta/q)`` (band); if every e_i != 0 is kept then r' = 1 and u_bar = e exactly;
* TL1: kept ``u + mu_bar rho_a'(u) = r' e_i``; zeroed as for l0;
* ``q <= c`` (r' >= 1) because ``q|w_i| <= c|e_i|`` coordinatewise, so ``tau <= lam (1/c + 1/beta)``;
* error estimates (l1): ``|u_bar/r' - e|_inf = min(tau, max|e_i|) <= tau``,
  ``|u_bar/r' - e|_2 = (sum_i min(|e_i|, tau)^2)^(1/2) <= tau sqrt(|supp e|)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import optimize

from . import fixed_points as fp
from .binary import coarse_constant
from .record import Check, Derivation
from .verify import verify_symbolic_zero

PENALTIES = ("l1", "l0", "tl1")
NORMALIZATION = ("normalize=True: after each w-update w <- w/|w|, then u <- prox(w) of the unit w "
                 "(the numerics convention); the limit does not depend on eta")
TARGET = "w* enters only through e = w*/|w*| (the binarized network is scale invariant)"

# Symbols: one coordinate e_i of e = w*/|w*|, its modulus x; the coarse constant c; kappa the sphere multiplier.
c_sym = sp.Symbol("c", positive=True)
kappa = sp.Symbol("kappa", real=True)
nu = sp.Symbol("nu", positive=True)
e_i = sp.Symbol("e_i", real=True)
x = sp.Symbol("x", positive=True)
n_sym = sp.Symbol("n", positive=True)
rho = sp.Symbol("rho", positive=True)
_lam_p = sp.Symbol("lambda", positive=True)


# ---------------------------------------------------------------------------------------------------------------
# Symbolic derivations.
@lru_cache(maxsize=1)
def _normalized_steps() -> dict[str, sp.Expr]:
    w_i, u_i, lam, beta, eta, q = fp.w_i, fp.u_i, fp.lam, fp.beta, fp.eta, fp.q
    # Fixed point of the normalized update: the pre-normalization vector is nu w (nu > 0), w unit, w_hat = w.
    pre = w_i - eta * (c_sym * (w_i - e_i) + beta * (w_i - u_i))
    (w_sol,) = sp.solve(sp.Eq(pre, nu * w_i), w_i)
    w_sol = sp.simplify(w_sol.subs(nu, 1 - eta * kappa))
    # The ReLU-case fixed point (q + beta) w = s w* + beta u at s = c, q = c - kappa, w* -> e.
    relu_form = fp.fixed_point_equations_exprs()["w_bar"].subs({fp.s: c_sym, fp.w_star_i: e_i}).subs(
        q, c_sym - kappa)
    l1 = fp.limit_map_l1_exprs()
    sub = {fp.s: c_sym, fp.w_star_i: e_i}
    r_p = c_sym / q
    tau = lam / c_sym + lam / (beta * r_p)
    u_kept = l1["u_kept"].subs(sub)
    mu_bar = l1["mu_bar"]
    l0 = fp.limit_map_l0_exprs()
    tl1 = fp.limit_map_tl1_exprs()
    return {"w_fixed": w_sol, "relu_form": relu_form, "r_prime": r_p, "tau": tau, "u_kept_l1": u_kept,
            "mu_bar": mu_bar, "w_kept_l1": l1["w_kept"].subs(sub), "w_zeroed": l1["w_zeroed"].subs(sub),
            "l0_kept_edge": l0["kept_edge"], "l0_zeroed_edge": l0["zeroed_edge"], "gamma": l0["gamma"],
            "u_kept_l0": l0["u_kept"].subs(sub), "w_kept_l0": l0["w_kept"].subs(sub),
            "w_zeroed_l0": l0["w_zeroed"].subs(sub), "tl1_kept_equation": tl1["kept_equation"].subs(sub),
            "tl1_w_of_u": tl1["w_of_u"]}


def normalized_limit_exprs() -> dict[str, sp.Expr]:
    """The normalized fixed point as SymPy expressions (symbols of :mod:`theory.fixed_points` plus ``c_sym``,
    ``kappa``, ``e_i``): ``w_fixed``, ``r_prime`` (c/q), ``tau``, ``u_kept_l1``, ``mu_bar``, the branches
    ``w_kept_l1``, ``w_zeroed``, ``w_kept_l0``/``u_kept_l0``, ``w_zeroed_l0``, l0 edges, ``tl1_kept_equation`` and
    ``tl1_w_of_u`` (w of a kept TL1 coordinate as a function of its u).

    Notes
    -----
    .. math:: (c - \\kappa + \\beta)\\bar w = c\\,e + \\beta\\bar u,\\ |\\bar w| = 1;\\qquad
              \\bar u_{l1} = r'\\,\\mathrm{soft}(e, \\tau),\\ r' = \\frac{c}{q},\\ q = c - \\kappa,\\
              \\tau = \\frac{\\lambda}{c} + \\frac{\\lambda}{\\beta r'}.
    """
    return dict(_normalized_steps())


def two_cycle_exprs() -> dict[str, sp.Expr]:
    """Radius and cosine of the period-2 orbit of the unnormalized map in the region u = 0.

    Notes
    -----
    With ``e = e_1`` and ``w_1 = rho (cos t, sin t)``, ``F(w) = (1 - eta beta) w - eta c (w_hat - e)`` maps w_1 to
    its mirror image ``rho (cos t, -sin t)`` iff the second component gives ``(1 - eta beta) rho - eta c = -rho`` and
    the first ``rho cos t = -rho cos t + eta c``:

    .. math:: \\rho = \\frac{\\eta c}{2 - \\eta\\beta},\\qquad \\cos t = 1 - \\frac{\\eta\\beta}{2}.
    """
    eta, beta = fp.eta, fp.beta
    ct = sp.Symbol("C", real=True)
    sol = sp.solve([(1 - eta * beta) * rho - eta * c_sym + rho, rho * ct - (-rho * ct + eta * c_sym)], [rho, ct],
                   dict=True)[0]
    return {"radius": sp.simplify(sol[rho]), "cos_t": sp.simplify(sol[ct])}


@lru_cache(maxsize=1)
def _unnormalized_steps() -> dict[str, sp.Expr]:
    w_i, u_i, beta, eta, q = fp.w_i, fp.u_i, fp.beta, fp.eta, fp.q
    # Fixed point of w <- w - eta (c (w/n - e) + beta (w - u)) with n = |w| held as a symbol.
    pre = w_i - eta * (c_sym * (w_i / n_sym - e_i) + beta * (w_i - u_i))
    (w_sol,) = sp.solve(sp.Eq(pre, w_i), w_i)
    relu = fp.fixed_point_equations_exprs()["w_bar"].subs({fp.s: c_sym, fp.w_star_i: e_i})
    (q_un,) = sp.solve(sp.Eq(w_sol, relu), q)  # the q for which the two fixed-point equations coincide
    st = _normalized_steps()
    return {"w_fixed": sp.simplify(w_sol), "relu_form": relu.subs(q, q_un), "q": sp.simplify(q_un),
            "v_kept_l1": sp.simplify(st["w_kept_l1"].subs(q, q_un) / n_sym),
            "v_zeroed": sp.simplify(st["w_zeroed"].subs(q, q_un) / n_sym),
            "v_kept_l0": sp.simplify(st["w_kept_l0"].subs(q, q_un) / n_sym)}


def unnormalized_fixed_point_exprs() -> dict[str, sp.Expr]:
    """The unnormalized fixed point as the ReLU-case equation: ``q`` (= c/n, solved for), ``w_fixed``, ``relu_form``,
    and the unit vector's coordinates ``v_kept_l1``, ``v_zeroed``, ``v_kept_l0`` (``v = w/n``).

    Notes
    -----
    .. math:: c(w/n - e) + \\beta(w - u) = 0 \\iff (c/n + \\beta) w = c\\,e + \\beta u,\\qquad q = c/n;\\quad
              v_i = e_i - \\tfrac{\\lambda}{c}\\mathrm{sign}\\,e_i\\ (\\ell_1\\text{ kept}),\\
              v_i = \\frac{c\\,e_i}{c + \\beta n}\\ (\\text{zeroed}),\\ v_i = e_i\\ (\\ell_0\\text{ kept}).
    """
    return dict(_unnormalized_steps())


# ---------------------------------------------------------------------------------------------------------------
# NumPy: proxes, the iterations, the predictor.
def _prox(penalty: str, lam: float, beta: float, a: float | None) -> Callable[[np.ndarray], np.ndarray]:
    # Global minimizers (TL1 over all stationary points): independent of the derived limit map.
    return fp._prox_np(penalty, lam, beta, a)


def iterate_split(w_star: np.ndarray, k: int, penalty: str, lam: float, beta: float, eta: float, w0: np.ndarray, *,
                  normalize: bool, ste: str = "relu", a: float | None = None, max_iter: int = 20_000,
                  tol: float = 4e-16) -> tuple[np.ndarray, np.ndarray, int]:
    """The split iteration with the expected coarse gradient (plain NumPy), from ``w0``.

    Returns ``(w, u, iterations)``; stops when the w-step is below ``tol * max(1, |w|)`` (never for a 2-cycle).

    Notes
    -----
    ``w <- w - eta (c (w_hat - e) + beta (w - u))``; if ``normalize``: ``w <- w/|w|``; ``u <- prox(w)``.
    ``u^0 = prox(w^0)`` (w^0 normalized first when ``normalize``).
    """
    c = coarse_constant(k, ste)
    e = np.asarray(w_star, dtype=float) / np.linalg.norm(w_star)
    prox = _prox(penalty, lam, beta, a)
    w = np.array(w0, dtype=float)
    if normalize:
        w /= np.linalg.norm(w)
    u = prox(w)
    for it in range(1, max_iter + 1):
        w_new = w - eta * (c * (w / np.linalg.norm(w) - e) + beta * (w - u))
        if normalize:
            w_new /= np.linalg.norm(w_new)
        u = prox(w_new)
        step = float(np.linalg.norm(w_new - w))
        w = w_new
        if step <= tol * max(1.0, float(np.linalg.norm(w))):
            return w, u, it
    return w, u, max_iter


def _branches(e: np.ndarray, c: float, penalty: str, lam: float, beta: float, a: float | None):
    """q -> (w_kept_or_zeroed, u, kept_ok), (w_zeroed_pref, zeroed_ok): both branches per coordinate at (s=c, q)."""
    cmap = fp._coordinate_map(penalty, fp._candidate(penalty), float(lam), float(beta), a)
    ones, zeros = np.ones(e.shape, dtype=bool), np.zeros(e.shape, dtype=bool)

    def at(q: float):
        u_t, w_t, kept_t, _ = cmap(e, c, q, ones)
        u_f, w_f, kept_f, cons_f = cmap(e, c, q, zeros)
        zeroed_ok = ~kept_f & cons_f.astype(bool)
        return u_t, w_t, kept_t.astype(bool), u_f, w_f, zeroed_ok

    return at


def predicted_binary_limit(w_star: np.ndarray, k: int, penalty: str, lam: float, beta: float, *,
                           a: float | None = None, ste: str = "relu", prefer_kept: bool = True,
                           kept_mask: np.ndarray | None = None, n_grid: int = 80) -> dict:
    """Limit of the normalized split iteration with the expected coarse gradient, from the derived fixed point.

    Parameters
    ----------
    w_star : ndarray, shape (d,)
        Nonzero teacher; only ``e = w*/|w*|`` matters.
    k : int
        Number of patches, >= 1.
    penalty : {"l1", "l0", "tl1"}
    lam : float
        Penalty weight, >= 0.
    beta : float
        Splitting parameter, > 0.
    a : float, optional
        TL1 shape parameter, > 0 (required for ``"tl1"``).
    ste : {"relu", "identity"}
        Straight-through estimator (sets c).
    prefer_kept : bool
        Among the fixed points with nested supports (coordinates kept by decreasing |e_i|), return the one with the
        largest (True) or the smallest (False) support (they differ only inside a band, l0/TL1).
    kept_mask : ndarray of bool, optional
        Solve for exactly this support (e.g. the support an iteration reached) instead.
    n_grid : int
        Grid in q on (0, c] on which sign changes of |w(q)|^2 - 1 are located before Brent refinement.

    Returns
    -------
    dict
        ``u``, ``w`` (unit), ``c``, ``q``, ``r`` (= r' = c/q), ``kappa`` (= c - q), ``tau`` (= lam/c + lam/(beta r'),
        the l1 threshold on e), ``mu_bar``, ``kept``, ``consistent`` (a root with every branch self-consistent was
        found), ``residual`` (| |w| - 1 |), ``e``, ``candidates`` (number of consistent supports found).

    Notes
    -----
    Solves ``|W(q)| = 1`` for ``q in (0, c]`` (``q <= c`` is derived), ``W`` the coordinatewise limit map of
    :mod:`theory.fixed_points` at ``s = c`` applied to ``e``. l1: ``u = r' soft(e, tau)``.
    """
    w_star = np.asarray(w_star, dtype=float)
    if w_star.ndim != 1 or w_star.size == 0 or not np.all(np.isfinite(w_star)) or not np.any(w_star):
        raise ValueError("w_star must be a finite, nonzero 1-D array")
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be finite and > 0, got {beta!r}")
    if penalty == "tl1" and (a is None or not (np.isfinite(a) and a > 0)):
        raise ValueError(f"a must be finite and > 0 for the TL1 penalty, got {a!r}")
    c = coarse_constant(k, ste)  # validates k and ste
    e = w_star / np.linalg.norm(w_star)
    at = _branches(e, c, penalty, lam, beta, a)
    nz = np.flatnonzero(e)
    order = nz[np.argsort(-np.abs(e[nz]), kind="stable")]
    if kept_mask is not None:
        kept_mask = np.asarray(kept_mask, dtype=bool)
        if kept_mask.shape != e.shape:
            raise ValueError(f"kept_mask must have shape {e.shape}, got {kept_mask.shape}")
        masks = [kept_mask & (e != 0)]
    else:
        masks = []
        for m in range(len(order) + 1):
            mk = np.zeros(e.shape, dtype=bool)
            mk[order[:m]] = True
            masks.append(mk)

    def combine(q, mask):
        u_t, w_t, kept_ok, u_f, w_f, zeroed_ok = at(q)
        w = np.where(mask, w_t, w_f)
        u = np.where(mask, u_t, u_f)
        ok = bool(np.all(kept_ok[mask]) and np.all(zeroed_ok[~mask]))
        return w, u, ok

    # q <= c is derived, with equality when no coordinate is shrunk (l0 keeping every e_i != 0): the grid reaches
    # slightly past c so that a root at q = c is bracketed.
    qs = c * np.geomspace(1e-6, 1.01, n_grid)
    cache = [at(q) for q in qs]
    solutions = []
    for mask in masks:
        vals = np.array([np.sum(np.where(mask, b[1], b[4]) ** 2) - 1.0 for b in cache])
        vals = np.where(np.isfinite(vals), vals, np.inf)
        ch = np.flatnonzero(np.signbit(vals[:-1]) != np.signbit(vals[1:]))
        for j in ch:
            try:
                q_root = optimize.brentq(lambda qq, mask=mask: float(np.sum(combine(qq, mask)[0] ** 2) - 1.0),
                                         qs[j], qs[j + 1], xtol=1e-300, rtol=1e-15, maxiter=300)
            except ValueError:
                continue
            w, u, ok = combine(q_root, mask)
            if ok and abs(np.linalg.norm(w) - 1.0) < 1e-9:
                solutions.append((int(mask.sum()), q_root, w, u, mask))
    if not solutions:
        nanv = np.full(e.shape, np.nan)
        return {"u": nanv, "w": nanv, "c": c, "q": np.nan, "r": np.nan, "kappa": np.nan, "tau": np.nan,
                "mu_bar": np.nan, "kept": np.zeros(e.shape, dtype=bool), "consistent": False, "residual": np.inf,
                "e": e, "candidates": 0}
    solutions.sort(key=lambda s_: s_[0])
    _, q_, w, u, mask = solutions[-1] if prefer_kept else solutions[0]
    r_p = c / q_
    return {"u": u, "w": w, "c": c, "q": q_, "r": r_p, "kappa": c - q_, "tau": lam / c + lam / (beta * r_p),
            "mu_bar": lam * (1 / beta + 1 / q_), "kept": mask & (u != 0), "consistent": True,
            "residual": abs(float(np.linalg.norm(w)) - 1.0), "e": e, "candidates": len(solutions)}


def measured_r_prime(w: np.ndarray, u: np.ndarray, w_star: np.ndarray, k: int, beta: float,
                     ste: str = "relu") -> float:
    """r' = c/q read off a (normalized) limit: kappa = <c(w - e) + beta(w - u), w>, q = c - kappa.

    Independent of the predictor: uses only the limit and the fixed-point relation
    ``c(w - e) + beta(w - u) = kappa w`` (|w| = 1).
    """
    c = coarse_constant(k, ste)
    e = np.asarray(w_star, dtype=float) / np.linalg.norm(w_star)
    w = np.asarray(w, dtype=float)
    kap = float((c * (w - e) + beta * (w - np.asarray(u, dtype=float))) @ w)
    return c / (c - kap)


# ---------------------------------------------------------------------------------------------------------------
# Verifications (each takes a candidate and can fail).
Predictor = Callable[..., dict]

#: Normalized-iteration cases: (w*, k, penalty, lam, beta, eta, a, ste, starts).
NORMALIZED_CASES: tuple[dict, ...] = (
    {"w_star": [1.0, -0.8, 0.5, 0.25, -0.1, 0.0], "k": 4, "penalty": "l1", "lam": 0.01, "beta": 1.0, "eta": 0.5,
     "ste": "relu", "starts": [[1.0, -0.8, 0.5, 0.25, -0.1, 0.0], [0.3, 0.2, -0.1, 0.4, 0.5, -0.3]]},
    {"w_star": [0.9, 0.0, -0.6, 0.35, 0.2, -0.05, 1.2], "k": 3, "penalty": "l1", "lam": 0.02, "beta": 0.5,
     "eta": 0.8, "ste": "identity", "starts": [[0.2, 0.3, -0.5, -0.1, 0.4, 0.2, 0.1]]},
    {"w_star": [1.0, -0.8, 0.5, 0.25, -0.1, 0.0], "k": 4, "penalty": "l0", "lam": 0.01, "beta": 1.0, "eta": 0.5,
     "ste": "relu", "starts": [[1.0, -0.8, 0.5, 0.25, -0.1, 0.0], [0.3, 0.2, -0.1, 0.4, 0.5, -0.3]]},
    {"w_star": [1.0, -0.8, 0.5, 0.25, -0.1, 0.0], "k": 4, "penalty": "tl1", "lam": 0.01, "beta": 1.0, "eta": 0.5,
     "a": 0.5, "ste": "relu", "starts": [[1.0, -0.8, 0.5, 0.25, -0.1, 0.0]]},
    {"w_star": [0.7, 0.5, -0.4, 0.2, 0.0], "k": 2, "penalty": "tl1", "lam": 0.02, "beta": 2.0, "eta": 0.3,
     "a": 1.0, "ste": "identity", "starts": [[0.7, 0.5, -0.4, 0.2, 0.0]]},
)


def verify_normalized_limit(predictor: Predictor, cases: Sequence[Mapping] = NORMALIZED_CASES, *,
                            tol: float = 1e-10) -> Check:
    """The normalized iteration (expected coarse gradient, NumPy, run to a step below 4e-16) vs ``predictor`` given
    the support the iteration reached; ``tol`` covers the rounding of the converged iterate."""
    worst, ok, rows = 0.0, True, []
    for cs in cases:
        ws = np.asarray(cs["w_star"], dtype=float)
        for w0 in cs["starts"]:
            w, u, it = iterate_split(ws, cs["k"], cs["penalty"], cs["lam"], cs["beta"], cs["eta"], np.asarray(w0),
                                     normalize=True, ste=cs["ste"], a=cs.get("a"))
            pred = predictor(ws, cs["k"], cs["penalty"], cs["lam"], cs["beta"], a=cs.get("a"), ste=cs["ste"],
                             kept_mask=u != 0)
            err = max(float(np.max(np.abs(pred["u"] - u))), float(np.max(np.abs(pred["w"] - w))))
            err = err if np.isfinite(err) else np.inf
            worst = max(worst, err)
            ok &= bool(err <= tol and pred["consistent"])
            rows.append(f"{cs['penalty']}/{cs['ste']} k={cs['k']}: {it} it, |u|_0={int(np.sum(u != 0))}, "
                        f"r'={pred['r']:.6f}, err={err:.1e}")
    return Check("numeric", "normalized split iteration (expected coarse gradient) vs the predicted limit, "
                 f"{sum(len(c['starts']) for c in cases)} runs", ok, f"worst {worst:.2e} (tol {tol}); "
                 + "; ".join(rows))


def verify_l1_soft_form(tau_candidate: Callable[[float, float, float, float], float],
                        cases: Sequence[Mapping] = NORMALIZED_CASES) -> Check:
    """l1 limits of the normalized iteration satisfy u = r' soft(e, tau) with r' read off the limit
    (:func:`measured_r_prime`) and ``tau = tau_candidate(lam, beta, c, r')``; tolerance 1e-10 (rounding)."""
    worst, ok, n = 0.0, True, 0
    for cs in cases:
        if cs["penalty"] != "l1":
            continue
        ws = np.asarray(cs["w_star"], dtype=float)
        e = ws / np.linalg.norm(ws)
        c = coarse_constant(cs["k"], cs["ste"])
        for w0 in cs["starts"]:
            w, u, _ = iterate_split(ws, cs["k"], "l1", cs["lam"], cs["beta"], cs["eta"], np.asarray(w0),
                                    normalize=True, ste=cs["ste"])
            r_p = measured_r_prime(w, u, ws, cs["k"], cs["beta"], cs["ste"])
            tau = tau_candidate(cs["lam"], cs["beta"], c, r_p)
            err = float(np.max(np.abs(u - r_p * np.sign(e) * np.maximum(np.abs(e) - tau, 0.0))))
            worst = max(worst, err)
            ok &= err <= 1e-10
            n += 1
    return Check("numeric", f"l1: normalized limit u = r' soft(e, tau), r' measured from the limit, {n} runs", ok,
                 f"worst max|u - r' soft(e, tau)| = {worst:.2e} (tol 1e-10)")


def verify_error_estimates(tau_candidate: Callable[[float, float, float, float], float],
                           cases: Sequence[Mapping] = NORMALIZED_CASES) -> Check:
    """On l1 limits of the normalized iteration: |u/r' - e|_inf <= tau, |u/r' - e|_2 <= tau sqrt(|supp e|) and
    tau <= lam (1/c + 1/beta), with r' measured from the limit. Relative slack 1e-9 (the inf bound is attained)."""
    ok, rows = True, []
    for cs in cases:
        if cs["penalty"] != "l1":
            continue
        ws = np.asarray(cs["w_star"], dtype=float)
        e = ws / np.linalg.norm(ws)
        c = coarse_constant(cs["k"], cs["ste"])
        for w0 in cs["starts"]:
            w, u, _ = iterate_split(ws, cs["k"], "l1", cs["lam"], cs["beta"], cs["eta"], np.asarray(w0),
                                    normalize=True, ste=cs["ste"])
            r_p = measured_r_prime(w, u, ws, cs["k"], cs["beta"], cs["ste"])
            tau = tau_candidate(cs["lam"], cs["beta"], c, r_p)
            dev = u / r_p - e
            e_inf, e_2 = float(np.max(np.abs(dev))), float(np.linalg.norm(dev))
            b2 = tau * np.sqrt(np.count_nonzero(e))
            bound = cs["lam"] * (1 / c + 1 / cs["beta"])
            ok &= e_inf <= tau * (1 + 1e-9) and e_2 <= b2 * (1 + 1e-9) and tau <= bound * (1 + 1e-12) and r_p >= 1
            rows.append(f"r'={r_p:.5f}, |dev|_inf={e_inf:.5f} <= tau={tau:.5f}, |dev|_2={e_2:.5f} <= {b2:.5f}, "
                        f"tau <= lam(1/c+1/beta)={bound:.5f}")
    return Check("numeric", "l1 error estimates on normalized limits", ok, "; ".join(rows))


def verify_two_cycle(radius_candidate: sp.Expr, cos_candidate: sp.Expr, *, cases: Sequence[Mapping] = (
        {"penalty": "l0", "lam": 0.01, "beta": 1.0, "eta": 0.5, "k": 4},
        {"penalty": "tl1", "lam": 0.01, "beta": 1.0, "eta": 0.5, "k": 4, "a": 0.5},
        {"penalty": "l1", "lam": 0.1, "beta": 1.0, "eta": 0.5, "k": 4},
        {"penalty": "l0", "lam": 0.01, "beta": 0.5, "eta": 0.6, "k": 2, "ste": "identity"}),
        w_star: Sequence[float] = (1.0, -0.8, 0.5, 0.25, -0.1, 0.0), seed: int = 31) -> Check:
    """Unnormalized iteration from random starts: u = 0 at the end, |w| equals the candidate radius and the angle to
    e the candidate arccos, to 1e-8 (iterates converge to the orbit geometrically)."""
    rng = np.random.default_rng(seed)
    ws = np.asarray(w_star, dtype=float)
    fr = sp.lambdify((fp.eta, fp.beta, c_sym), radius_candidate, "numpy")
    fc = sp.lambdify((fp.eta, fp.beta, c_sym), cos_candidate, "numpy")
    ok, rows = True, []
    for cs in cases:
        ste = cs.get("ste", "relu")
        c = coarse_constant(cs["k"], ste)
        for _ in range(2):
            w0 = rng.standard_normal(ws.size) * rng.uniform(0.5, 3.0)
            w, u, _ = iterate_split(ws, cs["k"], cs["penalty"], cs["lam"], cs["beta"], cs["eta"], w0,
                                    normalize=False, ste=ste, a=cs.get("a"), max_iter=6000)
            cos_t = float(w @ ws / (np.linalg.norm(w) * np.linalg.norm(ws)))
            rad, cst = float(fr(cs["eta"], cs["beta"], c)), float(fc(cs["eta"], cs["beta"], c))
            err = max(abs(np.linalg.norm(w) - rad) / rad, abs(cos_t - cst))
            ok &= bool(np.all(u == 0)) and err <= 1e-8
            rows.append(f"{cs['penalty']}: |w|={np.linalg.norm(w):.6f} (orbit {rad:.6f}), cos t={cos_t:.6f} "
                        f"(orbit {cst:.6f}), |u|={np.linalg.norm(u):.1e}")
    return Check("numeric", "unnormalized iteration ends on the period-2 orbit with u = 0", ok, "; ".join(rows))


def verify_l0_ray(*, w_star: Sequence[float] = (1.0, -0.8, 0.5, 0.25, -0.1, 0.0), k: int = 4, lam: float = 0.01,
                  beta: float = 1.0, eta: float = 0.5, scale: float = 3.0, seed: int = 32) -> Check:
    """l0 without normalization from near the ray n e (n = ``scale``): the iterate converges to a point of the ray
    with n min|e_i| > gamma (u = w != 0): no collapse. Would fail if the ray were not made of fixed points."""
    rng = np.random.default_rng(seed)
    ws = np.asarray(w_star, dtype=float)
    e = ws / np.linalg.norm(ws)
    w0 = scale * e + 0.02 * rng.standard_normal(ws.size) * (e != 0)
    w, u, it = iterate_split(ws, k, "l0", lam, beta, eta, w0, normalize=False)
    n = float(np.linalg.norm(w))
    ang = float(np.arctan2(np.linalg.norm(w - (w @ e) * e), w @ e))
    gamma = np.sqrt(2 * lam / beta)
    ok = it < 20_000 and ang < 1e-7 and np.all((u != 0) == (e != 0)) and n * np.min(np.abs(e[e != 0])) > gamma
    return Check("numeric", "l0 without normalization: a start near the ray n e converges to a nonzero fixed point "
                 "on the ray (u = w != 0)", bool(ok), f"{it} iterations, |w| = {n:.6f} (start {np.linalg.norm(w0):.4f})"
                 f", angle {ang:.1e}, |u|_0 = {int(np.sum(u != 0))}, n min|e_i| = {n * np.min(np.abs(e[e != 0])):.4f}"
                 f" vs gamma = {gamma:.4f}")


def verify_no_nonzero_fixed_point(*, w_star: Sequence[float] = (1.0, -0.8, 0.5, 0.25, -0.1, 0.0), k: int = 4,
                                  penalty: str, lam: float = 0.01, beta: float = 1.0, a: float = 0.5,
                                  n_starts: int = 4, seed: int = 33) -> Check:
    """Without normalization: from starts at several scales (including n e, n large) the norm falls below
    2 eta c/(2 - eta beta) + lam/beta: no nonzero fixed point holds the iterate (l1, TL1)."""
    rng = np.random.default_rng(seed)
    ws = np.asarray(w_star, dtype=float)
    e = ws / np.linalg.norm(ws)
    eta = 0.5
    c = coarse_constant(k, "relu")
    bound = 2 * eta * c / (2 - eta * beta) + lam / beta
    finals = []
    starts = [3.0 * e] + [rng.standard_normal(ws.size) * rng.uniform(0.5, 3.0) for _ in range(n_starts - 1)]
    for w0 in starts:
        w, _, _ = iterate_split(ws, k, penalty, lam, beta, eta, w0, normalize=False, a=a, max_iter=8000)
        finals.append(float(np.linalg.norm(w)))
    ok = max(finals) <= bound
    return Check("numeric", f"{penalty} without normalization: |w| collapses to the O(eta c) scale from every start "
                 "(including 3 e)", ok, f"final |w| = {', '.join(f'{f:.4f}' for f in finals)}; bound {bound:.4f}")


def orbit_monodromy_exprs() -> dict[str, sp.Expr]:
    """In-plane monodromy of the period-2 orbit and the ray's multipliers, as SymPy expressions.

    Notes
    -----
    ``DF(w) = (1 - eta beta) I - (eta c/|w|)(I - w_hat w_hat^T)`` where u = 0; on the orbit
    ``eta c/|w| = 2 - eta beta``. ``M = DF(w_2) DF(w_1)`` with ``w_1, w_2`` the mirror points, in the plane of e:
    ``det``, ``trace``; the ray ``n e``: ``radial = 1 - eta beta``, ``perp = 1 - eta beta - eta c/n``.
    """
    eta, beta = fp.eta, fp.beta
    cyc = two_cycle_exprs()
    ct = cyc["cos_t"]
    st = sp.sqrt(1 - ct**2)

    def jac(v):
        vv = sp.Matrix(v)
        return (1 - eta * beta) * sp.eye(2) - (eta * c_sym / cyc["radius"]) * (sp.eye(2) - vv * vv.T)

    m = jac([ct, -st]) * jac([ct, st])
    return {"det": sp.simplify(m.det()), "trace": sp.simplify(m.trace()), "radial": 1 - eta * beta,
            "perp": 1 - eta * beta - eta * c_sym / n_sym}


def verify_ray_collapse(radius_candidate: sp.Expr, cos_candidate: sp.Expr, *,
                        w_star: Sequence[float] = (1.0, -1.0, 1.0, 0.0), k: int = 2, lam: float = 0.05,
                        beta: float = 1.0, eta: float = 0.3, scale: float = 0.7) -> Check:
    """Unnormalized l1 iteration from a start exactly on the ray of a symmetric teacher (equal |e_i|, so rounding
    keeps it on the ray): u = 0 and |w| falls below 1e-6 x the orbit's radius along the ray; the same start moved
    off the ray by 1e-9 ends on the candidate orbit (to 1e-8): the ray is invariant and repelling."""
    ws = np.asarray(w_star, dtype=float)
    e = ws / np.linalg.norm(ws)
    c = coarse_constant(k, "relu")
    sub = {fp.eta: eta, fp.beta: beta, c_sym: c}
    rad, cst = float(radius_candidate.subs(sub)), float(cos_candidate.subs(sub))
    w, u, _ = iterate_split(ws, k, "l1", lam, beta, eta, scale * e, normalize=False, max_iter=3000)
    perp = float(np.linalg.norm(w - (w @ e) * e))
    n = float(np.linalg.norm(w))
    ok_ray = bool(np.all(u == 0)) and n < 1e-6 * rad and float(w @ e) >= 0 and perp <= 4e-16 * n
    off = np.zeros_like(e)
    off[-1] = 1e-9
    w2, u2, _ = iterate_split(ws, k, "l1", lam, beta, eta, scale * e + off, normalize=False, max_iter=3000)
    n2 = float(np.linalg.norm(w2))
    err2 = max(abs(n2 - rad) / rad, abs(float(w2 @ e) / n2 - cst))
    ok = ok_ray and bool(np.all(u2 == 0)) and err2 <= 1e-8
    return Check("numeric", "unnormalized l1 from a start on the ray of a symmetric teacher collapses along it; "
                 "moved off by 1e-9 it ends on the period-2 orbit", ok,
                 f"on the ray: |w| = {n:.1e} (orbit radius {rad:.4f}), perp/|w| = {perp / max(n, 1e-300):.1e}; "
                 f"off by 1e-9: |w| = {n2:.6f}, cos t = {float(w2 @ e) / n2:.6f} (orbit {cst:.6f}), err {err2:.1e}")


# ---------------------------------------------------------------------------------------------------------------
# Symbolic verifications of the coordinatewise inequalities, built from the DERIVED branch expressions (each takes
# the candidate expressions, so a wrong branch fed through the same verification is reported failed).
_p_kept = sp.Symbol("p", positive=True)  # |w_i| - lam/beta > 0 on a kept l1 coordinate (the prox keeps it)
_y_kept = sp.Symbol("y", positive=True)  # |u_i| > 0 of a kept TL1 coordinate
_BRANCH_KEYS = ("w_kept_l1", "w_zeroed", "w_kept_l0", "w_zeroed_l0", "tl1_w_of_u", "tl1_kept_equation")
#: Rational points (positive symbols) at which every decided sign is also evaluated, a guard on SymPy's assumptions.
_SIGN_POINTS = tuple({c_sym: cv, fp.q: qv, _lam_p: lv, fp.beta: bv, fp.a: av, x: xv, _p_kept: pv, _y_kept: yv,
                      n_sym: nv}
                     for cv, qv, lv, bv, av, xv, pv, yv, nv in (
                         (sp.Rational(1, 10), sp.Rational(1, 20), sp.Rational(1, 100), 1, sp.Rational(1, 2),
                          sp.Rational(3, 5), sp.Rational(1, 7), sp.Rational(2, 5), sp.Rational(3, 2)),
                         (sp.Rational(3, 10), sp.Rational(7, 10), sp.Rational(1, 5), sp.Rational(1, 3), 2,
                          sp.Rational(1, 10), sp.Rational(5, 2), sp.Rational(1, 30), sp.Rational(1, 4))))


def coordinate_branches(cand: Mapping[str, sp.Expr], q_value: sp.Expr = fp.q) -> dict[str, tuple[sp.Expr, sp.Expr]]:
    """``(|e_i|, sign(e_i) w_i)`` of each branch of a fixed point ``(q + beta) w = c e + beta u``, in positive
    parameters with the branch's consistency condition built in, from the candidate branch expressions.

    Parameters
    ----------
    cand : mapping
        ``w_kept_l1``, ``w_zeroed``, ``w_kept_l0``, ``w_zeroed_l0``, ``tl1_w_of_u``, ``tl1_kept_equation`` (as in
        :func:`normalized_limit_exprs`, in ``e_i, c, q, lambda, beta, a, u_i``).
    q_value : sympy expression
        What ``q`` stands for (``q`` itself for the normalized iteration, ``c/n`` without normalization).

    Returns
    -------
    dict
        ``"<branch> sign=<+1|-1>" -> (E, W)``, ``E = sign(e_i) e_i``, ``W = sign(e_i) w_i``; ``None`` in place of the
        pair where the branch condition cannot be solved for ``|e_i|`` (a malformed candidate).

    Notes
    -----
    With ``e_i = sg x`` (``x > 0``): l1 kept: the prox keeps ``w_i`` with ``sign w_i = sign e_i`` (the other sign is
    inconsistent, :mod:`theory.fixed_points`), i.e. ``sg w_i = lam/beta + p``, ``p > 0``, solved for x; zeroed and l0
    kept: x free; TL1 kept: ``u_i = sg y`` (``y > 0``), ``w_i = w(u_i)``, ``e_i`` solved from the kept equation.
    """
    missing = set(_BRANCH_KEYS) - set(cand)
    if missing:
        raise ValueError(f"cand must contain {_BRANCH_KEYS}; missing {sorted(missing)}")
    lam, beta = fp.lam, fp.beta

    def prep(expr: sp.Expr) -> sp.Expr:
        return sp.sympify(expr).subs(fp.q, q_value).subs(lam, _lam_p)

    out: dict[str, tuple[sp.Expr, sp.Expr] | None] = {}
    for sg in (1, -1):
        w_k = prep(cand["w_kept_l1"]).subs(e_i, sg * x)
        sols = sp.solve(sp.Eq(sg * w_k, _lam_p / beta + _p_kept), x)
        out[f"l1 kept sign={sg:+d}"] = ((sols[0], sp.simplify(sg * w_k.subs(x, sols[0])))
                                        if len(sols) == 1 else None)
        for key, name in (("w_zeroed", "l1 zeroed"), ("w_kept_l0", "l0 kept"), ("w_zeroed_l0", "l0 zeroed")):
            out[f"{name} sign={sg:+d}"] = (x, sp.simplify(sg * prep(cand[key]).subs(e_i, sg * x)))
        kept_eq = prep(cand["tl1_kept_equation"]).subs(fp.u_i, sg * _y_kept)
        sols = sp.solve(kept_eq, e_i)
        w_u = prep(cand["tl1_w_of_u"]).subs(fp.u_i, sg * _y_kept)
        out[f"tl1 kept sign={sg:+d}"] = ((sp.simplify(sg * sols[0]), sp.simplify(sg * w_u))
                                         if len(sols) == 1 else None)
    return out


def _sign_holds(expr: sp.Expr, prop: str) -> tuple[bool, float]:
    """``expr`` is ``prop`` ("positive", "nonnegative", "negative") by SymPy's assumptions on some simplified form
    AND at every point of ``_SIGN_POINTS``; returns (decided, worst value at the points)."""
    forms = (expr, sp.simplify(expr))
    forms += (sp.factor(forms[1]), sp.cancel(sp.together(forms[1])))
    decided = any(getattr(f, f"is_{prop}") is True for f in forms)
    vals = [float(sp.N(expr.subs(pt), 30)) for pt in _SIGN_POINTS]
    ok_vals = {"positive": all(v > 0 for v in vals), "nonnegative": all(v >= 0 for v in vals),
               "negative": all(v < 0 for v in vals)}[prop]
    worst = min(vals) if prop != "negative" else max(vals)
    return bool(decided and ok_vals), worst


def verify_coordinate_contraction(cand: Mapping[str, sp.Expr]) -> Check:
    """Normalized fixed point: ``q |w_i| <= c |e_i|`` on every branch (l1 kept/zeroed, l0 kept/zeroed, TL1 kept),
    decided by SymPy on the candidate branches (:func:`coordinate_branches`, q free): ``|e_i| > 0``,
    ``sign(e_i) w_i >= 0`` and ``c |e_i| - q sign(e_i) w_i >= 0``."""
    rows, ok = [], True
    for name, pair in coordinate_branches(cand).items():
        if pair is None:
            ok = False
            rows.append(f"{name}: branch condition not solvable for |e_i|")
            continue
        e_abs, w_abs = pair
        gap = sp.simplify(c_sym * e_abs - fp.q * w_abs)
        good = [_sign_holds(e_abs, "positive"), _sign_holds(w_abs, "nonnegative"), _sign_holds(gap, "nonnegative")]
        ok &= all(g[0] for g in good)
        if name.endswith("+1"):
            rows.append(f"{name.removesuffix(' sign=+1')}: c|e_i| - q|w_i| = {gap}"
                        + ("" if all(g[0] for g in good) else f" NOT decided >= 0 (worst at points {good[2][1]:.3g})"))
        elif not all(g[0] for g in good):
            rows.append(f"{name}: c|e_i| - q|w_i| = {gap} NOT decided >= 0")
    return Check("symbolic", "q|w_i| <= c|e_i| on every branch of the derived normalized fixed point (so q <= c, "
                 "r' >= 1)", ok, "; ".join(rows))


def verify_unnormalized_shrink(cand: Mapping[str, sp.Expr], q_value: sp.Expr) -> Check:
    """Unnormalized fixed point (``q = q_value``, i.e. ``c/n``): ``|v_i|^2 - e_i^2 < 0``, ``v = w/n``, on the l1 kept,
    zeroed and TL1 kept branches, for lam > 0, decided by SymPy on the candidate branches."""
    rows, ok = [], True
    for name, pair in coordinate_branches(cand, q_value).items():
        if name.startswith("l0 kept"):
            continue  # no shrink there: v = e (the l0 ray, checked separately)
        if pair is None:
            ok = False
            rows.append(f"{name}: branch condition not solvable for |e_i|")
            continue
        e_abs, w_abs = pair
        diff = sp.factor(sp.simplify((w_abs / n_sym) ** 2 - e_abs**2))
        good, worst = _sign_holds(diff, "negative")
        ok &= good
        if name.endswith("+1") or not good:
            rows.append(f"{name}: |v_i|^2 - e_i^2 = {diff}" + ("" if good else f" NOT decided < 0 (max {worst:.3g})"))
    return Check("symbolic", "without normalization |v_i| < |e_i| (v = w/|w|) on the l1 kept, zeroed and TL1 kept "
                 "branches of the derived fixed point (lam > 0)", ok, "; ".join(rows))


def verify_l0_all_kept(w_kept: sp.Expr, u_kept: sp.Expr, r_prime: sp.Expr) -> Check:
    """Normalized l0 fixed point with every ``e_i != 0`` kept: solve ``|w(q)|^2 = sum_j w_kept(e_j)^2 = 1`` with
    ``|e| = 1`` for q (symbolic length d), then check ``r'(q) = 1`` and ``u_kept(q) = e_i``.

    Notes
    -----
    ``sum_j (c e_j/q)^2 = (c/q)^2 sum_j e_j^2 = (c/q)^2 = 1`` has the single positive root ``q = c``: ``r' = 1`` and
    ``u = w = e``.
    """
    j, d = sp.Symbol("j", integer=True, positive=True), sp.Symbol("d", integer=True, positive=True)
    ev = sp.IndexedBase("e")
    norm2 = sp.simplify(sp.Sum(sp.sympify(w_kept).subs(e_i, ev[j]) ** 2, (j, 1, d)))
    norm2 = norm2.subs(sp.Sum(ev[j] ** 2, (j, 1, d)), 1)  # |e| = 1
    if norm2.has(ev) or norm2.has(sp.Sum):
        return Check("symbolic", "l0 with every e_i != 0 kept: |w(q)| = 1 forces r' = 1, u_bar = e", False,
                     f"|w(q)|^2 does not reduce to a function of q given |e| = 1: {norm2}")
    roots = [r_ for r_ in sp.solve(sp.Eq(norm2, 1), fp.q) if r_.is_positive is not False]
    ok = len(roots) == 1
    detail = f"|w(q)|^2 = {norm2}; positive roots q = {roots}"
    if ok:
        r_at, u_at = sp.simplify(r_prime.subs(fp.q, roots[0])), sp.simplify(u_kept.subs(fp.q, roots[0]))
        ok = sp.simplify(r_at - 1) == 0 and sp.simplify(u_at - e_i) == 0
        detail += f"; r' = {r_at}, u_i = {u_at}"
    return Check("symbolic", "l0 with every e_i != 0 kept: solving |w(q)| = 1 gives r' = 1 and u_bar = e", ok, detail)


# ---------------------------------------------------------------------------------------------------------------
# Derivations.
def _tau_derived(lam: float, beta: float, c: float, r_p: float) -> float:
    return lam / c + lam / (beta * r_p)


_COLLAPSE_LATEX = r"""
Without normalization, a fixed point satisfies $c(\hat w - e) + \beta(w - u) = 0$, $u = \mathrm{prox}(w)$.
With $v = \hat w$, $n = |w|$: a kept $\ell_1$ coordinate has $\beta(w_i - u_i) = \lambda\,\mathrm{sign}\,w_i$, hence
$v_i = e_i - (\lambda/c)\,\mathrm{sign}\,e_i$ (the other sign is inconsistent) and $|v_i| = |e_i| - \lambda/c$;
a zeroed one has $v_i = c\,e_i/(c + \beta n)$. In both cases $|v_i| < |e_i|$ (or $v_i = e_i = 0$), so
$|v| < |e| = 1$: no fixed point with $w\ne0$ for $\lambda>0$ (TL1 the same, with $\lambda\rho_a'(|u_i|) > 0$).
For $\ell_0$ the kept coordinates feel no penalty ($u_i = w_i$), and $w = n e$ with
$n\min_{e_i\ne0}|e_i| > \sqrt{2\lambda/\beta}$ are fixed points: the collapse claim fails there.
Moreover $\langle c(\hat w - e), w\rangle = c|w|(1-\cos t)\ge0$. In discrete time, where $u = 0$ the map
$w\mapsto(1-\eta\beta)w - \eta c(\hat w - e)$ has the period-2 orbit
$|w| = \eta c/(2-\eta\beta)$, $\cos t = 1 - \eta\beta/2$: the norm shrinks to $O(\eta c)$, not to 0.
With $a = 2-\eta\beta$, $DF = (1-\eta\beta)I - (\eta c/|w|)(I - \hat w\hat w^T) = -I + a\hat w\hat w^T$ on the
orbit; the in-plane monodromy $M = DF(w_2)DF(w_1)$ has $\det M = (a-1)^2$, $\mathrm{tr}\,M = 2 - 2a +
a^2(a^2/2-1)^2$, and $1-\det M > 0$, $1+\det M\mp\mathrm{tr}\,M > 0$ for $1 < a < 2$ ($0<\eta\beta<1$): the
orbit attracts (the multiplier $+1$ of $F\circ F$ off the plane moves along the family of rotated orbits).
The ray $\{ne\}$ is invariant, $F(ne) = (1-\eta\beta)ne$, with perpendicular multiplier
$1-\eta\beta-\eta c/n < -1$ for $n < \eta c/(2-\eta\beta)$: iterates exactly on it collapse to 0, all
others leave it. So the limits are the orbit, or 0 along the ray for iterates that land exactly on it.
"""


def derive_binary_split_collapse() -> Derivation:
    """Without normalization: no nonzero fixed point for l1/TL1, the l0 ray, the attracting period-2 orbit and the
    invariant, repelling ray {n e} (collapse to 0 only exactly on it)."""
    beta, eta = fp.beta, fp.eta
    cyc = two_cycle_exprs()
    # The orbit: apply the map to rho (cos t, sin t) (e = e1) and compare with the mirror image.
    ct = cyc["cos_t"]
    st = sp.sqrt(1 - ct**2)
    r_ = cyc["radius"]
    img = [(1 - eta * beta) * r_ * ct - eta * c_sym * (ct - 1), (1 - eta * beta) * r_ * st - eta * c_sym * st]
    pts = [{eta: sp.Rational(1, 2), beta: 1, c_sym: sp.Rational(1, 10)}, {eta: sp.Rational(3, 5), beta: sp.Rational(
        1, 2), c_sym: sp.Rational(3, 10)}]
    mono = orbit_monodromy_exprs()
    a_ = 2 - eta * beta
    av = sp.Symbol("a", positive=True)
    # Jury conditions in a = 2 - eta beta: each is an identity with a form whose sign SymPy decides on 1 < a < 2,
    # written a = 1 + 1/(1 + y), y > 0 (positive symbols); the form is tried as is and factored.
    det_a, tr_a = (av - 1) ** 2, 2 - 2 * av + av**2 * (av**2 / 2 - 1) ** 2
    yv = sp.Symbol("y", positive=True)
    jury = [av * (2 - av), av**2 * (1 - (av**2 / 2 - 1) ** 2), (2 - av) ** 2 + av**2 * (av**2 / 2 - 1) ** 2]
    jury_ok = all(sp.simplify(f - g) == 0 for f, g in zip(jury, (1 - det_a, 1 + det_a - tr_a, 1 + det_a + tr_a),
                                                           strict=True))
    jury_ok &= all(bool(f.subs(av, 1 + 1 / (1 + yv)).is_positive or sp.factor(f.subs(av, 1 + 1 / (1 + yv))).is_positive)
                   for f in jury)
    jury_forms = "; ".join(str(f) for f in jury)
    h_, dl = sp.Symbol("h", positive=True), sp.Symbol("delta", real=True)
    # F on the ray and off it, e = (1, 0), p = (0, 1), u = 0: F(w) = (1 - eta beta) w - eta c (w/|w| - e)
    ray_img = (1 - eta * beta) * n_sym - eta * c_sym * (n_sym / n_sym - 1)
    perp_deriv = sp.diff((1 - eta * beta) * dl - eta * c_sym * dl / sp.sqrt(n_sym**2 + dl**2), dl).subs(dl, 0)
    un = unnormalized_fixed_point_exprs()
    branches = _normalized_steps()
    checks = (
        verify_symbolic_zero(un["w_fixed"] - un["relu_form"], "unnormalized fixed point c(w/n - e) + beta(w - u) = 0 "
                             "is the ReLU-case stationarity equation at s = c, q = c/n (n = |w|), w* -> e"),
        verify_unnormalized_shrink(branches, un["q"]),
        verify_symbolic_zero(un["v_kept_l0"] - e_i, "l0 kept coordinate without normalization: v_i = w_i/n = e_i (no "
                             "shrink: the ray n e)"),
        verify_symbolic_zero(img[0] - r_ * ct, "period-2 orbit: first component of F(w_1) equals that of the mirror "
                             "image", numeric_points=pts),
        verify_symbolic_zero(img[1] + r_ * st, "period-2 orbit: second component of F(w_1) is minus that of w_1",
                             numeric_points=pts),
        verify_symbolic_zero(mono["det"] - (1 - eta * beta) ** 2, "orbit monodromy: det M = (1 - eta beta)^2",
                             numeric_points=pts),
        verify_symbolic_zero(mono["trace"] - (2 - 2 * a_ + a_**2 * (a_**2 / 2 - 1) ** 2),
                             "orbit monodromy: tr M = 2 - 2a + a^2 (a^2/2 - 1)^2, a = 2 - eta beta",
                             numeric_points=pts),
        Check("symbolic", "Jury conditions for 1 < a < 2 (0 < eta beta < 1): 1 - det = a(2 - a) > 0, 1 + det - tr = "
              "a^2 (1 - (a^2/2 - 1)^2) > 0, 1 + det + tr = (2 - a)^2 + a^2 (a^2/2 - 1)^2 > 0",
              jury_ok, f"factored: {jury_forms}"),
        verify_symbolic_zero(ray_img - mono["radial"] * n_sym, "ray: F(n e) = (1 - eta beta) n e (u = 0, w_hat = e)"),
        verify_symbolic_zero(perp_deriv - mono["perp"], "ray: perpendicular multiplier d/d delta of F(n e + delta p).p "
                             "at delta = 0 is 1 - eta beta - eta c/n"),
        verify_symbolic_zero(mono["perp"].subs(n_sym, cyc["radius"] / (1 + h_)) + 1 + (2 - eta * beta) * h_,
                             "ray: at n = radius/(1 + h) the perpendicular multiplier is -1 - (2 - eta beta) h < -1 "
                             "(h > 0)"),
        verify_two_cycle(cyc["radius"], cyc["cos_t"]),
        verify_ray_collapse(cyc["radius"], cyc["cos_t"]),
        verify_no_nonzero_fixed_point(penalty="l1"),
        verify_no_nonzero_fixed_point(penalty="tl1"),
        verify_l0_ray(),
    )
    statement = {"q_unnormalized": un["q"], "v_kept_l1": un["v_kept_l1"], "v_zeroed": un["v_zeroed"],
                 "orbit_radius": cyc["radius"], "orbit_cos_t": cyc["cos_t"], "orbit_monodromy_det": mono["det"],
                 "ray_radial_multiplier": mono["radial"], "ray_perp_multiplier": mono["perp"],
                 "radial_component": c_sym * n_sym * (1 - sp.cos(sp.Symbol("t"))),
                 "l0_ray_condition": sp.StrictGreaterThan(n_sym * x, fp.limit_map_l0_exprs()["gamma"])}
    return Derivation("binary_split_collapse", "Split iteration with the coarse gradient, without normalization",
                      statement, checks, _COLLAPSE_LATEX, (TARGET, "prox convention of theory page s.3",
                                                           "expected (population) coarse gradient"))


_LIMIT_LATEX = r"""
With the normalization after each $w$-update, a fixed point has $w - \eta(c(w-e) + \beta(w-u)) = \nu w$, $\nu>0$,
$|w|=1$; with $\kappa = (1-\nu)/\eta$: $(c - \kappa + \beta)w = c\,e + \beta u$, the ReLU-case equation with
$s = c$, $q = c-\kappa$, $w^*\to e$, closed by $|w| = 1$. With $r' = c/q$:
$$\ell_1:\ \bar u = \mathrm{soft}(r'e,\bar\mu) = r'\,\mathrm{soft}(e,\tau),\qquad
\tau = \frac{\bar\mu}{r'} = \frac{\lambda}{c} + \frac{\lambda}{\beta r'};$$
$\ell_0$: $\bar u_i = r'e_i$ on $\{r'|e_i| > \sqrt{2\lambda/\beta}\}$ (zeroed self-consistent up to
$\sqrt{2\lambda/\beta}(1+\beta/q)$: a band); TL1: $u + \bar\mu\rho_a'(u) = r'e_i$ on the kept coordinates.
Coordinatewise $q|w_i| \le c|e_i|$, so $q\le c$, $r'\ge1$ and $\tau\le\lambda(1/c + 1/\beta)$. Error estimates:
$|\bar u/r' - e|_\infty \le \tau$, $|\bar u/r' - e|_2 \le \tau\sqrt{|\mathrm{supp}\,e|}$. If $\ell_0$ keeps every
$e_i\ne0$ then $r' = 1$ and $\bar u = e$ exactly.
"""


def derive_binary_split_fixed_points() -> Derivation:
    """Limit of the normalized split iteration: l1 (r' soft(e, tau)), l0 (support), TL1, and error estimates."""
    st = _normalized_steps()
    r_p, tau = st["r_prime"], st["tau"]
    soft = [(st["u_kept_l1"] - sg * r_p * (x - tau)).subs(e_i, sg * x) for sg in (1, -1)]
    checks = [
        verify_symbolic_zero(st["w_fixed"] - st["relu_form"], "normalized fixed point (c - kappa + beta) w = c e "
                             "+ beta u is the ReLU-case stationarity equation at s = c, q = c - kappa, w* -> e"),
        verify_symbolic_zero(st["mu_bar"] - r_p * tau, "mu_bar = r' tau with tau = lam/c + lam/(beta r') (THEORY s.6)"),
        fp._verify_all_zero([sp.simplify(e_.subs(fp.s, c_sym)) for e_ in soft],
                            "l1 kept coordinate: u = r' sign(e_i)(|e_i| - tau), i.e. u_bar = r' soft(e, tau)"),
        verify_coordinate_contraction(st),
        verify_l0_all_kept(st["w_kept_l0"], st["u_kept_l0"], r_p),
        verify_normalized_limit(predicted_binary_limit),
        verify_l1_soft_form(_tau_derived),
        verify_error_estimates(_tau_derived),
    ]
    statement = {"w_fixed": st["w_fixed"], "r_prime": r_p, "tau": tau, "mu_bar": st["mu_bar"],
                 "u_kept_l1": st["u_kept_l1"], "l0_kept_edge": st["l0_kept_edge"],
                 "l0_zeroed_edge": st["l0_zeroed_edge"], "tl1_kept_equation": st["tl1_kept_equation"]}
    return Derivation("binary_split_fixed_points", "Limit of the normalized split iteration with the coarse gradient",
                      statement, tuple(checks), _LIMIT_LATEX, (TARGET, NORMALIZATION,
                                                               "prox convention of theory page s.3",
                                                               "expected (population) coarse gradient"))
