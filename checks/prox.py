"""Check ``prox_global_minimizer``: every thresholding operator is the global minimizer of its prox objective.

For each penalty of :mod:`numerics.penalties` (l1, l0 and TL1 in both threshold regimes), RVSM's prox
``prox_{mu P}(x)`` with ``mu = lam / beta`` (theory page s.3-4) must attain the global minimum of
``F(y) = mu P(y) + (y - x)^2 / 2``. The reference is :func:`theory.thresholding.brute_force_prox` (a fine grid plus
bounded Brent refinement of every basin; it uses only the penalty's *value*, from :mod:`theory.thresholding`, never a
threshold formula). The inputs ``x`` are drawn across the whole range, and also just above and just below the
threshold (relative offsets 1e-12 .. 1e-2); for l0 also exactly at the tie ``x = sqrt(2 mu)``, where the operator
must return 0 (tie convention). Every TL1 example is checked in both threshold regimes: at its drawn ``mu`` and at
the mirror ``mu_c^2 / mu`` across the critical value ``mu_c = a^2 / (2 (a + 1))`` (:func:`mirror_case`). (Drawing
the regime as one parameter among others was not enough: in the quick profile every TL1 draw landed at or below
``mu_c``, so a threshold wrong in the supercritical regime only passed the quick profile.)

Criterion per ``x``: ``F(prox(x)) <= F(y_bf) + 2e-12 F(y_bf)`` (the candidate attains the brute-force minimum value).
Comparing objective values rather than minimizers is what "global minimizer" means, and it is insensitive to the
``sqrt(eps)`` resolution of a minimizer of a smooth function (an argmin error ``delta`` changes ``F`` by
``~ delta^2 / 2`` only). The allowance 2e-12 relative covers the brute force's own tie tolerance (1e-12 relative,
it returns 0 when the nonzero basin is not better by more) and rounding (a few eps); every mutation below costs an
O(1) fraction of ``F`` at the inputs where it errs.

Mutations (on the spec, :data:`PROX_GLOBAL_MINIMIZER`): l0 hard threshold at ``sqrt(mu)`` instead of ``sqrt(2 mu)``; TL1
gated on ``|x| > mu`` instead of its threshold (visible only in the supercritical regime: below a continuous threshold
the shrink's cubic root is <= 0 and clamped to 0, so there the gate does no harm); a TL1 threshold formula wrong in one
regime only (supercritical: ``sqrt(mu (a+1)) - a/2``, or ``mu (a+1)/a`` for every ``mu`` with the regime test
forgotten, which touches the true threshold at ``mu_c`` to second order; subcritical: ``2 mu (a+1)/a``; the real shrink
in each, so only the gate is wrong); the prox parameter ``lam`` instead of ``lam / beta`` (soft threshold at lam).
A threshold set too *low* in the subcritical regime is no mistake of the operator at all (the clamped shrink is 0
there), which is why the subcritical mutation raises it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from numerics.penalties import L0, L1, TL1, tl1_critical_mu
from theory import thresholding as th

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import log_uniform

#: Relative allowance on the objective value (see module docstring).
REL_TOL = 2e-12
#: TL1 ``mu = f mu_c(a)``: the range of ``f`` per threshold regime, kept 1 % away from ``f = 1`` (``mu = mu_c``, where
#: the two threshold formulas agree and which is subcritical) so that the mirror case (:func:`mirror_case`) lies in
#: the other regime.
_REGIME_FACTOR = {"sub": (1e-3, 0.99), "super": (1.01, 1e3)}


@dataclass(frozen=True)
class ProxCase:
    """One penalty with its parameters and the inputs at which its prox is checked.

    Attributes
    ----------
    penalty : {"l1", "l0", "tl1"}
    a : float or None
        TL1 parameter.
    lam, beta : float
        RVSM parameters; the prox parameter is ``mu = lam / beta``.
    xs : tuple of float
        Prox arguments.
    tie : tuple of float
        Arguments that are exactly at a tie of the two minimizers (l0: ``x = +-sqrt(2 mu)``): the prox must be 0.
    """

    penalty: str
    a: float | None
    lam: float
    beta: float
    xs: tuple[float, ...]
    tie: tuple[float, ...] = ()


def true_threshold(penalty: str, mu: float, a: float | None) -> float:
    """The threshold derived in :mod:`theory.thresholding` (used only to place the inputs)."""
    if penalty == "l1":
        return mu
    if penalty == "l0":
        return math.sqrt(2.0 * mu)
    return float(th.tl1_threshold(mu, a))


@st.composite
def prox_cases(draw, profile: str = "quick") -> ProxCase:
    """Penalties with ``mu`` log-uniform in [1e-4, 10] (l1, l0) or, for TL1, ``mu = f mu_c(a)`` with ``f`` in
    [1e-3, 0.99] (subcritical, continuous map) or [1.01, 1e3] (supercritical, the map jumps; the property also checks
    the mirror ``1/f`` in the other regime), ``a`` in [0.05, 20];
    ``beta`` log-uniform in [0.05, 1] and ``lam = mu beta``. Inputs: uniform in ``[0, 3 t]`` and log-uniform in
    ``[0.01 t, 100 t]`` (t the threshold), ``t (1 +- eps)`` with ``eps`` log-uniform in [1e-12, 1e-2], random signs,
    and 0."""
    penalty = draw(st.sampled_from(("l1", "l0", "tl1")))
    a = None
    if penalty == "tl1":
        a = draw(log_uniform(0.05, 20.0))
        regime = draw(st.sampled_from(("sub", "super")))
        f = draw(log_uniform(*_REGIME_FACTOR[regime]))
        mu_target = f * tl1_critical_mu(a)
    else:
        mu_target = draw(log_uniform(1e-4, 10.0))
    beta = draw(log_uniform(0.05, 1.0))
    lam = mu_target * beta
    mu = lam / beta
    t = true_threshold(penalty, mu, a)
    n_generic = 4 if profile == "quick" else 8
    sign = st.sampled_from((1.0, -1.0))
    xs = [s * t * u for s, u in draw(st.lists(st.tuples(sign, st.floats(0.0, 3.0)), min_size=n_generic,
                                              max_size=n_generic))]
    xs += [s * t * u for s, u in draw(st.lists(st.tuples(sign, log_uniform(1e-2, 1e2)), min_size=2, max_size=2))]
    near = draw(st.lists(st.tuples(sign, sign, log_uniform(1e-12, 1e-2)), min_size=4, max_size=4))
    xs += [s * t * (1.0 + side * eps) for s, side, eps in near]
    xs.append(0.0)
    tie = (math.sqrt(2.0 * mu), -math.sqrt(2.0 * mu)) if penalty == "l0" else ()
    return ProxCase(penalty=penalty, a=a, lam=lam, beta=beta, xs=tuple(float(x) for x in xs), tie=tie)


# ----------------------------------------------------------------------------------------------------------------------
# Ingredients and their mutations
# ----------------------------------------------------------------------------------------------------------------------
def _tl1_prox(x, mu, a):
    return TL1(a).prox(x, mu)


def _ingredients() -> dict[str, Any]:
    return {
        "l1_prox": L1().prox,
        "l0_prox": L0().prox,
        "tl1_prox": _tl1_prox,
        # RVSM's prox parameter: u = prox_{(lam/beta) P}(w) (theory page s.4)
        "prox_parameter": lambda lam, beta: lam / beta,
    }


def _l0_threshold_sqrt_mu(x, mu):
    """Mistake: hard thresholding at sqrt(mu) (another library's convention) instead of sqrt(2 mu)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) > math.sqrt(mu), x, 0.0)


def _tl1_with_threshold(threshold):
    """The TL1 prox gated on a given (wrong) threshold formula ``threshold(mu, a)``; the shrink is the real one."""

    def prox(x, mu, a):
        x = np.asarray(x, dtype=np.float64)
        return np.where(np.abs(x) > threshold(mu, a), TL1(a).shrink(x, mu), 0.0)

    return prox


def _tl1_threshold_super_missing_2(mu, a):
    """Mistake in the supercritical regime only: ``sqrt(mu (a+1)) - a/2`` (the factor 2 under the root dropped)."""
    return mu * (a + 1.0) / a if mu <= tl1_critical_mu(a) else math.sqrt(mu * (a + 1.0)) - a / 2.0


def _tl1_threshold_sub_everywhere(mu, a):
    """Mistake in the supercritical regime only: the regime test forgotten, ``mu (a+1)/a`` for every ``mu`` (too high
    above ``mu_c``; it touches the true threshold at ``mu_c`` to second order)."""
    return mu * (a + 1.0) / a


def _tl1_threshold_sub_factor_2(mu, a):
    """Mistake in the subcritical regime only: ``2 mu (a+1)/a`` (the factor 2 of the other regime carried over)."""
    return 2.0 * mu * (a + 1.0) / a if mu <= tl1_critical_mu(a) else math.sqrt(2.0 * mu * (a + 1.0)) - a / 2.0


def _tl1_gate_mu(x, mu, a):
    """Mistake seen in public code: the TL1 shrink applied wherever |x| > mu, whatever the regime's threshold."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.abs(x) > mu, TL1(a).shrink(x, mu), 0.0)


# ----------------------------------------------------------------------------------------------------------------------
# The property
# ----------------------------------------------------------------------------------------------------------------------
def _value_fn(penalty: str, a: float | None):
    if penalty == "l1":
        return th.l1_penalty
    if penalty == "l0":
        return th.l0_penalty
    return lambda v: th.tl1_penalty(v, a)


def _candidate(ing, ex: ProxCase, x: np.ndarray) -> np.ndarray:
    mu_used = ing["prox_parameter"](ex.lam, ex.beta)
    if ex.penalty == "tl1":
        out = ing["tl1_prox"](x, mu_used, ex.a)
    else:
        out = ing[f"{ex.penalty}_prox"](x, mu_used)
    return np.asarray(out, dtype=np.float64)


def mirror_case(ex: ProxCase) -> ProxCase:
    """The TL1 case mirrored across the critical value: ``mu' = mu_c^2 / mu`` (``f -> 1/f``, the other regime), with
    the inputs at the same multiples of the threshold (``x' = x t(mu') / t(mu)``, so exact zeros stay 0).

    Every TL1 example is checked at both ``mu`` and ``mu'``: both threshold regimes, whatever Hypothesis draws.
    """
    mu = ex.lam / ex.beta
    mu_m = tl1_critical_mu(ex.a) ** 2 / mu
    scale = true_threshold("tl1", mu_m, ex.a) / true_threshold("tl1", mu, ex.a)
    return ProxCase(penalty=ex.penalty, a=ex.a, lam=mu_m * ex.beta, beta=ex.beta,
                    xs=tuple(float(x * scale) for x in ex.xs), tie=ex.tie)


def _prox_prop(ex: ProxCase, ing) -> Outcome:
    if ex.penalty != "tl1":
        return _prox_outcome(ex, ing)
    # both regimes (mirror_case): the worse of the two outcomes
    cases = (ex, mirror_case(ex))
    outs = [_prox_outcome(c, ing) for c in cases]
    worst = max(range(2), key=lambda j: outs[j].discrepancy)
    regimes = ["sub" if c.lam / c.beta <= tl1_critical_mu(ex.a) else "super" for c in cases]
    return Outcome(outs[worst].discrepancy,
                   f"[{('drawn', 'mirror')[worst]} case, {regimes[worst]}critical; the {('mirror', 'drawn')[worst]} "
                   f"case ({regimes[1 - worst]}critical) at {outs[1 - worst].discrepancy:.3g} x tol] "
                   + outs[worst].detail)


def _prox_outcome(ex: ProxCase, ing) -> Outcome:
    mu = ex.lam / ex.beta  # the definition (theory page s.4), independent of the prox_parameter ingredient
    value = _value_fn(ex.penalty, ex.a)
    x = np.asarray(ex.xs, dtype=np.float64)
    y_c = _candidate(ing, ex, x)
    if not np.all(np.isfinite(y_c)):
        return Outcome(math.inf, f"non-finite prox values at x = {x[~np.isfinite(y_c)]}")
    y_b = np.array([th.brute_force_prox(value, float(xi), mu) for xi in x])
    F_c = th.prox_objective(value, y_c, x, mu)
    F_b = th.prox_objective(value, y_b, x, mu)
    tol = REL_TOL * np.abs(F_b) + np.finfo(np.float64).tiny
    ratio = np.maximum(F_c - F_b, 0.0) / tol
    i = int(np.argmax(ratio))
    disc = float(ratio[i])
    detail = (f"{ex.penalty} mu={mu:.4g} (a={ex.a}): worst at x={x[i]!r}: prox {y_c[i]!r}, brute force {y_b[i]!r}, "
              f"F(prox)-F(bf)={F_c[i] - F_b[i]:.3e} (tol {tol[i]:.2e})")
    if ex.tie:
        xt = np.asarray(ex.tie, dtype=np.float64)
        y_t = _candidate(ing, ex, xt)
        if np.any(y_t != 0.0):
            return Outcome(math.inf, f"tie convention violated: prox({xt}) = {y_t} (ties must go to 0); " + detail)
        detail += f"; ties at {xt} -> 0"
    return Outcome(disc, detail)


PROX_GLOBAL_MINIMIZER = register(CheckSpec(
    name="prox_global_minimizer",
    statement=("Each thresholding operator (l1, l0, TL1 in both regimes) with mu = lam/beta attains the global minimum "
               "of mu P(y) + (y - x)^2/2 found by brute force, also just above and below its threshold, and returns "
               "0 at a tie (theory page s.3)."),
    section="3",
    strategy=lambda profile: prox_cases(profile),
    prop=_prox_prop,
    ingredients=_ingredients,
    max_examples={"quick": 40, "thorough": 600},
    mutations=(
        Mutation("l0_threshold_sqrt_mu", "hard threshold at sqrt(mu) instead of sqrt(2 mu)",
                 {"l0_prox": _l0_threshold_sqrt_mu}),
        Mutation("tl1_gate_mu", "TL1 shrink gated on |x| > mu instead of its regime's threshold",
                 {"tl1_prox": _tl1_gate_mu}),
        Mutation("tl1_threshold_super_missing_2",
                 "TL1 threshold wrong in the supercritical regime only: sqrt(mu (a+1)) - a/2 instead of "
                 "sqrt(2 mu (a+1)) - a/2", {"tl1_prox": _tl1_with_threshold(_tl1_threshold_super_missing_2)}),
        Mutation("tl1_threshold_regime_ignored",
                 "TL1 threshold wrong in the supercritical regime only: mu (a+1)/a for every mu (no regime test)",
                 {"tl1_prox": _tl1_with_threshold(_tl1_threshold_sub_everywhere)}),
        Mutation("tl1_threshold_sub_factor_2",
                 "TL1 threshold wrong in the subcritical regime only: 2 mu (a+1)/a instead of mu (a+1)/a",
                 {"tl1_prox": _tl1_with_threshold(_tl1_threshold_sub_factor_2)}),
        Mutation("prox_parameter_lam", "prox with mu = lam instead of lam/beta (soft threshold at lam)",
                 {"prox_parameter": lambda lam, beta: lam}),
    ),
))
