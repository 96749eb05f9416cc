"""Check ``lagrangian_nonincreasing``: the relaxed Lagrangian never increases along RVSM (theory page s.5).

``L_beta(w, u) = l(w) + lam sum_i P(u_i) + (beta/2) |w - u|^2`` (:meth:`numerics.Problem.lagrangian`) is recorded at
every iteration of :func:`numerics.run` (``record_every=1``) for a batch of four starts per generated instance
(:func:`checks.strategies.instances`: step ``eta = frac * 2/(L + beta)``, ``frac`` in [0.1, 0.8], ``L`` the smoothness
constant at ``w*``), and every increase ``L^{t+1} - L^t`` must stay within rounding.

Scope. theory page s.5 states descent where ``grad l`` is ``L``-Lipschitz along the iterates, with ``L`` the local
constant at ``w*``, and ``grad l`` is not Lipschitz near ``w = 0``. The descent proof needs less: only the upper
quadratic bound ``l(y) <= l(x) + grad l(x).(y - x) + (L/2)|y - x|^2``. That bound holds for every ``x != 0`` with
``L = (k + (k^2 - k)/pi)/k^2`` (the constant at ``w*``), because

``l(w) - (L/2)|w|^2 = const - (2/k) g(w, w*) - ((k^2 - k)/(pi k^2)) |w||w*|``

is concave: ``g(w, w*) = E[relu(w.x) relu(w*.x)]`` is convex in ``w`` (a nonnegative mixture of the convex
``relu(w.x)``), and ``|w|`` is convex; a concave function lies below its tangent planes. So the generated starts are
not restricted: besides the instance's own ``w0`` (``|w0| >= |w*|/2``, angle ``<= 0.9 pi``,
:func:`checks.strategies.start_points`), three more starts per example have any angle in ``[0, pi]`` and
``|w0|/|w*|`` log-uniform in ``[1e-3, 2]``, i.e. start near the origin and on or near the saddle ray. The failure
detail reports the smallest ``|w^t|`` along the run.

Rounding allowance: ``1e-13 (|L^t| + |w*|^2 + max |w0|^2)`` (about 450 eps). The closed-form loss is a sum of terms of
size ``(|w|^2 + |w*|^2)/k`` that cancel near ``w*``, so its rounding error is relative to ``|w|^2 + |w*|^2`` rather than
to ``L`` itself (while ``L`` does not grow, ``l(w^t) <= L^0`` keeps ``|w^t|`` of the order of ``max(|w0|, |w*|)``).

Mutations (on the spec, :data:`LAGRANGIAN_NONINCREASING`): the prox inside the iteration applied with ``mu = lam``
instead of ``lam / beta`` (a penalty object given to the :class:`numerics.Problem` run by :func:`numerics.run` whose
prox rescales ``mu``), and a sign error in the coupling ``beta (w - u)`` of the w-step (the small NumPy reference loop
:func:`reference_lagrangian`, which with the correct sign reproduces :func:`numerics.run`'s recorded Lagrangian, see
the tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from hypothesis import strategies as st

import numerics as nm
from numerics import population
from numerics.init import at_angle
from numerics.penalties import Penalty

from .framework import CheckSpec, Mutation, Outcome, register
from .mutants import ScaledMuPenalty
from .strategies import Instance, instances, log_uniform

#: Number of RVSM iterations per example (the rate is ~ 1 - eta/k, so 300 covers the transient and the approach).
ITERS = {"quick": 300, "thorough": 1500}
#: Relative rounding allowance (see module docstring).
REL_ALLOWANCE = 1e-13


@dataclass(frozen=True)
class DescentCase:
    """An instance plus extra start points (run as one batch with the instance's own ``w0``)."""

    instance: Instance
    extra_starts: tuple[tuple[float, ...], ...]
    iters: int

    def starts(self) -> np.ndarray:
        return np.asarray((self.instance.w0, *self.extra_starts), dtype=np.float64)


@st.composite
def wide_starts(draw, w_star: tuple[float, ...]) -> tuple[float, ...]:
    """A start at any angle in [0, pi] to ``w*`` with ``|w0| / |w*|`` log-uniform in [1e-3, 2] (module docstring)."""
    ws = np.asarray(w_star, dtype=np.float64)
    angle = draw(st.floats(0.0, math.pi))
    ratio = draw(log_uniform(1e-3, 2.0))
    w0 = at_angle(ws, angle, seed=draw(st.integers(0, 2**16)), norm=ratio * float(np.linalg.norm(ws)))
    return tuple(float(v) for v in np.asarray(w0))


@st.composite
def descent_cases(draw, profile: str = "quick") -> DescentCase:
    """:func:`checks.strategies.instances` plus three starts from :func:`wide_starts`."""
    inst = draw(instances(profile))
    extra = tuple(draw(wide_starts(inst.w_star)) for _ in range(3))
    return DescentCase(instance=inst, extra_starts=extra, iters=ITERS[profile])


# ----------------------------------------------------------------------------------------------------------------------
# Ingredients
# ----------------------------------------------------------------------------------------------------------------------
def run_lagrangian(inst: Instance, penalty: Penalty, starts: np.ndarray, iters: int) -> np.ndarray:
    """Recorded Lagrangian of :func:`numerics.run` (population gradient), shape ``(iters + 1, B)``."""
    res = nm.run(inst.problem(penalty), starts, eta=inst.eta, iters=iters, record_every=1)
    return np.asarray(res.history.lagrangian)


def reference_lagrangian(inst: Instance, penalty: Penalty, starts: np.ndarray, iters: int, *,
                         coupling: float = 1.0) -> np.ndarray:
    """A plain NumPy RVSM loop (theory page s.4) returning ``L_beta(w^t, u^t)``, shape ``(iters + 1, B)``.

    Parameters
    ----------
    coupling : float
        Sign of the coupling term of the w-step, ``w - eta (grad l(w) + coupling * beta (w - u))``; ``+1`` is RVSM,
        ``-1`` the sign-error mutation. The Lagrangian itself always has ``+ (beta/2)|w - u|^2``.

    Notes
    -----
    ``u^0 = prox_{mu P}(w^0)``, ``w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t))``,
    ``u^{t+1} = prox_{mu P}(w^{t+1})``, ``mu = lam / beta``; ``L_beta`` is :meth:`numerics.Problem.lagrangian`.
    """
    return _reference(inst, penalty, starts, iters, coupling)[0]


def _reference(inst: Instance, penalty: Penalty, starts: np.ndarray, iters: int, coupling: float = 1.0):
    problem = inst.problem(penalty)
    ws, k, beta, eta = inst.teacher, inst.k, inst.beta, inst.eta
    mu = problem.mu
    w = np.array(starts, dtype=np.float64)
    u = np.asarray(penalty.prox(w, mu))

    def lag(w, u):
        return problem.lagrangian(population.loss(w, ws, k), w, u)

    out = [lag(w, u)]
    min_norm = np.linalg.norm(w, axis=-1)
    with np.errstate(all="ignore"):
        for _ in range(iters):
            w = w - eta * (population.grad(w, ws, k, validate=False) + coupling * beta * (w - u))
            u = np.asarray(penalty.prox(w, mu))
            out.append(lag(w, u))
            min_norm = np.minimum(min_norm, np.linalg.norm(w, axis=-1))
    return np.stack(out), min_norm


def _ingredients() -> dict[str, Any]:
    return {"penalty": lambda inst: inst.make_penalty(), "run": run_lagrangian}


# ----------------------------------------------------------------------------------------------------------------------
# The property
# ----------------------------------------------------------------------------------------------------------------------
def _descent_prop(ex: DescentCase, ing) -> Outcome:
    inst = ex.instance
    starts = ex.starts()
    penalty = ing["penalty"](inst)
    try:
        L = np.asarray(ing["run"](inst, penalty, starts, ex.iters), dtype=np.float64)
    except nm.DivergenceError as exc:
        return Outcome(math.inf, f"diverged: {exc}")
    if not np.all(np.isfinite(L)):
        return Outcome(math.inf, "non-finite Lagrangian")
    inc = L[1:] - L[:-1]
    scale = np.abs(L[:-1]) + float(inst.teacher @ inst.teacher) + float(np.max(np.sum(starts * starts, axis=1)))
    ratio = inc / (REL_ALLOWANCE * scale)
    t, b = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    disc = max(float(ratio[t, b]), 0.0)
    detail = (f"largest change L^(t+1) - L^t = {inc[t, b]:.3e} at t={t} (start {b}), allowance "
              f"{REL_ALLOWANCE * scale[t, b]:.2e}; L: {L[0, b]:.6g} -> {L[-1, b]:.6g}; eta={inst.eta:.4g} "
              f"(2/(L+beta)={inst.stable_step():.4g}), {inst.penalty}, k={inst.k}, d={inst.d}")
    if disc > 1.0:  # diagnose: how close did the iterates come to the origin, where grad l is not Lipschitz?
        _, min_norm = _reference(inst, inst.make_penalty(), starts, ex.iters)
        detail += (f"; min_t |w^t| / |w*| of that start (real RVSM, reference loop): "
                   f"{float(min_norm[b]) / float(np.linalg.norm(inst.teacher)):.3g}")
    return Outcome(disc, detail)


LAGRANGIAN_NONINCREASING = register(CheckSpec(
    name="lagrangian_nonincreasing",
    statement=("Along RVSM with eta < 2/(L + beta) (L the smoothness constant at w*), from any start (also near 0 "
               "and opposite w*), the relaxed Lagrangian l(w) + lam P(u) + beta/2 |w - u|^2 never increases beyond "
               "rounding (theory page s.5)."),
    section="5",
    strategy=lambda profile: descent_cases(profile),
    prop=_descent_prop,
    ingredients=_ingredients,
    max_examples={"quick": 20, "thorough": 300},
    mutations=(
        Mutation("prox_mu_lam", "prox inside the iteration applied with mu = lam instead of lam/beta",
                 {"penalty": lambda inst: ScaledMuPenalty(inst.make_penalty(), inst.beta)}),
        Mutation("coupling_sign", "sign error in the coupling: w - eta (grad l - beta (w - u))",
                 {"run": partial(reference_lagrangian, coupling=-1.0)}),
    ),
))
