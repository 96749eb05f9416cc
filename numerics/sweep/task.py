"""What one task computes: one batched :func:`numerics.run` over a block of a cell's trials, compared with the
cell's predicted limit (:func:`numerics.predict`).

Per trial (arrays of length ``n``, the block's trials):

- ``dist_u``, ``dist_w``: max-norm distance of the final ``u`` / ``w`` to the predicted limit; on band coordinates
  (two fixed points coexist, l0 / TL1) to the nearer of the two candidates;
- ``reached``: ``max(dist_u, dist_w) <= match_tol`` (:meth:`numerics.sweep.spec.SweepSpec.match_tolerance`);
- ``support``: the support of ``u`` equals the support of ``w*`` (support recovery);
- ``converged``: the stationarity residual fell below ``tol``; ``opposite``: ended opposite ``w*``;
- ``iterations``: updates performed;
- ``q``: the coefficient ``q = A(w)/k^2`` of ``grad l(w) = q w - s w*`` at the final ``w`` (the limit's ``q``; the
  limit map needs ``q > 0``).

Per cell (written by the cell's first block only): the teacher ``w_star``, the predicted ``u_pred``, ``w_pred``
(padded with NaN to the sweep's largest d), ``q_pred``, ``s_pred``, ``pred_ok`` (a genuine fixed point),
``band_coords`` (coordinates in the l0 / TL1 band), ``pred_stable`` (linearly stable for the cell's eta) and
``eta_bound = 2/(L + beta)``, the stable step bound with ``L`` the largest Hessian eigenvalue of ``l`` at ``w*``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import numerics as nm
from numerics import engines, population
from numerics._arrays import to_numpy
from numerics.sweep.plan import Task, cell_values, start_seed, teacher_seed
from numerics.sweep.spec import SpecError, SweepSpec

__all__ = ["CELL_VARIABLES", "TRIAL_VARIABLES", "cell_problem", "cell_teacher", "check_engine", "run_task",
           "start_points"]

#: Per-trial variables and their dtypes.
TRIAL_VARIABLES = {"dist_u": np.float64, "dist_w": np.float64, "reached": np.bool_, "support": np.bool_,
                   "converged": np.bool_, "opposite": np.bool_, "iterations": np.int64, "q": np.float64}
#: Per-cell variables, their dtypes and whether they have the ``coord`` axis.
CELL_VARIABLES = {"w_star": (np.float64, True), "u_pred": (np.float64, True), "w_pred": (np.float64, True),
                  "q_pred": (np.float64, False), "s_pred": (np.float64, False), "pred_ok": (np.bool_, False),
                  "band_coords": (np.int64, False), "pred_stable": (np.bool_, False),
                  "eta_bound": (np.float64, False)}


def check_engine(spec: SweepSpec) -> None:
    """SpecError unless the spec's engine is installed (:func:`numerics.engines.check_engine`) and runs its backend
    (the fused and JAX engines run NumPy arrays)."""
    try:
        engines.check_engine(spec.engine)
    except (ValueError, engines.EngineUnavailableError) as exc:
        raise SpecError(f"spec key sweep.engine: {exc}") from None
    if spec.engine != "array" and spec.backend != "numpy":
        raise SpecError(f"spec key sweep.engine: {spec.engine!r} runs NumPy arrays; got sweep.backend "
                        f"{spec.backend!r} (use engine 'array' with torch)")


def _backend(spec: SweepSpec) -> tuple[Any, dict[str, Any]]:
    if spec.backend == "numpy":
        import array_api_compat.numpy as xp

        return xp, {"dtype": getattr(xp, spec.dtype)}
    import torch

    return torch, {"dtype": getattr(torch, spec.dtype), "device": "cpu"}


def cell_problem(ws: Any, v: dict[str, Any]) -> nm.Problem:
    """The RVSM problem of a cell (values ``v`` of :func:`numerics.sweep.plan.cell_values`) for the teacher ``ws``."""
    return nm.Problem(ws, v["k"], v["penalty"], v["lam"], v["beta"], a=v["a"] if v["penalty"] == "tl1" else None)


def cell_teacher(spec: SweepSpec, cell: tuple[int, ...]) -> np.ndarray:
    """The cell's teacher (d,), float64."""
    v = cell_values(spec, cell)
    sparsity = v["sparsity"] if v["teacher"] == "sparse" else 0.0
    return nm.make_teachers(1, v["d"], kind=v["teacher"], sparsity=sparsity, seed=teacher_seed(spec, cell))[0]


def start_points(spec: SweepSpec, t: Task, ws: np.ndarray) -> np.ndarray:
    """The task's start points (n, d), float64: uniform on the sphere or at the cell's angle to ``ws``."""
    init, seed = cell_values(spec, t.cell)["init"], start_seed(spec, t)
    if init == "sphere":
        return np.asarray(nm.uniform_sphere(t.n, ws.shape[0], seed=seed))
    angle = math.radians(float(init.split(":", 1)[1]))
    return np.asarray(nm.at_angle(np.broadcast_to(ws, (t.n, ws.shape[0])).copy(), angle, seed=seed))


def _pad(x: np.ndarray, d_max: int) -> np.ndarray:
    out = np.full(d_max, np.nan)
    out[: x.shape[-1]] = x
    return out


def run_task(spec: SweepSpec, t: Task) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Run task ``t``: ``(per-trial arrays, per-cell arrays or None)`` (per-cell only for block 0).

    Raises
    ------
    numerics.DivergenceError
        When an iterate of the block becomes non-finite (the cell's eta is above the stable step).
    """
    v = cell_values(spec, t.cell)
    ws = cell_teacher(spec, t.cell)
    w0 = start_points(spec, t, ws)
    xp, kw = _backend(spec)
    check_engine(spec)
    res = nm.run(cell_problem(xp.asarray(ws, **kw), v), xp.asarray(w0, **kw), eta=v["eta"], iters=spec.iters,
                 tol=spec.tol, engine=spec.engine)
    w = to_numpy(res.w).astype(np.float64)
    u = to_numpy(res.u).astype(np.float64)
    problem = cell_problem(ws, v)  # float64 teacher, whatever the run's dtype
    pred = nm.predict(problem)
    band = np.asarray(pred.band, dtype=bool)
    du, dw = pred.distances(w, u)
    with np.errstate(invalid="ignore"):
        reached = np.maximum(du, dw) <= spec.match_tolerance(v["k"])
    q, _ = population.gradient_coefficients(w, np.broadcast_to(ws, w.shape), v["k"])
    trial = {"dist_u": du, "dist_w": dw, "reached": reached, "support": np.all((u != 0) == (ws != 0), axis=1),
             "converged": to_numpy(res.converged).astype(bool), "opposite": to_numpy(res.opposite).astype(bool),
             "iterations": to_numpy(res.iterations).astype(np.int64), "q": np.asarray(q, dtype=np.float64)}
    trial = {k: np.asarray(a, dtype=TRIAL_VARIABLES[k]).reshape(t.n) for k, a in trial.items()}
    if t.block != 0:
        return trial, None
    lip = float(population.lipschitz_estimate(ws, v["k"]))
    cell = {"w_star": _pad(ws, spec.max_d), "u_pred": _pad(np.asarray(pred.u), spec.max_d),
            "w_pred": _pad(np.asarray(pred.w), spec.max_d), "q_pred": np.float64(pred.q),
            "s_pred": np.float64(pred.s), "pred_ok": np.bool_(pred.ok), "band_coords": np.int64(band.sum()),
            "pred_stable": np.bool_(np.all(pred.stable(v["eta"]))), "eta_bound": np.float64(2.0 / (lip + v["beta"]))}
    return trial, {k: np.asarray(a, dtype=CELL_VARIABLES[k][0]) for k, a in cell.items()}
