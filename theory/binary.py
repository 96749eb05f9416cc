"""Binarized activation sigma(t) = 1{t > 0} with a coarse (straight-through) gradient (theory page section 6).

Same no-overlap network as sections 1-2, f(Z; w) = (1/k) sum_i 1{Z_i . w > 0}, Gaussian patches, teacher w*,
population loss l(w) = E[(f(Z; w) - f(Z; w*))^2] with NO factor 1/2 and the second layer fixed to (1/k, ..., 1/k).
(theory page s.6 was reconstructed with a factor 1/2 and a second layer v; with v_i = 1/k, |v|^2 = 1/k, and the factor
2 of our convention, its c = |v|^2/(2 sqrt(2 pi)) becomes c = 1/(k sqrt(2 pi)), as derived here.)

Everything is derived with SymPy from the Gaussian integrals in polar coordinates (the same reduction to the plane of
(u, v) as :mod:`theory.gaussian`):

* ``E[sigma(u.x)] = 1/2``, ``E[sigma(u.x) sigma(v.x)] = (pi - t)/(2 pi)``, independent patches ``1/4``;
* ``E[x 1{u.x > 0}] = u_hat / sqrt(2 pi)`` and ``E[x 1{u.x > 0} 1{v.x > 0}] = (u_hat + v_hat)/(2 sqrt(2 pi))``;
* the population loss ``l = t/(k pi)`` (pair counting), depending on the angle ``t = angle(w, w*)`` only;
* its true gradient ``q_b w - s_b w*`` (orthogonal to w; the per-sample gradient is 0 almost surely);
* the expected coarse gradient ``c_ste (w/|w| - w*/|w*|)`` with ``c_relu = 1/(k sqrt(2 pi))`` (sigma' -> 1{t > 0})
  and ``c_identity = 2/(k sqrt(2 pi))`` (sigma' -> 1);
* its inner product with the true gradient, ``c sin t/(k pi |w|) > 0`` on ``(0, pi)``; the angle between the two is
  ``t/2``.

The fixed points of the split iteration, and the predictor of its limit
(:func:`theory.binary_limits.predicted_binary_limit`), are in :mod:`theory.binary_limits`, which builds on this module
(this module imports nothing from it).

Public API
----------
SymPy: :func:`moments_exprs`, :func:`loss_expr`, :func:`true_gradient_coefficients`,
:func:`coarse_gradient_coefficients`, :func:`correlation_exprs`, :func:`coarse_constant`.
NumPy: :func:`network`, :func:`sample_loss`, :func:`sampled_coarse_gradient`, :func:`expected_coarse_gradient`,
:func:`true_gradient`, :func:`population_loss`.
Verifications (take the candidate, can fail): ``verify_*``. Derivations: :func:`derive_binary_moments`,
:func:`derive_binary_loss`, :func:`derive_coarse_gradient`, :func:`derive_coarse_gradient_correlation`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import sympy as sp

from .record import Check, Derivation
from .symbols import k, ns, nw, theta
from .verify import verify_monte_carlo, verify_symbolic_zero

_K = k  # the SymPy symbol, under a name that public functions' parameter ``k`` does not shadow

STES = ("relu", "identity")
LOSS_CONVENTION = ("l(w) = E[(f(Z;w) - f(Z;w*))^2] with no factor 1/2, second layer fixed to 1/k "
                   "(theory page s.6 used 1/2 and a layer v: its c = |v|^2/(2 sqrt(2 pi)) is our c/2 at |v|^2 = 1/k)")
ACTIVATION = "sigma(t) = 1{t > 0} (binarized); f(Z;w) = (1/k) sum_i sigma(Z_i.w)"
STE_CONVENTION = ("coarse gradient 2 (f(Z;w) - y) (1/k) sum_i mu'(Z_i.w) Z_i, mu' = 1{t > 0} (ReLU STE) "
                  "or mu' = 1 (identity STE)")

_r = sp.Symbol("r", positive=True)
_phi = sp.Symbol("phi", real=True)
_x = sp.Symbol("x", real=True)
_i = sp.Symbol("i", integer=True, positive=True)
_j = sp.Symbol("j", integer=True, positive=True)


def _check_ste(ste: str) -> str:
    if ste not in STES:
        raise ValueError(f"ste must be one of {STES}, got {ste!r}")
    return ste


# ----------------------------------------------------------------------------------------------------------------
# Gaussian moments of the step function (scalar and vector), in polar coordinates.
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _moment_steps() -> dict[str, sp.Expr]:
    # Frame: u_hat = e1, v_hat = (cos t, sin t); x = r (cos phi, sin phi), density exp(-r^2/2)/(2 pi) r dr dphi.
    # u.x > 0 <=> phi in (-pi/2, pi/2); v.x > 0 <=> phi in (t - pi/2, t + pi/2); for t in [0, pi] the wedge where
    # both hold is (t - pi/2, pi/2) (SymPy resolves the Max/Min, theta >= 0).
    lo = sp.Max(-sp.pi / 2, theta - sp.pi / 2)
    hi = sp.Min(sp.pi / 2, theta + sp.pi / 2)
    dens = sp.exp(-(_r**2) / 2) / (2 * sp.pi)
    radial0 = sp.integrate(dens * _r, (_r, 0, sp.oo))  # weight of the indicator: 1/(2 pi)
    radial1 = sp.integrate(dens * _r**2, (_r, 0, sp.oo))  # weight of x = r (cos, sin): 1/(2 sqrt(2 pi))
    same_patch = sp.simplify(radial0 * sp.integrate(1, (_phi, lo, hi)))
    mean = sp.integrate(sp.exp(-(_x**2) / 2) / sp.sqrt(2 * sp.pi), (_x, 0, sp.oo))
    half = [sp.simplify(radial1 * sp.integrate(f, (_phi, -sp.pi / 2, sp.pi / 2))) for f in (sp.cos(_phi), sp.sin(_phi))]
    wedge = [sp.simplify(radial1 * sp.integrate(f, (_phi, lo, hi))) for f in (sp.cos(_phi), sp.sin(_phi))]
    # Write the wedge vector as alpha u_hat + gamma v_hat: e2-component gives gamma, e1-component then alpha.
    gamma = sp.simplify(wedge[1] / sp.sin(theta))
    alpha = sp.simplify(wedge[0] - gamma * sp.cos(theta))
    return {
        "mean": mean,
        "same_patch": same_patch,
        "independent_patch": sp.simplify(mean * mean),
        "half_space_vector": half[0],  # E[x 1{u.x > 0}] = half[0] u_hat (half[1] = 0)
        "half_space_vector_perp": half[1],
        "wedge_u_coef": alpha,  # E[x 1{u.x>0} 1{v.x>0}] = alpha u_hat + gamma v_hat
        "wedge_v_coef": gamma,
        "wedge_e1": wedge[0],
        "wedge_e2": wedge[1],
        "radial0": radial0,
        "radial1": radial1,
    }


def moments_exprs() -> dict[str, sp.Expr]:
    """The Gaussian moments of the step function, derived in polar coordinates.

    Returns
    -------
    dict
        ``"mean"`` (E[sigma(u.x)] = 1/2), ``"same_patch"`` (E[sigma(u.x) sigma(v.x)] = (pi - t)/(2 pi), in
        ``theta``), ``"independent_patch"`` (1/4), ``"half_space_vector"`` (h with E[x 1{u.x>0}] = h u_hat),
        ``"wedge_u_coef"``, ``"wedge_v_coef"`` (E[x 1{u.x>0} 1{v.x>0}] = alpha u_hat + gamma v_hat).

    Notes
    -----
    .. math:: \\mathbb E[\\sigma(u\\cdot x)\\sigma(v\\cdot x)] = \\int_0^\\infty \\frac{r e^{-r^2/2}}{2\\pi}dr
              \\int_{t-\\pi/2}^{\\pi/2} d\\phi = \\frac{\\pi - t}{2\\pi},\\qquad
              \\mathbb E[x\\,1\\{u\\cdot x>0\\}1\\{v\\cdot x>0\\}] = \\frac{\\hat u + \\hat v}{2\\sqrt{2\\pi}}.
    """
    return dict(_moment_steps())


# ----------------------------------------------------------------------------------------------------------------
# Population loss and its true gradient.
# ----------------------------------------------------------------------------------------------------------------
def _pair_sum(diag: sp.Expr, off: sp.Expr) -> sp.Expr:
    """(1/k^2) sum_{i,j=1..k} [diag if i == j else off], counted by SymPy: sum_i [diag + sum_j off - off]."""
    return sp.simplify(sp.Sum(diag + sp.Sum(off, (_j, 1, k)) - off, (_i, 1, k)).doit() / k**2)


@lru_cache(maxsize=1)
def _loss_steps() -> dict[str, sp.Expr]:
    m = _moment_steps()
    e_ww = _pair_sum(m["same_patch"].subs(theta, 0), m["independent_patch"])
    e_ws = _pair_sum(m["same_patch"], m["independent_patch"])
    loss = sp.simplify(e_ww - 2 * e_ws + e_ww)  # E[f_w*^2] = E[f_w^2]: sigma is scale invariant
    # l depends on w through |w| and cos t only; chain rule as in theory.loss:
    l_nw = sp.diff(loss, nw)
    l_th = sp.diff(loss, theta)
    dl_dc = -l_th / sp.sin(theta)
    q_b = sp.simplify(l_nw / nw - dl_dc * sp.cos(theta) / nw**2)
    s_b = sp.simplify(-dl_dc / (nw * ns))
    return {"E_ww": e_ww, "E_ws": e_ws, "loss": loss, "q": q_b, "s": s_b}


def loss_expr() -> sp.Expr:
    """Population loss of the binarized network, ``t/(k pi)``, from the moments by pair counting.

    Notes
    -----
    .. math:: \\mathbb E[f_w f_{w^*}] = \\frac{1}{k^2}\\Big[k\\frac{\\pi - t}{2\\pi} + \\frac{k^2-k}{4}\\Big],\\qquad
              l(w) = 2\\,\\mathbb E[f_w^2] - 2\\,\\mathbb E[f_w f_{w^*}] = \\frac{t}{k\\pi}.
    """
    return _loss_steps()["loss"]


def true_gradient_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """(q_b, s_b) with grad l(w) = q_b w - s_b w*, for w != 0 and t in (0, pi).

    Notes
    -----
    .. math:: \\nabla l = \\frac{1}{k\\pi}\\nabla t
              = -\\frac{1}{k\\pi|w|\\sin t}\\Big(\\hat w^* - \\cos t\\,\\hat w\\Big),
              \\quad q_b = \\frac{\\cos t}{k\\pi|w|^2\\sin t},\\ s_b = \\frac{1}{k\\pi|w||w^*|\\sin t}.

    Orthogonal to w (l is invariant under w -> a w, a > 0), of norm 1/(k pi |w|).
    """
    st = _loss_steps()
    return st["q"], st["s"]


# ----------------------------------------------------------------------------------------------------------------
# Expected coarse gradient.
# ----------------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _coarse_steps(ste: str) -> dict[str, sp.Expr]:
    m = _moment_steps()
    h = m["half_space_vector"]
    al, ga = m["wedge_u_coef"], m["wedge_v_coef"]
    # Vectors in the frame (w_hat, w*_hat) as coefficient pairs (c_w, c_s): v = c_w w_hat + c_s w*_hat.
    # Diagonal pair (same patch i = j): E[(sigma(x.w) - sigma(x.w*)) mu'(x.w) x].
    # Off-diagonal (i != j): E[sigma(Z_j.w) - sigma(Z_j.w*)] E[mu'(Z_i.w) Z_i] = (1/2 - 1/2) * (...) = 0.
    mean_diff = m["mean"] - m["mean"]
    if ste == "relu":
        # sigma(x.w) 1{x.w>0} = 1{x.w>0};  sigma(x.w*) 1{x.w>0} is the wedge.
        diag = (h - al, -ga)
        off_factor = (h, sp.Integer(0))  # E[1{x.w>0} x]
    else:
        # mu' = 1: E[sigma(x.w) x] - E[sigma(x.w*) x].
        diag = (h, -h)
        off_factor = (sp.Integer(0), sp.Integer(0))  # E[x] = 0
    coef = [2 * _pair_sum(diag[n], mean_diff * off_factor[n]) for n in range(2)]
    return {"A": sp.simplify(coef[0]), "B": sp.simplify(-coef[1]), "diag_w": diag[0], "diag_s": diag[1]}


def coarse_gradient_coefficients(ste: str = "relu") -> tuple[sp.Expr, sp.Expr]:
    """(A, B) with E[coarse gradient] = A w/|w| - B w*/|w*|, in ``k``.

    Parameters
    ----------
    ste : {"relu", "identity"}
        The proxy for sigma': ReLU' = 1{t > 0} or 1.

    Notes
    -----
    .. math:: \\mathbb E\\,g = \\frac{2}{k^2}\\sum_{i,j}\\mathbb E[(\\sigma(Z_j\\cdot w) - \\sigma(Z_j\\cdot w^*))
              \\mu'(Z_i\\cdot w) Z_i] = c\\,(\\hat w - \\hat w^*),\\quad c_{relu} = \\frac{1}{k\\sqrt{2\\pi}},\\
              c_{identity} = \\frac{2}{k\\sqrt{2\\pi}}.

    Only the k diagonal pairs contribute; the off-diagonal ones vanish because E[sigma(Z_j.w)] = E[sigma(Z_j.w*)].
    """
    st = _coarse_steps(_check_ste(ste))
    return st["A"], st["B"]


def coarse_constant(k_val: int, ste: str = "relu") -> float:
    """The scalar c of E[g] = c (w_hat - w*_hat): 1/(k sqrt(2 pi)) (ReLU STE) or 2/(k sqrt(2 pi)) (identity STE)."""
    if int(k_val) != k_val or k_val < 1:
        raise ValueError(f"k must be an integer >= 1, got {k_val!r}")
    a_expr, _ = coarse_gradient_coefficients(ste)
    return float(a_expr.subs(k, int(k_val)))


@lru_cache(maxsize=2)
def _correlation_steps(ste: str) -> dict[str, sp.Expr]:
    q_b, s_b = true_gradient_coefficients()
    a_c, b_c = coarse_gradient_coefficients(ste)
    # <q w - s w*, A w/|w| - B w*/|w*|> with w.w = nw^2, w.w* = nw ns cos t, w*.w* = ns^2.
    cos_t = sp.cos(theta)
    inner = sp.simplify(q_b * a_c * nw - q_b * b_c * nw * cos_t - s_b * a_c * ns * cos_t + s_b * b_c * ns)
    g_norm2 = sp.simplify(a_c**2 + b_c**2 - 2 * a_c * b_c * cos_t)
    t_norm2 = sp.simplify(q_b**2 * nw**2 + s_b**2 * ns**2 - 2 * q_b * s_b * nw * ns * cos_t)
    radial = sp.simplify(a_c * nw - b_c * nw * cos_t)  # <E g, w>
    return {"inner": inner, "coarse_norm_sq": g_norm2, "true_norm_sq": t_norm2, "radial": radial,
            "orthogonality": sp.simplify(q_b * nw**2 - s_b * nw * ns * cos_t)}


def correlation_exprs(ste: str = "relu") -> dict[str, sp.Expr]:
    """<grad l, E g>, |E g|^2, |grad l|^2, <E g, w> and <grad l, w> as expressions in (nw, ns, theta, k).

    Notes
    -----
    .. math:: \\langle\\nabla l, \\mathbb E g\\rangle = \\frac{c\\sin t}{k\\pi|w|} > 0 \\ (0 < t < \\pi),\\qquad
              \\cos\\angle(\\nabla l, \\mathbb E g) = \\cos(t/2),\\qquad \\langle\\mathbb E g, w\\rangle
              = c|w|(1 - \\cos t) \\ge 0.
    """
    return dict(_correlation_steps(_check_ste(ste)))


# ----------------------------------------------------------------------------------------------------------------
# NumPy: the network, per-sample quantities, closed forms at vectors.
# ----------------------------------------------------------------------------------------------------------------
def _unit(v: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if not np.all(np.isfinite(v)) or np.any(n == 0):
        raise ValueError(f"{name} must be finite and nonzero")
    return v / n


def network(z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """f(Z; w) = (1/k) sum_i 1{Z_i . w > 0} for inputs ``z`` of shape (N, k, d); returns shape (N,)."""
    return (np.asarray(z) @ np.asarray(w) > 0).mean(axis=-1)


def sample_loss(z: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Per-sample squared error (f(Z; w) - f(Z; w*))^2, shape (N,)."""
    return (network(z, w) - network(z, w_star)) ** 2


def sampled_coarse_gradient(z: np.ndarray, w: np.ndarray, w_star: np.ndarray, ste: str = "relu") -> np.ndarray:
    """Per-sample coarse gradient 2 (f(Z; w) - y) (1/k) sum_i mu'(Z_i . w) Z_i, shape (N, d).

    Parameters
    ----------
    z : ndarray, shape (N, k, d)
    w, w_star : ndarray, shape (d,)
    ste : {"relu", "identity"}
        mu' = 1{t > 0} or mu' = 1.
    """
    _check_ste(ste)
    z = np.asarray(z, dtype=float)
    pre = z @ np.asarray(w, dtype=float)  # (N, k)
    resid = network(z, w) - network(z, w_star)
    mu_p = (pre > 0).astype(float) if ste == "relu" else np.ones_like(pre)
    return 2.0 * resid[:, None] * np.einsum("nk,nkd->nd", mu_p, z) / z.shape[1]


def expected_coarse_gradient(w: np.ndarray, w_star: np.ndarray, k: int, ste: str = "relu") -> np.ndarray:
    """Closed-form expected coarse gradient c (w/|w| - w*/|w*|); batched over leading axes of ``w``.

    Parameters
    ----------
    w : ndarray, shape (..., d)
        Nonzero.
    w_star : ndarray, shape (d,) or broadcastable to ``w``
        Nonzero teacher.
    k : int
        Number of patches, >= 1.
    ste : {"relu", "identity"}

    Notes
    -----
    c = 1/(k sqrt(2 pi)) for the ReLU STE, 2/(k sqrt(2 pi)) for the identity STE (derived in
    :func:`coarse_gradient_coefficients`; A = B there).
    """
    c = coarse_constant(k, ste)
    return c * (_unit(w, "w") - _unit(w_star, "w_star"))


def _angle(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    e = _unit(w_star, "w_star")
    along = np.sum(w * e, axis=-1)
    perp = np.linalg.norm(w - along[..., None] * e, axis=-1)
    return np.arctan2(perp, along)


@lru_cache(maxsize=1)
def _loss_np() -> Callable:
    return sp.lambdify((nw, ns, theta, _K), loss_expr(), "numpy")


def population_loss(w: np.ndarray, w_star: np.ndarray, k: int) -> np.ndarray:
    """l(w) evaluated from the derived :func:`loss_expr` at vectors (batched over leading axes)."""
    f = _loss_np()
    w = np.asarray(w, dtype=float)
    return np.asarray(f(np.linalg.norm(w, axis=-1), np.linalg.norm(w_star), _angle(w, w_star), k), dtype=float)


@lru_cache(maxsize=1)
def _true_gradient_np() -> tuple[Callable, Callable]:
    q_b, s_b = true_gradient_coefficients()
    return sp.lambdify((nw, ns, theta, _K), q_b, "numpy"), sp.lambdify((nw, ns, theta, _K), s_b, "numpy")


def true_gradient(w: np.ndarray, w_star: np.ndarray, k: int) -> np.ndarray:
    """grad l(w) = q_b w - s_b w* from the derived :func:`true_gradient_coefficients`, one vector ``w`` (d,)."""
    fq, fs = _true_gradient_np()
    w, w_star = np.asarray(w, dtype=float), np.asarray(w_star, dtype=float)
    args = (float(np.linalg.norm(w)), float(np.linalg.norm(w_star)), float(_angle(w, w_star)), k)
    return float(fq(*args)) * w - float(fs(*args)) * w_star


# ----------------------------------------------------------------------------------------------------------------
# Verifications: each takes the candidate and can fail.
# ----------------------------------------------------------------------------------------------------------------
def _rotated_pair(t: float, dim: int, rng: np.random.Generator, nu: float = 1.0, nv: float = 1.0):
    qm, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return nu * qm[:, 0], nv * (np.cos(t) * qm[:, 0] + np.sin(t) * qm[:, 1])


def _combine(checks: Sequence[Check], method: str, description: str) -> Check:
    return Check(method, description, all(c.passed for c in checks), " | ".join(c.detail for c in checks))


ANGLES: tuple[float, ...] = (0.0, 0.5, np.pi / 2, 2.3, 3.0, np.pi)


def verify_moments_mc(same_patch: sp.Expr, mean: sp.Expr, independent: sp.Expr, *, dim: int = 4,
                      n_samples: int = 200_000, seed: int = 20, n_se: float = 4.0) -> Check:
    """Monte Carlo in ``dim`` dimensions (random orientation, random norms) of the three scalar moments."""
    rng = np.random.default_rng(seed)
    f = sp.lambdify(theta, same_patch, "numpy")
    checks = []
    for t in ANGLES:
        u, v = _rotated_pair(t, dim, rng, rng.uniform(0.3, 3), rng.uniform(0.3, 3))
        x = rng.standard_normal((n_samples, dim))
        checks.append(verify_monte_carlo(((x @ u > 0) & (x @ v > 0)).astype(float), float(f(t)), f"t={t:.3f}",
                                         n_se=n_se))
    x = rng.standard_normal((n_samples, dim))
    y = rng.standard_normal((n_samples, dim))
    u, v = _rotated_pair(0.7, dim, rng, 2.0, 0.5)
    checks.append(verify_monte_carlo((x @ u > 0).astype(float), float(mean), "mean", n_se=n_se))
    checks.append(verify_monte_carlo(((x @ u > 0) & (y @ v > 0)).astype(float), float(independent),
                                     "independent patches", n_se=n_se))
    return _combine(checks, "monte-carlo", f"E[sigma(u.x) sigma(v.x)] at {len(ANGLES)} angles, E[sigma], and the "
                    f"independent-patch term vs Monte Carlo (d={dim})")


def verify_same_patch_orthant(same_patch: sp.Expr) -> Check:
    """Symbolic comparison with Sheppard's orthant probability P(X > 0, Y > 0) = 1/4 + arcsin(rho)/(2 pi), rho = cos t.

    An independent route (the bivariate normal orthant formula), valid for t in [0, pi].
    """
    sheppard = sp.Rational(1, 4) + sp.asin(sp.cos(theta)) / (2 * sp.pi)
    pts = [{theta: sp.Rational(n, 7) * sp.pi} for n in range(8)]
    return verify_symbolic_zero(same_patch - sheppard, "same-patch moment vs Sheppard's orthant formula",
                                numeric_points=pts)


def _verify_vector_mc(samples: np.ndarray, value: np.ndarray, label: str, n_se: float) -> list[Check]:
    return [verify_monte_carlo(samples[:, c], float(value[c]), f"{label}[{c}]", n_se=n_se)
            for c in range(samples.shape[1])]


def verify_wedge_vector_mc(alpha: sp.Expr, gamma: sp.Expr, half: sp.Expr, *, dim: int = 3,
                           n_samples: int = 200_000, seed: int = 21, n_se: float = 4.0) -> Check:
    """Monte Carlo of E[x 1{u.x>0} 1{v.x>0}] = alpha u_hat + gamma v_hat and E[x 1{u.x>0}] = half u_hat (all
    components, random orientation)."""
    rng = np.random.default_rng(seed)
    fa = sp.lambdify(theta, alpha, "numpy")
    fg = sp.lambdify(theta, gamma, "numpy")
    checks = []
    for t in (0.4, np.pi / 2, 2.5):
        u, v = _rotated_pair(t, dim, rng)
        x = rng.standard_normal((n_samples, dim))
        ind = ((x @ u > 0) & (x @ v > 0))[:, None]
        checks += _verify_vector_mc(x * ind, float(fa(t)) * u + float(fg(t)) * v, f"wedge t={t:.2f}", n_se)
    x = rng.standard_normal((n_samples, dim))
    checks += _verify_vector_mc(x * (x @ u > 0)[:, None], float(half) * u, "half-space", n_se)
    return _combine(checks, "monte-carlo", f"vector moments E[x 1{{u.x>0}} 1{{v.x>0}}], E[x 1{{u.x>0}}] vs Monte Carlo "
                    f"(d={dim}, each component within {n_se} s.e.)")


#: (k, d, t) for the network-level Monte Carlo checks (norms random).
NETWORK_CASES: tuple[tuple[int, int, float], ...] = ((1, 3, 0.6), (2, 4, 1.9), (4, 5, 1.2), (9, 3, 2.8))


def _case_vectors(k_val: int, dim: int, t: float, rng: np.random.Generator):
    u, v = _rotated_pair(t, dim, rng, rng.uniform(0.3, 3.0), rng.uniform(0.3, 3.0))
    return u, v


def verify_binary_loss_mc(candidate: sp.Expr, *, cases: Sequence[tuple[int, int, float]] = NETWORK_CASES,
                          n_samples: int = 100_000, seed: int = 22, n_se: float = 4.0) -> Check:
    """Monte Carlo of the binarized network's squared error against the candidate l (in nw, ns, theta, k)."""
    rng = np.random.default_rng(seed)
    f = sp.lambdify((nw, ns, theta, k), candidate, "numpy")
    checks = []
    for k_val, dim, t in cases:
        w, w_star = _case_vectors(k_val, dim, t, rng)
        z = rng.standard_normal((n_samples, k_val, dim))
        val = float(f(np.linalg.norm(w), np.linalg.norm(w_star), t, k_val))
        checks.append(verify_monte_carlo(sample_loss(z, w, w_star), val, f"(k,d,t)=({k_val},{dim},{t})", n_se=n_se))
    return _combine(checks, "monte-carlo", f"l(w) vs Monte Carlo of the binarized network, {len(cases)} cases")


def verify_pair_counting(e_ws_candidate: sp.Expr, *, k_values: Sequence[int] = (1, 2, 3, 6)) -> Check:
    """E[f_w f_w*] (in theta, k) against an explicit double loop over patch pairs (i == j: same-patch moment)."""
    m = _moment_steps()
    for k_val in k_values:
        ref = sum(m["same_patch"] if i == j else m["independent_patch"] for i in range(k_val)
                  for j in range(k_val)) / sp.Integer(k_val) ** 2
        diff = sp.simplify(e_ws_candidate.subs(k, k_val) - ref)
        if diff != 0:
            return Check("symbolic", "pair count in E[f_w f_w*] vs explicit loop", False, f"difference {diff} at "
                         f"k={k_val}")
    return Check("symbolic", f"pair count in E[f_w f_w*] vs explicit loop over i, j, k in {tuple(k_values)}", True,
                 "all differences simplify to 0")


def verify_gradient_fd(q_candidate: sp.Expr, s_candidate: sp.Expr, *, n_points: int = 10, dim: int = 4,
                       h: float = 1e-6, seed: int = 23) -> Check:
    """Central differences of the derived closed-form loss t/(k pi) at vectors vs q w - s w* (candidates).

    Notes
    -----
    Truncation O(h^2) ~ 1e-12, rounding O(eps/h) ~ 1e-10 for O(1) values; angles kept in (0.2, pi - 0.2), so
    rtol = 1e-5 (floor 1e-8) is wide for the method and far below any wrong coefficient.
    """
    rng = np.random.default_rng(seed)
    fl = sp.lambdify((nw, ns, theta, k), loss_expr(), "numpy")
    fq = sp.lambdify((nw, ns, theta, k), q_candidate, "numpy")
    fs = sp.lambdify((nw, ns, theta, k), s_candidate, "numpy")
    worst, ok = 0.0, True
    for idx in range(n_points):
        k_val = (1, 2, 5, 10)[idx % 4]
        t = rng.uniform(0.2, np.pi - 0.2)
        w, w_star = _rotated_pair(t, dim, rng, rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0))

        def lval(x, w_star=w_star, k_val=k_val):
            return float(fl(np.linalg.norm(x), np.linalg.norm(w_star), float(_angle(x, w_star)), k_val))

        fd = np.array([(lval(w + h * e) - lval(w - h * e)) / (2 * h) for e in np.eye(dim)])
        args = (np.linalg.norm(w), np.linalg.norm(w_star), t, k_val)
        grad = float(fq(*args)) * w - float(fs(*args)) * w_star
        tol = 1e-8 + 1e-5 * float(np.max(np.abs(fd)))
        err = float(np.max(np.abs(fd - grad)))
        ok &= bool(np.isfinite(err)) and err <= tol
        worst = max(worst, err / tol) if np.isfinite(err) else np.inf
    return Check("finite-difference", f"q w - s w* vs central differences of l = t/(k pi), {n_points} points, d={dim}",
                 ok, f"worst max|fd - grad|/tol = {worst:.3g}")


def verify_sample_gradient_vanishes(activation: Callable[[np.ndarray], np.ndarray], *, n_samples: int = 2000,
                                    dim: int = 4, k_val: int = 3, h: float = 1e-7, seed: int = 24) -> Check:
    """The per-sample loss (f(Z;w) - y)^2 with the given activation has zero gradient at random (w, Z).

    Central differences of the per-sample loss along each coordinate must be exactly 0 for all but a fraction
    ``<= 1e-3`` of samples (a pre-activation within ``h |Z_i|`` of 0 has probability O(h)). With sigma = 1{t > 0}
    the loss is piecewise constant in w; feeding the ReLU instead makes the check fail.
    """
    rng = np.random.default_rng(seed)
    w, w_star = rng.standard_normal(dim), rng.standard_normal(dim)
    z = rng.standard_normal((n_samples, k_val, dim))

    def loss(v):
        return (activation(z @ v).mean(axis=-1) - activation(z @ w_star).mean(axis=-1)) ** 2

    nonzero = 0
    for e in np.eye(dim):
        nonzero += int(np.count_nonzero((loss(w + h * e) - loss(w - h * e)) / (2 * h)))
    frac = nonzero / (n_samples * dim)
    return Check("finite-difference", "per-sample gradient of (f(Z;w) - y)^2 vanishes a.s. (central differences "
                 f"exactly 0), {n_samples} samples x {dim} directions", frac <= 1e-3,
                 f"fraction of nonzero difference quotients {frac:.2e} (allowed 1e-3)")


def verify_coarse_gradient_mc(a_candidate: sp.Expr, b_candidate: sp.Expr, ste: str, *,
                              cases: Sequence[tuple[int, int, float]] = NETWORK_CASES, n_samples: int = 100_000,
                              seed: int = 25, n_se: float = 4.0) -> Check:
    """Monte Carlo of the sampled coarse gradient (every component) vs A w_hat - B w*_hat (candidates in k)."""
    rng = np.random.default_rng(seed)
    fa = sp.lambdify(k, a_candidate, "numpy")
    fb = sp.lambdify(k, b_candidate, "numpy")
    checks = []
    for k_val, dim, t in cases:
        w, w_star = _case_vectors(k_val, dim, t, rng)
        z = rng.standard_normal((n_samples, k_val, dim))
        value = float(fa(k_val)) * w / np.linalg.norm(w) - float(fb(k_val)) * w_star / np.linalg.norm(w_star)
        checks += _verify_vector_mc(sampled_coarse_gradient(z, w, w_star, ste), value, f"(k,d,t)=({k_val},{dim},{t})",
                                    n_se)
    return _combine(checks, "monte-carlo", f"expected coarse gradient ({ste} STE) vs Monte Carlo, {len(cases)} "
                    f"cases, every component within {n_se} s.e.")


def verify_inner_product_mc(inner_candidate: sp.Expr, ste: str, *, cases: Sequence[tuple[int, int, float]] = (
        (2, 4, 0.4), (3, 3, 1.5), (5, 6, 2.7)), n_samples: int = 100_000, seed: int = 26,
        n_se: float = 4.0) -> Check:
    """Monte Carlo of <grad l(w), g(Z)> over sampled coarse gradients g against the candidate inner product."""
    rng = np.random.default_rng(seed)
    f = sp.lambdify((nw, ns, theta, k), inner_candidate, "numpy")
    checks = []
    for k_val, dim, t in cases:
        w, w_star = _case_vectors(k_val, dim, t, rng)
        z = rng.standard_normal((n_samples, k_val, dim))
        samples = sampled_coarse_gradient(z, w, w_star, ste) @ true_gradient(w, w_star, k_val)
        val = float(f(np.linalg.norm(w), np.linalg.norm(w_star), t, k_val))
        checks.append(verify_monte_carlo(samples, val, f"(k,d,t)=({k_val},{dim},{t})", n_se=n_se))
    return _combine(checks, "monte-carlo", f"<grad l, coarse gradient> ({ste} STE) vs Monte Carlo")


def verify_positive_on_open_interval(inner_candidate: sp.Expr, *, n_grid: int = 400) -> Check:
    """The candidate <grad l, E g> is > 0 at every t of a grid in (0, pi) (several |w|, |w*|, k)."""
    f = sp.lambdify((nw, ns, theta, k), inner_candidate, "numpy")
    ts = np.linspace(0, np.pi, n_grid + 2)[1:-1]
    worst = np.inf
    for n_w, n_s, k_val in ((0.3, 1.0, 1), (1.0, 1.0, 4), (2.5, 0.7, 9)):
        worst = min(worst, float(np.min(np.asarray(f(n_w, n_s, ts, k_val), dtype=float) * np.ones_like(ts))))
    return Check("numeric", f"<grad l, E g> > 0 on a grid of {n_grid} angles in (0, pi)", worst > 0,
                 f"minimum over the grid {worst:.3e}")


# ----------------------------------------------------------------------------------------------------------------
# Derivations.
# ----------------------------------------------------------------------------------------------------------------
_MOMENTS_LATEX = r"""
With $\sigma(t) = 1\{t>0\}$ and $x\sim N(0,I_d)$, rotate so that $\hat u = e_1$, $\hat v = \cos t\,e_1 + \sin t\,e_2$,
$x = r(\cos\phi,\sin\phi)$. Both indicators hold on the wedge $\phi\in(t-\pi/2,\pi/2)$, so
$$\mathbb E[\sigma(u\cdot x)\sigma(v\cdot x)] = \int_0^\infty \frac{r e^{-r^2/2}}{2\pi}dr\int_{t-\pi/2}^{\pi/2}d\phi
= \frac{\pi - t}{2\pi},\qquad \mathbb E[\sigma(u\cdot x)] = \tfrac12,\qquad
\mathbb E[\sigma(u\cdot Z_i)\sigma(v\cdot Z_j)] = \tfrac14\ (i\ne j).$$
Vector moments (radial weight $\int_0^\infty r^2 e^{-r^2/2}dr/(2\pi) = 1/(2\sqrt{2\pi})$):
$$\mathbb E[x\,1\{u\cdot x>0\}] = \frac{\hat u}{\sqrt{2\pi}},\qquad
\mathbb E[x\,1\{u\cdot x>0\}1\{v\cdot x>0\}] = \frac{(1+\cos t,\ \sin t)}{2\sqrt{2\pi}}
= \frac{\hat u+\hat v}{2\sqrt{2\pi}}.$$
"""


def derive_binary_moments() -> Derivation:
    """Gaussian moments of the step function (scalar and vector), verified by Monte Carlo and Sheppard's formula."""
    m = _moment_steps()
    checks = (
        verify_moments_mc(m["same_patch"], m["mean"], m["independent_patch"]),
        verify_same_patch_orthant(m["same_patch"]),
        verify_symbolic_zero(m["same_patch"].subs(theta, 0) - m["mean"],
                             "t = 0: E[sigma(u.x)^2] = E[sigma(u.x)] = 1/2"),
        verify_wedge_vector_mc(m["wedge_u_coef"], m["wedge_v_coef"], m["half_space_vector"]),
        verify_symbolic_zero(m["half_space_vector_perp"], "E[x 1{u.x>0}] has no component orthogonal to u"),
    )
    statement = {k_: m[k_] for k_ in ("mean", "same_patch", "independent_patch", "half_space_vector",
                                      "wedge_u_coef", "wedge_v_coef")}
    return Derivation("binary_moments", "Gaussian moments of the binarized activation", statement, checks,
                      _MOMENTS_LATEX, (ACTIVATION, "x ~ N(0, I_d)", "t = angle(u, v) in [0, pi]"))


_LOSS_LATEX = r"""
Pair counting as in the ReLU case: $\mathbb E[f_w f_{w^*}] = \frac1{k^2}[k\frac{\pi-t}{2\pi} + (k^2-k)\frac14]$,
$\mathbb E[f_w^2] = \mathbb E[f_{w^*}^2] = \frac1{k^2}[\frac k2 + \frac{k^2-k}4]$, hence
$$ l(w) = \frac{t}{k\pi},\qquad t = \angle(w, w^*),$$
a function of the angle only. For $0<t<\pi$, $\nabla l = \frac{1}{k\pi}\nabla t
= -\frac{1}{k\pi|w|\sin t}(\hat w^* - \cos t\,\hat w) = q_b w - s_b w^*$ with $q_b = \frac{\cos t}{k\pi|w|^2\sin t}$,
$s_b = \frac{1}{k\pi|w||w^*|\sin t}$: orthogonal to $w$ (0-homogeneity), of norm $1/(k\pi|w|)$.
Per sample, $(f(Z;w)-y)^2$ is piecewise constant in $w$ and its gradient is $0$ almost surely: the population
gradient is not the expectation of the sample gradient (differentiation and expectation do not commute).
"""


def derive_binary_loss() -> Derivation:
    """Population loss t/(k pi) of the binarized network and its true gradient (no factor 1/2)."""
    st = _loss_steps()
    q_b, s_b = st["q"], st["s"]
    checks = (
        verify_pair_counting(st["E_ws"]),
        verify_binary_loss_mc(st["loss"]),
        verify_symbolic_zero(st["loss"] - theta / (k * sp.pi), "derived l equals t/(k pi)"),
        verify_gradient_fd(q_b, s_b),
        verify_symbolic_zero(q_b * nw**2 - s_b * nw * ns * sp.cos(theta), "<grad l, w> = q|w|^2 - s|w||w*|cos t = 0"),
        verify_sample_gradient_vanishes(lambda v: (v > 0).astype(float)),
    )
    statement = {"loss": st["loss"], "E_f_w_f_wstar": st["E_ws"], "q_b": q_b, "s_b": s_b,
                 "true_gradient_norm_sq": sp.simplify(q_b**2 * nw**2 + s_b**2 * ns**2
                                                      - 2 * q_b * s_b * nw * ns * sp.cos(theta))}
    return Derivation("binary_loss", "Population loss and true gradient of the binarized network", statement,
                      checks, _LOSS_LATEX, (LOSS_CONVENTION, ACTIVATION, "grad l = q_b w - s_b w*, w != 0, 0 < t < pi"))


_COARSE_LATEX = r"""
The sample coarse gradient is $g = 2(f(Z;w)-y)\frac1k\sum_i \mu'(Z_i\cdot w)Z_i$. Expanding
$f(Z;w) - y = \frac1k\sum_j[\sigma(Z_j\cdot w) - \sigma(Z_j\cdot w^*)]$, the $k^2-k$ pairs $i\ne j$ vanish
($\mathbb E\sigma(Z_j\cdot w) = \mathbb E\sigma(Z_j\cdot w^*) = \frac12$ and $Z_i\perp Z_j$), and the $k$ diagonal
pairs give, with the vector moments,
$$\text{ReLU STE } (\mu' = 1\{t>0\}):\quad \mathbb E g = \frac2k\Big[\frac{\hat w}{\sqrt{2\pi}}
 - \frac{\hat w+\hat w^*}{2\sqrt{2\pi}}\Big] = \frac{1}{k\sqrt{2\pi}}(\hat w - \hat w^*),$$
$$\text{identity STE } (\mu' = 1):\quad \mathbb E g = \frac2k\Big[\frac{\hat w}{\sqrt{2\pi}}
 - \frac{\hat w^*}{\sqrt{2\pi}}\Big] = \frac{2}{k\sqrt{2\pi}}(\hat w - \hat w^*).$$
So $\mathbb E g = c(\hat w - \hat w^*)$; theory page s.6's $c = |v|^2/(2\sqrt{2\pi})$ (factor $\frac12$ in the loss,
second layer $v$) is, at $v_i = 1/k$ and without the $\frac12$, exactly $c_{relu} = 1/(k\sqrt{2\pi})$.
"""


def derive_coarse_gradient() -> Derivation:
    """Expected coarse gradient for the ReLU and identity STEs, verified by Monte Carlo of the sampled gradient."""
    checks = []
    statement = {}
    for ste in STES:
        a_c, b_c = coarse_gradient_coefficients(ste)
        checks.append(verify_coarse_gradient_mc(a_c, b_c, ste))
        checks.append(verify_symbolic_zero(a_c - b_c, f"{ste} STE: the coefficients of w_hat and w*_hat are equal"))
        statement[f"A_{ste}"] = a_c
        statement[f"B_{ste}"] = b_c
    checks.append(verify_symbolic_zero(coarse_gradient_coefficients("relu")[0] - 1 / (k * sp.sqrt(2 * sp.pi)),
                                       "c_relu = 1/(k sqrt(2 pi)) (THEORY s.6's c at |v|^2 = 1/k, times 2)"))
    return Derivation("coarse_gradient", "Expected coarse gradient (ReLU and identity straight-through estimators)",
                      statement, tuple(checks), _COARSE_LATEX, (LOSS_CONVENTION, ACTIVATION, STE_CONVENTION))


_CORR_LATEX = r"""
With $\nabla l = -\frac{1}{k\pi|w|\sin t}(\hat w^* - \cos t\,\hat w)$ and $\mathbb E g = c(\hat w - \hat w^*)$,
$(\hat w^* - \cos t\,\hat w)\cdot(\hat w - \hat w^*) = -\sin^2 t$, so
$$\langle\nabla l, \mathbb E g\rangle = \frac{c\sin t}{k\pi|w|} > 0\quad(0<t<\pi),\qquad
\cos\angle(\nabla l,\mathbb E g) = \frac{\sin t}{2\sin(t/2)} = \cos\frac t2 .$$
Also $\langle\mathbb E g, w\rangle = c|w|(1-\cos t)\ge 0$: the coarse gradient has an outward radial component, so a
step against it never increases $|w|$ to first order (the source of the shrinking norm, see
\texttt{binary\_split\_fixed\_points}).
"""


def derive_coarse_gradient_correlation() -> Derivation:
    """<grad l, E g> = c sin t/(k pi |w|) > 0 and the angle t/2 between them, for both STEs."""
    checks = []
    statement = {}
    for ste in STES:
        c_expr = coarse_gradient_coefficients(ste)[0]
        e = correlation_exprs(ste)
        cos_angle = e["inner"] / sp.sqrt(e["coarse_norm_sq"] * e["true_norm_sq"])
        pts = [{nw: sp.Rational(3, 2), ns: sp.Rational(1, 2), k: 3, theta: sp.Rational(n, 5) * sp.pi}
               for n in range(1, 5)]
        checks += [
            verify_symbolic_zero(e["inner"] - c_expr * sp.sin(theta) / (k * sp.pi * nw),
                                 f"{ste}: <grad l, E g> = c sin t/(k pi |w|)"),
            verify_symbolic_zero(cos_angle - sp.cos(theta / 2), f"{ste}: cos angle(grad l, E g) = cos(t/2) on (0, pi)",
                                 numeric_points=pts),
            verify_symbolic_zero(e["radial"] - c_expr * nw * (1 - sp.cos(theta)), f"{ste}: <E g, w> = c|w|(1 - cos t)"),
            verify_positive_on_open_interval(e["inner"]),
            verify_inner_product_mc(e["inner"], ste),
        ]
        statement[f"inner_{ste}"] = e["inner"]
        statement[f"radial_{ste}"] = e["radial"]
    statement["cos_angle"] = sp.cos(theta / 2)
    return Derivation("coarse_gradient_correlation", "Positive correlation of the coarse and the true gradient",
                      statement, tuple(checks), _CORR_LATEX, (LOSS_CONVENTION, ACTIVATION, STE_CONVENTION))
