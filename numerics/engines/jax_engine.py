"""The JAX engine: the array engine's own update (the same penalty and gradient code) with the loop under ``jit``.

The update is :class:`numerics.rvsm._Method`'s ``advance`` on JAX arrays, unchanged: the population (or coarse)
gradient of :mod:`numerics.gradients` and the penalty's ``prox_kernel`` of :mod:`numerics.penalties`. What this
module adds is the loop around it, as one ``lax.while_loop`` compiled by XLA (on the CPU or a GPU), with the array
engine's bookkeeping written as masks: a trial that stopped (``tol``) or became non-finite keeps its iterate, a step
that rounded to exactly 0 is re-judged from the gradient at the housekeeping iterations, and the loop ends once every
trial has stopped. History, divergence report and result come from :mod:`numerics.engines.driver`, as for the fused
CPU engine. This is the GPU-capable fused route; CuPy and torch arrays stay on the array engine.

NumPy inputs are computed in JAX (float64 under ``jax.enable_x64``) and returned as NumPy arrays; JAX inputs give
JAX arrays on their device. A compiled loop is cached per (model, penalty, update order, stopping rule, array
shapes): a second run of the same kind does not compile again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import array_api_compat
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from numerics.bookkeeping import HOUSEKEEPING_EVERY, TrialState
from numerics.engines.driver import drive, initial_arrays
from numerics.results import History, RVSMResult

__all__ = ["run_jax"]

_CACHE: dict[Any, Any] = {}
_STATE_ROWS = ("lam", "beta", "eta", "mu", "eta_beta")


def _split(obj: Any) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A frozen dataclass's JAX-array fields (passed to the compiled loop as arguments) and the rest (its key)."""
    arrays, static = {}, []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, jax.Array):
            arrays[f.name] = v
        elif f.name != "xp":
            static.append((f.name, v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)))
    return arrays, tuple(static)


def _compiled(method: Any, bound: Any, use_tol: bool) -> Any:
    """The jitted ``segment`` for this kind of run (cached)."""
    m_arrays, m_static = _split(method)
    b_arrays, b_static = _split(bound)
    key = (type(bound).__name__, b_static, tuple(sorted(b_arrays)), m_static, tuple(sorted(m_arrays)), use_tol)
    if key in _CACHE:
        return _CACHE[key]
    normalizes = bound.project_with_norm(bound.w_star)[1] is not None
    # the cached templates keep no arrays of this run (they come in as arguments)
    bound = dataclasses.replace(bound, **dict.fromkeys(b_arrays))
    method = dataclasses.replace(method, **dict.fromkeys(m_arrays))

    def segment(arr, t0, t1, iters, tol, b_arr, m_arr, rows):
        g = dataclasses.replace(bound, **b_arr)
        meth = dataclasses.replace(method, **m_arr)

        def state(w, u):
            return TrialState(w=w, u=u, grad=g, step=arr["step"], resid=arr["resid"], it=arr["it"], done=arr["done"],
                              **rows)

        def stationarity(w, u):
            gr = g.grad(w) + rows["beta"][:, None] * (w - u)
            if normalizes:
                nw2 = jnp.vecdot(w, w)
                gr = gr - (jnp.vecdot(gr, w) / jnp.where(nw2 > 0, nw2, jnp.ones_like(nw2)))[:, None] * w
            return jnp.sqrt(jnp.vecdot(gr, gr))

        def body(c):
            t, a = c
            t = t + 1
            w_next, u_next, scale = meth.advance(state(a["w"], a["u"]))
            diff = w_next - a["w"]
            stp = jnp.sqrt(jnp.vecdot(diff, diff))
            r = stp / rows["eta"] if scale is None else scale * stp / rows["eta"]
            active = jnp.logical_not(a["done"]) & (a["bad"] == 0)
            a2 = dict(a)
            a2["w"] = jnp.where(active[:, None], w_next, a["w"])
            a2["u"] = jnp.where(active[:, None], u_next, a["u"])
            a2["step"] = jnp.where(active, stp, a["step"])
            a2["resid"] = jnp.where(active, r, a["resid"])
            a2["it"] = jnp.where(active, t, a["it"])
            nonfin = active & jnp.logical_not(jnp.all(jnp.isfinite(w_next), axis=-1))
            a2["bad"] = jnp.where(nonfin, t, a["bad"])
            if use_tol:
                ok = active & jnp.logical_not(nonfin)
                newly = ok & (r < tol) & (stp > 0)
                hk = (t % HOUSEKEEPING_EVERY == 0) | (t == iters)
                stalled = ok & (stp == 0) & hk
                r0 = lax.cond(jnp.any(stalled), lambda: stationarity(a2["w"], a2["u"]),
                              lambda: jnp.zeros_like(r))
                a2["resid"] = jnp.where(stalled, r0, a2["resid"])
                newly = newly | (stalled & (r0 < tol))
                a2["done"] = a["done"] | newly
                a2["done_at"] = jnp.where(newly, t, a["done_at"])
            return t, a2

        def cond(c):
            t, a = c
            return (t < t1) & jnp.any(jnp.logical_not(a["done"]) & (a["bad"] == 0))

        return lax.while_loop(cond, body, (t0, arr))[1]

    fn = jax.jit(segment)
    _CACHE[key] = fn
    return fn


def _to_numpy_result(res: RVSMResult) -> RVSMResult:
    h = res.history
    if h is not None:
        h = History(*(np.asarray(v) for v in (h.iteration, h.lagrangian, h.angle, h.support, h.step)))
    return RVSMResult(w=np.asarray(res.w), u=np.asarray(res.u), iterations=np.asarray(res.iterations),
                      converged=np.asarray(res.converged), residual=np.asarray(res.residual),
                      opposite=np.asarray(res.opposite), history=h)


def run_jax(start: Any, *, w0: Any, update: str, iters: int, tol: float | None, record_every: int | None,
            progress: bool, penalty: Any, gradient: Any) -> RVSMResult:
    """:func:`numerics.run` on the JAX engine (called by it with ``engine="jax"``; options validated there)."""
    from_numpy = not isinstance(w0, jax.Array)
    if from_numpy and not array_api_compat.is_numpy_array(w0):
        raise ValueError(f"engine='jax' takes NumPy or JAX arrays (w0 is {type(w0).__module__}."
                         f"{type(w0).__name__}); use engine='array' for other backends")
    with jax.enable_x64(True):  # float64 NumPy inputs stay float64; the loop's counters are int64
        if from_numpy:
            w0 = jnp.asarray(w0)
        st, method, batched = start(w0)
        fn = _compiled(method, st.grad, tol is not None)
        b_arr = _split(st.grad)[0]
        m_arr = _split(method)[0]
        rows = {n: getattr(st, n) for n in _STATE_ROWS}
        tol_a = jnp.asarray(0.0 if tol is None else tol, dtype=st.w.dtype)

        def segment(arr: dict[str, Any], t0: int, t1: int) -> dict[str, Any]:
            i64 = jnp.int64
            return fn(arr, jnp.asarray(t0, dtype=i64), jnp.asarray(t1, dtype=i64), jnp.asarray(iters, dtype=i64),
                      tol_a, b_arr, m_arr, rows)

        res = drive(segment, st, initial_arrays(jnp, st), xp=jnp, penalty=penalty, iters=iters, tol=tol,
                    record_every=record_every, progress=progress, batched=batched)
    return _to_numpy_result(res) if from_numpy else res
