"""What the fused engines share: the run in segments, the history, the divergence report and the result.

A fused engine supplies one function, ``segment(arrays, t0, t1) -> arrays``, that advances every trial from
iteration ``t0`` to ``t1`` exactly as the array engine's loop (:mod:`numerics.rvsm`, :mod:`numerics.bookkeeping`)
would: the same update, the same per-trial stop (``tol``), the same re-judging of a step that rounded to 0 at the
housekeeping iterations, and, per trial, the first iteration with a non-finite ``w`` (the trial stops there). The
driver calls it once (no history, no progress) or between the iterations where the history is recorded, and
builds the :class:`numerics.results.RVSMResult` with the array engine's own functions, so that a result, a history
and a :class:`numerics.results.DivergenceError` mean the same whatever the engine.

The arrays (B rows each): ``w``, ``u`` (B, d); ``step``, ``resid`` (floating); ``it``, ``done_at``, ``bad``
(int64: the update a trial stopped at, the update at which it was judged stationary, its first non-finite update, 0
for none); ``done`` (bool).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from numerics import population
from numerics._arrays import Array, to_numpy
from numerics.bookkeeping import HOUSEKEEPING_EVERY, PROGRESS_SECONDS, TrialState, on_opposite_ray
from numerics.problem import relaxed_lagrangian
from numerics.results import DivergenceError, History, RVSMResult

__all__ = ["Segment", "drive", "initial_arrays"]

Segment = Callable[[dict[str, Array], int, int], dict[str, Array]]

#: With ``progress=True`` the run is cut into segments of this many iterations (one status line at most per 2 s).
PROGRESS_SEGMENT = 1024


def initial_arrays(xp: Any, st: TrialState) -> dict[str, Array]:
    """The per-trial arrays at ``t = 0`` (copies of ``w``, ``u``; NaN steps; nothing stopped)."""
    n = int(st.w.shape[0])
    def zeros() -> Array:
        return xp.zeros((n,), dtype=xp.int64)

    return {"w": xp.asarray(st.w, copy=True), "u": xp.asarray(st.u, copy=True),
            "step": xp.asarray(st.step, copy=True), "resid": xp.asarray(st.resid, copy=True),
            "it": zeros(), "done_at": zeros(), "bad": zeros(), "done": xp.zeros((n,), dtype=xp.bool)}


def _metrics(xp: Any, penalty: Any, st: TrialState, arr: dict[str, Array]) -> tuple[Array, ...]:
    """The history's quantities at the current iterate (those of :class:`numerics.bookkeeping.Bookkeeping`)."""
    w, u = arr["w"], arr["u"]
    lag = relaxed_lagrangian(penalty, st.grad.loss(w), w, u, st.lam, st.beta)
    ang = population.angle(w, st.grad.w_star, validate=False)
    sup = xp.sum(xp.astype(u != 0, xp.int64), axis=-1)
    return lag, ang, sup, xp.asarray(arr["step"], copy=True)  # a copy: the fused kernel updates in place


def _ceil_housekeeping(t: int, iters: int) -> int:
    """The first housekeeping iteration at or after ``t`` (a multiple of HOUSEKEEPING_EVERY, or ``iters``)."""
    return min(iters, -(-t // HOUSEKEEPING_EVERY) * HOUSEKEEPING_EVERY)


def _raise_divergence(st: TrialState, bad: np.ndarray) -> None:
    """The array engine's report: the trial whose iterate became non-finite first (lowest index on a tie)."""
    rows = np.nonzero(bad > 0)[0]
    j = int(rows[np.argmin(bad[rows])])
    L = st.grad.smoothness()
    beta, eta = (float(np.asarray(to_numpy(v), dtype=np.float64).reshape(-1)[j]) for v in (st.beta, st.eta))
    stable = None if L is None else 2.0 / (float(np.asarray(to_numpy(L), dtype=np.float64).reshape(-1)[j]) + beta)
    raise DivergenceError(j, int(bad[j]), eta, stable)


def drive(segment: Segment, st: TrialState, arr: dict[str, Array], *, xp: Any, penalty: Any, iters: int,
          tol: float | None, record_every: int | None, progress: bool, batched: bool) -> RVSMResult:
    """Run ``segment`` from 0 to ``iters`` (in pieces where a history or progress is asked for) and assemble the
    result as :meth:`numerics.bookkeeping.Bookkeeping.result` does.

    Notes
    -----
    Where every trial has stopped (``tol``), the array engine's loop ends at the next housekeeping iteration after
    the last stop, and its history's last record carries that iteration; the records are labelled the same way
    here (a stopped trial's quantities no longer change, so they are computed once).
    """
    rec = record_every
    rec_iter: list[int] = []
    rec_vals: list[tuple[Array, ...]] = []
    if rec is not None:
        rec_iter.append(0)
        rec_vals.append(_metrics(xp, penalty, st, arr))
    t, stop = 0, iters
    t_start = last_print = time.monotonic()
    while t < iters:
        t_next = iters
        if rec is not None:
            t_next = min(t_next, (t // rec + 1) * rec)
        if progress:
            t_next = min(t_next, t + PROGRESS_SEGMENT)
        arr = segment(arr, t, t_next)
        bad = np.asarray(to_numpy(arr["bad"]), dtype=np.int64).reshape(-1)
        if np.any(bad > 0):
            _raise_divergence(st, bad)
        done = np.asarray(to_numpy(arr["done"]), dtype=bool).reshape(-1)
        all_done = tol is not None and bool(done.all())
        if all_done:
            last = int(np.max(np.asarray(to_numpy(arr["done_at"]), dtype=np.int64)))
            stop = _ceil_housekeeping(last, iters)
        if rec is not None:
            end = stop if all_done else t_next
            marks = [m for m in range((t // rec + 1) * rec, end + 1, rec)] if end > t else []
            if marks:
                vals = _metrics(xp, penalty, st, arr)
                rec_iter += marks
                rec_vals += [vals] * len(marks)
        if progress and time.monotonic() - last_print >= PROGRESS_SECONDS:
            last_print = time.monotonic()
            active = int(done.size - done.sum()) if tol is not None else done.size
            print(f"rvsm: iteration {stop if all_done else t_next}/{iters}, active trials {active}/{done.size}, "
                  f"elapsed {last_print - t_start:.1f} s", file=sys.stderr, flush=True)
        if all_done:
            t = stop
            break
        t = t_next
    it = arr["it"] if tol is not None else xp.full_like(arr["it"], iters)
    if rec is not None and rec_iter[-1] != t:
        rec_iter.append(t)
        rec_vals.append(_metrics(xp, penalty, st, arr))
    w, u, done, resid = arr["w"], arr["u"], arr["done"], arr["resid"]
    opp = on_opposite_ray(w, st.grad.w_star)
    history = None
    if rec is not None:
        cols = list(zip(*rec_vals, strict=True))
        history = History(iteration=xp.asarray(np.asarray(rec_iter, dtype=np.int64)), lagrangian=xp.stack(cols[0]),
                          angle=xp.stack(cols[1]), support=xp.stack(cols[2]), step=xp.stack(cols[3]))
    if not batched:
        w, u, it, done, resid, opp = (v[0, ...] for v in (w, u, it, done, resid, opp))
        if history is not None:
            history = History(history.iteration, *(v[:, 0] for v in (history.lagrangian, history.angle,
                                                                     history.support, history.step)))
    return RVSMResult(w=w, u=u, iterations=it, converged=done, history=history, residual=resid, opposite=opp)
