"""The relaxed variable splitting method (RVSM), batched over trials.

One call runs B independent trials at once (teacher, start point and lam/beta/eta may differ per trial):

    u^0 = prox_{mu P}(w^0),
    w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)),       (then the model's projection, if any)
    u^{t+1} = prox_{mu P}(w^{t+1})       (or prox_{mu P}(w^t) with ``update="jacobi"``),

``mu = lam / beta``. Where the gradient comes from is a :mod:`numerics.gradients` source; stopping, compaction of
finished trials, divergence reports, history and progress live in :mod:`numerics.bookkeeping`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import array_api_compat
import numpy as np

from numerics._arrays import Array, check_positive_int, check_scalar_or_array, namespace, to_float, to_numpy
from numerics.bookkeeping import Bookkeeping, TrialState, nan_steps
from numerics.engines import choose_engine, run_engine
from numerics.gradients import GradientSource, Population
from numerics.penalties import Penalty
from numerics.problem import Problem
from numerics.results import DivergenceError, History, RVSMResult

__all__ = ["UPDATES", "DivergenceError", "History", "RVSMResult", "run"]

#: The update orders: ``"gauss-seidel"`` (u^{t+1} = prox(w^{t+1}), the default) or ``"jacobi"`` (u^{t+1} = prox(w^t),
#: the order printed in the authors' later paper). Both have the same fixed points.
UPDATES = ("gauss-seidel", "jacobi")


def run(problem: Problem, w0: Array, *, eta: Any, iters: int, tol: float | None = None,
        gradient: GradientSource | None = None, update: str = "gauss-seidel", record_every: int | None = None,
        progress: bool = False, engine: str | None = None) -> RVSMResult:
    """Run RVSM on a problem (or a batch of B problems) from the start points ``w0``.

    Parameters
    ----------
    problem : Problem
        Teacher(s), ``k``, penalty, ``lam``, ``beta``.
    w0 : array (d,) or (B, d)
        Start points; their backend, dtype and device are kept for every array of the run.
    eta : float or array (B,)
        Step size, ``eta > 0``.
    iters : int
        Maximal number of updates, ``iters >= 1``.
    tol : float, optional
        When given (``tol > 0``), a trial stops once its stationarity residual (Notes) falls below ``tol``: once
        ``|grad l(w^t) + beta (w^t - u^t)| < tol``, the gradient in ``w`` of the relaxed Lagrangian, which does not
        shrink with ``eta`` (for a normalized iteration its component tangent to the sphere).
    gradient : GradientSource, optional
        Where ``grad l`` comes from (:mod:`numerics.gradients`); default :class:`numerics.gradients.Population`,
        the closed-form population gradient of the ReLU network.
    update : {"gauss-seidel", "jacobi"}
        ``u^{t+1} = prox(w^{t+1})`` (default) or ``u^{t+1} = prox(w^t)``.
    record_every : int, optional
        Record the history every this many iterations (None: no history is kept).
    progress : bool
        Print a one-line status to stderr at most every ~2 s.
    engine : {"array", "fused", "jax"}, optional
        ``"array"`` (the default and the reference; None: the one preferred by :func:`numerics.engines.prefer`
        where it runs the problem, else ``"array"``): array-API code on the backend of ``w0``. ``"fused"``: a
        compiled CPU kernel (numba, the ``fused`` extra; NumPy arrays, the gradients
        :class:`numerics.gradients.Population` and
        :class:`numerics.gradients.ExpectedCoarse`). ``"jax"``: the same update under ``jax.jit`` with the loop in
        ``lax.while_loop`` (the ``jax`` extra; NumPy or JAX arrays, CPU or GPU). Same results to rounding
        (:mod:`numerics.engines`).

    Returns
    -------
    RVSMResult
        ``w``, ``u`` (the sparse output), ``iterations``, ``converged`` (stationary: residual below ``tol``),
        ``residual``, ``opposite`` (ended on the ray opposite ``w*``: a critical point that is not the predicted
        limit) and the ``history``; without a batch axis when neither the problem nor ``w0`` nor ``eta`` has one.

    Raises
    ------
    ValueError
        On an invalid option (named in the message with its allowed range) or batch sizes that disagree.
    numerics.engines.EngineUnavailableError
        ``engine="fused"`` without numba or ``engine="jax"`` without JAX (the message names the extra).
    DivergenceError
        When an iterate becomes non-finite (names the trial, the iteration and the stable step 2/(L + beta)).

    Notes
    -----
    The update (theory page section 4), ``mu = lam / beta``::

        w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)),   u^{t+1} = prox_{mu P}(w^{t+1}).

    Where ``lam = 0``, ``u^t = w^t`` exactly (plain gradient descent on ``l``). Trials of a batch are independent: a
    batched run performs the same floating-point operations per trial as separate runs.

    Stationarity measure (what ``tol`` bounds and ``RVSMResult.residual`` reports), from the step the loop takes
    anyway (no extra gradient, one (B, d) pass per iteration)::

        r_t = |w^{t+1} - w^t| / eta = |grad l(w^t) + beta (w^t - u^t)|.

    It is the fixed-point residual of the iteration: zero exactly at a fixed point (``grad l(w) + beta (w - u) = 0``
    with ``u = prox(w)``), and independent of ``eta``, unlike the step itself (a bound on the step stops a run with a
    tiny ``eta`` after one update, far from any fixed point). Where the model's iteration is normalized
    (``w <- v/|v|`` with ``v = w - eta G``, ``G = grad l(w) + beta (w - u)``, ``|w| = 1``) the measure is
    ``r_t = |v| |w^{t+1} - w^t| / eta = |v - |v| w| / eta``: at least the tangential component
    ``|G - (G.w) w|`` (the stationarity on the sphere), equal to it to first order, and zero exactly when
    ``w^{t+1} = w^t`` (it does not vanish where ``v`` points opposite ``w``). Rounding bounds it below by about
    ``eps |w| / eta``: choose ``tol`` above that.

    A stationary point need not be the predicted limit: for the ReLU network the ray opposite ``w*`` (angle pi)
    holds a critical point (there ``s = 0``: the gradient no longer sees ``w*``; a degenerate saddle for ``d >= 2``,
    a spurious local minimum for ``d = 1``, where every start at angle pi stays there). ``RVSMResult.opposite``
    flags trials that end there.
    """
    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a numerics.Problem; got {type(problem).__name__}")
    iters = check_positive_int("iters", iters)
    tol = _check_tol(tol)
    if record_every is not None:
        record_every = check_positive_int("record_every", record_every)
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False; got {progress!r}")
    gradient = Population() if gradient is None else gradient
    if not isinstance(gradient, GradientSource):
        raise ValueError(f"gradient must be a numerics.gradients source (Population(), Empirical(...), ...); got "
                         f"{gradient!r}")
    if update not in UPDATES:
        raise ValueError(f"update must be one of {', '.join(map(repr, UPDATES))}; got {update!r}")
    engine = choose_engine(engine, penalty=problem.penalty, w0=w0, gradient=gradient)
    if engine != "array":
        return run_engine(engine, lambda w: _start(problem, w, eta, gradient, update), w0=w0, update=update,
                          iters=iters, tol=tol, record_every=record_every, progress=progress,
                          penalty=problem.penalty, gradient=gradient)

    state, method, batched = _start(problem, w0, eta, gradient, update)
    book = Bookkeeping(state, method.advance, penalty=problem.penalty, iters=iters, tol=tol,
                       record_every=record_every, progress=progress, batched=batched)
    del state  # the bookkeeping holds the state from here on (one (B, d) array less at peak)
    with np.errstate(all="ignore"):
        while book.running():
            book.advance(*method.advance(book.state))
    return book.result()


@dataclass(frozen=True)
class _Method:
    """One RVSM update of the active trials, with the batch-wide decisions taken once on the host.

    ``lam_mode``: whether every trial, none or some have ``lam = 0`` (then ``u = w`` exactly); ``mu_shared`` /
    ``eb_shared``: one ``mu`` / ``eta beta`` for all trials as a 0-d array (the prox then broadcasts a scalar), or
    None for per-trial values.
    """

    xp: Any
    penalty: Penalty
    update: str
    lam_mode: str
    mu_shared: Array | None
    eb_shared: Array | None

    def advance(self, st: TrialState) -> tuple[Array, Array, Array | None]:
        """``(w^{t+1}, u^{t+1}, scale)`` from the state at ``t``; ``scale`` is the norm of the w-step before a
        normalizing projection (None without one), for the stationarity measure."""
        w_next, scale = self.w_step(st)
        return w_next, self.prox(st, w_next if self.update == "gauss-seidel" else st.w), scale

    def w_step(self, st: TrialState) -> tuple[Array, Array | None]:
        """``w - eta (grad l(w) + beta (w - u))``, followed by the gradient model's projection
        (:meth:`numerics.gradients.BoundGradient.project_with_norm`: the projected step and, for a normalizing
        projection, the norms it divided by).

        When the source gives ``grad l(w) = q w - s w*`` the update is the three (B, d) terms
        ``(1 - eta (q + beta)) w + eta s w* + eta beta u`` (also where ``lam = 0``, so that a trial computes the
        same whether or not it is batched with others).
        """
        g, w, u, eta = st.grad, st.w, st.u, st.eta
        coef = g.coefficients(w)
        if coef is None:
            return g.project_with_norm(w - eta[:, None] * (g.grad(w) + st.beta[:, None] * (w - u)))
        q, s = coef
        w_next = (1.0 - eta * (q + st.beta))[:, None] * w
        w_next += (eta * s)[:, None] * g.w_star  # in place on the fresh array: fewer (B, d) temporaries
        w_next += (st.eta_beta[:, None] if self.eb_shared is None else self.eb_shared) * u
        return g.project_with_norm(w_next)

    def prox(self, st: TrialState, w: Array) -> Array:
        """``prox_{mu P}(w)`` row by row; exactly ``w`` where ``lam = 0``."""
        if self.lam_mode == "all":
            return w
        u = self.penalty.prox_kernel(self.xp, w, st.mu[:, None] if self.mu_shared is None else self.mu_shared)
        if self.lam_mode == "mixed":
            u = self.xp.where(self.xp.expand_dims(st.lam == 0, axis=1), w, u)
        return u


def _check_tol(tol: Any) -> float | None:
    if tol is None:
        return None
    if isinstance(tol, (np.integer, np.floating)) and not isinstance(tol, np.bool_):
        tol = float(tol)
    check_scalar_or_array("tol", tol, low=0.0, low_inclusive=False, allowed="tol > 0")
    if not isinstance(tol, (int, float)):
        raise ValueError(f"tol must be a positive float (tol > 0); got {tol!r}")
    return float(tol)


def _as_weight(name: str, value: Any, xp: Any, like: Array, *, check: str | None = None) -> Array:
    """A per-trial weight on the run's backend: ``eta`` as given (validated against ``check``, e.g. ``"eta > 0"``),
    or ``lam`` / ``beta`` of the problem (already validated: a float or a NumPy (B,) array)."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=np.float64)
    if isinstance(value, (np.integer, np.floating)):
        value = float(value)
    if check is not None:
        check_scalar_or_array(name, value, low=0.0, low_inclusive=False, allowed=check)
    if isinstance(value, (int, float)) or getattr(value, "ndim", None) == 0:
        value = float(value)
    elif array_api_compat.is_numpy_array(value) and not array_api_compat.is_numpy_array(like):
        value = xp.asarray(value, dtype=like.dtype, device=array_api_compat.device(like), copy=True)
    arr = to_float(value, xp, like=like)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or have shape (B,); got shape {tuple(arr.shape)}")
    return arr


def _start_points(problem: Problem, w0: Any, gradient: GradientSource) -> tuple[Any, Array, Array]:
    """The validated start points (as the gradient source prepares them) and the teacher on their backend."""
    if not array_api_compat.is_array_api_obj(w0) or isinstance(w0, (int, float)):
        raise ValueError(f"w0 must be an array of shape (d,) or (B, d); got {type(w0).__name__}")
    xp = namespace(w0)
    w0 = to_float(w0, xp)
    if w0.ndim not in (1, 2) or int(w0.shape[-1]) != problem.d:
        raise ValueError(f"w0 must have shape (d,) or (B, d) with d = {problem.d} (the teacher's); got shape "
                         f"{tuple(w0.shape)}")
    if w0.ndim == 2 and int(w0.shape[0]) == 0:
        raise ValueError("w0 must hold at least one start point (B >= 1); got shape (0, d)")
    if not bool(xp.all(xp.isfinite(w0))):
        raise ValueError("w0 must be finite (found NaN or inf)")
    ws = problem.w_star
    if namespace(ws) is not xp:
        if not array_api_compat.is_numpy_array(ws):
            raise ValueError("the problem's w_star and w0 must be arrays of the same backend (or w_star NumPy)")
        ws = xp.asarray(ws, dtype=w0.dtype, device=array_api_compat.device(w0))
    return xp, gradient.prepare_start(w0), to_float(ws, xp, like=w0)


def _method(xp: Any, penalty: Penalty, update: str, lam: Array, mu: Array, eb: Array) -> _Method:
    """The update with the batch-wide decisions (``lam = 0`` everywhere, nowhere or mixed; shared ``mu``,
    ``eta beta``) taken once on the host."""
    lam_zero = np.asarray(to_numpy(lam == 0), dtype=bool).reshape(-1)
    lam_mode = "all" if lam_zero.all() else ("none" if not lam_zero.any() else "mixed")
    mu_host = np.asarray(to_numpy(mu), dtype=np.float64).reshape(-1)
    eb_host = np.asarray(to_numpy(eb), dtype=np.float64).reshape(-1)
    return _Method(xp, penalty, update, lam_mode, mu[0] if bool(np.all(mu_host == mu_host[0])) else None,
                   eb[0] if bool(np.all(eb_host == eb_host[0])) else None)


def _start(problem: Problem, w0: Any, eta: Any, gradient: GradientSource, update: str
           ) -> tuple[TrialState, _Method, bool]:
    """Broadcast everything to B rows on the run's backend and bind the gradient source: the state at ``t = 0``
    (``u^0 = prox(w^0)``), the update and whether the run is batched."""
    xp, w0, ws = _start_points(problem, w0, gradient)
    eta_a = _as_weight("eta", eta, xp, w0, check="eta > 0")
    lam_a, beta_a = (_as_weight(n, v, xp, w0) for n, v in (("lam", problem.lam), ("beta", problem.beta)))
    sizes = {"problem": problem.batch_size, "w0": int(w0.shape[0]) if w0.ndim == 2 else None,
             "eta": int(eta_a.shape[0]) if eta_a.ndim == 1 else None}
    given = {n: s for n, s in sizes.items() if s is not None and s != 1}
    if len(set(given.values())) > 1:
        desc = ", ".join(f"{n}: {s}" for n, s in sizes.items() if s is not None)
        raise ValueError(f"batch sizes do not match (the problem, w0 and eta must share B or have none); got {desc}")
    B, d = next(iter(given.values()), 1), problem.d

    def rows(x: Array, shape: tuple[int, ...]) -> Array:
        if x.ndim == len(shape) and tuple(x.shape) == shape:
            return x
        if x.ndim == 1 and len(shape) == 2 and int(x.shape[0]) == shape[1]:
            x = xp.expand_dims(x, axis=0)
        elif x.ndim == 0:
            x = xp.reshape(x, (1,) * len(shape))
        return xp.asarray(xp.broadcast_to(x, shape), copy=True)

    ws, w = rows(ws, (B, d)), rows(w0, (B, d))
    lam, beta, eta_v = (rows(p, (B,)) for p in (lam_a, beta_a, eta_a))
    mu, eb = lam / beta, eta_v * beta
    method = _method(xp, problem.penalty, update, lam, mu, eb)
    dev = array_api_compat.device(w)
    state = TrialState(w=w, u=w, grad=gradient.bind(ws, problem.k), lam=lam, beta=beta, eta=eta_v, mu=mu,
                       eta_beta=eb, step=nan_steps(xp, B, w), resid=nan_steps(xp, B, w),
                       it=xp.zeros((B,), dtype=xp.int64, device=dev), done=xp.zeros((B,), dtype=xp.bool, device=dev))
    return replace(state, u=method.prox(state, w)), method, any(s is not None for s in sizes.values())
