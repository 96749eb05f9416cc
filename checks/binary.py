"""Checks of the binarized network with the coarse gradient (theory page section 6: the analysis extended from the ReLU
network to the binarized one, trained with a straight-through coarse gradient).

``binary_closed_forms``
    The closed-form loss t/(k pi) and expected coarse gradient c (w_hat - e) (:mod:`numerics.binary`) agree with
    Monte Carlo of the sampled network and its sampled coarse gradient within Bernstein's bound (4 standard
    deviations of the estimator from its exact/proven per-sample variance, plus the resolution of N samples).
``coarse_gradient_correlation``
    <grad l, E g> > 0 for t in (0, pi), and the angle between them is t/2 (:mod:`theory.binary`).
``binary_limit_normalized``
    The normalized split iteration (w <- w/|w| after each w-update) reaches the limit predicted by
    :func:`theory.binary_limits.predicted_binary_limit` for the support it reached, to 1e-9.
``binary_collapse_without_normalization``
    Without normalization, l1/TL1 iterates end with u = 0 (parameters with the orbit's radius below the prox
    threshold) on the period-2 orbit |w| = eta c/(2 - eta beta), cos t = 1 - eta beta/2, except iterates that land
    exactly on the invariant, repelling ray {n e} (multipliers 1 - eta beta, 1 - eta beta - eta c/n, both measured):
    they stay on it and collapse, n -> (1 - eta beta) n. Under l0 the points n e with n min|e_i| > sqrt(2 lam/beta)
    stay fixed (the collapse claim fails there). The iteration is :func:`numerics.run` with the gradient source
    :class:`numerics.ExpectedCoarse`.
``binary_error_estimates``
    On normalized l1 limits: |u/r' - e|_inf <= tau, |u/r' - e|_2 <= tau sqrt(|supp e|), r' >= 1 and
    tau <= lam (1/c + 1/beta), with r' read off the limit.

Each check's mutations (deliberately wrong ingredients) are stored on its spec (:data:`SPECS`);
tests/test_checks_binary.py asserts that every one makes its check fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from hypothesis import assume
from hypothesis import strategies as st

import numerics as nm
from numerics import binary as nb
from numerics import population
from numerics.model import sample_patches
from numerics.problem import resolve_penalty
from theory import binary as tb
from theory import binary_limits as tbl

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import log_uniform, teachers

N_SE = 4.0  # Monte Carlo acceptance: 4 standard errors (two-sided normal tail 6e-5 per comparison)
_DIMS = {"quick": (2, 6), "thorough": (2, 12)}
_PATCHES = {"quick": (1, 6), "thorough": (1, 12)}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _at_angle(e: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at angle t to the unit vector e (random orthogonal direction)."""
    p = rng.standard_normal(e.size)
    p -= (p @ e) * e
    p = _unit(p) if np.linalg.norm(p) > 1e-12 else np.roll(e, 1) - (np.roll(e, 1) @ e) * e
    return math.cos(t) * e + math.sin(t) * _unit(p)


# ----------------------------------------------------------------------------------------------------------------------
# binary_closed_forms
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """A teacher, a point w at angle ``t`` to it, the number of patches, the STE and a Monte Carlo seed."""

    k: int
    w_star: tuple[float, ...]
    w: tuple[float, ...]
    t: float
    ste: str
    seed: int


@st.composite
def points(draw, profile: str = "quick", t_range: tuple[float, float] = (0.0, math.pi)) -> Point:
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(*_PATCHES[profile]))
    ws = np.array(draw(teachers(d, "dense")))
    t = draw(st.floats(*t_range))
    scale = draw(log_uniform(0.05, 5.0))
    seed = draw(st.integers(0, 2**31 - 1))
    w = scale * np.linalg.norm(ws) * _at_angle(_unit(ws), t, np.random.default_rng(seed))
    return Point(k, tuple(ws), tuple(w), t, draw(st.sampled_from(nb.STES)), seed)


_N_MC = {"quick": 40_000, "thorough": 100_000}
_BATCHES = 40  # batch means: the sample standard error is std(batch means)/sqrt(40) (reported, not used to accept)
#: Bernstein exponent L = log(2/delta) = N_SE^2/2: in the Gaussian regime the bound is N_SE standard deviations.
_LOG2_DELTA = N_SE**2 / 2


def _bernstein(sigma2: float, m: float, n: int, *, bounded: bool) -> float:
    """Deviation epsilon with P(|mean of n i.i.d. - expectation| >= epsilon) <= 2 exp(-L), L = N_SE^2/2.

    Notes
    -----
    Bernstein's inequality, ``P(|X_bar - mu| >= eps) <= 2 exp(-n eps^2 / (2 sigma^2 + 2 b eps))``, with
    ``b = M/3`` when ``|X - mu| <= M`` (``bounded``) and ``b = M`` under the moment condition
    ``E|X - mu|^q <= (q!/2) sigma^2 M^(q-2)`` (q >= 2). Solving ``n eps^2 = L (2 sigma^2 + 2 b eps)``:
    ``eps = (L b + sqrt(L^2 b^2 + 2 n L sigma^2))/n <= N_SE sigma/sqrt(n) + 2 L b/n``.
    """
    b = m / 3.0 if bounded else m
    lb = _LOG2_DELTA * b
    return (lb + math.sqrt(lb * lb + 2.0 * n * _LOG2_DELTA * sigma2)) / n


def _loss_sample_variance(t: float, k: int) -> float:
    """Exact variance of one sample of the loss, ``L = (f(Z; w) - f(Z; w*))^2``, at angle t.

    Notes
    -----
    ``f(Z; w) - f(Z; w*) = S/k``, ``S = sum_i D_i``, ``D_i = 1{Z_i.w > 0} - 1{Z_i.w* > 0}`` i.i.d. in {-1, 0, 1}
    with ``P(D_i = 1) = P(D_i = -1) = t/(2 pi)``; with ``p = t/pi``: ``E D = E D^3 = 0``, ``E D^2 = E D^4 = p``,
    so ``E S^2 = k p`` and ``E S^4 = k p + 3 k (k - 1) p^2``, hence
    ``Var L = (E S^4 - (E S^2)^2)/k^4 = (p + (2k - 3) p^2)/k^3`` (k = 1: the Bernoulli variance p - p^2).
    """
    p = t / math.pi
    return max((p + (2 * k - 3) * p * p) / k**3, 0.0)


def _grad_sample_variance_proxy(t: float, k: int, ste: str) -> float:
    """Variance proxy sigma^2 of Bernstein's moment condition for one coordinate of one sample of the coarse
    gradient (with M = 4): ``24 p/k + 2 mu^2``, ``p = t/pi``, ``|mu| <= |E g| = 2 c sin(t/2)``.

    Notes
    -----
    One sample is ``g_j = (2/k^2) S V_j``, ``V_j = sum_i mu'(Z_i.w) Z_ij`` (S as in :func:`_loss_sample_variance`).
    Given the sign patterns of every patch (they fix S and mu'), a patch's coordinate ``Z_ij`` is bounded by
    ``sqrt(R^2 + G^2)``, R the radius of its projection on the plane of (w, w*) and G a standard normal of the
    orthogonal complement: both independent of the signs, which depend on the projection's angle only, and
    ``R^2 + G^2 ~ chi^2_3``. With ``|V_j|^q <= k^(q-1) sum_i |Z_ij|^q`` and ``|S|^q <= k^(q-2) S^2``:
    ``E|g_j|^q <= 2^q (p/k) E chi_3^q``. Since ``E chi_3^q <= 1.5 q!`` for every q >= 2 (tested), and
    ``|g - mu|^q <= 2^(q-1) (|g|^q + |mu|^q)`` with ``|mu| < 1``: ``E|g_j - mu_j|^q <= (q!/2) (24 p/k + 2 mu^2)
    4^(q-2)``. At t -> 0 this is O(t): the sampled gradient is exactly 0 unless a patch disagrees.
    """
    p = t / math.pi
    mu = 2.0 * nb.coarse_coefficient(k, ste) * math.sin(t / 2)
    return 24.0 * p / k + 2.0 * mu * mu


_GRAD_M = 4.0  # Bernstein's moment-condition scale for the coarse gradient (see _grad_sample_variance_proxy)


def _closed_forms_prop(p: Point, ingr) -> Outcome:
    ws, w = np.array(p.w_star), np.array(p.w)
    n = _N_MC["quick"] if len(ws) <= 6 else _N_MC["thorough"]
    z = sample_patches(n, p.k, len(ws), seed=p.seed)
    y = nb.labels(z, ws)
    zb, yb = z.reshape(_BATCHES, -1, p.k, len(ws)), y.reshape(_BATCHES, -1)
    losses = np.array([float(ingr["empirical_loss"](w, zb[b], yb[b])) for b in range(_BATCHES)])
    grads = np.array([np.asarray(ingr["coarse_grad"](w, zb[b], yb[b], p.ste)) for b in range(_BATCHES)])
    closed_l = float(ingr["loss"](w, ws, p.k))
    closed_g = np.asarray(ingr["expected_coarse_grad"](w, ws, p.k, p.ste))
    # The acceptance region comes from the null hypothesis (the true closed form), not from the sample: the sample
    # standard error is 0 when no sample has a disagreeing patch (probability (1 - t/pi)^(N k), ~1 at t ~ 1e-10),
    # and it underestimates the error whenever only a few do (rare events: the normal approximation fails there).
    # Bernstein's inequality needs only the per-sample variance (exact for the loss, a proven O(t) proxy for the
    # gradient, both from the angle t of the example, not from the ingredients under test) and a scale M; it equals
    # N_SE standard deviations in the Gaussian regime and adds the resolution floor 2 L b/N of a mean that moves in
    # whole samples. The angle is Kahan's formula (accurate to rounding also at t ~ 1e-10).
    t = float(population.angle(w, ws))
    eps_l = _bernstein(_loss_sample_variance(t, p.k), 1.0, n, bounded=True)  # |L - l| <= 1 (L, l in [0, 1])
    eps_g = _bernstein(_grad_sample_variance_proxy(t, p.k, p.ste), _GRAD_M, n, bounded=False)
    worst, rows = 0.0, []
    for name, samples, value, eps in [("loss", losses[:, None], np.array([closed_l]), eps_l),
                                      ("coarse", grads, closed_g, eps_g)]:
        se = samples.std(axis=0, ddof=1) / math.sqrt(_BATCHES)
        dev = np.abs(samples.mean(axis=0) - value)
        ratio = float(np.max(dev)) / eps
        worst = max(worst, ratio)
        rows.append(f"{name}: max dev {float(np.max(dev)):.2e} = {ratio:.2f} x Bernstein {eps:.2e} "
                    f"(sample s.e. {float(np.max(se)):.1e})")
    return Outcome(worst, f"k={p.k} d={len(ws)} t={t:.3g} ste={p.ste}: " + ", ".join(rows))


def _closed_forms_ingredients() -> dict:
    return {"loss": nb.loss, "expected_coarse_grad": nb.expected_coarse_grad, "coarse_grad": nb.coarse_grad,
            "empirical_loss": nb.empirical_loss}


def _loss_half(w, ws, k):
    return 0.5 * np.asarray(nb.loss(w, ws, k))


def _coarse_other_ste(w, ws, k, ste="relu"):
    return nb.expected_coarse_grad(w, ws, k, "identity" if ste == "relu" else "relu")


def _coarse_unnormalized(w, ws, k, ste="relu"):
    # forgetting the directions: c (w - w*) instead of c (w_hat - e)
    return nb.coarse_coefficient(k, ste) * (np.asarray(w) - np.asarray(ws))


BINARY_CLOSED_FORMS = register(CheckSpec(
    name="binary_closed_forms",
    statement=("The binarized network's closed-form loss t/(k pi) and expected coarse gradient c (w_hat - e) (ReLU "
               "and identity STE) agree with Monte Carlo of the sampled network within Bernstein's bound (4 standard "
               "deviations from the per-sample variance of the closed form, plus the N-sample resolution) "
               "(theory page s.6)."),
    section="6",
    strategy=lambda profile: points(profile),
    prop=_closed_forms_prop,
    ingredients=_closed_forms_ingredients,
    max_examples={"quick": 8, "thorough": 100},
    mutations=(
        Mutation("loss_factor_half", "l = t/(2 k pi) (the factor-1/2 convention)", {"loss": _loss_half}),
        Mutation("coarse_other_ste", "c of the other STE (factor 2)", {"expected_coarse_grad": _coarse_other_ste}),
        Mutation("coarse_unnormalized", "c (w - w*) instead of c (w/|w| - w*/|w*|)",
                 {"expected_coarse_grad": _coarse_unnormalized}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# coarse_gradient_correlation
# ----------------------------------------------------------------------------------------------------------------------
def _correlation_prop(p: Point, ingr) -> Outcome:
    ws, w = np.array(p.w_star), np.array(p.w)
    g = np.asarray(ingr["expected_coarse_grad"](w, ws, p.k, p.ste))
    tg = np.asarray(ingr["true_gradient"](w, ws, p.k))
    inner = float(g @ tg)
    if not inner > 0:
        return Outcome(math.inf, f"<grad l, E g> = {inner:.3e} <= 0 at t = {p.t:.4f}")
    cos_a = inner / (np.linalg.norm(g) * np.linalg.norm(tg))
    # rounding: g and grad l are O(1/k) vectors computed to ~1e-15 relative; the angle t is exact to ~1e-15 for t
    # away from 0, pi (the strategy keeps t in [0.01, pi - 0.01]); 1e-9 leaves a wide margin.
    err = abs(cos_a - math.cos(p.t / 2))
    return Outcome(err / 1e-9, f"t={p.t:.4f}: <grad l, E g> = {inner:.3e} > 0, cos angle {cos_a:.12f} vs cos(t/2) "
                   f"{math.cos(p.t / 2):.12f}")


def _neg_coarse(w, ws, k, ste="relu"):
    return -np.asarray(nb.expected_coarse_grad(w, ws, k, ste))


COARSE_GRADIENT_CORRELATION = register(CheckSpec(
    name="coarse_gradient_correlation",
    statement=("The expected coarse gradient correlates positively with the true gradient of l = t/(k pi) for t in "
               "(0, pi), at the angle t/2 (theory page s.6)."),
    section="6",
    strategy=lambda profile: points(profile, (0.01, math.pi - 0.01)),
    prop=_correlation_prop,
    ingredients=lambda: {"expected_coarse_grad": nb.expected_coarse_grad, "true_gradient": tb.true_gradient},
    max_examples={"quick": 30, "thorough": 500},
    mutations=(
        Mutation("coarse_gradient_sign", "coarse gradient with the wrong sign, c (e - w_hat)",
                 {"expected_coarse_grad": _neg_coarse}),
        Mutation("coarse_unnormalized", "c (w - w*) instead of c (w_hat - e)",
                 {"expected_coarse_grad": _coarse_unnormalized}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# The split iteration: instances
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitCase:
    """A split-iteration instance with a start."""

    k: int
    w_star: tuple[float, ...]
    penalty: str
    a: float | None
    lam: float
    beta: float
    eta: float
    ste: str
    w0: tuple[float, ...]


@st.composite
def split_cases(draw, profile: str = "quick", penalties: tuple[str, ...] = ("l1", "l0", "tl1"),
                kinds: tuple[str, ...] = ("dense", "sparse")) -> SplitCase:
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(*_PATCHES[profile]))
    ws = np.array(draw(teachers(d, draw(st.sampled_from(kinds)))))
    assume(np.any(ws != 0))
    ste = draw(st.sampled_from(nb.STES))
    c = nb.coarse_coefficient(k, ste)
    penalty = draw(st.sampled_from(penalties))
    a = draw(log_uniform(0.2, 3.0)) if penalty == "tl1" else None
    beta = draw(log_uniform(0.2, 3.0))
    # lam relative to c: the coarse gradient has size c, so lam ~ c (<= 0.3 c) gives a non-trivial sparsity
    lam = c * draw(log_uniform(1e-3, 0.3))
    eta = draw(st.floats(0.1, 0.8)) / (beta + c)
    w0 = np.array(draw(st.lists(st.floats(-1, 1), min_size=d, max_size=d)))
    assume(np.linalg.norm(w0) > 0.1)
    return SplitCase(k, tuple(ws), penalty, a, lam, beta, eta, ste, tuple(w0))


_MAX_ITER = 20_000
#: Stop when the update is below this (|w| = 1 when normalized): a few ulp of a unit vector. The distance to the
#: fixed point is then <= 1e-15/(1 - rate), rate the linear rate near the limit: within the checks' 1e-9 unless
#: rate > 1 - 1e-6.
_TOL = 1e-15


def iterate(w_star: np.ndarray, k: int, penalty: str, lam: float, beta: float, eta: float, w0: np.ndarray, *,
            normalize: bool, ste: str = "relu", a: float | None = None, max_iter: int = _MAX_ITER,
            tol: float | None = _TOL) -> tuple[np.ndarray, np.ndarray, int | np.ndarray]:
    """The split iteration with the expected coarse gradient, run by :func:`numerics.run` with the gradient source
    :class:`numerics.ExpectedCoarse`; returns ``(w, u, iterations)`` (``iterations == max_iter`` when it did not
    stop).
    ``w0`` may hold a batch of starts, shape (B, d): then w, u are (B, d) and iterations (B,).

    Notes
    -----
    ``w <- w - eta (c (w/|w| - e) + beta (w - u))``; if ``normalize``: ``w <- w/|w|``; ``u <- prox_{lam/beta P}(w)``.
    """
    problem = nm.Problem(np.asarray(w_star, dtype=float), k, penalty, lam, beta, a=a)
    r = nm.run(problem, np.asarray(w0, dtype=float), eta=eta, iters=max_iter, tol=tol,
               gradient=nm.ExpectedCoarse(ste=ste, normalize=normalize))
    it = np.where(np.asarray(r.converged) | (tol is None), np.asarray(r.iterations), max_iter)
    return np.asarray(r.w), np.asarray(r.u), (int(it) if it.ndim == 0 else it)


def _normalized_prop(s: SplitCase, ingr) -> Outcome:
    ws = np.array(s.w_star)
    w, u, it = ingr["iterate"](ws, s.k, s.penalty, s.lam, s.beta, s.eta, np.array(s.w0), normalize=True,
                               ste=s.ste, a=s.a, max_iter=_MAX_ITER)
    assume(it < _MAX_ITER)  # not converged to rounding within the budget: outside the check's scope (counted)
    e = _unit(ws)
    off = (u != 0) & (e == 0)
    if np.any(off):
        # Spurious l0 fixed point (found by this check): a kept coordinate with e_i = 0 forces q = 0 (kappa = c),
        # so w = c e/beta on supp(e) (all zeroed there) and the kept off-support coordinates carry the rest of the
        # unit norm, |w_off|^2 = 1 - c^2/beta^2 (their split is not determined). Checked in that derived form.
        c = nb.coarse_coefficient(s.k, s.ste)
        err = max(float(np.max(np.abs(np.where(e != 0, w - c * e / s.beta, 0.0)))),
                  float(np.max(np.abs(u[e != 0]))) if np.any(e != 0) else 0.0,
                  abs(float(np.sum(w[e == 0] ** 2)) - (1 - c * c / (s.beta * s.beta))))
        return Outcome(err / 1e-9, f"{s.penalty}: spurious off-support limit (q = 0): max err {err:.2e}")
    against = (u != 0) & (u * e < 0)
    if np.any(against):
        # A kept coordinate against the teacher's sign (found by the thorough profile: l0, k = 1, w* = (1, 1, -1, 1),
        # w0 = e_3). On a kept coordinate (nu - beta) w_i = c e_i, so the sign flips only where nu < beta: r' =
        # c/(nu - beta) < 0, outside the predictor's r' > 0 branch. Checked in the defining form of a fixed point of
        # the normalized iteration: nu w = c e + beta u with nu = w . (c e + beta u) < beta, u = prox(w), |w| = 1.
        c = nb.coarse_coefficient(s.k, s.ste)
        g = c * e + s.beta * u
        nu = float(w @ g)
        pen = resolve_penalty(s.penalty, s.a)
        err = max(float(np.max(np.abs(nu * w - g))), abs(float(np.linalg.norm(w)) - 1.0),
                  float(np.max(np.abs(pen.prox(w, s.lam / s.beta) - u))))
        if not nu < s.beta:
            return Outcome(math.inf, f"kept coordinates {np.flatnonzero(against)} against w*'s sign with nu = {nu:.6g} "
                           f">= beta: impossible at a fixed point")
        return Outcome(err / 1e-9, f"{s.penalty}: kept against the teacher's sign (nu = {nu:.6f} < beta, r' < 0): "
                       f"fixed-point residual {err:.2e}")
    pred = ingr["predict"](ws, s.k, s.penalty, s.lam, s.beta, a=s.a, ste=s.ste, kept_mask=u != 0)
    if not pred["consistent"]:
        return Outcome(math.inf, f"predictor found no consistent limit for the reached support {np.flatnonzero(u)}")
    err = max(float(np.max(np.abs(pred["u"] - u))), float(np.max(np.abs(pred["w"] - w))))
    # tolerance: the iteration stops at a step < 1e-15; the contraction factor per step is >= 1 - eta (q + beta)
    # >= 1/2 here, so the distance to the fixed point is ~1e-15; the predictor solves |w(q)| = 1 to 1e-15.
    return Outcome(err / 1e-9, f"{s.penalty}/{s.ste} k={s.k} d={len(ws)}: {it} it, |u|_0={int(np.sum(u != 0))}, "
                   f"r'={pred['r']:.6f}, max|limit - prediction| = {err:.2e} (tol 1e-9)")


def _pred_other_ste(ws, k, penalty, lam, beta, *, a=None, ste="relu", kept_mask=None):
    return tbl.predicted_binary_limit(ws, k, penalty, lam, beta, a=a, kept_mask=kept_mask,
                                      ste="identity" if ste == "relu" else "relu")


def _pred_without_r(ws, k, penalty, lam, beta, *, a=None, ste="relu", kept_mask=None):
    # drops the sphere multiplier: u/r' instead of u (r' = 1, as if kappa = 0)
    p = dict(tbl.predicted_binary_limit(ws, k, penalty, lam, beta, a=a, ste=ste, kept_mask=kept_mask))
    p["u"] = p["u"] / p["r"]
    return p


#: l0 from a start on a coordinate where w* is negative: the limit keeps that coordinate with the opposite sign
#: (nu < beta, r' < 0), a fixed point outside the predictor's branch (run first in every profile).
AGAINST_SIGN_CASE = SplitCase(k=1, w_star=(1.0, 1.0, -1.0, 1.0), penalty="l0", a=None, lam=0.039894228040143274,
                              beta=1.0, eta=0.3574128875828407, ste="relu", w0=(0.0, 0.0, 1.0, 0.0))


BINARY_LIMIT_NORMALIZED = register(CheckSpec(
    name="binary_limit_normalized",
    statement=("With w <- w/|w| after each w-update, the split iteration with the expected coarse gradient converges "
               "to the predicted limit (l1: u = r' soft(e, tau), tau = lam/c + lam/(beta r'); l0, TL1 likewise) "
               "(theory page s.6)."),
    section="6",
    examples=(AGAINST_SIGN_CASE,),
    strategy=lambda profile: split_cases(profile),
    prop=_normalized_prop,
    ingredients=lambda: {"iterate": iterate, "predict": tbl.predicted_binary_limit},
    max_examples={"quick": 6, "thorough": 80},
    mutations=(
        Mutation("predict_other_ste", "predictor with the other STE's c (factor 2)", {"predict": _pred_other_ste}),
        Mutation("predict_without_r_prime", "predictor that drops the rescaling r' (kappa = 0)",
                 {"predict": _pred_without_r}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# binary_collapse_without_normalization
# ----------------------------------------------------------------------------------------------------------------------
# Where u = 0 the unnormalized map is F(w) = (1 - eta beta - eta c/|w|) w + eta c e (theory page s.6, derived and
# verified in theory.binary_limits.derive_binary_split_collapse). Its limits there:
# * the period-2 orbits |w| = eta c/(2 - eta beta), cos t = 1 - eta beta/2 (a (d-2)-sphere of them, rotated about e),
#   linearly stable across the family for 0 < eta beta < 1 (in-plane monodromy: det (1 - eta beta)^2, Jury
#   conditions hold): the limit of every start off the set below;
# * the ray {n e, n > 0}: invariant, F(n e) = (1 - eta beta) n e, so |w| -> 0 along it, but transversally unstable
#   (perpendicular multiplier |1 - eta beta - eta c/n| > 1 for n < eta c/(2 - eta beta)): reached only by iterates
#   that land EXACTLY on it (the start on it, or the sphere |w| = eta c/(1 - eta beta) mapped onto it). In floating
#   point that happens when rounding keeps the iterate exactly on the ray, e.g. e with equal |e_i| on its support
#   (the coordinate swap and sign symmetries are exact): the shrunk example w* = (1, 1), start (0, 1) under
#   tbl.iterate_split contracted its perpendicular part in the kept phase (factor 1 - eta c/|w| per step for l1)
#   until w_1 == w_2 exactly, then decayed along the ray to the rounding floor ~ eps c/beta (|w| = 3.8e-15 when that
#   loop stopped; run on, the floor's rounding can flip the sign of n, the step jumps to ~2 eta c e and the decay
#   starts again: in floating point the ray branch is "stays exactly on the ray, obeying the ray map").
@lru_cache(maxsize=1)
def _orbit_fn():
    e = tbl.two_cycle_exprs()  # SymPy solve: derived once, evaluated by lambdify
    return sp.lambdify((tbl.fp.eta, tbl.fp.beta, tbl.c_sym), (e["radius"], e["cos_t"]), "math")


def _orbit(eta: float, beta: float, c: float) -> tuple[float, float]:
    """Radius and cos t of the period-2 orbit, from :func:`theory.binary_limits.two_cycle_exprs`."""
    r, ct = _orbit_fn()(eta, beta, c)
    return float(r), float(ct)


def _orbit_half(eta, beta, c):
    r, ct = _orbit(eta, beta, c)
    return r * (2 - eta * beta) / 2, ct  # eta c/2: the eta beta term dropped


def _prox_threshold(penalty: str, lam: float, beta: float, a: float | None) -> float:
    """The threshold of ``prox_{(lam/beta) P}`` for the penalty called ``penalty``."""
    return float(resolve_penalty(penalty, a).threshold(lam / beta))


_RAY_PERP = 4 * np.finfo(float).eps  # "exactly on the ray": perpendicular part within a few ulp of |w|


def _ray_multipliers(eta: float, beta: float, c: float, n: float) -> tuple[float, float]:
    """Multipliers of F at n e (u = 0): radial ``1 - eta beta`` and perpendicular ``1 - eta beta - eta c/n``."""
    return 1 - eta * beta, 1 - eta * beta - eta * c / n


def _ray_fixed_like_l0(eta, beta, c, n):
    return 1.0, 1 - eta * beta - eta * c / n  # the ray made of fixed points, as under l0


def _ray_perp_stable(eta, beta, c, n):
    return 1 - eta * beta, 1 - eta * beta + eta * c / n  # sign error: |.| < 1 would make the ray attracting


@st.composite
def collapse_cases(draw, profile: str = "quick") -> SplitCase:
    s = draw(split_cases(profile, penalties=("l1", "tl1", "l0"), kinds=("dense",)))
    c = nb.coarse_coefficient(s.k, s.ste)
    rad, _ = _orbit(s.eta, s.beta, c)
    # l1/TL1: choose lam so that the orbit lies inside the zero region of the prox (threshold >= 2 x radius);
    # l0: lam small enough that the start 3 e is on the fixed ray (3 min|e_i| > 1.5 gamma).
    ws = np.array(s.w_star)
    if s.penalty != "l0" and draw(st.booleans()):
        # the exceptional set: a symmetric teacher (equal |e_i|, exact under rounding) and a start on its ray
        ws = np.where(ws != 0, np.sign(ws), 0.0)
        w0 = draw(st.floats(0.1, 2.0)) * _unit(ws)
    else:
        w0 = np.array(s.w0)
    e = _unit(ws)
    if s.penalty == "l0":
        gamma_max = 3 * float(np.min(np.abs(e))) / 1.5
        lam = s.beta * gamma_max**2 / 2 * draw(st.floats(0.05, 1.0))
        return SplitCase(s.k, s.w_star, "l0", None, lam, s.beta, s.eta, s.ste, tuple(3.0 * e))
    lam = s.lam
    while _prox_threshold(s.penalty, lam, s.beta, s.a) < 2 * rad:
        lam *= 2
    return SplitCase(s.k, tuple(ws), s.penalty, s.a, lam, s.beta, s.eta, s.ste, tuple(w0))


_COLLAPSE_ITER = 6000
_ORBIT_TOL = 1e-6  # the iterates approach the orbit geometrically; after 6000 steps 1e-6 relative in every case seen


def _collapse_prop(s: SplitCase, ingr) -> Outcome:
    ws = np.array(s.w_star)
    e = _unit(ws)
    c = nb.coarse_coefficient(s.k, s.ste)
    run = ingr["iterate"]
    if s.penalty == "l0":  # the start 3 e is a fixed point: it must stay (u = w = 3 e)
        w, u, _ = run(ws, s.k, "l0", s.lam, s.beta, s.eta, np.array(s.w0), normalize=False, ste=s.ste,
                      max_iter=_COLLAPSE_ITER, tol=None)
        err = float(np.max(np.abs(w - 3.0 * e)))
        return Outcome(err / 1e-12 if np.all((u != 0) == (e != 0)) else math.inf,
                       f"l0 from 3 e: |w - 3 e| = {err:.1e}, |u|_0 = {int(np.sum(u != 0))}")
    rad, cos_t = ingr["orbit"](s.eta, s.beta, c)
    # (1) The ray's multipliers, measured with one step from n e and from n e + delta p (p a unit vector orthogonal
    # to e, n = rad/2: inside the zero region, since the prox threshold is >= 2 rad). Rounding: F(n e) -
    # (1 - eta beta) n e = eta c (e - w_hat) is O(eta c eps) = O(eps n); the perpendicular part is linear in delta
    # up to O(delta^2/n) = 1e-7 relative: tolerance 1e-6. Cheap, so it runs first (a wrong multiplier fails fast).
    n_r = rad / 2
    p = _unit(_at_angle(e, math.pi / 2, np.random.default_rng(0)))
    delta = 1e-7 * n_r
    f_ray, f_off = run(ws, s.k, s.penalty, s.lam, s.beta, s.eta, np.stack([n_r * e, n_r * e + delta * p]),
                       normalize=False, ste=s.ste, a=s.a, max_iter=1, tol=None)[0]
    m_rad, m_perp = ingr["ray"](s.eta, s.beta, c, n_r)
    err_map = max(float(np.linalg.norm(f_ray - m_rad * n_r * e)) / n_r,
                  abs(float(f_off @ p) / delta - m_perp) / abs(m_perp))
    detail_map = f"ray multipliers {m_rad:.4f}, {m_perp:.4f} (measured to {err_map:.1e})"
    if not (err_map <= 1e-6 and abs(m_perp) > 1):  # |m_perp| > 1: the ray repels, a limit on it needs to be ON it
        return Outcome(max(err_map / 1e-6, 1.0 + 1e-9 if abs(m_perp) <= 1 else 0.0), detail_map)
    # (2) The limits. First a generic start inside the zero region, off the ray (angle 1 to e, radius rad/2): no
    # kept phase that could contract its perpendicular part to rounding, so it must reach the orbit. The in-plane
    # monodromy of the orbit has |eigenvalues| <= 1 - eta beta (complex pair of modulus 1 - eta beta, or real and
    # smaller, for 0 < eta beta < 1), so 100/(eta beta) steps bring an O(1) error below e^-50 relative; the radius
    # and the angle to e do not see the neutral rotation about e. Then the case's own start (6000 steps, a kept
    # phase first), which may end on the orbit or, landing exactly on the ray, follow the ray map (collapse).
    g0 = 0.5 * rad * (math.cos(1.0) * e + math.sin(1.0) * p)
    n_g = min(_COLLAPSE_ITER, math.ceil(100 / (s.eta * s.beta)))
    runs = [("generic", *run(ws, s.k, s.penalty, s.lam, s.beta, s.eta, g0, normalize=False, ste=s.ste, a=s.a,
                              max_iter=n_g, tol=None)[:2])]
    errs, rows = [], []
    for j in range(2):
        label, w, u = runs[j]
        n = float(np.linalg.norm(w))
        cos_w = float(w @ e) / n if n > 0 else math.nan
        err_orbit = max(abs(n - rad) / rad, abs(cos_w - cos_t)) if n > 0 else math.inf
        perp = float(np.linalg.norm(w - (w @ e) * e))
        on_ray = bool(perp <= _RAY_PERP * n)
        err_collapse = math.inf  # only the case's own start may end on the ray
        if on_ray and label == "start":
            # On the ray the iterate must follow the ray map F(n e) = (1 - eta beta) n e (exact arithmetic: n -> 0).
            # Checked with one more step, to an absolute 1e-6 rad: the map's rounding eta c (e - w_hat) ~ eta c eps
            # is far below. In floating point n stalls at the rounding floor ~ eta c eps/(eta beta), where a rounding
            # of the sign of n is possible: then w_hat = -e and the next step jumps to ~2 eta c e, from where the
            # ray map applies again (so n <= 0 is accepted only at the floor, |w| <= 1e-6 rad).
            n_par = float(w @ e)
            if n_par > 0:
                f_w = run(ws, s.k, s.penalty, s.lam, s.beta, s.eta, w, normalize=False, ste=s.ste, a=s.a, max_iter=1,
                          tol=None)[0]
                err_collapse = float(np.linalg.norm(f_w - m_rad * w)) / rad
            else:
                err_collapse = n / rad
        err = min(err_orbit, err_collapse) if bool(np.all(u == 0)) else math.inf
        errs.append(err)
        rows.append(f"{label} -> {'orbit' if err_orbit <= err_collapse else 'ray'}: |w| = {n:.6g}, cos t = "
                    f"{cos_w:.6f}, perp/|w| = {perp / n if n > 0 else 0.0:.1e}, |u| = {np.linalg.norm(u):.1e}")
        if j == 0:
            if not err <= _ORBIT_TOL:
                break  # fail fast, before the long run
            runs.append(("start", *run(ws, s.k, s.penalty, s.lam, s.beta, s.eta, np.array(s.w0), normalize=False,
                                       ste=s.ste, a=s.a, max_iter=_COLLAPSE_ITER, tol=None)[:2]))
    return Outcome(max(errs) / _ORBIT_TOL, f"{s.penalty}: orbit |w| = {rad:.6g}, cos t = {cos_t:.6f}; "
                   + "; ".join(rows) + f"; {detail_map}")


def _iterate_normalized_anyway(*args, normalize=False, **kw):
    return iterate(*args, normalize=True, **kw)


BINARY_COLLAPSE = register(CheckSpec(
    name="binary_collapse_without_normalization",
    statement=("Without normalization (no nonzero fixed point for l1/TL1), l1/TL1 iterates end with u = 0 on the "
               "period-2 orbit |w| = eta c/(2 - eta beta), cos t = 1 - eta beta/2, except those that land exactly "
               "on the invariant but repelling ray {n e} (multipliers 1 - eta beta and 1 - eta beta - eta c/n), "
               "which stay on it and follow n -> (1 - eta beta) n (collapse to 0); under l0 the points n e with "
               "n min|e_i| > sqrt(2 lam/beta) stay fixed "
               "(theory page s.6)."),
    section="6",
    strategy=lambda profile: collapse_cases(profile),
    prop=_collapse_prop,
    ingredients=lambda: {"iterate": iterate, "orbit": _orbit, "ray": _ray_multipliers},
    max_examples={"quick": 6, "thorough": 60},
    mutations=(
        Mutation("orbit_without_eta_beta", "orbit radius eta c/2 (the eta beta term dropped)", {"orbit": _orbit_half}),
        Mutation("normalized_iteration", "the iteration with the normalization step (it does not collapse)",
                 {"iterate": _iterate_normalized_anyway}),
        Mutation("ray_fixed_like_l0", "the ray made of fixed points (radial multiplier 1), as under l0",
                 {"ray": _ray_fixed_like_l0}),
        Mutation("ray_perp_sign", "perpendicular multiplier 1 - eta beta + eta c/n (sign error)",
                 {"ray": _ray_perp_stable}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# binary_error_estimates
# ----------------------------------------------------------------------------------------------------------------------
def _tau(lam: float, beta: float, c: float, r_p: float) -> float:
    return lam / c + lam / (beta * r_p)


def _error_prop(s: SplitCase, ingr) -> Outcome:
    ws = np.array(s.w_star)
    e = _unit(ws)
    c = nb.coarse_coefficient(s.k, s.ste)
    w, u, it = ingr["iterate"](ws, s.k, "l1", s.lam, s.beta, s.eta, np.array(s.w0), normalize=True, ste=s.ste,
                               max_iter=_MAX_ITER)
    assume(it < _MAX_ITER)
    r_p = tbl.measured_r_prime(w, u, ws, s.k, s.beta, s.ste)
    tau = ingr["tau"](s.lam, s.beta, c, r_p)
    dev = u / r_p - e
    e_inf, e_2 = float(np.max(np.abs(dev))), float(np.linalg.norm(dev))
    bound2 = tau * math.sqrt(np.count_nonzero(e))
    bound = s.lam * (1 / c + 1 / s.beta)
    # relative slack 1e-9: the inf bound is attained on kept coordinates (|dev_i| = tau exactly), up to rounding
    ratios = [e_inf / tau, e_2 / bound2, tau / bound, 1.0 / r_p]
    worst = max(max(ratios[:2]) - 1.0, ratios[2] - 1.0, ratios[3] - 1.0)
    return Outcome(max(worst / 1e-9, 0.0), f"k={s.k} d={len(ws)}: r'={r_p:.6f}, |dev|_inf={e_inf:.6g} <= "
                   f"tau={tau:.6g}, |dev|_2={e_2:.6g} <= {bound2:.6g}, tau <= lam(1/c+1/beta)={bound:.6g}")


BINARY_ERROR_ESTIMATES = register(CheckSpec(
    name="binary_error_estimates",
    statement=("On normalized l1 limits, |u/r' - e|_inf <= tau, |u/r' - e|_2 <= tau sqrt(|supp e|), r' >= 1 and "
               "tau = lam/c + lam/(beta r') <= lam (1/c + 1/beta) (theory page s.6)."),
    section="6",
    strategy=lambda profile: split_cases(profile, penalties=("l1",)),
    prop=_error_prop,
    ingredients=lambda: {"iterate": iterate, "tau": _tau},
    max_examples={"quick": 6, "thorough": 80},
    mutations=(
        Mutation("tau_without_beta_term", "tau = lam/c (the lam/(beta r') term dropped)",
                 {"tau": lambda lam, beta, c, r: lam / c}),
        Mutation("tau_raw_prox_threshold", "tau = lam/beta (the prox threshold, not the limit's)",
                 {"tau": lambda lam, beta, c, r: lam / beta}),
    ),
))

#: The checks of this module by name.
SPECS = {s.name: s for s in (BINARY_CLOSED_FORMS, COARSE_GRADIENT_CORRELATION, BINARY_LIMIT_NORMALIZED,
                             BINARY_COLLAPSE, BINARY_ERROR_ESTIMATES)}
