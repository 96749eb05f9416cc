"""Check ``initialization_probability``: the probability of a start nearly opposite the teacher (theory page s.4).

For ``w0`` uniform on ``S^{d-1}`` (:func:`numerics.init.uniform_sphere`) and ``delta`` in ``(0, pi/2]``,
``P(angle(w0, w*) > pi - delta) = (1/2) I_{sin^2 delta}((d-1)/2, 1/2) <= delta/pi``
(:func:`theory.initialization.init_tail_probability`). The check draws ``N`` points, estimates the probability by the
fraction ``p_hat`` of them in the cap, and requires

* ``|P - p_hat| <= 4 se``, ``se = sqrt(p_hat (1 - p_hat) / N)`` the standard error from the samples;
* ``P <= delta/pi`` up to rounding (1e-12 relative: the two sides are equal at ``d = 2``);
* ``p_hat <= delta/pi + 4 se`` (the bound seen in the samples, independent of the formula).

``delta`` is drawn in ``[delta_min(d), pi/2]`` where ``delta_min(d)`` makes the true probability 2e-3, so that the cap
holds at least ~200 of ``N = 1e5`` points and the normal approximation behind the standard error holds
(``delta_min`` is found once per ``d`` from the theory formula; it only places the examples).

Mutations (on the spec, :data:`INITIALIZATION_PROBABILITY`): ``cos^2 delta`` in place of ``sin^2 delta``; ``d/2`` in
place of ``(d-1)/2``.

Check ``sphere_initializer``: :func:`numerics.uniform_sphere` returns unit vectors, ``||w| - 1| <= (4 + log2 d) eps``
of the requested dtype, whose directions are uniform. (Rounding: the norm of the Gaussian draw and the check's own
norm are sums of ``d`` squares, pairwise summed, each relatively off by up to ``~ (log2 d + 1) eps / 2``, and the
division and the final rounding to the dtype add an ulp at most; seen: 2 eps at d = 60 in float64.)
The angles above are blind to the norm (a sampler returning ``2 w`` or the unnormalized Gaussian passes them), so the
norm is checked on its own; uniformity through the moments of a coordinate of a uniform point of ``S^{d-1}``,
``E x_i = 0``, ``E x_i^2 = 1/d``, ``E x_i^4 = 3/(d (d + 2))``, each per coordinate within ``z`` Monte Carlo standard
errors estimated from the samples (the sample standard deviation of ``x_ni``, ``x_ni^2``, ``x_ni^4`` over
``sqrt(N)``). With ``3d`` comparisons per example, ``z`` is set so that the chance of a false alarm per example is
that of one comparison at 4 standard errors (``z = 4`` for one comparison, ``z ~ 5.1`` for ``3d = 180``). The mean
catches a biased sampler (a half sphere), the second moments an anisotropic one, the fourth moments one with the
right symmetries but the wrong shape (directions of points uniform in the cube ``[-1, 1]^d``, ``E x_i^4`` low by
5 %..40 %).

Mutations (on the spec, :data:`SPHERE_INITIALIZER`): the Gaussian draws without normalization; the points scaled by 2;
the first coordinate's sign dropped (a half sphere); directions of uniform points in the cube.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from hypothesis import strategies as st
from scipy import optimize, special

from numerics import population
from numerics._arrays import make_rng
from numerics.init import uniform_sphere
from theory.initialization import init_tail_probability

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import teachers

N_SE = 4.0
_DIMS = {"quick": (2, 12), "thorough": (2, 60)}
_N = {"quick": 100_000, "thorough": 200_000}
#: Smallest true cap probability drawn (see module docstring).
P_MIN = 2e-3


@dataclass(frozen=True)
class InitCase:
    """Dimension, cap half-width ``delta``, a teacher, the sample size and the seed of the uniform points."""

    d: int
    delta: float
    w_star: tuple[float, ...]
    n: int
    seed: int


@cache
def delta_min(d: int) -> float:
    """``delta`` at which ``(1/2) I_{sin^2 delta}((d-1)/2, 1/2) = P_MIN`` (the tail is increasing in ``delta``)."""
    return float(optimize.brentq(lambda dl: float(init_tail_probability(d, dl)) - P_MIN, 1e-9, math.pi / 2,
                                 xtol=1e-14))


@st.composite
def init_cases(draw, profile: str = "quick") -> InitCase:
    d = draw(st.integers(*_DIMS[profile]))
    u = draw(st.floats(0.0, 1.0))
    lo = delta_min(d)
    delta = lo + u * (math.pi / 2 - lo)
    return InitCase(d=d, delta=delta, w_star=draw(teachers(d, "dense")), n=_N[profile],
                    seed=draw(st.integers(0, 2**31 - 1)))


def _tail_cos2(d, delta):
    """Mistake: ``cos^2 delta`` in place of ``sin^2 delta``."""
    return 0.5 * special.betainc((np.asarray(d, dtype=float) - 1) / 2, 0.5, np.cos(delta) ** 2)


def _tail_half_d(d, delta):
    """Mistake: ``d/2`` in place of ``(d-1)/2``."""
    return 0.5 * special.betainc(np.asarray(d, dtype=float) / 2, 0.5, np.sin(delta) ** 2)


def _ingredients() -> dict[str, Any]:
    return {"tail_probability": init_tail_probability, "sampler": uniform_sphere}


def _init_prop(ex: InitCase, ing) -> Outcome:
    P = float(ing["tail_probability"](ex.d, ex.delta))
    w0 = np.asarray(ing["sampler"](ex.n, ex.d, seed=ex.seed))
    ang = np.asarray(population.angle(w0, np.asarray(ex.w_star)))
    hits = int(np.count_nonzero(ang > math.pi - ex.delta))
    p_hat = hits / ex.n
    se = math.sqrt(p_hat * (1.0 - p_hat) / ex.n)
    if se == 0.0:  # no or all points in the cap: the normal approximation is void; report instead of dividing by 0
        return Outcome(math.inf, f"{hits} of {ex.n} points in the cap (d={ex.d}, delta={ex.delta}); formula {P:.4g}")
    bound = ex.delta / math.pi
    d_mc = abs(P - p_hat) / (N_SE * se)
    d_bound = max(P - bound, 0.0) / (1e-12 * bound)  # rounding only: P = delta/pi exactly at d = 2
    d_mc_bound = max(p_hat - bound, 0.0) / (N_SE * se)
    disc = max(d_mc, d_bound, d_mc_bound)
    detail = (f"d={ex.d}, delta={ex.delta:.4g}: formula {P:.6g}, sampled {p_hat:.6g} +- {se:.2g} "
              f"({d_mc:.3g} x 4 se); delta/pi = {bound:.6g}")
    return Outcome(disc, detail)


INITIALIZATION_PROBABILITY = register(CheckSpec(
    name="initialization_probability",
    statement=("For w0 uniform on the sphere, P(angle(w0, w*) > pi - delta) = (1/2) I_{sin^2 delta}((d-1)/2, 1/2) "
               "within 4 Monte Carlo standard errors, and it is <= delta/pi (theory page s.4)."),
    section="4",
    strategy=lambda profile: init_cases(profile),
    prop=_init_prop,
    ingredients=_ingredients,
    max_examples={"quick": 15, "thorough": 200},
    mutations=(
        Mutation("cos2_for_sin2", "incomplete beta evaluated at cos^2 delta instead of sin^2 delta",
                 {"tail_probability": _tail_cos2}),
        Mutation("d_over_2", "first beta parameter d/2 instead of (d-1)/2", {"tail_probability": _tail_half_d}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# sphere_initializer
# ----------------------------------------------------------------------------------------------------------------------
_SPHERE_DIMS = {"quick": (1, 12), "thorough": (1, 60)}
_SPHERE_N = {"quick": 50_000, "thorough": 100_000}


def norm_tolerance(d: int, dtype: np.dtype) -> float:
    """Rounding allowance on ``|w| - 1`` (see the module docstring): ``(4 + log2 d) eps`` of the dtype."""
    return (4.0 + math.log2(d)) * float(np.finfo(dtype).eps)


@dataclass(frozen=True)
class SphereCase:
    """Dimension, number of points, seed and dtype (a NumPy dtype name) of one call of the sampler."""

    d: int
    n: int
    seed: int
    dtype: str


@st.composite
def sphere_cases(draw, profile: str = "quick") -> SphereCase:
    return SphereCase(d=draw(st.integers(*_SPHERE_DIMS[profile])), n=_SPHERE_N[profile],
                      seed=draw(st.integers(0, 2**31 - 1)), dtype=draw(st.sampled_from(("float64", "float32"))))


def familywise_z(m: int) -> float:
    """The z at which ``m`` two-sided normal comparisons have together the false-alarm chance of one at 4."""
    return float(-special.ndtri(special.erfc(N_SE / math.sqrt(2.0)) / (2.0 * m)))


def _gaussian_unnormalized(n, d, *, seed, dtype=None):
    """Mistake: the Gaussian draws returned without dividing by their norm."""
    return make_rng(seed).standard_normal((n, d)).astype(dtype or np.float64)


def _sphere_scale_2(n, d, *, seed, dtype=None):
    """Mistake: points on the sphere of radius 2."""
    return 2 * uniform_sphere(n, d, seed=seed, dtype=dtype)


def _half_sphere(n, d, *, seed, dtype=None):
    """Mistake: the sign of the first coordinate lost (``|x_1|``): every point on one half sphere."""
    w = np.array(uniform_sphere(n, d, seed=seed, dtype=dtype))
    w[:, 0] = np.abs(w[:, 0])
    return w


def _cube_directions(n, d, *, seed, dtype=None):
    """Mistake: directions of points uniform in the cube ``[-1, 1]^d`` (not rotation invariant)."""
    g = make_rng(seed).uniform(-1.0, 1.0, (n, d))
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(dtype or np.float64)


def _sphere_ingredients() -> dict[str, Any]:
    return {"sampler": uniform_sphere}


def _sphere_prop(ex: SphereCase, ing) -> Outcome:
    dtype = np.dtype(ex.dtype)
    w = ing["sampler"](ex.n, ex.d, seed=ex.seed, dtype=dtype)
    if np.shape(w) != (ex.n, ex.d) or np.asarray(w).dtype != dtype:
        return Outcome(math.inf, f"sampler returned shape {np.shape(w)}, dtype {np.asarray(w).dtype}; asked for "
                                 f"({ex.n}, {ex.d}), {dtype}")
    x = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return Outcome(math.inf, "non-finite points")
    eps, norm_tol = float(np.finfo(dtype).eps), norm_tolerance(ex.d, dtype)
    norm_err = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))
    parts = {"norm": norm_err / norm_tol}
    z = familywise_z(3 * ex.d)
    sq = math.sqrt(ex.n)
    for name, vals, expected in (("mean", x, 0.0), ("E x^2", x * x, 1.0 / ex.d),
                                 ("E x^4", x**4, 3.0 / (ex.d * (ex.d + 2)))):
        # a rounding floor for d = 1, where x = +-1 and the moments of even order have no spread at all
        se = vals.std(axis=0, ddof=1) / sq + 64 * eps * max(expected, 1.0 / ex.d)
        parts[name] = float(np.max(np.abs(vals.mean(axis=0) - expected) / (z * se)))
    worst = max(parts, key=lambda key: parts[key])
    detail = (f"worst: {worst} ({parts[worst]:.3g} x tol); max ||w| - 1| = {norm_err:.2e} "
              f"(tol {norm_tol:.2e}); moments: "
              + ", ".join(f"{k} {v:.3g}" for k, v in parts.items() if k != "norm")
              + f" x tol (z = {z:.2f}); d={ex.d}, N={ex.n}, {ex.dtype}")
    return Outcome(parts[worst], detail)


SPHERE_INITIALIZER = register(CheckSpec(
    name="sphere_initializer",
    statement=("uniform_sphere returns unit vectors (to (4 + log2 d) eps of the dtype) with uniform directions: per "
               "coordinate E x = 0, E x^2 = 1/d and E x^4 = 3/(d(d+2)) within their Monte Carlo standard errors "
               "(theory page s.4)."),
    section="4",
    strategy=lambda profile: sphere_cases(profile),
    prop=_sphere_prop,
    ingredients=_sphere_ingredients,
    max_examples={"quick": 8, "thorough": 200},
    mutations=(
        Mutation("gaussian_unnormalized", "the Gaussian draws returned without normalization",
                 {"sampler": _gaussian_unnormalized}),
        Mutation("scale_2", "points of norm 2", {"sampler": _sphere_scale_2}),
        Mutation("half_sphere", "the first coordinate's sign lost (|x_1|)", {"sampler": _half_sphere}),
        Mutation("cube_directions", "directions of points uniform in the cube [-1, 1]^d",
                 {"sampler": _cube_directions}),
    ),
))
