"""Bookkeeping of the batched RVSM loop: everything :func:`numerics.run` does besides the iteration itself.

* stopping: with a tolerance each trial stops once its stationarity residual (``|w^{t+1} - w^t| / eta``, the
  relaxed Lagrangian's gradient in ``w``; see :func:`numerics.run`) is below ``tol``; finished trials are frozen;
* compaction: finished trials are periodically removed from the working set, so the work goes to those still running;
* divergence: checked every few iterations; a non-finite row is replayed from the last finite check to find the exact
  iteration, and reported as :class:`numerics.results.DivergenceError`;
* history: the relaxed Lagrangian, angle, support size and step, every ``record_every`` iterations;
* progress: a one-line status on stderr at most every two seconds;
* the result: per-trial arrays put back into the original trial order, with each trial's last residual and whether
  it ended on the ray opposite ``w*`` (:func:`on_opposite_ray`).

The working state is a :class:`TrialState` (the rows of the active trials); the iteration is given as a function
``advance(state) -> (w_next, u_next, scale)`` so that divergence can be replayed on a few rows.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import array_api_compat
import numpy as np

from numerics import population
from numerics._arrays import Array, to_numpy
from numerics.gradients import BoundGradient
from numerics.problem import relaxed_lagrangian
from numerics.results import DivergenceError, History, RVSMResult

__all__ = ["Bookkeeping", "TrialState", "on_opposite_ray"]

#: Housekeeping (divergence check, compaction, early exit, progress) happens every this many iterations.
HOUSEKEEPING_EVERY = 16
#: Compact the working set once at least this fraction of it has finished (0 < f <= 1; > 1 disables compaction).
COMPACT_FRACTION = 0.125
PROGRESS_SECONDS = 2.0


@dataclass
class TrialState:
    """The rows of the active trials: iterates, per-trial weights and the bound gradient source.

    Attributes
    ----------
    w, u : arrays (n, d)
        Current iterates.
    grad : BoundGradient
        The gradient source bound to these trials' teachers (``grad.w_star``).
    lam, beta, eta, mu, eta_beta : arrays (n,)
        Per-trial weights (``mu = lam/beta``, ``eta_beta = eta beta``).
    step : array (n,)
        ``|w^t - w^{t-1}|`` of the last update (NaN before the first).
    resid : array (n,)
        The stationarity residual of the last update, ``step / eta`` (times the pre-projection norm for a normalized
        iteration; NaN before the first update).
    it : int array (n,)
        The update at which each trial stopped (or the current one while running).
    done : bool array (n,)
        Trials that met the tolerance.
    """

    w: Array
    u: Array
    grad: BoundGradient
    lam: Array
    beta: Array
    eta: Array
    mu: Array
    eta_beta: Array
    step: Array
    resid: Array
    it: Array
    done: Array

    _ROWS = ("w", "u", "lam", "beta", "eta", "mu", "eta_beta", "step", "resid", "it", "done")

    def take(self, idx: Array) -> TrialState:
        """The state of the trials ``idx`` only."""
        xp = array_api_compat.array_namespace(self.w)
        rows = {key: xp.take(getattr(self, key), idx, axis=0) for key in self._ROWS}
        return TrialState(grad=self.grad.take(idx), **rows)


@dataclass
class _Retired:
    """Trials removed from the working set (finished), with their original indices."""

    order: np.ndarray
    w: Array
    u: Array
    it: Array
    done: Array
    resid: Array
    opposite: Array
    metrics: tuple[Array, ...] | None


class Bookkeeping:
    """Drives the loop of :func:`numerics.run`: ``while book.running(): ...; book.advance(w_next, u_next)``.

    Parameters
    ----------
    state : TrialState
        The start (``w^0``, ``u^0``) of all B trials.
    advance : callable
        One RVSM update ``state -> (w_next, u_next, scale)`` (used to replay diverging rows).
    penalty
        For the history's Lagrangian.
    iters, tol, record_every, progress
        As :func:`numerics.run`.
    batched : bool
        Whether the caller passed a batch axis (else the result drops it).
    """

    def __init__(self, state: TrialState, advance: Callable[[TrialState], tuple[Array, Array]], *, penalty: Any,
                 iters: int, tol: float | None, record_every: int | None, progress: bool, batched: bool):
        self.state = state
        self._advance = advance
        self._penalty = penalty
        self._iters, self._tol, self._record_every, self._progress = iters, tol, record_every, progress
        self._batched = batched
        self._xp = array_api_compat.array_namespace(state.w)
        self._dev = array_api_compat.device(state.w)
        self._n_total = int(state.w.shape[0])
        self._order = np.arange(self._n_total)
        self._retired: list[_Retired] = []
        self._rec_iter: list[int] = []
        self._rec_vals: list[tuple[Array, ...]] = []
        self._checkpoint = (0, state.w, state.u)  # last housekeeping: all rows finite there
        self._stopped = False
        self.t = 0
        self._t0 = self._last_print = time.monotonic()
        if record_every is not None:
            self._record(0)

    # -- the loop -----------------------------------------------------------------------------------------------------
    def running(self) -> bool:
        """Whether another update is due (False after ``iters`` updates or once every trial has stopped)."""
        return not (self._stopped or self.t >= self._iters)

    def advance(self, w_next: Array, u_next: Array, scale: Array | None = None) -> None:
        """Accept the update ``(w^{t+1}, u^{t+1})`` of the active trials, then do the housekeeping that is due.

        ``scale``: the norms of the w-step before a normalizing projection (None without one); the stationarity
        residual is ``|w^{t+1} - w^t| / eta``, times ``scale`` when given (:func:`numerics.run`, Notes).
        """
        xp, st = self._xp, self.state
        self.t += 1
        t, tol, rec = self.t, self._tol, self._record_every
        need_step = tol is not None or t == self._iters or (rec is not None and t % rec == 0)
        if need_step:  # one (B, d) pass; the rest is per trial
            diff = w_next - st.w
            step = xp.sqrt(xp.vecdot(diff, diff))
            resid = step / st.eta if scale is None else scale * step / st.eta
        if tol is not None:  # in place on the state record (one per run, owned by the bookkeeping)
            moving = xp.logical_not(st.done)
            m2 = xp.expand_dims(moving, axis=1)
            st.w, st.u = xp.where(m2, w_next, st.w), xp.where(m2, u_next, st.u)
            st.step = xp.where(moving, step, st.step)
            st.resid = xp.where(moving, resid, st.resid)
            st.it = xp.where(moving, xp.asarray(t, dtype=xp.int64, device=self._dev), st.it)
            # a step that rounds to exactly 0 (eta |G| below half an ulp of w) says nothing about |G|: such rows are
            # judged at housekeeping from the gradient itself (_stalled_rows)
            st.done = xp.logical_or(st.done, (resid < tol) & (step > 0))
        else:
            st.w, st.u = w_next, u_next
            if need_step:
                st.step, st.resid = step, resid
        if rec is not None and t % rec == 0:
            self._record(t)
        if t % HOUSEKEEPING_EVERY == 0 or t == self._iters:
            self._housekeeping()

    # -- housekeeping ---------------------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        xp, t = self._xp, self.t
        bad = self._nonfinite_rows(self.state.w)
        if bad.size:
            self._raise_divergence(bad)
        if self._tol is not None:
            self._stalled_rows()
            done = np.asarray(to_numpy(self.state.done), dtype=bool).reshape(-1)
            n_done, n_act = int(done.sum()), int(done.size)
            if n_done == n_act:
                self._stopped = True
            elif n_done >= max(1.0, COMPACT_FRACTION * n_act):
                gone = xp.asarray(np.nonzero(done)[0], device=self._dev)
                keep = xp.asarray(np.nonzero(~done)[0], device=self._dev)
                out = self.state.take(gone)
                metrics = self._metrics(out) if self._record_every is not None else None
                self._retired.append(_Retired(self._order[done], out.w, out.u, out.it, out.done, out.resid,
                                              on_opposite_ray(out.w, out.grad.w_star), metrics))
                self.state = self.state.take(keep)
                self._order = self._order[~done]
        self._checkpoint = (t, self.state.w, self.state.u)
        if self._progress and time.monotonic() - self._last_print >= PROGRESS_SECONDS:
            self._last_print = time.monotonic()
            print(f"rvsm: iteration {t}/{self._iters}, active trials {self._order.size}/{self._n_total}, "
                  f"elapsed {self._last_print - self._t0:.1f} s", file=sys.stderr, flush=True)

    def _stalled_rows(self) -> None:
        """Rows whose last step rounded to exactly 0: stopped iff the stationarity residual itself, recomputed from the
        gradient as ``|grad l(w) + beta (w - u)|`` (its tangential part for a normalized iteration), is below tol."""
        xp, st = self._xp, self.state
        stalled = np.nonzero(np.asarray(to_numpy(xp.logical_not(st.done) & (st.step == 0)), dtype=bool).reshape(-1))[0]
        if stalled.size == 0:
            return
        idx = xp.asarray(stalled, device=self._dev)
        sub = st.take(idx)
        g = sub.grad.grad(sub.w) + sub.beta[:, None] * (sub.w - sub.u)
        if sub.grad.project_with_norm(sub.w)[1] is not None:  # on the sphere: only the tangential part is stationarity
            nw2 = xp.vecdot(sub.w, sub.w)
            g = g - (xp.vecdot(g, sub.w) / xp.where(nw2 > 0, nw2, xp.ones_like(nw2)))[:, None] * sub.w
        resid = np.asarray(to_numpy(xp.sqrt(xp.vecdot(g, g))), dtype=np.float64).reshape(-1)
        res_all = np.asarray(to_numpy(st.resid), dtype=np.float64).reshape(-1).copy()
        done_all = np.asarray(to_numpy(st.done), dtype=bool).reshape(-1).copy()
        res_all[stalled] = resid
        done_all[stalled] = resid < self._tol
        st.resid = xp.asarray(res_all, dtype=st.resid.dtype, device=self._dev)
        st.done = xp.asarray(done_all, device=self._dev)

    def _nonfinite_rows(self, w: Array) -> np.ndarray:
        xp = self._xp
        finite = np.asarray(to_numpy(xp.all(xp.isfinite(w), axis=-1)), dtype=bool).reshape(-1)
        return np.nonzero(~finite)[0]

    def _raise_divergence(self, rows: np.ndarray) -> None:
        """Replay the diverging rows from the last finite checkpoint to the first non-finite iterate, and raise."""
        xp = self._xp
        t_ck, w_ck, u_ck = self._checkpoint
        idx = xp.asarray(rows, device=self._dev)
        sub = replace(self.state.take(idx), w=xp.take(w_ck, idx, axis=0), u=xp.take(u_ck, idx, axis=0))
        first = np.zeros(rows.size, dtype=np.int64)
        for tt in range(t_ck + 1, self.t + 1):
            w_next, u_next, _ = self._advance(sub)
            sub = replace(sub, w=w_next, u=u_next)
            first[(first == 0) & np.isin(np.arange(rows.size), self._nonfinite_rows(w_next))] = tt
        first[first == 0] = self.t  # (not reproduced: report the check's iteration)
        j = int(np.argmin(first))
        one = xp.asarray(np.asarray([rows[j]]), device=self._dev)
        row = self.state.take(one)
        L = row.grad.smoothness()
        beta, eta = (float(to_numpy(v).reshape(-1)[0]) for v in (row.beta, row.eta))
        stable = None if L is None else 2.0 / (float(to_numpy(L).reshape(-1)[0]) + beta)
        raise DivergenceError(int(self._order[rows[j]]), int(first[j]), eta, stable)

    # -- history --------------------------------------------------------------------------------------------------
    def _metrics(self, st: TrialState) -> tuple[Array, ...]:
        xp = self._xp
        lag = relaxed_lagrangian(self._penalty, st.grad.loss(st.w), st.w, st.u, st.lam, st.beta)
        ang = population.angle(st.w, st.grad.w_star, validate=False)
        sup = xp.sum(xp.astype(st.u != 0, xp.int64), axis=-1)
        return lag, ang, sup, st.step

    def _record(self, t: int) -> None:
        self._rec_iter.append(t)
        vals = list(self._metrics(self.state))
        self._rec_vals.append(tuple(self._in_trial_order(vals, [list(r.metrics) for r in self._retired])))

    def _in_trial_order(self, active: list[Array], retired: list[list[Array]]) -> list[Array]:
        """Per-trial arrays of the active rows and the retired ones, back in the original trial order."""
        if not self._retired:
            return active
        xp = self._xp
        pos = np.concatenate([self._order] + [r.order for r in self._retired])
        inv = xp.asarray(np.argsort(pos, kind="stable"), device=self._dev)
        return [xp.take(xp.concat([v] + [r[j] for r in retired], axis=0), inv, axis=0) for j, v in enumerate(active)]

    # -- the result -----------------------------------------------------------------------------------------------
    def result(self) -> RVSMResult:
        """Final iterates, iteration counts, convergence flags, residuals, the opposite-ray flags and history, in the
        original trial order."""
        xp, st = self._xp, self.state
        if self._tol is None:
            st = replace(st, it=xp.full_like(st.it, self.t))
            self.state = st
        if self._record_every is not None and self._rec_iter[-1] != self.t:
            self._record(self.t)
        w, u, it, done, resid, opp = self._in_trial_order(
            [st.w, st.u, st.it, st.done, st.resid, on_opposite_ray(st.w, st.grad.w_star)],
            [[r.w, r.u, r.it, r.done, r.resid, r.opposite] for r in self._retired])
        history = None
        if self._record_every is not None:
            cols = list(zip(*self._rec_vals, strict=True))
            history = History(iteration=xp.asarray(np.asarray(self._rec_iter, dtype=np.int64), device=self._dev),
                              lagrangian=xp.stack(cols[0]), angle=xp.stack(cols[1]), support=xp.stack(cols[2]),
                              step=xp.stack(cols[3]))
        if not self._batched:
            w, u, it, done, resid, opp = (v[0, ...] for v in (w, u, it, done, resid, opp))
            if history is not None:
                history = History(history.iteration, *(v[:, 0] for v in (history.lagrangian, history.angle,
                                                                         history.support, history.step)))
        return RVSMResult(w=w, u=u, iterations=it, converged=done, history=history, residual=resid, opposite=opp)


def on_opposite_ray(w: Array, w_star: Array) -> Array:
    """Per row: whether ``w`` lies on the ray opposite ``w*`` within rounding (angle pi), shape (n,).

    The test is ``|w/|w| + w*/|w*|| <= sqrt(eps)`` (``eps`` of the dtype; ``w = 0`` is not on the ray). The chord
    ``|w/|w| + w*/|w*||`` equals ``2 cos(t/2) ~ pi - t`` and is computed without the cancellation of ``arccos``, whose
    angle near pi carries an error of order ``sqrt(eps)``: below that bound the reported angle is pi. On that ray the
    ReLU network's gradient coefficient ``s = (pi - t)/(k pi)`` vanishes, so a stationary point there is the critical
    point opposite ``w*`` (theory page section 2), not the predicted limit.
    """
    xp = array_api_compat.array_namespace(w)

    def direction(v: Array) -> tuple[Array, Array]:  # v/|v| without overflow (scaled by max|v_i| first); 0 for v = 0
        m = xp.max(xp.abs(v), axis=-1)
        pos = m > 0
        v = v / xp.where(pos, m, xp.ones_like(m))[:, None]
        n = xp.sqrt(xp.vecdot(v, v))
        return v / xp.where(pos, n, xp.ones_like(n))[:, None], pos

    e, pos = direction(w)
    e = e + direction(w_star)[0]
    return xp.logical_and(pos, xp.sqrt(xp.vecdot(e, e)) <= math.sqrt(xp.finfo(w.dtype).eps))


def nan_steps(xp: Any, n: int, like: Array) -> Array:
    """The ``step`` of a fresh state: NaN for every trial."""
    return xp.full((n,), math.nan, dtype=like.dtype, device=array_api_compat.device(like))
