"""The population loss of the no-overlap one-hidden-layer CNN and its gradient (theory page section 2).

Convention: l(w) = E[(f(Z; w) - f(Z; w*))^2] with NO factor 1/2, f(Z; w) = (1/k) sum_i relu(Z_i . w), Z_i i.i.d.
N(0, I_d) patches.

Public API
----------
``loss_expr()``              l as a SymPy expression in (nw, ns, theta, k) of :mod:`theory.symbols`.
``gradient_coefficients()``  (q, s) with grad l(w) = q w - s w*, both in (nw, ns, theta, k); valid for w != 0.
``structured_gradient_coefficients()``  the structured form (A(w)/k^2, (pi - t)/(k pi)) to be checked against it.
``verify_loss_monte_carlo``, ``verify_gradient_symbolic``, ``verify_gradient_finite_difference``,
``verify_gradient_explicit_vectors`` take candidate expressions and return a :class:`Check`.
``derive_population_loss()``, ``derive_gradient()`` return the records ``"population_loss"`` and ``"gradient"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import sympy as sp

from .gaussian import NU, NV, arccos_kernel_expr, independent_patch_expr
from .record import Check, Derivation
from .symbols import k, ns, nw, theta
from .verify import verify_monte_carlo, verify_symbolic_zero

LOSS_CONVENTION = "l(w) = E[(f(Z;w) - f(Z;w*))^2] with no factor 1/2 (BG17); a factor 1/2 would halve l and grad l"

_i = sp.Symbol("i", integer=True, positive=True)
_j = sp.Symbol("j", integer=True, positive=True)


def _cross_moment(norm_a: sp.Expr, norm_b: sp.Expr, angle: sp.Expr) -> sp.Expr:
    """E[f(Z; a) f(Z; b)] by summing the patch-pair expectations over i, j = 1..k.

    Notes
    -----
    E[f_a f_b] = (1/k^2) sum_i sum_j E[relu(Z_i.a) relu(Z_j.b)]; the (i, i) terms are the arc-cosine kernel, the
    (i, j != i) terms the independent-patch product. Written as sum_i [g + sum_{j=1}^k m - m] so that SymPy does the
    counting: k diagonal and k^2 - k off-diagonal pairs.
    """
    sub = {NU: norm_a, NV: norm_b}
    g = arccos_kernel_expr().subs(sub).subs(theta, angle)
    m = independent_patch_expr().subs(sub)
    pair_sum = sp.Sum(g + sp.Sum(m, (_j, 1, k)) - m, (_i, 1, k)).doit()
    return sp.expand(pair_sum / k**2)


@lru_cache(maxsize=1)
def _loss_steps() -> dict[str, sp.Expr]:
    e_ww = _cross_moment(nw, nw, sp.Integer(0))
    e_ws = _cross_moment(nw, ns, theta)
    e_ss = _cross_moment(ns, ns, sp.Integer(0))
    loss = e_ww - 2 * e_ws + e_ss  # expand the square
    return {"E_ww": e_ww, "E_ws": e_ws, "E_ss": e_ss, "loss": sp.simplify(loss)}


def loss_expr() -> sp.Expr:
    """The population loss l(w), derived from the Gaussian moments by counting patch pairs.

    Returns
    -------
    sympy expression
        In ``nw`` (= |w|), ``ns`` (= |w*|), ``theta`` (= angle(w, w*)) and ``k`` from :mod:`theory.symbols`.

    Notes
    -----
    .. math:: l(w) = \\frac{1}{k^2}\\Big[\\frac{k}{2}(|w|^2 + |w^*|^2) - 2k\\,g(w, w^*)
              + \\frac{k^2-k}{2\\pi}(|w| - |w^*|)^2\\Big],

    with g the arc-cosine kernel. No factor 1/2 in front of the expectation.
    """
    return _loss_steps()["loss"]


@lru_cache(maxsize=1)
def _gradient_steps() -> dict[str, sp.Expr]:
    # l depends on w only through nw = |w| and c = cos(theta) = w.w*/(nw ns). Chain rule:
    #   grad nw = w/nw,   grad c = w*/(nw ns) - c w/nw^2,   dl/dc = (dl/dtheta) / (dc/dtheta) = -(dl/dtheta)/sin(theta).
    # So grad l = [l_nw/nw + l_theta cos(theta)/(sin(theta) nw^2)] w - [l_theta/(sin(theta) nw ns)] w*.
    loss = loss_expr()
    l_nw = sp.diff(loss, nw)
    l_th = sp.diff(loss, theta)
    dl_dc = -l_th / sp.sin(theta)
    q = sp.simplify(l_nw / nw - dl_dc * sp.cos(theta) / nw**2)
    s = sp.simplify(-dl_dc / (nw * ns))
    return {"dl_dnw": sp.simplify(l_nw), "dl_dtheta": sp.simplify(l_th), "q": q, "s": s}


def gradient_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """Coefficients (q, s) of the gradient grad l(w) = q w - s w*, for w != 0.

    Returns
    -------
    q, s : sympy expressions
        In ``nw``, ``ns``, ``theta``, ``k`` (:mod:`theory.symbols`), obtained by differentiating :func:`loss_expr`
        through |w| and cos(theta) with the chain rule.

    Notes
    -----
    .. math:: q = \\frac{A(w)}{k^2},\\quad A(w) = k + \\frac{k^2-k}{\\pi} - \\frac{k|w^*|\\sin t}{\\pi |w|}
              - \\frac{(k^2-k)|w^*|}{\\pi|w|},\\qquad s = \\frac{\\pi - t}{k\\pi}.

    The ``sin(theta)`` divided out by the chain rule cancels symbolically, so both are regular on [0, pi].
    """
    steps = _gradient_steps()
    return steps["q"], steps["s"]


def structured_gradient_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """The structured form (A(w)/k^2, (pi - t)/(k pi)) of theory page section 2, typed in to be checked.

    It enters the toolkit only through :func:`verify_gradient_symbolic` (difference with the derived
    :func:`gradient_coefficients` simplifies to zero) and the finite-difference check.
    """
    a_w = k + (k**2 - k) / sp.pi - k * ns * sp.sin(theta) / (sp.pi * nw) - (k**2 - k) * ns / (sp.pi * nw)
    return a_w / k**2, (sp.pi - theta) / (k * sp.pi)


def theory_form_loss() -> sp.Expr:
    """The closed form of theory page section 2, typed in only to be compared with :func:`loss_expr`.

    Notes
    -----
    .. math:: \\frac{1}{k^2}\\Big[\\frac{k}{2}(n_w^2 + n_s^2) - \\frac{k\\,n_w n_s}{\\pi}(\\sin t + (\\pi - t)\\cos t)
              + \\frac{k^2-k}{2\\pi}(n_w - n_s)^2\\Big]
    """
    g = nw * ns * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)) / (2 * sp.pi)
    return (k * (nw**2 + ns**2) / 2 - 2 * k * g + (k**2 - k) / (2 * sp.pi) * (nw - ns) ** 2) / k**2


# ----------------------------------------------------------------------------------------------------------------
# Numerical helpers: evaluate an (nw, ns, theta, k) expression at actual vectors w, w*.
# ----------------------------------------------------------------------------------------------------------------


def _angle(w: np.ndarray, w_star: np.ndarray) -> float:
    # atan2(|w_perp|, w . w*/|w*|) rather than arccos: accurate also for angles near 0 and pi (Hessian at w*).
    unit = w_star / np.linalg.norm(w_star)
    along = float(w @ unit)
    return float(np.arctan2(np.linalg.norm(w - along * unit), along))


def loss_at_vectors(expr: sp.Expr):
    """Return ``f(w, w_star, k_val)`` evaluating an expression in (nw, ns, theta, k) at vectors ``w``, ``w_star``."""
    f = sp.lambdify((nw, ns, theta, k), expr, "numpy")

    def evaluate(w: np.ndarray, w_star: np.ndarray, k_val: int) -> float:
        return float(f(np.linalg.norm(w), np.linalg.norm(w_star), _angle(w, w_star), k_val))

    return evaluate


def network_loss_samples(w: np.ndarray, w_star: np.ndarray, k_val: int, n_samples: int,
                         rng: np.random.Generator) -> np.ndarray:
    """Per-sample squared error (f(Z; w) - f(Z; w*))^2 of the actual network, Z with i.i.d. N(0, 1) entries.

    Parameters
    ----------
    w, w_star : ndarray, shape (d,)
    k_val : int
        Number of patches, >= 1.
    n_samples : int
        Number of inputs Z in R^{k x d}, >= 2.
    rng : numpy Generator

    Notes
    -----
    f(Z; w) = (1/k) sum_i relu(Z_i . w).
    """
    if k_val < 1:
        raise ValueError(f"k_val must be >= 1, got {k_val}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    z = rng.standard_normal((n_samples, k_val, w.shape[0]))
    f_w = np.maximum(z @ w, 0.0).mean(axis=1)
    f_s = np.maximum(z @ w_star, 0.0).mean(axis=1)
    return (f_w - f_s) ** 2


#: (k, d, |w|, |w*|) for the Monte Carlo check of the loss; the angle is drawn at random per case.
LOSS_MC_CASES: tuple[tuple[int, int, float, float], ...] = (
    (1, 3, 0.7, 1.0),
    (2, 4, 1.4, 1.0),
    (2, 8, 0.5, 2.0),
    (4, 5, 1.0, 1.3),
    (9, 3, 2.0, 1.0),
)


def verify_loss_monte_carlo(
    candidate: sp.Expr, *, cases: Sequence[tuple[int, int, float, float]] = LOSS_MC_CASES, n_samples: int = 200_000,
    seed: int = 3, n_se: float = 4.0,
) -> Check:
    """Monte Carlo of the actual network's squared error against the candidate closed form l(w).

    Parameters
    ----------
    candidate : sympy expression in (nw, ns, theta, k)
    cases : sequence of (k, d, |w|, |w*|)
        Directions of w and w* are random (seeded); each case is checked within ``n_se`` standard errors.
    """
    rng = np.random.default_rng(seed)
    evaluate = loss_at_vectors(candidate)
    rows, ok = [], True
    for k_val, dim, n_w, n_s in cases:
        w = rng.standard_normal(dim)
        w *= n_w / np.linalg.norm(w)
        w_star = rng.standard_normal(dim)
        w_star *= n_s / np.linalg.norm(w_star)
        samples = network_loss_samples(w, w_star, k_val, n_samples, rng)
        c = verify_monte_carlo(samples, evaluate(w, w_star, k_val), f"(k,d)=({k_val},{dim})", n_se=n_se)
        ok &= c.passed
        rows.append(f"(k,d)=({k_val},{dim}), t={_angle(w, w_star):.2f}: {c.detail}")
    return Check("monte-carlo", f"l(w) vs Monte Carlo of the network, {len(cases)} (k, d, w, w*) cases", ok,
                 " | ".join(rows))


def verify_pair_counting(candidate_cross: sp.Expr, *, k_values: Sequence[int] = (1, 2, 3, 5, 8)) -> Check:
    """Check the symbolic pair count in E[f_a f_b] against an explicit double loop over patch pairs.

    ``candidate_cross`` is an expression in (NU, NV, theta, k) for E[f(Z; a) f(Z; b)]; the reference loops over
    i, j = 1..k in Python, adding the kernel when i == j and the independent-patch product otherwise.
    """
    g = arccos_kernel_expr()
    m = independent_patch_expr()
    worst = sp.Integer(0)
    for k_val in k_values:
        ref = sum((g if i == j else m) for i in range(k_val) for j in range(k_val)) / sp.Integer(k_val) ** 2
        diff = sp.simplify(candidate_cross.subs(k, k_val) - ref)
        if diff != 0:
            worst = diff
            break
    ok = worst == 0
    return Check("symbolic", f"pair count in E[f_a f_b] vs explicit loop over i, j for k in {tuple(k_values)}", ok,
                 "all differences simplify to 0" if ok else f"difference {worst} at k={k_val}")


def cross_moment_expr() -> sp.Expr:
    """E[f(Z; a) f(Z; b)] in (NU = |a|, NV = |b|, theta = angle(a, b), k), from the pair sum.

    Notes
    -----
    .. math:: \\mathbb E[f_a f_b] = \\frac{1}{k^2}\\big[k\\,g(a, b) + (k^2 - k)\\frac{|a||b|}{2\\pi}\\big].
    """
    return _cross_moment(NU, NV, theta)


_LOSS_LATEX = r"""
With $f(Z;w) = \frac1k\sum_{i=1}^k \sigma(Z_i\cdot w)$ and independent patches,
$$\mathbb E[f(Z;a)f(Z;b)] = \frac1{k^2}\sum_{i,j=1}^k \mathbb E[\sigma(Z_i\cdot a)\sigma(Z_j\cdot b)]
 = \frac1{k^2}\Big[k\,g(a,b) + (k^2-k)\frac{|a||b|}{2\pi}\Big],$$
since the $k$ diagonal pairs give the arc-cosine kernel and the $k^2-k$ off-diagonal pairs factorize
(SymPy evaluates $\sum_i[g + \sum_{j} m - m]$). Expanding the square,
$l(w) = \mathbb E[f_w^2] - 2\mathbb E[f_w f_{w^*}] + \mathbb E[f_{w^*}^2]$, with $g(w,w)=|w|^2/2$:
$$ l(w) = \frac1{k^2}\Big[\frac k2(|w|^2+|w^*|^2) - \frac{k|w||w^*|}{\pi}\big(\sin t + (\pi-t)\cos t\big)
 + \frac{k^2-k}{2\pi}(|w|-|w^*|)^2\Big],\qquad t=\angle(w,w^*).$$
At $w = w^*$ ($|w|=|w^*|$, $t=0$) every term cancels: $l(w^*)=0$.
"""


def derive_population_loss() -> Derivation:
    """Derive and verify the closed-form population loss l(w) (no factor 1/2).

    Returns
    -------
    Derivation
        Named ``"population_loss"``.

    Notes
    -----
    .. math:: l(w) = \\frac{1}{k^2}\\Big[\\frac{k}{2}(|w|^2 + |w^*|^2) - 2k\\,g(w, w^*)
              + \\frac{k^2-k}{2\\pi}(|w| - |w^*|)^2\\Big].
    """
    steps = _loss_steps()
    loss = steps["loss"]
    checks = (
        verify_pair_counting(cross_moment_expr()),
        verify_loss_monte_carlo(loss),
        verify_symbolic_zero(loss.subs({nw: ns, theta: 0}), "l(w*) = 0 (|w| = |w*|, t = 0)"),
        verify_symbolic_zero(loss - theory_form_loss(),
                             "derived l(w) equals the closed form stated in theory page section 2"),
    )
    return Derivation(
        name="population_loss",
        title="Population loss of the no-overlap network",
        statement={"loss": loss, "E_f_w_f_wstar": steps["E_ws"], "E_f_w_sq": steps["E_ww"]},
        checks=checks,
        latex=_LOSS_LATEX,
        conventions=(LOSS_CONVENTION, "Z has k non-overlapping patches with i.i.d. N(0,1) entries",
                     "f(Z;w) = (1/k) sum_i relu(Z_i.w)", "t = angle(w, w*) in [0, pi]"),
    )


# ----------------------------------------------------------------------------------------------------------------
# Gradient verifications.
# ----------------------------------------------------------------------------------------------------------------


def verify_gradient_symbolic(q_candidate: sp.Expr, s_candidate: sp.Expr) -> Check:
    """Check that a candidate (q, s) equals the derived :func:`gradient_coefficients` (difference simplifies to 0)."""
    q, s = gradient_coefficients()
    cq = verify_symbolic_zero(q - q_candidate, "q")
    cs = verify_symbolic_zero(s - s_candidate, "s")
    return Check("symbolic", "candidate (q, s) minus the chain-rule (q, s) simplifies to zero", cq.passed and cs.passed,
                 f"q: {cq.detail}; s: {cs.detail}")


def _random_points(n: int, dim: int, k_values: Sequence[int], rng: np.random.Generator) -> list[tuple]:
    points = []
    for idx in range(n):
        w = rng.standard_normal(dim) * rng.uniform(0.5, 2.0)
        w_star = rng.standard_normal(dim) * rng.uniform(0.5, 2.0)
        points.append((w, w_star, int(k_values[idx % len(k_values)])))
    return points


def verify_gradient_finite_difference(
    q_candidate: sp.Expr, s_candidate: sp.Expr, *, loss: sp.Expr | None = None, n_points: int = 12, dim: int = 4,
    k_values: Sequence[int] = (1, 2, 5, 10), h: float = 1e-5, rtol: float = 1e-6, seed: int = 4,
) -> Check:
    """Central finite differences of the closed-form loss against q w - s w* at random (w, w*, k).

    Notes
    -----
    Central differences have truncation error O(h^2 |l'''|) ~ 1e-10 and rounding error O(eps/h) ~ 1e-11 at
    h = 1e-5 for O(1) inputs, so ``rtol = 1e-6`` (relative to |grad|, absolute floor 1e-8) leaves a wide margin
    while any wrong coefficient (an O(1) change) fails.
    """
    rng = np.random.default_rng(seed)
    evaluate = loss_at_vectors(loss_expr() if loss is None else loss)
    fq = sp.lambdify((nw, ns, theta, k), q_candidate, "numpy")
    fs = sp.lambdify((nw, ns, theta, k), s_candidate, "numpy")
    worst, ok = 0.0, True
    for w, w_star, k_val in _random_points(n_points, dim, k_values, rng):
        args = (np.linalg.norm(w), np.linalg.norm(w_star), _angle(w, w_star), k_val)
        grad = float(fq(*args)) * w - float(fs(*args)) * w_star
        fd = np.empty(dim)
        for c in range(dim):
            e = np.zeros(dim)
            e[c] = h
            fd[c] = (evaluate(w + e, w_star, k_val) - evaluate(w - e, w_star, k_val)) / (2 * h)
        err = float(np.max(np.abs(fd - grad)))
        tol = 1e-8 + rtol * float(np.max(np.abs(fd)))
        ok &= bool(np.isfinite(err)) and err <= tol
        worst = max(worst, err / tol) if np.isfinite(err) else np.inf
    return Check("finite-difference",
                 f"q w - s w* vs central differences of l at {n_points} random (w, w*, k), d={dim}", ok,
                 f"worst max|fd - grad| / tol = {worst:.3g} (h={h}, rtol={rtol})")


def verify_gradient_explicit_vectors(
    q_candidate: sp.Expr, s_candidate: sp.Expr, *, dim: int = 3, n_points: int = 4, seed: int = 5,
) -> Check:
    """Differentiate l with respect to explicit symbolic coordinates w_1..w_dim and compare with q w - s w*.

    l is written in the coordinates of w and w* (|w| = sqrt(sum w_i^2), t = acos(w.w*/(|w||w*|))), differentiated
    exactly by SymPy, and both sides are evaluated at random rational points with 30 significant digits.
    """
    if dim < 2:
        raise ValueError(f"dim must be >= 2, got {dim}")
    rng = np.random.default_rng(seed)
    wv = sp.symbols(f"w1:{dim + 1}", real=True)
    sv = sp.symbols(f"s1:{dim + 1}", real=True)
    norm_w = sp.sqrt(sum(x**2 for x in wv))
    norm_s = sp.sqrt(sum(x**2 for x in sv))
    ang = sp.acos(sum(a * b for a, b in zip(wv, sv, strict=True)) / (norm_w * norm_s))
    to_coords = {nw: norm_w, ns: norm_s, theta: ang}
    loss_c = loss_expr().subs(to_coords)
    grads = [sp.diff(loss_c, x) for x in wv]
    q_c, s_c = q_candidate.subs(to_coords), s_candidate.subs(to_coords)
    worst = 0.0
    for idx in range(n_points):
        k_val = (1, 2, 3, 7)[idx % 4]
        vals = {x: sp.Rational(int(rng.integers(-20, 21)) or 1, 10) for x in (*wv, *sv)}
        vals[k] = k_val
        for x, gx, sx in zip(wv, grads, sv, strict=True):
            lhs = sp.N(gx.subs(vals), 30)
            rhs = sp.N((q_c * x - s_c * sx).subs(vals), 30)
            worst = max(worst, abs(float(lhs - rhs)))
    ok = worst < 1e-20
    return Check("symbolic+numeric", f"d/dw_i of l in explicit coordinates (d={dim}) vs q w - s w*, {n_points} points",
                 ok, f"max |difference| = {worst:.3e} (30-digit evaluation, allowed 1e-20)")


_GRAD_LATEX = r"""
$l$ depends on $w$ only through $|w|$ and $c=\cos t = w\cdot w^*/(|w||w^*|)$. For $w\neq0$,
$\nabla|w| = w/|w|$, $\nabla c = w^*/(|w||w^*|) - c\,w/|w|^2$ and $\partial_c l = -\partial_t l/\sin t$, so
$$\nabla l(w) = \Big[\frac{\partial_{|w|} l}{|w|} + \frac{\cos t\,\partial_t l}{\sin t\,|w|^2}\Big] w
 - \frac{\partial_t l}{\sin t\,|w||w^*|}\, w^* =: q\,w - s\,w^*.$$
SymPy differentiates $l$ and cancels $\sin t$ (using $\partial_t(\sin t + (\pi-t)\cos t) = -(\pi-t)\sin t$), giving
$$ q = \frac{A(w)}{k^2},\quad A(w) = k + \frac{k^2-k}{\pi} - \frac{k|w^*|\sin t}{\pi|w|} - \frac{(k^2-k)|w^*|}{\pi|w|},
 \qquad s = \frac{\pi - t}{k\pi},$$
i.e. $\nabla l(w) = \frac1{k^2}\big[A(w)\,w - \frac{k(\pi-t)}{\pi} w^*\big]$. The terms in $w/|w|$ make
$\nabla l$ non-Lipschitz near $w=0$.
"""


def derive_gradient() -> Derivation:
    """Derive grad l(w) = q w - s w* (w != 0) and show it equals the structured form (1/k^2)[A w - k(pi-t)/pi w*].

    Returns
    -------
    Derivation
        Named ``"gradient"``.

    Notes
    -----
    .. math:: \\nabla l(w) = \\frac{1}{k^2}\\Big[A(w)\\,w - \\frac{k(\\pi - t)}{\\pi} w^*\\Big].
    """
    q, s = gradient_coefficients()
    q_struct, s_struct = structured_gradient_coefficients()
    checks = (
        verify_gradient_symbolic(q_struct, s_struct),
        verify_gradient_explicit_vectors(q, s),
        verify_gradient_finite_difference(q, s),
    )
    steps = _gradient_steps()
    return Derivation(
        name="gradient",
        title="Gradient of the population loss (w != 0)",
        statement={"q": q, "s": s, "A": sp.simplify(k**2 * q), "dl_dnw": steps["dl_dnw"],
                   "dl_dtheta": steps["dl_dtheta"]},
        checks=checks,
        latex=_GRAD_LATEX,
        conventions=(LOSS_CONVENTION, "grad l(w) = q w - s w*, valid for w != 0", "t = angle(w, w*) in [0, pi]"),
    )
