"""Check ``predict_certifies_fixed_point``: what :func:`numerics.predict` reports as a fixed point is one (s.5).

:func:`numerics.predict` returns a point ``(w, u)`` with a flag ``ok`` ("converged and every coordinate
self-consistent: a genuine fixed point") and a ``residual`` ("``max_i |grad l(w) + beta (w - prox(w))|_i`` recomputed
from the returned ``w``"). Other checks use the flag to decide what to compare; this one checks that the flag and the
residual mean what they say, independently of how ``predict`` found the point. Per generated instance (the RVSM
instances of :mod:`checks.strategies`), three predictions: the free one with band coordinates kept, the free one with
band coordinates zeroed, and one with a drawn kept set (``support``, a random subset of the nonzero coordinates of
``w*``, mostly *not* a fixed point: there ``ok`` must be False). For each:

* whenever ``ok`` is True, ``(w, u)`` is a fixed point of RVSM, verified with the closed-form gradient
  :func:`numerics.population.grad` and the penalty's own prox, nothing of ``predict``'s internals:

  - ``u = prox_{mu P}(w)``, ``mu = lam / beta``: ``|u_i - prox(w)_i| <= 2e-9 (|u_i| + mu)``, twice the relative
    tolerance by which ``predict`` accepts a kept value (its documented ``kept_ok``: the TL1 trigonometric root loses up
    to ``~sqrt(eps) |x|`` next to a double root, so the two evaluations of the same root can differ by more than
    rounding; a point that is not a fixed point misses by ``O(mu)`` or more: 5e-4 at least over 300 thorough
    instances with drawn kept sets);
  - stationarity ``|grad l(w) + beta (w - u)|_inf <= 1e-11 S``, ``S = (1 + beta) |w|_inf + |w*|_inf`` the size of its
    terms. ``predict`` solves its ``(k s, k q)`` to ``1e-14 (1 + (k - 1)/pi)``, which moves the gradient by
    ``<= 1e-14 S``; rounding adds a few ``eps S``. Seen: ``4e-15 |w*|_inf`` at most over 300 thorough instances;
    a ``(s, q)`` solve stopped at 1e-3 leaves ``2e-5 |w*|_inf`` (median).

* the reported ``residual`` equals ``max_i |grad l(w) + beta (w - prox(w))|_i`` recomputed here from the returned
  ``w`` within ``64 eps S`` (rounding of two evaluations of the same terms), for every prediction with a finite ``w``,
  ok or not.
* the verification has teeth: each ok point, perturbed, is rejected. ``w -> w + 1e-6 |w|_inf v`` (``v`` a random
  unit vector, ``u`` recomputed as its prox) must fail stationarity (it moves the gradient by ``~1e-6 |w| / k``,
  ``>= 1e5`` times its tolerance), and ``u -> u + 1e-6 (|u|_inf + mu)`` must fail ``u = prox(w)``.

An instance where neither free prediction is ok is rejected (counted; a ``predict`` that declined everything would
make every example rejected, which fails the check): ``predict`` declines legitimately only outside its scope, near
``q <= 0`` at large ``lam k``.

Mutations (on the spec, :data:`PREDICT_CERTIFIES_FIXED_POINT`, ingredient ``predict`` called as
``predict(problem, **options)``): ``ok`` that ignores consistency (``ok = converged``: the drawn kept sets are then
"fixed points"); the residual computed with the wrong sign of ``beta`` (``grad l(w) - beta (w - prox(w))``); the
``(s, q)`` solve stopped at ``tol = 1e-3`` and still reported ``ok``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import reject
from hypothesis import strategies as st

import numerics as nm
from numerics import population

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import instances

_EPS = float(np.finfo(np.float64).eps)
#: |u - prox(w)| <= PROX_RTOL (|u| + mu), per coordinate (module docstring).
PROX_RTOL = 2e-9
#: |grad l(w) + beta (w - u)|_inf <= STAT_RTOL S (module docstring).
STAT_RTOL = 1e-11
#: |reported residual - recomputed residual| <= RESIDUAL_ULPS eps S.
RESIDUAL_ULPS = 64.0
#: Relative size of the perturbations that the verification must reject.
PERTURBATION = 1e-6


@dataclass(frozen=True)
class FixedPointCase:
    """An RVSM problem, a kept set to impose on the predictor, and a seed for the perturbation directions.

    Attributes
    ----------
    d, k, w_star, penalty, a, lam, beta
        As :class:`checks.strategies.Instance`.
    support : tuple of bool
        Kept set for ``predict(problem, support=...)``: a subset of the nonzero coordinates of ``w*``.
    seed : int
        Seed of the perturbation direction.
    """

    d: int
    k: int
    w_star: tuple[float, ...]
    penalty: str
    a: float | None
    lam: float
    beta: float
    support: tuple[bool, ...]
    seed: int

    def problem(self) -> nm.Problem:
        return nm.Problem(np.asarray(self.w_star, dtype=np.float64), self.k, self.penalty, self.lam, self.beta,
                          a=self.a)


@st.composite
def fixed_point_cases(draw, profile: str = "quick") -> FixedPointCase:
    """The instances of :func:`checks.strategies.instances` (every penalty and teacher kind) with a kept set in which
    each nonzero coordinate of ``w*`` is kept with probability 1/2."""
    inst = draw(instances(profile))
    support = tuple(bool(v != 0.0 and draw(st.booleans())) for v in inst.w_star)
    return FixedPointCase(d=inst.d, k=inst.k, w_star=inst.w_star, penalty=inst.penalty, a=inst.a, lam=inst.lam,
                          beta=inst.beta, support=support, seed=draw(st.integers(0, 2**16)))


# ----------------------------------------------------------------------------------------------------------------------
# The independent verification
# ----------------------------------------------------------------------------------------------------------------------
def _scale(w: np.ndarray, w_star: np.ndarray, beta: float) -> float:
    return (1.0 + beta) * float(np.max(np.abs(w))) + float(np.max(np.abs(w_star)))


def recomputed_residual(problem: nm.Problem, w: np.ndarray) -> float:
    """``max_i |grad l(w) + beta (w - prox_{lam/beta}(w))|_i`` with :func:`numerics.population.grad` and the penalty's
    prox (what ``LimitPrediction.residual`` documents)."""
    ws = np.asarray(problem.w_star, dtype=np.float64)
    g = np.asarray(population.grad(w, ws, problem.k), dtype=np.float64)
    p = np.asarray(problem.penalty.prox(w, problem.mu), dtype=np.float64)
    return float(np.max(np.abs(g + problem.beta * (w - p))))


def verify_fixed_point(problem: nm.Problem, w: np.ndarray, u: np.ndarray) -> dict[str, float]:
    """``(w, u)`` as a fixed point of RVSM: each part's error as a fraction of its tolerance (``<= 1`` passes).

    ``"u = prox(w)"``: ``max_i |u_i - prox(w)_i| / (PROX_RTOL (|u_i| + mu))``; ``"stationarity"``:
    ``|grad l(w) + beta (w - u)|_inf / (STAT_RTOL S)``.
    """
    ws = np.asarray(problem.w_star, dtype=np.float64)
    mu, beta = float(problem.mu), float(problem.beta)
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(u))):
        return {"finite": math.inf}
    p = np.asarray(problem.penalty.prox(w, mu), dtype=np.float64)
    tiny = np.finfo(np.float64).tiny
    prox_err = float(np.max(np.abs(u - p) / (PROX_RTOL * (np.abs(u) + mu) + tiny)))
    g = np.asarray(population.grad(w, ws, problem.k), dtype=np.float64)
    stat = float(np.max(np.abs(g + beta * (w - u))))
    return {"u = prox(w)": prox_err, "stationarity": stat / (STAT_RTOL * _scale(w, ws, beta))}


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------------------------------------------------
# The property
# ----------------------------------------------------------------------------------------------------------------------
_CALLS = (("free, band kept", {}), ("free, band zeroed", {"band": "zero"}), ("drawn support", None))


def _prop(ex: FixedPointCase, ing) -> Outcome:
    problem = ex.problem()
    ws = np.asarray(ex.w_star, dtype=np.float64)
    mu, beta = float(problem.mu), float(problem.beta)
    rng = np.random.default_rng(ex.seed)
    parts: dict[str, float] = {}
    notes: list[str] = []
    n_ok = 0
    for label, options in _CALLS:
        opts = {"support": np.asarray(ex.support, dtype=bool)} if options is None else options
        pred = ing["predict"](problem, **opts)
        w, u = np.asarray(pred.w, dtype=np.float64), np.asarray(pred.u, dtype=np.float64)
        ok = bool(np.all(pred.ok))
        reported = float(np.asarray(pred.residual))
        if np.all(np.isfinite(w)):
            res = recomputed_residual(problem, w)
            parts[f"{label}: residual"] = abs(reported - res) / (RESIDUAL_ULPS * _EPS * _scale(w, ws, beta))
            if not math.isfinite(reported):
                parts[f"{label}: residual"] = math.inf
            note = f"{label}: ok={ok}, residual {reported:.3g} (recomputed {res:.3g})"
        else:
            note = f"{label}: ok={ok}, w not finite"
        if ok:
            n_ok += label.startswith("free")
            v = verify_fixed_point(problem, w, u)
            parts.update({f"{label}: {key}": val for key, val in v.items()})
            note += ", verified " + ", ".join(f"{key} {val:.3g} x tol" for key, val in v.items())
            # the verification must reject nearby points that are not fixed points
            w_p = w + PERTURBATION * float(np.max(np.abs(w))) * _unit(rng, ex.d)
            u_p = np.asarray(problem.penalty.prox(w_p, mu), dtype=np.float64)
            bad_w = verify_fixed_point(problem, w_p, u_p)["stationarity"]
            bad_u = verify_fixed_point(problem, w, u + PERTURBATION * (float(np.max(np.abs(u))) + mu))["u = prox(w)"]
            if not (bad_w > 1.0 and bad_u > 1.0):
                parts[f"{label}: perturbed point rejected"] = math.inf
            note += f"; perturbed w at {bad_w:.3g} x tol, perturbed u at {bad_u:.3g} x tol"
        notes.append(note)
    if n_ok == 0:
        # neither free prediction is a fixed point: predict declined (its documented answer near q <= 0)
        reject()
    worst = max(parts, key=lambda key: parts[key])
    return Outcome(parts[worst], f"worst: {worst} ({parts[worst]:.3g} x tol); " + "; ".join(notes)
                   + f" [{ex.penalty}, k={ex.k}, lam={ex.lam:.3g}, beta={ex.beta:.3g}]")


# ----------------------------------------------------------------------------------------------------------------------
# Ingredients and mutations
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Reported:
    """The fields of a prediction this check reads, as a mutated predictor reports them."""

    w: np.ndarray
    u: np.ndarray
    ok: np.ndarray
    residual: np.ndarray


def _ok_ignores_consistency(problem, **options):
    """Mistake: ``ok`` = the ``(s, q)`` solve converged, whether or not the branches are self-consistent."""
    p = nm.predict(problem, **options)
    return _Reported(p.w, p.u, p.converged, p.residual)


def _residual_wrong_beta_sign(problem, **options):
    """Mistake: the residual computed as ``grad l(w) - beta (w - prox(w))``."""
    p = nm.predict(problem, **options)
    w = np.asarray(p.w, dtype=np.float64)
    g = np.asarray(population.grad(w, np.asarray(problem.w_star, dtype=np.float64), problem.k))
    r = np.max(np.abs(g - problem.beta * (w - np.asarray(problem.penalty.prox(w, problem.mu)))))
    return _Reported(p.w, p.u, p.ok, np.asarray(r))


def _loose_solve(problem, **options):
    """Mistake: the ``(s, q)`` solve stopped at ``tol = 1e-3`` (and the point still reported ok)."""
    return nm.predict(problem, tol=1e-3, **options)


def _ingredients() -> dict[str, Any]:
    return {"predict": nm.predict}


PREDICT_CERTIFIES_FIXED_POINT = register(CheckSpec(
    name="predict_certifies_fixed_point",
    statement=("Whenever numerics.predict says ok, its (w, u) is a fixed point of RVSM verified with the closed-form "
               "gradient and the penalty's prox (u = prox(w), grad l(w) + beta (w - u) = 0), perturbed points are "
               "not, and its residual is the fixed-point residual recomputed from w (theory page s.5)."),
    section="5",
    strategy=lambda profile: fixed_point_cases(profile),
    prop=_prop,
    ingredients=_ingredients,
    max_examples={"quick": 15, "thorough": 300},
    mutations=(
        Mutation("ok_ignores_consistency", "ok = converged, ignoring whether the branches are self-consistent",
                 {"predict": _ok_ignores_consistency}),
        Mutation("residual_wrong_beta_sign", "residual computed as grad l(w) - beta (w - prox(w))",
                 {"predict": _residual_wrong_beta_sign}),
        Mutation("loose_solve", "(s, q) solved to tol 1e-3 only, still reported ok", {"predict": _loose_solve}),
    ),
))
