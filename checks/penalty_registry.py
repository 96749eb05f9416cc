"""Checks parametrized over the penalty registry: every penalty of :data:`numerics.penalties.PENALTIES` is checked by
being registered (its parameters drawn from the ranges its :class:`numerics.penalties.ParamSpec` declares).

``penalty_prox_global_minimizer``: the penalty's prox (threshold and shrink of :mod:`numerics.penalties`) attains
the global minimum of ``mu P(y) + (y - x)^2/2`` found by :func:`theory.thresholding.brute_force_prox` on the
penalty's value as stated in :data:`theory.penalty_machinery.SPECS` (never the code under test), at inputs across the
range and at ``t (1 +- eps)``, ``eps`` in [1e-12, 1e-2], around the threshold ``t`` of the derivation
(:meth:`theory.penalty_machinery.DerivedPenalty.threshold`). ``mu`` is drawn log-uniformly over [1e-3, 20] so every
regime of every penalty is met (MCP jumps for ``mu >= gamma``, SCAD for ``mu > a - 1``, TL1 and log-sum above their
``mu_c``). A registered penalty without a derivation fails. Tolerance: as :mod:`checks.prox` (objective value
within ``2e-12`` relative: the brute force's tie tolerance plus rounding).

``penalty_limit_matches_prediction``: RVSM converges and its limit is a stable fixed point that
:func:`numerics.predict` returns for the support and kept roots it reached
(:func:`numerics.limits.matches_a_stable_limit`, each kept coordinate on the root of ``u + mu_bar P'(u) = r w*_i``
nearest the one reached: SCAD has three), on instances drawn for every registered penalty with ``lam`` up to 1 so
that the nonconvex regimes of every penalty occur. Every penalty is covered in every profile by one explicit example
per registered penalty (:func:`registry_examples`). (The neighbour-stability claims of
:mod:`checks.limit_map` are not repeated here.)

Mutations: prox: threshold 10 % high (a dropped constant), the continuous-regime threshold ``T(0+) = mu P'(0+)``
used in every regime (the jump regime forgotten: TL1's public-code mistake, generalized), the shrink at ``2 mu``;
limit (the predictor's penalty only; RVSM runs the real one): ``P'`` doubled in the kept equation, the kept branch at
``mu_bar / 2``.
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
from numerics.limits import matches_a_stable_limit
from numerics.penalties import PENALTIES, Penalty, get_penalty
from numerics.population import lipschitz_estimate
from theory import penalty_machinery as pm
from theory import thresholding as th

from . import limit_map as lm
from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import Instance, log_uniform, start_points, teachers

__all__ = ["PenaltyCase", "RegistryInstance", "penalty_cases", "prox_examples", "registry_examples",
           "registry_instances"]

REL_TOL = 2e-12
#: A predicted point whose RVSM fixed-point residual |grad l(w) + beta (w - prox(w))| is below this counts as a fixed
#: point even where predict's own (s, q) solve stopped short of its tolerance (see _prop_limit)
_RESIDUAL_CERTIFIED = 1e-10


# ----------------------------------------------------------------------------------------------------------------------
# Instances
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistryInstance(Instance):
    """An :class:`checks.strategies.Instance` whose penalty is any registered one, with its parameters by name
    (``params``, a tuple of ``(name, value)`` pairs; ``a`` is unused and None)."""

    params: tuple[tuple[str, float], ...] = ()

    def make_penalty(self) -> Penalty:
        return get_penalty(self.penalty, **dict(self.params))

    def problem(self, penalty: Penalty | None = None) -> nm.Problem:
        return nm.Problem(self.teacher, self.k, penalty or self.make_penalty(), self.lam, self.beta)


def _draw_params(draw, name: str) -> tuple[tuple[str, float], ...]:
    return tuple((p.name, draw(log_uniform(*p.sample))) for p in PENALTIES[name].PARAMS)


_DIMS = {"quick": (2, 4), "thorough": (2, 10)}
_PATCHES = {"quick": (1, 6), "thorough": (1, 12)}


@st.composite
def registry_instances(draw, profile: str = "quick") -> RegistryInstance:
    """A registered penalty with drawn parameters; d, k, teacher (dense or sparse), ``lam`` log-uniform in
    [1e-3, 1], ``beta`` in [0.05, 1], ``eta`` a fraction in [0.1, 0.8] of ``2/(L + beta)``, a start at a drawn
    angle."""
    name = draw(st.sampled_from(sorted(PENALTIES)))
    params = _draw_params(draw, name)
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(*_PATCHES[profile]))
    lam = draw(log_uniform(1e-3, 1.0))
    beta = draw(log_uniform(0.05, 1.0))
    w_star = draw(teachers(d, draw(st.sampled_from(("dense", "sparse")))))
    eta = draw(st.floats(0.1, 0.8)) * 2.0 / (float(lipschitz_estimate(np.asarray(w_star), k)) + beta)
    w0 = draw(start_points(w_star))
    return RegistryInstance(d=d, k=k, w_star=w_star, penalty=name, a=None, lam=lam, beta=beta, eta=eta, w0=w0,
                            params=params)


#: Found by running RVSM on generated instances: SCAD with mu_bar = 4.07 > a - 1 = 2.15, where the kept equation has
#: three roots per coordinate (0.768, 1.261, 4.835 for coordinate 1); RVSM converges (spectral radius 0.985) to the
#: smallest, on the soft branch, which is neither the larger root (shrink at mu_bar: 4.835) nor the smaller one below
#: the fold (1.261) that predict's ``root`` option names: only the nearest-root selection predicts it.
SCAD_SOFT_ROOT = RegistryInstance(d=2, k=8, w_star=(1.0275361143464725, 0.9706218322536311), penalty="scad", a=None,
                                  lam=0.10018826024742168, beta=0.9414349157569729, eta=0.8839274987290674,
                                  w0=(0.7573054716601516, 2.1303850442398207), params=(("a", 3.1505998398312727),))


#: Found by the thorough profile: TL1 whose reached kept value (0.450) lies 2 % from the other root (0.460) of the kept
#: equation, near its fold; predict's (s, q) solve stalls at 9e-14 (tolerance 2.6e-14) at the right point (fixed-point
#: residual 1e-14); a nearest-root scan on a coarse grid missed both roots there.
TL1_NEAR_FOLD = RegistryInstance(d=2, k=6, w_star=(0.0, 0.8828125), penalty="tl1", a=None, lam=0.08582103543253414,
                                 beta=0.3651741272548377, eta=1.2545492584265843, w0=(0.0, 0.8828125),
                                 params=(("a", 1.9109529749704406),))


#: Found by running RVSM on generated instances: log-sum with mu_bar = 4.15 > eps^2, RVSM converges (spectral radius
#: 0.714) to a fixed point whose kept coordinate is on the smaller root (-1.250; larger root -2.022); predict's solve
#: from (1, 1) and its grid misses it, the solve reseeded at the reached (s, q) finds it.
LOG_SUM_SMALLER_ROOT = RegistryInstance(
    d=5, k=6, w_star=(-0.6622356521681779, -1.7388940609479209, 0.678877507508408, 0.0, 0.955891784524479),
    penalty="log_sum", a=None, lam=0.23798409127597836, beta=0.34572294343648285, eta=1.2190351947499638,
    w0=(-0.16301149787535424, -2.1856078347096806, 0.5099985726864451, 0.19904363791039442, 0.3375458226384249),
    params=(("eps", 0.4381211096319087),))


def registry_examples() -> tuple[RegistryInstance, ...]:
    """One example per registered penalty (parameters at the geometric middle of their sample ranges), so that every
    profile runs every penalty at least once, and the regressions :data:`SCAD_SOFT_ROOT`, :data:`TL1_NEAR_FOLD`,
    :data:`LOG_SUM_SMALLER_ROOT`."""
    out = []
    for name, cls in sorted(PENALTIES.items()):
        params = tuple((p.name, math.sqrt(p.sample[0] * p.sample[1])) for p in cls.PARAMS)
        ws = (1.2, -0.4, 0.15)
        k, beta, lam = 3, 0.5, 0.05
        eta = 0.5 * 2.0 / (float(lipschitz_estimate(np.asarray(ws), k)) + beta)
        out.append(RegistryInstance(d=3, k=k, w_star=ws, penalty=name, a=None, lam=lam, beta=beta, eta=eta,
                                    w0=(0.8, 0.3, -0.2), params=params))
    return (*out, SCAD_SOFT_ROOT, TL1_NEAR_FOLD, LOG_SUM_SMALLER_ROOT)


# ----------------------------------------------------------------------------------------------------------------------
# penalty_prox_global_minimizer
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PenaltyCase:
    """A registered penalty, its parameters, ``mu`` and the prox arguments ``xs``."""

    penalty: str
    params: tuple[tuple[str, float], ...]
    mu: float
    xs: tuple[float, ...]


def _spec_values(name: str, params: tuple[tuple[str, float], ...]) -> dict:
    spec = pm.SPECS[name]
    given = dict(params)
    return {s: given[str(s)] for s in spec.params}  # the derivation's symbols carry the ParamSpec names


@st.composite
def penalty_cases(draw, profile: str = "quick") -> PenaltyCase:
    """A registered penalty, parameters from its ranges, ``mu`` log-uniform in [1e-3, 20], inputs: uniform in
    ``[0, 3 t]``, log-uniform in ``[0.01 t, 100 t]``, ``t (1 +- eps)`` (eps log-uniform in [1e-12, 1e-2]), signs
    random, and 0 (``t`` from the derivation; penalties without one get ``t = mu``, and fail in the property)."""
    name = draw(st.sampled_from(sorted(PENALTIES)))
    params = _draw_params(draw, name)
    mu = draw(log_uniform(1e-3, 20.0))
    if name in pm.SPECS:
        t = pm.derived(name).threshold(mu, _spec_values(name, params))[0]
    else:
        t = mu
    n = 4 if profile == "quick" else 8
    sign = st.sampled_from((1.0, -1.0))
    xs = [s * t * u for s, u in draw(st.lists(st.tuples(sign, st.floats(0.0, 3.0)), min_size=n, max_size=n))]
    xs += [s * t * u for s, u in draw(st.lists(st.tuples(sign, log_uniform(1e-2, 1e2)), min_size=2, max_size=2))]
    near = draw(st.lists(st.tuples(sign, sign, log_uniform(1e-12, 1e-2)), min_size=4, max_size=4))
    xs += [s * t * (1.0 + side * e) for s, side, e in near]
    xs.append(0.0)
    return PenaltyCase(name, params, mu, tuple(float(v) for v in xs))


def prox_examples() -> tuple[PenaltyCase, ...]:
    """For every registered penalty (parameters at the geometric middle of their ranges) three prox parameters,
    ``mu = 0.1, 4, 12``, so that every profile meets every penalty in its continuous regime and beyond (MCP and
    log-sum jump from ``mu = 4`` on, SCAD has its interior jump at 4 and jumps at the threshold at 12), with inputs
    at ``0.5 t``, ``t (1 -+ 1e-9)``, ``1.5 t``, ``3 t`` and ``10 t`` and their negatives (``t`` from the derivation)."""
    out = []
    for name, cls in sorted(PENALTIES.items()):
        params = tuple((p.name, math.sqrt(p.sample[0] * p.sample[1])) for p in cls.PARAMS)
        for mu in (0.1, 4.0, 12.0):
            t = pm.derived(name).threshold(mu, _spec_values(name, params))[0] if name in pm.SPECS else mu
            xs = [f * t for f in (0.5, 1 - 1e-9, 1 + 1e-9, 1.5, 3.0, 10.0)]
            out.append(PenaltyCase(name, params, mu, tuple(xs + [-v for v in xs])))
    return tuple(out)


def _prox_ingredients() -> dict[str, Any]:
    return {"prox": lambda pen, x, mu: pen.prox(x, mu)}


def _prop_prox(ex: PenaltyCase, ingr: dict[str, Any]) -> Outcome:
    if ex.penalty not in pm.SPECS:
        return Outcome(math.inf, f"penalty {ex.penalty!r} is registered but has no derivation in "
                                 "theory.penalty_machinery.SPECS")
    pen = get_penalty(ex.penalty, **dict(ex.params))
    value = pm.SPECS[ex.penalty].value_fn(_spec_values(ex.penalty, ex.params))
    x = np.asarray(ex.xs, dtype=np.float64)
    y_c = np.asarray(ingr["prox"](pen, x, ex.mu), dtype=np.float64)
    if not np.all(np.isfinite(y_c)):
        return Outcome(math.inf, f"{pen!r}: non-finite prox values at x = {x[~np.isfinite(y_c)]}")
    y_b = np.array([th.brute_force_prox(value, float(v), ex.mu) for v in x])
    F_c = th.prox_objective(value, y_c, x, ex.mu)
    F_b = th.prox_objective(value, y_b, x, ex.mu)
    tol = REL_TOL * np.abs(F_b) + np.finfo(np.float64).tiny
    ratio = np.maximum(F_c - F_b, 0.0) / tol
    i = int(np.argmax(ratio))
    return Outcome(float(ratio[i]), f"{pen!r} mu={ex.mu:.4g}: worst at x={x[i]!r}: prox {y_c[i]!r}, brute force "
                                    f"{y_b[i]!r}, F(prox)-F(bf)={F_c[i] - F_b[i]:.3e} (tol {tol[i]:.2e})")


class _Gated(Penalty):
    """A registered penalty with its threshold replaced (the shrink is the real one)."""

    def __init__(self, base: Penalty, threshold) -> None:
        self.base, self.thr = base, threshold
        self.name = base.name

    def _value(self, xp, x):
        return self.base._value(xp, x)

    def _derivative(self, xp, x):
        return self.base._derivative(xp, x)

    def _threshold(self, xp, mu):
        return self.thr(self.base, xp, mu)

    def _shrink(self, xp, x, mu):
        return self.base._shrink(xp, x, mu)


def _continuous_regime_threshold(base: Penalty, xp, mu):
    # T(0+) = mu P'(0+), evaluated at a tiny y (infinite for l0 and l_half: those keep their own threshold, where
    # the continuous formula does not exist; every other penalty with a jump regime is mutated there)
    slope = float(np.asarray(base.derivative(np.asarray(1e-300))))
    return mu * slope if math.isfinite(slope) and slope > 0 else base._threshold(xp, mu)


PENALTY_PROX_GLOBAL_MINIMIZER = register(CheckSpec(
    name="penalty_prox_global_minimizer",
    statement=("For every registered penalty, in every regime, its prox (threshold + shrink) attains the global "
               "minimum of mu P(y) + (y - x)^2/2 found by brute force on the derivation's P (theory page s.3)"),
    section="3",
    strategy=lambda profile: penalty_cases(profile),
    prop=_prop_prox,
    ingredients=_prox_ingredients,
    max_examples={"quick": 7, "thorough": 500},
    examples=prox_examples(),
    mutations=(
        Mutation("threshold_10_percent_high", "every threshold 10 % too high (a dropped or wrong constant)",
                 {"prox": lambda pen, x, mu: _Gated(pen, lambda b, xp, m: 1.1 * b._threshold(xp, m)).prox(x, mu)}),
        Mutation("continuous_regime_threshold_everywhere",
                 "the threshold mu P'(0+) of the continuous regime used also where the prox jumps",
                 {"prox": lambda pen, x, mu: _Gated(pen, _continuous_regime_threshold).prox(x, mu)}),
        Mutation("shrink_at_double_mu", "the kept branch evaluated at 2 mu (a factor 2 in the prox convention)",
                 {"prox": lambda pen, x, mu: np.where(np.asarray(pen.prox(x, mu)) != 0,
                                                      np.asarray(pen.shrink(x, 2.0 * mu)), 0.0)}),
    ),
))


# ----------------------------------------------------------------------------------------------------------------------
# penalty_limit_matches_prediction
# ----------------------------------------------------------------------------------------------------------------------
class _PredictorPenalty(Penalty):
    """A penalty for the predictor only (RVSM runs with the real one): ``derivative`` and ``shrink`` can be mutated."""

    def __init__(self, base: Penalty, *, derivative_factor: float = 1.0, shrink_mu_factor: float = 1.0) -> None:
        self.base, self.df, self.sf = base, derivative_factor, shrink_mu_factor
        self.name = base.name

    def _value(self, xp, x):
        return self.base._value(xp, x)

    def _derivative(self, xp, x):
        return self.df * self.base._derivative(xp, x)

    def _threshold(self, xp, mu):
        return self.base._threshold(xp, mu)

    def _shrink(self, xp, x, mu):
        return self.base._shrink(xp, x, self.sf * mu)

    def prox_kernel(self, xp, x, mu):  # the prox RVSM uses stays the real one
        return self.base.prox_kernel(xp, x, mu)


def _prop_limit(inst: RegistryInstance, ingr: dict[str, Any]) -> Outcome:
    """RVSM (population gradient) to its stationarity tolerance; in the predictor's scope (``k q >= 1e-3``) the limit
    must be a predicted stable fixed point (:func:`numerics.limits.matches_a_stable_limit`: support and kept roots
    read off the limit, each kept coordinate on the root nearest the one reached, within 1e-8, spectral radius < 1
    within the start's symmetry subspace). Tolerances as :mod:`checks.limit_map`."""
    res = lm.converged_limit(inst)
    pen = inst.make_penalty()
    if not bool(res.converged):
        return Outcome(math.inf, f"{pen!r}: RVSM did not converge in {lm._MAX_ITERS} updates")
    w, u = np.asarray(res.w), np.asarray(res.u)
    q_bar = float(population.gradient_coefficients(w, inst.teacher, inst.k)[0])
    if inst.k * q_bar < lm._Q_SCOPE:
        reject()  # q <= 0: outside the predictor's scope (see checks.limit_map)
    problem = nm.Problem(inst.teacher, inst.k, ingr["predictor_penalty"](pen), inst.lam, inst.beta)
    m = matches_a_stable_limit(problem, w, u, eta=inst.eta, atol=lm._MATCH_ATOL, w0=inst.start)
    err, rho = float(m.error), float(m.spectral_radius)
    detail = (f"{pen!r}: max |(w, u) - predicted| = {err:.3g} (tol {lm._MATCH_ATOL:g}), spectral radius {rho:.4f}, "
              f"support {np.asarray(m.support).astype(int)}, k q = {inst.k * q_bar:.3g}, {int(res.iterations)} updates")
    pred = m.prediction
    if not bool(np.all(pred.ok)):
        # Near a fold of the kept equation (two kept roots close together, seen for TL1 with roots 0.450 and 0.460)
        # the (s, q) map is ill-conditioned and predict's solve stalls at ~1e-13, short of its 2.6e-14 tolerance,
        # although its point is the fixed point: accepted only when every coordinate is consistent and the RVSM
        # fixed-point residual recomputed from the predicted w is at rounding level (1e-10), and said so.
        certified = bool(np.all(pred.consistent)) and float(np.max(pred.residual)) <= _RESIDUAL_CERTIFIED
        if not certified:
            return Outcome(math.inf, "the predictor declines the limit RVSM reached: " + detail)
        detail += (f" (predict's (s, q) solve stopped short of its tolerance; its point is certified by the "
                   f"fixed-point residual {float(np.max(pred.residual)):.2g})")
    if not rho < 1.0 + lm._RHO_ROUNDING:
        return Outcome(math.inf, "RVSM converged to a fixed point the predictor calls unstable: " + detail)
    return Outcome(err / lm._MATCH_ATOL, detail)


PENALTY_LIMIT_MATCHES_PREDICTION = register(CheckSpec(
    name="penalty_limit_matches_prediction",
    statement=("For every registered penalty, RVSM converges to a stable fixed point that numerics.predict returns "
               "for the support and kept roots it reached (the generalized limit map, theory page s.5)"),
    section="5",
    strategy=lambda profile: registry_instances(profile),
    prop=_prop_limit,
    ingredients=lambda: {"predictor_penalty": lambda pen: pen},
    max_examples={"quick": 3, "thorough": 300},
    examples=registry_examples(),
    mutations=(
        Mutation("kept_equation_derivative_doubled", "the predictor's kept equation u + 2 mu_bar P'(u) = r w* (a "
                 "factor 2 in P', e.g. the derivative of P(y)^2/2-type conventions)",
                 {"predictor_penalty": lambda pen: _PredictorPenalty(pen, derivative_factor=2.0)}),
        Mutation("kept_branch_at_half_mu_bar", "the predictor's kept branch evaluated at mu_bar/2 (the prox parameter "
                 "lam/(2 beta) of a loss with a factor 1/2)",
                 {"predictor_penalty": lambda pen: _PredictorPenalty(pen, derivative_factor=0.5,
                                                                     shrink_mu_factor=0.5)}),
    ),
))
