"""Checks of the RVSM limit (theory page section 5): the limit matches the predicted thresholding of w*, and it has no
false positives.

``limit_matches_prediction``
    Runs RVSM (population gradient) to convergence and compares its limit ``(w, u)`` with the predictor
    (:func:`numerics.predict`, ingredient ``"predict"``, called as ``predict(problem, **options)``). l1: the limit
    map itself (no band, unique limit). l0 / TL1: a band coordinate may take either branch, and the band itself moves
    with ``(s, q)``, so the limit is compared with the prediction *for the support RVSM reached*, which must be
    self-consistent (a fixed point).
    Limits with ``k q_bar < 1e-3`` (the q <= 0 regime, outside the predictor's documented scope, where RVSM can reach
    a second, asymmetric fixed point even for l1) are rejected, not counted.
``no_false_positives``
    On sparse teachers, at an RVSM limit with ``q(w_bar) > 0``, ``u_bar`` is exactly zero wherever ``w*`` is, and
    ``w_bar`` is exactly zero only where ``w*`` is. The thresholding operator used by RVSM is the ingredient
    ``"penalty"``. Why ``q > 0``: on a coordinate with ``w*_i = 0`` the fixed-point equation reads
    ``(q + beta) w_i = beta u_i`` with ``u_i = prox(w_i)``. A kept ``u_i != 0`` then needs ``q w_i = 0`` (l0, where
    ``u_i = w_i``), i.e. ``q = 0``, or ``q w_i = -beta mu rho'(|u_i|) sign(w_i)`` (l1, TL1), i.e. ``q < 0``. So a
    false positive is possible only at a limit with ``q <= 0``, and the unconditional claim is false there:
    the thorough profile found ``w* = (0, 1)``, ``k = 3``, l0, ``lam = 0.1``, ``beta = 1``, ``eta = 0.647``,
    ``w0 = (0.909, -0.416)``, whose RVSM limit is ``u = (0.532, 0)``, ``w = (0.532, 0.206)`` with
    ``q = 1.7e-14`` (a genuine fixed point, residual 1e-14; pinned in tests/test_checks_limit_map.py). The check
    asserts the corrected statement: every false positive sits at a limit with ``k q <= 1e-9`` (rounding of q at a
    limit converged to 1e-13).

Mutations (stored on the specs; each must make its check fail)
--------------------------------------------------------------
:data:`LIMIT_MATCHES_PREDICTION` (ingredient ``predict``):

* ``limit_map_wrong_sign``: kept coordinates ``w_bar = (s w* - beta u)/(q + beta)`` (sign of the beta u term).
* ``mu_bar_missing_inverse_q``: kept values ``u = shrink(r w*, lam/beta)`` instead of ``shrink(r w*, mu_bar)``,
  ``mu_bar = lam (1/beta + 1/q)`` (the 1/q term dropped). Invisible for l0 (its kept value does not depend on mu).
* ``soft_threshold_at_lam``: the predictor thresholds with ``mu = lam`` instead of ``lam/beta`` (everything else
  consistent with that mistake, i.e. the real predictor called with ``lam -> lam beta``).

:data:`NO_FALSE_POSITIVES` (ingredient ``penalty``, a factory ``Instance -> penalty object``):

* ``leaky_identity_prox``: a prox with threshold 0 (l1 at ``mu = 0``, equivalently a hard threshold at 0): ``u = w``.
  (The other leak one might think of, ``shrink`` applied without its ``|x| > threshold`` gate, is caught as well, but
  its iteration never converges, so every Hypothesis shrink step costs the full iteration budget: not kept.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import reject

import numerics as nm
from numerics import population
from numerics.penalties import Penalty

from .framework import CheckSpec, Mutation, Outcome, register
from .mutants import ScaledMuPenalty
from .strategies import Instance, instances

__all__ = ["converged_limit"]

#: RVSM stops when |w^{t+1} - w^t| < _RUN_TOL. With contraction factor rho <= 1 - eta lambda_min (lambda_min ~ 1/k
#: on the frozen support, eta >= 0.1 * 2/(L + beta) >= 0.14 in the strategies, k <= 16) the distance to the limit is
#: at most step/(1 - rho) <= 1e-13 * 16/0.14 ~ 1e-11.
_RUN_TOL = 1e-13
_MAX_ITERS = 50_000
#: Limit vs prediction, absolute (|w*_i| <= 2). Budget: the ~1e-11 convergence error above, plus the predictor's
#: (s, q) solve (relative 1e-14) and rounding (~1e-15). 1e-8 leaves a factor ~1000; every mutation moves the limit by
#: O(lam) >= O(1e-4) (or O(lam |1/beta - 1|), O(beta |u|)), far above it.
_MATCH_ATOL = 1e-8
#: k q_bar below this: the q <= 0 regime outside the predictor's scope (its own cut-off, numerics.limits._Q_SINGULAR).
_Q_SCOPE = 1e-3


def converged_limit(inst: Instance, penalty: Penalty | None = None) -> nm.RVSMResult:
    """RVSM of ``inst`` (population gradient) run until the update norm is below 1e-13 (at most 5e4 updates)."""
    return nm.run(inst.problem(penalty), inst.start, eta=inst.eta, iters=_MAX_ITERS, tol=_RUN_TOL)


# ----------------------------------------------------------------------------------------------------------------------
# limit_matches_prediction
# ----------------------------------------------------------------------------------------------------------------------
def _prop_limit(inst: Instance, ingr: dict[str, Any]) -> Outcome:
    predict = ingr["predict"]
    res = converged_limit(inst)
    if not bool(res.converged):
        return Outcome(float("inf"), f"RVSM did not converge in {_MAX_ITERS} updates")
    w, u = np.asarray(res.w), np.asarray(res.u)
    ws = inst.teacher
    q_bar = float(population.gradient_coefficients(w, ws, inst.k)[0])
    if inst.k * q_bar < _Q_SCOPE:
        # Outside the predictor's scope (numerics.predict, Notes "Scope"): RVSM reached a fixed point with
        # q <= 0, where r = s/q is singular. Seen on the thorough profile: l1, w* = (1, 1), k = 8, lam = 0.1,
        # beta = 1 reaches w = (1.054, 0.098), u = (0.954, 0), k q = -0.02, while the predicted (symmetric) limit
        # has k q = 0.27: for large lam k the l1 limit is NOT unique. Such examples are rejected (not counted).
        reject()
    # The support RVSM reached. A coordinate with |u_i| <= _MATCH_ATOL counts as zeroed: at an exact tie with the
    # threshold (e.g. l1 with r |w*_i| = mu_bar) the kept and zeroed branches are the same point, and RVSM's iterate,
    # approaching it from above, keeps a u_i of rounding size (seen: u_i ~ 1e-17 with w* = (0.2, 0.2), k = 1,
    # lam = 0.1, beta = 1); that u_i is then compared with the predicted 0 within the tolerance below.
    reached = np.abs(u) > _MATCH_ATOL
    pen_name, problem = inst.penalty, inst.problem()
    free = predict(problem)
    # l1: no band, and the limit is unique (in the predictor's scope q > 0): the support must be the predicted one.
    # l0 / TL1: the band depends on (s, q), which move with the support: a coordinate outside the band at the free
    # prediction's (s, q) can be inside it at another self-consistent (s, q) (seen: l0, w* = (1, 1), k = 7,
    # lam = 0.0056, beta = 1 reaches support {0} with r = 1.29, both coordinates in the band there). So for them the
    # requirement is that the support reached is self-consistent at its own (s, q), checked below.
    if pen_name == "l1" and not bool(np.all(free.ok)):
        # The predictor declined (converged = False or inconsistent: its documented answer for the large lam k regime
        # near its q -> 0 scope edge). Seen on the thorough profile: w* = (1, 1, 1, 1, 2, 1.5), k = 11, lam = 0.1,
        # beta = 1, free active-set residual 0.2, while predict(support=reached) matches RVSM to 5e-15. Rejected, not
        # counted (if every example were rejected Hypothesis would raise Unsatisfiable: a failure).
        reject()
    if pen_name == "l1" and not np.array_equal(reached, np.asarray(free.support)):
        return Outcome(float("inf"), f"support reached {reached.astype(int)} differs from the predicted "
                                     f"{np.asarray(free.support).astype(int)} (l1 has no band)")
    fixed = predict(problem, support=reached)
    if not bool(np.all(fixed.ok)):
        return Outcome(float("inf"), f"the support reached {reached.astype(int)} is not a self-consistent fixed "
                                     f"point of the predictor (converged={fixed.converged}, "
                                     f"consistent={fixed.consistent})")
    err = max(float(np.max(np.abs(w - fixed.w))), float(np.max(np.abs(u - fixed.u))))
    detail = f"max |(w, u) - predicted| = {err:.3g} (tol {_MATCH_ATOL:g}), {int(res.iterations)} updates"
    if np.array_equal(reached, np.asarray(free.support)):
        # same support as the free prediction: the limit must match it too (l1: the limit map itself)
        err_free = max(float(np.max(np.abs(w - free.w))), float(np.max(np.abs(u - free.u))))
        err = max(err, err_free)
        detail += f"; vs free prediction {err_free:.3g}"
    else:
        detail += f"; band coordinates took the other branch ({np.flatnonzero(reached != free.support)})"
    return Outcome(err / _MATCH_ATOL, detail)


def _remap(pred: nm.LimitPrediction, *,
           u_fn: Callable[[nm.LimitPrediction], np.ndarray] | None = None,
           w_fn: Callable[[nm.LimitPrediction, np.ndarray], np.ndarray] | None = None) -> nm.LimitPrediction:
    """The prediction with its kept coordinates recomputed by a (mutated) formula at the same ``(s, q)``."""
    sup = np.asarray(pred.support)
    u = np.where(sup, u_fn(pred), pred.u) if u_fn is not None else pred.u
    w = np.where(sup, w_fn(pred, u), pred.w) if w_fn is not None else pred.w
    return dataclasses.replace(pred, w=w, u=u)


def _predict_wrong_sign(problem: nm.Problem, **kw: Any) -> nm.LimitPrediction:
    ws, beta = np.asarray(problem.w_star, dtype=np.float64), problem.beta
    return _remap(nm.predict(problem, **kw), w_fn=lambda p, u: (p.s * ws - beta * u) / (p.q + beta))


def _predict_mu_bar_missing_inverse_q(problem: nm.Problem, **kw: Any) -> nm.LimitPrediction:
    ws, beta = np.asarray(problem.w_star, dtype=np.float64), problem.beta
    return _remap(nm.predict(problem, **kw), u_fn=lambda p: np.asarray(problem.penalty.shrink(p.r * ws, problem.mu)),
                  w_fn=lambda p, u: (p.s * ws + beta * u) / (p.q + beta))


def _predict_soft_threshold_at_lam(problem: nm.Problem, **kw: Any) -> nm.LimitPrediction:
    return nm.predict(dataclasses.replace(problem, lam=problem.lam * problem.beta), **kw)


# ----------------------------------------------------------------------------------------------------------------------
# no_false_positives
# ----------------------------------------------------------------------------------------------------------------------
# k q at a limit converged to 1e-13 carries rounding of order 1e-13 / |w|; 1e-9 separates q = 0 from q > 0.
_KQ_FALSE_POSITIVE_TOL = 1e-9


def _prop_no_false_positives(inst: Instance, ingr: dict[str, Any]) -> Outcome:
    res = converged_limit(inst, ingr["penalty"](inst))
    w, u = np.asarray(res.w), np.asarray(res.u)
    zero = inst.teacher == 0
    false_pos = zero & (u != 0)
    false_zero = ~zero & (w == 0)
    kq = inst.k * float(population.gradient_coefficients(w, inst.teacher, inst.k)[0])
    detail = (f"u_bar on supp(w*)^c: max |u| = {float(np.max(np.abs(u[zero]), initial=0.0)):.3g}; "
              f"min |w_bar| on supp(w*) = {float(np.min(np.abs(w[~zero]))):.3g}; k q = {kq:.3g}; "
              f"{int(res.iterations)} updates")
    if np.any(false_pos) and kq <= _KQ_FALSE_POSITIVE_TOL:
        # Allowed by the fixed-point equations (module docstring): a false positive needs q <= 0.
        false_pos = np.zeros_like(false_pos)
        detail += " (false positives at a q <= 0 limit, where the fixed-point equations allow them)"
    if np.any(false_pos) or np.any(false_zero):
        return Outcome(float("inf"), f"false positives at {np.flatnonzero(false_pos)}, w_bar exactly 0 at "
                                     f"{np.flatnonzero(false_zero)}: {detail}")
    if not bool(res.converged):
        return Outcome(float("inf"), f"RVSM did not converge in {_MAX_ITERS} updates: {detail}")
    return Outcome(0.0, detail)  # qualitative: exact zeros, no tolerance


LIMIT_MATCHES_PREDICTION = register(CheckSpec(
    name="limit_matches_prediction",
    statement=("RVSM converges and its limit (w, u) is the predicted thresholding of w*: the limit map for l1, the "
               "map outside the band and one of the two self-consistent fixed points inside it for l0 and TL1 "
               "(theory page s.5)"),
    section="5",
    strategy=lambda profile: instances(profile),
    prop=_prop_limit,
    ingredients=lambda: {"predict": nm.predict},
    max_examples={"quick": 12, "thorough": 200},
    mutations=(
        Mutation("limit_map_wrong_sign", "kept w_bar = (s w* - beta u)/(q + beta): sign error in the limit map",
                 {"predict": _predict_wrong_sign}),
        Mutation("mu_bar_missing_inverse_q", "kept u = shrink(r w*, lam/beta): mu_bar without its lam/q term",
                 {"predict": _predict_mu_bar_missing_inverse_q}),
        Mutation("soft_threshold_at_lam", "threshold parameter lam instead of lam/beta",
                 {"predict": _predict_soft_threshold_at_lam}),
    ),
))

NO_FALSE_POSITIVES = register(CheckSpec(
    name="no_false_positives",
    statement=("At an RVSM limit with q(w_bar) > 0, u_bar is exactly zero wherever w* is zero, and w_bar is exactly "
               "zero only where w* is; false positives need q <= 0 (theory page s.5, corrected)"),
    section="5",
    strategy=lambda profile: instances(profile, teacher_kinds=("sparse",)),
    prop=_prop_no_false_positives,
    ingredients=lambda: {"penalty": lambda inst: inst.make_penalty()},
    max_examples={"quick": 8, "thorough": 150},
    mutations=(
        Mutation("leaky_identity_prox", "prox with threshold 0 (identity): nothing is ever set to zero",
                 {"penalty": lambda inst: ScaledMuPenalty(inst.make_penalty(), 0.0)}),
    ),
))
