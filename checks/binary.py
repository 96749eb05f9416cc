"""Checks of the binarized network with the coarse gradient (THEORY.md section 6, issue 7).

``binary_closed_forms``
    The closed-form loss t/(k pi) and expected coarse gradient c (w_hat - e) (:mod:`numerics.binary`) agree with
    Monte Carlo of the sampled network and its sampled coarse gradient within 4 standard errors (batch means).
``coarse_gradient_correlation``
    <grad l, E g> > 0 for t in (0, pi), and the angle between them is t/2 (:mod:`theory.binary`).
``binary_limit_normalized``
    The normalized split iteration (w <- w/|w| after each w-update) reaches the limit predicted by
    :func:`theory.binary_limits.predicted_binary_limit` for the support it reached, to 1e-9.
``binary_collapse_without_normalization``
    Without normalization, l1/TL1 iterates end on the period-2 orbit |w| = eta c/(2 - eta beta),
    cos t = 1 - eta beta/2 with u = 0 (parameters with that radius below the prox threshold); under l0 the points
    n e with n min|e_i| > sqrt(2 lam/beta) stay fixed (the collapse claim fails there).
``binary_error_estimates``
    On normalized l1 limits: |u/r' - e|_inf <= tau, |u/r' - e|_2 <= tau sqrt(|supp e|), r' >= 1 and
    tau <= lam (1/c + 1/beta), with r' read off the limit.

Each check's mutations (deliberately wrong ingredients) are in :data:`MUTATIONS`; tests/test_checks_binary.py asserts
that every one makes its check fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from numerics import binary as nb
from numerics.model import sample_patches
from theory import binary as tb
from theory import binary_limits as tbl

from .framework import CheckSpec, Outcome, register
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
_BATCHES = 40  # batch means: the standard error of a batch-mean average is std(batch means)/sqrt(40)


def _closed_forms_prop(p: Point, ingr) -> Outcome:
    ws, w = np.array(p.w_star), np.array(p.w)
    n = _N_MC["quick"] if len(ws) <= 6 else _N_MC["thorough"]
    z = sample_patches(n, p.k, len(ws), seed=p.seed)
    y = nb.labels(z, ws)
    zb, yb = z.reshape(_BATCHES, -1, p.k, len(ws)), y.reshape(_BATCHES, -1)
    losses = np.array([float(ingr["empirical_loss"](w, zb[b], yb[b])) for b in range(_BATCHES)])
    grads = np.array([np.asarray(ingr["coarse_grad"](w, zb[b], yb[b], p.ste)) for b in range(_BATCHES)])
    worst, rows = 0.0, []
    closed_l = float(ingr["loss"](w, ws, p.k))
    closed_g = np.asarray(ingr["expected_coarse_grad"](w, ws, p.k, p.ste))
    for name, samples, value in [("loss", losses[:, None], np.array([closed_l])), ("coarse", grads, closed_g)]:
        se = samples.std(axis=0, ddof=1) / math.sqrt(_BATCHES)
        dev = np.abs(samples.mean(axis=0) - value)
        # se == 0 only for a constant estimator (e.g. loss at t = 0): then the closed form must match to rounding
        z_sc = np.where(se > 0, dev / np.where(se > 0, se, 1.0), np.where(dev <= 1e-12, 0.0, np.inf))
        worst = max(worst, float(np.max(z_sc)) / N_SE)
        rows.append(f"{name}: max {float(np.max(z_sc)):.2f} s.e.")
    return Outcome(worst, f"k={p.k} d={len(ws)} t={p.t:.3f} ste={p.ste}: " + ", ".join(rows) + f" (allowed {N_SE})")


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
               "and identity STE) agree with Monte Carlo of the sampled network within 4 standard errors "
               "(THEORY.md s.6)."),
    section="6",
    strategy=lambda profile: points(profile),
    prop=_closed_forms_prop,
    ingredients=_closed_forms_ingredients,
    max_examples={"quick": 8, "thorough": 100},
    mutations={"loss_factor_half": "l = t/(2 k pi) (the factor-1/2 convention)",
               "coarse_other_ste": "c of the other STE (factor 2)",
               "coarse_unnormalized": "c (w - w*) instead of c (w/|w| - w*/|w*|)"},
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
               "(0, pi), at the angle t/2 (THEORY.md s.6)."),
    section="6",
    strategy=lambda profile: points(profile, (0.01, math.pi - 0.01)),
    prop=_correlation_prop,
    ingredients=lambda: {"expected_coarse_grad": nb.expected_coarse_grad, "true_gradient": tb.true_gradient},
    max_examples={"quick": 30, "thorough": 500},
    mutations={"coarse_gradient_sign": "coarse gradient with the wrong sign, c (e - w_hat)",
               "coarse_unnormalized": "c (w - w*) instead of c (w_hat - e)"},
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
    pred = ingr["predict"](ws, s.k, s.penalty, s.lam, s.beta, a=s.a, ste=s.ste, kept_mask=u != 0)
    if not pred["consistent"]:
        return Outcome(math.inf, f"predictor found no consistent limit for the reached support {np.flatnonzero(u)}")
    err = max(float(np.max(np.abs(pred["u"] - u))), float(np.max(np.abs(pred["w"] - w))))
    # tolerance: the iteration stops at a step <= 4e-16; the contraction factor per step is >= 1 - eta (q + beta)
    # >= 1/2 here, so the distance to the fixed point is a few 1e-16; the predictor solves |w(q)| = 1 to 1e-15.
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


BINARY_LIMIT_NORMALIZED = register(CheckSpec(
    name="binary_limit_normalized",
    statement=("With w <- w/|w| after each w-update, the split iteration with the expected coarse gradient converges "
               "to the predicted limit (l1: u = r' soft(e, tau), tau = lam/c + lam/(beta r'); l0, TL1 likewise) "
               "(THEORY.md s.6)."),
    section="6",
    strategy=lambda profile: split_cases(profile),
    prop=_normalized_prop,
    ingredients=lambda: {"iterate": tbl.iterate_split, "predict": tbl.predicted_binary_limit},
    max_examples={"quick": 6, "thorough": 80},
    mutations={"predict_other_ste": "predictor with the other STE's c (factor 2)",
               "predict_without_r_prime": "predictor that drops the rescaling r' (kappa = 0)"},
))


# ----------------------------------------------------------------------------------------------------------------------
# binary_collapse_without_normalization
# ----------------------------------------------------------------------------------------------------------------------
def _orbit(eta: float, beta: float, c: float) -> tuple[float, float]:
    e = tbl.two_cycle_exprs()
    return (float(e["radius"].subs({tbl.fp.eta: eta, tbl.fp.beta: beta, tbl.c_sym: c})),
            float(e["cos_t"].subs({tbl.fp.eta: eta, tbl.fp.beta: beta, tbl.c_sym: c})))


def _orbit_half(eta, beta, c):
    r, ct = _orbit(eta, beta, c)
    return r * (2 - eta * beta) / 2, ct  # eta c/2: the eta beta term dropped


def _prox_threshold(penalty: str, lam: float, beta: float, a: float | None) -> float:
    mu = lam / beta
    if penalty == "l1":
        return mu
    if penalty == "l0":
        return math.sqrt(2 * mu)
    return mu * (a + 1) / a if mu <= a * a / (2 * (a + 1)) else math.sqrt(2 * mu * (a + 1)) - a / 2


@st.composite
def collapse_cases(draw, profile: str = "quick") -> SplitCase:
    s = draw(split_cases(profile, penalties=("l1", "tl1", "l0"), kinds=("dense",)))
    c = nb.coarse_coefficient(s.k, s.ste)
    rad, _ = _orbit(s.eta, s.beta, c)
    # l1/TL1: choose lam so that the orbit lies inside the zero region of the prox (threshold >= 2 x radius);
    # l0: lam small enough that the start 3 e is on the fixed ray (3 min|e_i| > 1.5 gamma).
    e = _unit(np.array(s.w_star))
    if s.penalty == "l0":
        gamma_max = 3 * float(np.min(np.abs(e))) / 1.5
        lam = s.beta * gamma_max**2 / 2 * draw(st.floats(0.05, 1.0))
        return SplitCase(s.k, s.w_star, "l0", None, lam, s.beta, s.eta, s.ste, tuple(3.0 * e))
    lam = s.lam
    while _prox_threshold(s.penalty, lam, s.beta, s.a) < 2 * rad:
        lam *= 2
    return SplitCase(s.k, s.w_star, s.penalty, s.a, lam, s.beta, s.eta, s.ste, s.w0)


def _collapse_prop(s: SplitCase, ingr) -> Outcome:
    ws = np.array(s.w_star)
    e = _unit(ws)
    c = nb.coarse_coefficient(s.k, s.ste)
    w, u, _ = ingr["iterate"](ws, s.k, s.penalty, s.lam, s.beta, s.eta, np.array(s.w0), normalize=False,
                               ste=s.ste, a=s.a, max_iter=6000)
    n = float(np.linalg.norm(w))
    if s.penalty == "l0":  # the start 3 e is a fixed point: it must stay (u = w = 3 e)
        err = float(np.max(np.abs(w - 3.0 * e)))
        return Outcome(err / 1e-12 if np.all((u != 0) == (e != 0)) else math.inf,
                       f"l0 from 3 e: |w - 3 e| = {err:.1e}, |u|_0 = {int(np.sum(u != 0))}")
    rad, cos_t = ingr["orbit"](s.eta, s.beta, c)
    cos_w = float(w @ e) / n
    # the iterates approach the orbit geometrically; after 6000 steps 1e-6 relative is reached in every case seen
    err = max(abs(n - rad) / rad, abs(cos_w - cos_t))
    ok_u = bool(np.all(u == 0))
    return Outcome(err / 1e-6 if ok_u else math.inf,
                   f"{s.penalty}: |w| = {n:.6g} (orbit {rad:.6g}), cos t = {cos_w:.6f} (orbit {cos_t:.6f}), "
                   f"|u| = {np.linalg.norm(u):.1e}")


def _iterate_normalized_anyway(*args, normalize=False, **kw):
    return tbl.iterate_split(*args, normalize=True, **kw)


BINARY_COLLAPSE = register(CheckSpec(
    name="binary_collapse_without_normalization",
    statement=("Without normalization, l1/TL1 iterates collapse onto the period-2 orbit |w| = eta c/(2 - eta beta), "
               "cos t = 1 - eta beta/2 with u = 0 (no nonzero fixed point exists), while under l0 the points n e with "
               "n min|e_i| > sqrt(2 lam/beta) stay fixed (THEORY.md s.6)."),
    section="6",
    strategy=lambda profile: collapse_cases(profile),
    prop=_collapse_prop,
    ingredients=lambda: {"iterate": tbl.iterate_split, "orbit": _orbit},
    max_examples={"quick": 6, "thorough": 60},
    mutations={"orbit_without_eta_beta": "orbit radius eta c/2 (the eta beta term dropped)",
               "normalized_iteration": "the iteration with the normalization step (it does not collapse)"},
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
               "tau = lam/c + lam/(beta r') <= lam (1/c + 1/beta) (THEORY.md s.6)."),
    section="6",
    strategy=lambda profile: split_cases(profile, penalties=("l1",)),
    prop=_error_prop,
    ingredients=lambda: {"iterate": tbl.iterate_split, "tau": _tau},
    max_examples={"quick": 6, "thorough": 80},
    mutations={"tau_without_beta_term": "tau = lam/c (the lam/(beta r') term dropped)",
               "tau_raw_prox_threshold": "tau = lam/beta (the prox threshold, not the limit's)"},
))

#: name of check -> mutation name -> ingredient overrides.
MUTATIONS: dict[str, dict[str, dict]] = {
    "binary_closed_forms": {"loss_factor_half": {"loss": _loss_half},
                            "coarse_other_ste": {"expected_coarse_grad": _coarse_other_ste},
                            "coarse_unnormalized": {"expected_coarse_grad": _coarse_unnormalized}},
    "coarse_gradient_correlation": {"coarse_gradient_sign": {"expected_coarse_grad": _neg_coarse},
                                    "coarse_unnormalized": {"expected_coarse_grad": _coarse_unnormalized}},
    "binary_limit_normalized": {"predict_other_ste": {"predict": _pred_other_ste},
                                "predict_without_r_prime": {"predict": _pred_without_r}},
    "binary_collapse_without_normalization": {"orbit_without_eta_beta": {"orbit": _orbit_half},
                                              "normalized_iteration": {"iterate": _iterate_normalized_anyway}},
    "binary_error_estimates": {"tau_without_beta_term": {"tau": lambda lam, beta, c, r: lam / c},
                               "tau_raw_prox_threshold": {"tau": lambda lam, beta, c, r: lam / beta}},
}
SPECS = {s.name: s for s in (BINARY_CLOSED_FORMS, COARSE_GRADIENT_CORRELATION, BINARY_LIMIT_NORMALIZED,
                             BINARY_COLLAPSE, BINARY_ERROR_ESTIMATES)}
