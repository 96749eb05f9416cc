"""Checks of the closed forms of theory page section 2: population loss and gradient, and the critical points.

``loss_gradient_closed_form``
    The closed-form loss and gradient (:mod:`numerics.population`) agree with Monte Carlo of the sampled network
    (:mod:`numerics.model`) within 4 of their own standard errors, and the gradient agrees with central finite
    differences of the loss.
``empirical_gradient``
    The sampled gradient of the ReLU network on N samples, as the engine computes it
    (:func:`numerics.model.empirical_grad`, and the gradient source :class:`numerics.Empirical` that
    :func:`numerics.run` uses), agrees with the closed-form gradient within 4 Monte Carlo standard errors, estimated
    from the per-sample gradients of the same samples (computed here, independently of the engine). Before it, nothing
    called the engine's sampled gradient: ``loss_gradient_closed_form`` computes its own per-sample gradients.
    Mutations: the factor 2 of the square dropped, the ReLU mask ``1{Z_i . w* > 0}`` in place of ``1{Z_i . w > 0}``,
    the 1/k of the patch average dropped (in ``model.empirical_grad``), and the mask mistake in the source.
``critical_points``
    ``w*`` is a strict local (global) minimum, ``w = -c w*`` (``c`` from
    :func:`theory.critical_points.saddle_scale_expr`) is a critical point that a rotation toward ``w*`` descends
    from (a saddle), ``w = 0`` is a strict local maximum for ``k >= 2``, and the finite-difference Hessian at ``w*``
    is ``lambda_perp (I - P) + lambda_par P`` with the eigenvalues of
    :func:`theory.critical_points.hessian_eigenvalues_at_teacher`.

Mutations (deliberately wrong ingredients; each must make its check fail, see ``tests/test_checks_closed_forms.py``)
are stored on the specs, :data:`LOSS_GRADIENT`, :data:`EMPIRICAL_GRADIENT` and :data:`CRITICAL_POINTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from numerics import Empirical, model, population
from numerics.init import at_angle

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import log_uniform, teachers

_EPS = float(np.finfo(np.float64).eps)
_DIMS = {"quick": (2, 6), "thorough": (2, 20)}
_PATCHES = {"quick": (1, 8), "thorough": (1, 16)}
#: Monte Carlo sample sizes per example.
_N_MC = {"quick": 40_000, "thorough": 100_000}
#: Monte Carlo acceptance: |closed - MC mean| <= 4 standard errors (two-sided normal tail 6e-5 per comparison).
N_SE = 4.0


# ----------------------------------------------------------------------------------------------------------------------
# Examples
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossPoint:
    """A point ``w`` at which to compare the closed forms with Monte Carlo and finite differences.

    Attributes
    ----------
    k : int
        Number of patches.
    w_star, w : tuple of float
        Teacher and evaluation point (same length d).
    seed : int
        Seed of the Monte Carlo samples.
    n_samples : int
        Monte Carlo sample size.
    """

    k: int
    w_star: tuple[float, ...]
    w: tuple[float, ...]
    seed: int
    n_samples: int


@dataclass(frozen=True)
class TeacherCase:
    """A teacher and a seed for the random directions used around the critical points."""

    k: int
    w_star: tuple[float, ...]
    seed: int


@st.composite
def loss_points(draw, profile: str = "quick") -> LossPoint:
    """``w`` at a drawn angle in [0, pi] to ``w*`` with ``|w| / |w*|`` log-uniform in [0.05, 3]."""
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(*_PATCHES[profile]))
    ws = draw(teachers(d, "dense"))
    angle = draw(st.floats(0.0, math.pi))
    ratio = draw(log_uniform(0.05, 3.0))
    seed = draw(st.integers(0, 2**31 - 1))
    ws_arr = np.asarray(ws)
    w = at_angle(ws_arr, angle, seed=seed % 2**16, norm=ratio * float(np.linalg.norm(ws_arr)))
    return LossPoint(k=k, w_star=ws, w=tuple(float(v) for v in w), seed=seed, n_samples=_N_MC[profile])


@st.composite
def teacher_cases(draw, profile: str = "quick") -> TeacherCase:
    """A dense teacher and ``k >= 2`` (the origin is a maximum and the saddle is away from 0 only for ``k >= 2``)."""
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(2, _PATCHES[profile][1]))
    return TeacherCase(k=k, w_star=draw(teachers(d, "dense")), seed=draw(st.integers(0, 2**31 - 1)))


# ----------------------------------------------------------------------------------------------------------------------
# Mutated ingredients (plausible mistakes)
# ----------------------------------------------------------------------------------------------------------------------
def _kernel(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Arc-cosine kernel ``g = |w||w*| (sin t + (pi - t) cos t) / (2 pi)`` (theory page s.2)."""
    t = population.angle(w, w_star)
    nw, ns = np.linalg.norm(w, axis=-1), np.linalg.norm(w_star, axis=-1)
    return nw * ns * (np.sin(t) + (math.pi - t) * np.cos(t)) / (2.0 * math.pi)


def _loss_half(w, w_star, k):
    """Mistake: a factor 1/2 in front of the expectation (the other convention) with the gradient unchanged."""
    return 0.5 * population.loss(w, w_star, k)


def _loss_kernel_over_pi(w, w_star, k):
    """Mistake: the arc-cosine kernel with 1/pi instead of 1/(2 pi): g doubles, so the ``-2 k g / k^2`` term of ``l``
    gains another ``-2 g / k``."""
    return population.loss(w, w_star, k) - 2.0 * _kernel(np.asarray(w), np.asarray(w_star)) / k


def _grad_without_pair_term(w, w_star, k):
    """Mistake: ``A(w)`` without its ``(k^2 - k)/pi`` term, i.e. ``grad l - ((k^2 - k)/(pi k^2)) w``."""
    return population.grad(w, w_star, k) - ((k * k - k) / (math.pi * k * k)) * np.asarray(w)


def _loss_without_pair_term(w, w_star, k):
    """Mistake: the loss without the independent-patch term ``((k^2 - k)/(2 pi)) (|w| - |w*|)^2 / k^2``."""
    nw, ns = np.linalg.norm(w, axis=-1), np.linalg.norm(w_star, axis=-1)
    return population.loss(w, w_star, k) - (k * k - k) / (2.0 * math.pi * k * k) * (nw - ns) ** 2


def _saddle_scale_pi(k):
    """Mistake: ``c = (k^2 - k)/(k^2 + pi k)`` (pi instead of pi - 1)."""
    return (k * k - k) / (k * k + math.pi * k)


@cache
def _real_hessian_eigenvalues() -> Any:
    """The real ingredient ``hessian_eigenvalues`` (built on first use: it lambdifies SymPy expressions)."""
    return _critical_ingredients()["hessian_eigenvalues"]


def _hessian_perp_over_k2(k):
    """Mistake: the Hessian eigenvalue orthogonal to w* as 1/k^2 instead of 1/k (the one along w* kept real)."""
    return 1.0 / k**2, _real_hessian_eigenvalues()(k)[1]


# ----------------------------------------------------------------------------------------------------------------------
# loss_gradient_closed_form
# ----------------------------------------------------------------------------------------------------------------------
def _mc_loss_and_grad(w: np.ndarray, w_star: np.ndarray, k: int, n: int, seed: int, Z: np.ndarray | None = None):
    """Per-sample squared error and gradient of the sampled network: means and standard errors.

    Notes
    -----
    ``e_n = (f(Z_n; w) - f(Z_n; w*))^2`` and ``g_n = 2 r_n (1/k) sum_i 1{Z_ni . w > 0} Z_ni``, ``r_n = f(Z_n; w) - y_n``
    (theory page s.2); both are unbiased for ``l(w)`` and ``grad l(w)`` (``w != 0``: the integrand is Lipschitz in ``w``
    and differentiable almost surely). Standard errors are the sample standard deviations over ``sqrt(N)``. The
    samples are ``model.sample_patches(n, k, d, seed=seed)``, or ``Z`` when given (already drawn so).
    """
    if Z is None:
        Z = model.sample_patches(n, k, w.shape[0], seed=seed)
    r = model.forward(Z, w) - model.labels(Z, w_star)
    e = r * r
    active = (Z @ w > 0).astype(np.float64)  # (N, k)
    g = (2.0 / k) * r[:, None] * np.einsum("nk,nkd->nd", active, Z)
    sq = math.sqrt(n)
    return e.mean(), e.std(ddof=1) / sq, g.mean(axis=0), g.std(axis=0, ddof=1) / sq


def _fd_gradient(loss_fn, w: np.ndarray, w_star: np.ndarray, k: int, h: float) -> np.ndarray:
    d = w.shape[0]
    steps = h * np.eye(d)
    vals = np.asarray(loss_fn(np.concatenate([w + steps, w - steps]), w_star, k))
    return (vals[:d] - vals[d:]) / (2.0 * h)


def _loss_gradient_prop(ex: LossPoint, ing) -> Outcome:
    w, ws, k = np.asarray(ex.w), np.asarray(ex.w_star), ex.k
    nw, ns = float(np.linalg.norm(w)), float(np.linalg.norm(ws))
    closed_l = float(ing["loss"](w, ws, k))
    closed_g = np.asarray(ing["grad"](w, ws, k), dtype=np.float64)
    mean_l, se_l, mean_g, se_g = _mc_loss_and_grad(w, ws, k, ex.n_samples, ex.seed)
    # Tolerance: 4 standard errors, plus a rounding floor (64 eps times the size of the terms of the closed form,
    # |w|^2 + |w*|^2) for the degenerate case w = w* where every sample is exactly 0 and the standard error is 0.
    floor = 64 * _EPS * (nw + ns) ** 2
    d_loss = abs(closed_l - mean_l) / (N_SE * se_l + floor)
    d_grad = float(np.max(np.abs(closed_g - mean_g) / (N_SE * se_g + floor)))
    # Central differences with h = 1e-5 |w|: the truncation error is ~ h^2 l''' / 6 with l''' ~ (|w|+|w*|)/|w|^2,
    # i.e. ~ 2e-11 (|w| + |w*|); rounding adds ~ eps l / h ~ 2e-11 (|w|+|w*|)^2/|w|. The tolerance
    # 1e-7 (|w| + |w*|)^2 / |w| is > 1000 times both, and far below any of the mutations (O(|w|/k) or O(l/|w|)).
    h = 1e-5 * nw
    fd = _fd_gradient(ing["loss"], w, ws, k, h)
    d_fd = float(np.max(np.abs(fd - closed_g))) / (1e-7 * (nw + ns) ** 2 / nw)
    disc = max(d_loss, d_grad, d_fd)
    detail = (f"loss closed {closed_l:.6g} vs MC {mean_l:.6g} +- {se_l:.2g} ({d_loss:.3g} x tol); "
              f"grad vs MC worst {d_grad:.3g} x tol; grad vs FD {float(np.max(np.abs(fd - closed_g))):.2e} "
              f"({d_fd:.3g} x tol); |w|={nw:.3g}, |w*|={ns:.3g}, N={ex.n_samples}")
    return Outcome(disc, detail)


def _loss_ingredients() -> dict[str, Any]:
    return {"loss": population.loss, "grad": population.grad}


LOSS_GRADIENT = register(CheckSpec(
    name="loss_gradient_closed_form",
    statement=("The closed-form population loss and gradient agree with Monte Carlo of the sampled network within "
               "4 standard errors, and the gradient with central finite differences of the loss (theory page s.2)."),
    section="2",
    strategy=lambda profile: loss_points(profile),
    prop=_loss_gradient_prop,
    ingredients=_loss_ingredients,
    max_examples={"quick": 12, "thorough": 150},
    mutations=(
        Mutation("gradient_missing_pair_term", "grad l without the (k^2 - k)/pi term of A(w)",
                 {"grad": _grad_without_pair_term}),
        Mutation("loss_factor_half", "l with a factor 1/2 (the other convention) while the gradient keeps none",
                 {"loss": _loss_half}),
        Mutation("kernel_over_pi", "arc-cosine kernel normalised by 1/pi instead of 1/(2 pi)",
                 {"loss": _loss_kernel_over_pi}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# empirical_gradient
# ----------------------------------------------------------------------------------------------------------------------
def _empirical_grad(w, w_star, Z):
    """The real ingredient: :func:`numerics.model.empirical_grad` on samples ``Z`` labelled by the teacher."""
    return model.empirical_grad(w, Z, model.labels(Z, w_star))


def _empirical_source_grad(w, w_star, k, n, seed):
    """The real ingredient: the gradient source :class:`numerics.Empirical` (``n`` samples drawn with ``seed``), bound
    to the teacher and asked for the gradient at the rows of ``w`` (B, d), as :func:`numerics.run` does."""
    ws = np.broadcast_to(np.asarray(w_star, dtype=np.float64), np.shape(w)).copy()
    return Empirical(n_samples=n, seed=seed).bind(ws, k).grad(np.asarray(w, dtype=np.float64))


def _sampled_grad_wrong(w, w_star, Z, *, factor=2.0, mask_from_teacher=False, patch_scale=None):
    """The sampled gradient ``(factor/N) sum_n r_n c sum_i 1{Z_ni . v > 0} Z_ni`` with the given mistakes:
    ``factor`` (2 is right), the mask taken at ``v = w*`` instead of ``v = w``, ``c = patch_scale(k)`` (1/k is right).
    ``w`` of shape (d,) or (B, d)."""
    w = np.asarray(w, dtype=np.float64)
    ws = np.broadcast_to(np.asarray(w_star, dtype=np.float64), w.shape)
    n, k, _ = Z.shape
    r = model.forward(Z, w) - model.labels(Z, ws)  # (N,) or (N, B)
    v = ws if mask_from_teacher else w
    c = 1.0 / k if patch_scale is None else patch_scale(k)
    if w.ndim == 1:
        active = (Z @ v > 0).astype(np.float64)  # (N, k)
        return (factor * c / n) * np.einsum("n,nk,nkd->d", r, active, Z)
    active = (np.einsum("nkd,bd->nkb", Z, v) > 0).astype(np.float64)
    return (factor * c / n) * np.einsum("nb,nkb,nkd->bd", r, active, Z)


def _grad_missing_factor_2(w, w_star, Z):
    """Mistake: the derivative of the square without its factor 2 (the loss's 1/2 convention)."""
    return _sampled_grad_wrong(w, w_star, Z, factor=1.0)


def _grad_teacher_mask(w, w_star, Z):
    """Mistake: the ReLU derivative taken at the teacher, ``1{Z_i . w* > 0}``, instead of at ``w``."""
    return _sampled_grad_wrong(w, w_star, Z, mask_from_teacher=True)


def _grad_missing_one_over_k(w, w_star, Z):
    """Mistake: the patch sum of the network's derivative without its 1/k (the output averages the patches)."""
    return _sampled_grad_wrong(w, w_star, Z, patch_scale=lambda k: 1.0)


def _source_teacher_mask(w, w_star, k, n, seed):
    """Mistake in the gradient source: its bound gradient with the mask ``1{Z_i . w* > 0}`` (the samples are the
    source's own: ``n`` drawn with ``seed``)."""
    Z = model.sample_patches(n, k, np.shape(w)[-1], seed=seed)
    return _sampled_grad_wrong(w, w_star, Z, mask_from_teacher=True)


def _empirical_prop(ex: LossPoint, ing) -> Outcome:
    w, ws, k = np.asarray(ex.w), np.asarray(ex.w_star), ex.k
    nw, ns = float(np.linalg.norm(w)), float(np.linalg.norm(ws))
    closed = np.asarray(population.grad(w, ws, k), dtype=np.float64)
    # The per-sample gradients g_n of the same N samples (drawn as numerics draws them: sample_patches with the
    # seed), computed here, independently of the engine: their standard deviation over sqrt(N) is the standard error
    # of any correct sampled gradient on those samples (the mean of the g_n).
    Z = model.sample_patches(ex.n_samples, k, w.shape[0], seed=ex.seed)
    _, _, mean_g, se_g = _mc_loss_and_grad(w, ws, k, ex.n_samples, ex.seed, Z)
    candidates = {
        "model.empirical_grad": np.asarray(ing["empirical_grad"](w, ws, Z), dtype=np.float64),
        "Empirical source": np.asarray(ing["empirical_source"](w[None, :], ws, k, ex.n_samples, ex.seed),
                                       dtype=np.float64)[0],
    }
    # Tolerance per coordinate: 4 standard errors, plus the rounding floor of loss_gradient_closed_form (w = w*, where
    # every per-sample gradient is exactly 0).
    tol = N_SE * se_g + 64 * _EPS * (nw + ns) ** 2
    parts = {name: float(np.max(np.abs(g - closed) / tol)) if np.all(np.isfinite(g)) else math.inf
             for name, g in candidates.items()}
    worst = max(parts, key=lambda key: parts[key])
    i = int(np.argmax(np.abs(candidates[worst] - closed) / tol))
    detail = (f"worst: {worst} ({parts[worst]:.3g} x tol) at coordinate {i}: {candidates[worst][i]:.6g} vs closed "
              f"form {closed[i]:.6g} (s.e. {se_g[i]:.2g}, mean of the per-sample gradients {mean_g[i]:.6g}); "
              + ", ".join(f"{name} {v:.3g} x tol" for name, v in parts.items())
              + f"; |w|={nw:.3g}, |w*|={ns:.3g}, k={k}, N={ex.n_samples}")
    return Outcome(parts[worst], detail)


def _empirical_ingredients() -> dict[str, Any]:
    return {"empirical_grad": _empirical_grad, "empirical_source": _empirical_source_grad}


EMPIRICAL_GRADIENT = register(CheckSpec(
    name="empirical_gradient",
    statement=("The sampled gradient of the ReLU network on N samples (numerics.model.empirical_grad and the "
               "numerics.Empirical source) agrees with the closed-form population gradient within 4 Monte Carlo "
               "standard errors, estimated from the per-sample gradients (theory page s.2)."),
    section="2",
    strategy=lambda profile: loss_points(profile),
    prop=_empirical_prop,
    ingredients=_empirical_ingredients,
    max_examples={"quick": 10, "thorough": 150},
    mutations=(
        Mutation("missing_factor_2", "empirical gradient without the factor 2 of the square",
                 {"empirical_grad": _grad_missing_factor_2}),
        Mutation("mask_from_teacher", "ReLU derivative mask 1{Z_i . w* > 0} instead of 1{Z_i . w > 0}",
                 {"empirical_grad": _grad_teacher_mask}),
        Mutation("missing_one_over_k", "empirical gradient without the 1/k of the patch average",
                 {"empirical_grad": _grad_missing_one_over_k}),
        Mutation("source_mask_from_teacher", "the Empirical source's gradient with the mask 1{Z_i . w* > 0}",
                 {"empirical_source": _source_teacher_mask}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# critical_points
# ----------------------------------------------------------------------------------------------------------------------
def _critical_ingredients() -> dict[str, Any]:
    import sympy as sp

    from theory import critical_points as cp
    from theory.symbols import k as k_sym

    c_fn = sp.lambdify(k_sym, cp.saddle_scale_expr(), "math")
    perp, par = cp.hessian_eigenvalues_at_teacher()
    perp_fn, par_fn = sp.lambdify(k_sym, perp, "math"), sp.lambdify(k_sym, par, "math")
    return {
        "loss": population.loss,
        "grad": population.grad,
        "saddle_scale": lambda k: float(c_fn(k)),
        "hessian_eigenvalues": lambda k: (float(perp_fn(k)), float(par_fn(k))),
    }


def _unit_perp(rng: np.random.Generator, e: np.ndarray) -> np.ndarray:
    v = rng.standard_normal(e.shape[0])
    v -= (v @ e) * e
    v -= (v @ e) * e  # twice: orthogonal to rounding
    return v / np.linalg.norm(v)


def _fd_hessian(loss_fn, w: np.ndarray, w_star: np.ndarray, k: int, h: float) -> np.ndarray:
    """Central second differences ``(l(w+h ei+h ej) - l(w+h ei-h ej) - l(w-h ei+h ej) + l(w-h ei-h ej)) / (4 h^2)``,
    all ``4 d^2`` points in one batched call."""
    d = w.shape[0]
    eye = h * np.eye(d)
    pts = []
    for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
        pts.append(w + si * eye[:, None, :] + sj * eye[None, :, :])
    vals = np.asarray(loss_fn(np.stack(pts).reshape(-1, d), w_star, k)).reshape(4, d, d)
    hess = (vals[0] - vals[1] - vals[2] + vals[3]) / (4.0 * h * h)
    return 0.5 * (hess + hess.T)


def _critical_prop(ex: TeacherCase, ing) -> Outcome:
    ws, k = np.asarray(ex.w_star), ex.k
    d = ws.shape[0]
    ns = float(np.linalg.norm(ws))
    e = ws / ns
    rng = np.random.default_rng(ex.seed)
    loss, grad = ing["loss"], ing["grad"]

    def rounding(w: np.ndarray) -> float:
        # Rounding of the closed forms: their terms are of size |w|^2 + |w*|^2 (loss) or |w| + |w*| (gradient), and
        # cancel at the critical points; 64 eps of that size.
        return 64 * _EPS * (float(w @ w) + ns * ns)

    parts: dict[str, float] = {}
    notes: list[str] = []
    # (1) w* is a minimum: l(w*) = 0 and grad l(w*) = 0 to rounding, l > 0 at random nearby points.
    l_star = float(loss(ws, ws, k))
    g_star = float(np.linalg.norm(grad(ws, ws, k)))
    parts["l(w*)"] = abs(l_star) / rounding(ws)
    parts["grad(w*)"] = g_star / (64 * _EPS * 2 * ns)
    radii = ns * np.array([1e-3, 1e-2, 1e-1, 0.5])
    dirs = rng.standard_normal((radii.size, d))
    near = ws + radii[:, None] * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    l_near = np.asarray(loss(near, ws, k))
    # Must be positive beyond rounding: l(w* + r v) ~ r^2 / (2k) >= 5e-8 |w*|^2 / k here, rounding ~ 3e-14 |w*|^2.
    parts["l(near w*) > 0"] = 0.0 if np.all(l_near > rounding(ws)) else math.inf
    notes.append(f"l(w*)={l_star:.2e}, |grad l(w*)|={g_star:.2e}, min l(near)={float(np.min(l_near)):.2e}")
    # (2) the saddle w = -c w*: zero gradient; a rotation toward w* at fixed norm lowers the loss.
    c = float(ing["saddle_scale"](k))
    if not c > 0:
        parts["saddle scale > 0"] = math.inf
        notes.append(f"saddle scale c={c}")
    else:
        w_s = -c * ws
        g_s = float(np.linalg.norm(grad(w_s, ws, k)))
        parts["grad(saddle)"] = g_s / (64 * _EPS * (c + 1.0) * ns)
        # Independent of the grad ingredient: central differences of the loss (tolerance as in
        # loss_gradient_closed_form: truncation and rounding are > 1000 times below it).
        fd = _fd_gradient(loss, w_s, ws, k, 1e-5 * c * ns)
        parts["FD grad(saddle)"] = float(np.linalg.norm(fd)) / (1e-7 * (c + 1.0) ** 2 * ns / c)
        l_s = float(loss(w_s, ws, k))
        eps_rot = 0.05  # l decreases like c |w*|^2 eps^3 / (3 pi k) ~ 1e-5 c |w*|^2 / k, far above rounding
        w_rot = c * ns * (-math.cos(eps_rot) * e + math.sin(eps_rot) * _unit_perp(rng, e))
        l_rot = float(loss(w_rot, ws, k))
        parts["rotation descends"] = 0.0 if l_rot < l_s - rounding(w_s) else math.inf
        notes.append(f"saddle c={c:.6g}: |grad|={g_s:.2e}, |FD grad|={float(np.linalg.norm(fd)):.2e}, "
                     f"l(rotated)-l(saddle)={l_rot - l_s:.2e}")
    # (3) w = 0 is a strict local maximum (k >= 2): l(eps v) < l(0) for random unit v, v = -w*/|w*| and v ⟂ w*.
    # l(eps v) - l(0) = C eps + O(eps^2) with C <= -(k-1)|w*|/(pi k) < 0; eps = 1e-3 |w*| makes the decrease
    # >= 1.6e-4 |w*|^2, the O(eps^2) term <= 1e-6 |w*|^2.
    eps0 = 1e-3 * ns
    vs = rng.standard_normal((6, d))
    vs = np.concatenate([vs / np.linalg.norm(vs, axis=1, keepdims=True), [-e, _unit_perp(rng, e)]])
    l0 = float(loss(np.zeros(d), ws, k))
    l_eps = np.asarray(loss(eps0 * vs, ws, k))
    worst0 = float(np.max(l_eps - l0))
    parts["origin maximum"] = 0.0 if worst0 < -rounding(np.zeros(d)) else math.inf
    notes.append(f"max_v l(eps v) - l(0) = {worst0:.2e}")
    # (4) Hessian at w* from second differences vs lambda_perp (I - P) + lambda_par P (entrywise, so eigenvectors too).
    # h = 1e-4 |w*|. l is C^2 but not C^3 at w* (t^3 term of sin t + (pi - t) cos t, t ~ |perp|/|w*|): the second
    # difference carries an O(h / |w*|) error ~ h / (3 pi k |w*|) <= 1.1e-5 (2e-5 seen); rounding of the four loss
    # values (~ eps |w*|^2 each, the terms of l cancel at w*) over 4 h^2 gives ~ 1e-8. Tolerance 2e-4 (the Hessian is
    # dimensionless: degree 0 in (w, w*)); the mutation 1/k^2 is off by (k - 1)/k^2 >= 0.058 for k <= 16.
    lam_perp, lam_par = ing["hessian_eigenvalues"](k)
    hess = _fd_hessian(loss, ws, ws, k, 1e-4 * ns)
    P = np.outer(e, e)
    predicted = lam_perp * (np.eye(d) - P) + lam_par * P
    h_err = float(np.max(np.abs(hess - predicted)))
    parts["Hessian"] = h_err / 2e-4
    notes.append(f"Hessian max entry error {h_err:.2e} (lambda_perp={lam_perp:.6g}, lambda_par={lam_par:.6g})")
    worst = max(parts, key=lambda key: parts[key])
    return Outcome(parts[worst], f"worst part: {worst} ({parts[worst]:.3g} x tol); " + "; ".join(notes))


CRITICAL_POINTS = register(CheckSpec(
    name="critical_points",
    statement=("w* is a strict minimum (l = 0, grad = 0), w = -c w* is a critical point that descends under rotation "
               "toward w* (saddle), w = 0 is a strict local maximum for k >= 2, and the Hessian at w* has eigenvalues "
               "1/k (orthogonal) and (k + (k^2-k)/pi)/k^2 (along w*) (theory page s.2)."),
    section="2",
    strategy=lambda profile: teacher_cases(profile),
    prop=_critical_prop,
    ingredients=_critical_ingredients,
    max_examples={"quick": 15, "thorough": 200},
    mutations=(
        Mutation("saddle_scale_pi", "saddle scale (k^2-k)/(k^2+pi k): pi instead of pi - 1",
                 {"saddle_scale": _saddle_scale_pi}),
        Mutation("hessian_perp_one_over_k2", "Hessian eigenvalue orthogonal to w* as 1/k^2 instead of 1/k",
                 {"hessian_eigenvalues": _hessian_perp_over_k2}),
        Mutation("loss_without_pair_term",
                 "loss without the independent-patch term (the origin is then no maximum along -w*)",
                 {"loss": _loss_without_pair_term}),
    ),
))
