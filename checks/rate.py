"""Check of the linear rate of RVSM near its limit (theory page section 5, "Rate").

``linear_rate``
    Once the support of ``u`` is frozen, RVSM near its limit is the affine-plus-small map
    ``w -> w - eta (grad l(w) + beta (w - prox(w)))`` and the update norms ``|w^{t+1} - w^t|`` contract by the
    spectral radius of its Jacobian at the limit ``w_bar``:

        J = I - eta (H + beta (I - D)),   H = Hessian of l at w_bar,   D = diag(prox'(w_bar_i)).

    On kept coordinates of l1 / l0, ``prox' = 1`` and the beta terms cancel; on zeroed coordinates ``prox' = 0`` and
    they add ``beta``; TL1 kept coordinates have ``0 < prox' < 1``. The original "close to 1 - eta/k" is the value of
    the smallest eigenvalue at ``w_bar = w*`` (Hessian eigenvalue 1/k on the directions orthogonal to w*); at the
    actual limit ``w_bar != w*`` and the zeroed coordinates add beta, so the check compares with the exact
    ``rho = max |eig J|`` (ingredient ``"predicted_factor"``) and reports ``1 - eta/k`` alongside.

Measurement: RVSM is run to its limit, restarted at the limit plus 1e-4 |w*| e_i (each i; see ``_restarts``), and
the factor is ``exp`` of the least-squares slope of ``log |w^{t+1} - w^t|`` against ``t`` over the later half of the
recorded steps with ``1e-12 <= step/|w*| <= 1e-5`` (largest over the restarts; support constant there): the
quadratic terms of the map are a relative <= 1e-4 of the linear ones, the faster eigenmodes of ``J`` have decayed
over the first half, and above 1e-12 the rounding of a step (~1e-16 |w|) is a relative 1e-4.

Mutations (ingredient ``predicted_factor``; on the spec, :data:`LINEAR_RATE`): ``factor_eta_over_k_squared``
(``1 - eta/k^2``, the Hessian eigenvalue taken as 1/k^2) and ``factor_eta_beta`` (``1 - eta beta``, the splitting term
taken as the rate).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import numerics as nm
from numerics import population

from .framework import CheckSpec, Mutation, Outcome, register
from .strategies import Instance, instances

__all__ = ["linearized_factor"]

_RUN_TOL = 1e-14
_MAX_ITERS = 50_000
_WINDOW = (1e-12, 1e-5)
#: Tolerance on the log-factor, relative: |log rho_meas - log rho_pred| <= 0.02 |log rho_pred|. Contributions: the
#: Hessian by central differences (error O(h) = 1e-6 relative where l is only C^2, at t_bar = 0), the quadratic terms
#: (<= 1e-4 relative in the window), rounding of the steps (<= 1e-4 relative per step, divided by the window length),
#: and a subdominant eigenvalue of J whose component has not died out in the window (the fitted slope then lies
#: between the two log-eigenvalues; worst seen 5.4e-3 relative on the quick profile (eigenvalues 0.267 and -0.215 at
#: k = 3, eta = 2.23), 1.2e-2 on the thorough one). The mutations are off by a factor ~k or ~beta k in the log.
_REL_TOL = 0.02


def _hessian(w: np.ndarray, w_star: np.ndarray, k: int) -> np.ndarray:
    """Central differences of the closed-form gradient (symmetrized)."""
    d = w.size
    h = 1e-6 * max(float(np.linalg.norm(w)), 1e-3)
    e = np.eye(d) * h
    gp = population.grad(w[None, :] + e, np.broadcast_to(w_star, (d, d)), k)
    gm = population.grad(w[None, :] - e, np.broadcast_to(w_star, (d, d)), k)
    hess = (np.asarray(gp) - np.asarray(gm)) / (2 * h)  # row j = dgrad/dw_j
    return 0.5 * (hess + hess.T)


def linearized_factor(inst: Instance, w_bar: np.ndarray, u_bar: np.ndarray) -> float:
    """Spectral radius of ``I - eta (H(w_bar) + beta (I - diag prox'(w_bar)))`` (module docstring).

    ``prox'`` is a central difference of the instance's prox at each coordinate (exact 1 or 0 for l1 / l0 away from
    the threshold).
    """
    problem = inst.problem()
    pen, mu = problem.penalty, problem.mu
    h = 1e-7
    dprox = (np.asarray(pen.prox(w_bar + h, mu)) - np.asarray(pen.prox(w_bar - h, mu))) / (2 * h)
    jac = np.eye(w_bar.size) - inst.eta * (_hessian(w_bar, inst.teacher, inst.k)
                                           + inst.beta * np.diag(1.0 - dprox))
    return float(np.max(np.abs(np.linalg.eigvals(jac))))


def measured_factor(step: np.ndarray, support: np.ndarray, scale: float) -> tuple[float, int]:
    """``exp`` of the least-squares slope of ``log step`` over the window (module docstring); and its length.

    Only records after the last change of the support of ``u`` count (a restart may push a zeroed coordinate above
    its threshold for a few steps): the statement is about the frozen support.
    """
    t = np.arange(step.size)
    lo, hi = _WINDOW[0] * scale, _WINDOW[1] * scale
    changes = np.flatnonzero(support[1:] != support[:-1])
    frozen_from = int(changes[-1]) + 1 if changes.size else 0
    sel = np.isfinite(step) & (step >= lo) & (step <= hi) & (t >= frozen_from)
    idx = np.flatnonzero(sel)
    if idx.size < 6:
        return float("nan"), int(idx.size)
    idx = idx[idx.size // 2:]  # the later half: faster modes have decayed further
    slope = np.polyfit(t[idx], np.log(step[idx]), 1)[0]
    return float(np.exp(slope)), int(idx.size)


def _restarts(inst: Instance, w_bar: np.ndarray) -> np.ndarray:
    """``d`` restarts: the limit ``w_bar`` plus ``1e-4 |w*| e_i`` for each coordinate direction ``e_i``, shape (d, d).

    Restarting next to the limit keeps the quadratic terms a relative <= 1e-4 of the linear ones. A single
    perturbation may be nearly orthogonal to the slowest eigenvector of ``J`` (a start on a symmetry of the problem
    never excites it), but that unit eigenvector has a coordinate of size >= 1/sqrt(d), so one of the ``e_i`` excites
    it with weight >= 1/sqrt(d): the measured factor is the largest over the d restarts.
    """
    return w_bar[None, :] + 1e-4 * float(np.linalg.norm(inst.teacher)) * np.eye(inst.d)


def _prop_rate(inst: Instance, ingr: dict[str, Any]) -> Outcome:
    scale = float(np.linalg.norm(inst.teacher))
    problem = inst.problem()
    first = nm.run(problem, inst.start, eta=inst.eta, iters=_MAX_ITERS, tol=_RUN_TOL * scale)
    res = nm.run(problem, _restarts(inst, np.asarray(first.w)), eta=inst.eta, iters=_MAX_ITERS, tol=_RUN_TOL * scale,
                 record_every=1)
    hist = res.history
    step, support = np.asarray(hist.step), np.asarray(hist.support)
    per_start = [measured_factor(step[:, j], support[:, j], scale) for j in range(inst.d)]
    valid = [(r, n) for r, n in per_start if np.isfinite(r)]
    rho_m, n = max(valid) if valid else (float("nan"), max(n for _, n in per_start))
    if not np.isfinite(rho_m):
        return Outcome(float("inf"), f"too few steps with a frozen support in the window ({n}) to measure the rate")
    w, u = np.asarray(first.w), np.asarray(first.u)
    rho_p = float(ingr["predicted_factor"](inst, w, u))
    if not 0.0 < rho_p < 1.0:
        return Outcome(float("inf"), f"predicted factor {rho_p:.6g} outside (0, 1); measured {rho_m:.6g}")
    err = abs(np.log(rho_m) - np.log(rho_p)) / abs(np.log(rho_p))
    detail = (f"measured {rho_m:.6f} over {n} steps, predicted {rho_p:.6f} (rel. log error {err:.2e}, tol "
              f"{_REL_TOL}); 1 - eta/k = {1 - inst.eta / inst.k:.6f}")
    return Outcome(err / _REL_TOL, detail)


LINEAR_RATE = register(CheckSpec(
    name="linear_rate",
    statement=("Once the support of u is frozen, RVSM converges linearly with the spectral radius of its linearization "
               "at the limit, close to 1 - eta/k (theory page s.5)"),
    section="5",
    strategy=lambda profile: instances(profile, teacher_kinds=("dense", "sparse"), k_min=2),
    prop=_prop_rate,
    ingredients=lambda: {"predicted_factor": linearized_factor},
    max_examples={"quick": 10, "thorough": 150},
    mutations=(
        Mutation("factor_eta_over_k_squared", "rate 1 - eta/k^2 (smallest Hessian eigenvalue taken as 1/k^2)",
                 {"predicted_factor": lambda inst, w, u: 1.0 - inst.eta / inst.k**2}),
        Mutation("factor_eta_beta", "rate 1 - eta beta (the splitting weight taken as the curvature)",
                 {"predicted_factor": lambda inst, w, u: 1.0 - inst.eta * inst.beta}),
    ),
))
