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
