"""The fused engine: one compiled loop per trial, over all its iterations, trials in parallel (numba).

The array engine makes ~11 passes over the (B, d) state per iteration; here a trial's state (``w``, ``u``, ``w*``:
3 d numbers) stays in registers and L1 for its whole trajectory and the trials run in parallel (``numba.prange``),
so the work is bound by the floating-point rate, not by memory.

Same iteration as :func:`numerics.run` (the array engine is the reference, and the tests hold this engine to it):
the population gradient of the ReLU network (:class:`numerics.gradients.Population`) or the binarized network's
expected coarse gradient (:class:`numerics.gradients.ExpectedCoarse`, either STE, with or without normalization),
penalties l1, l0, TL1, per-trial ``lam``, ``beta``, ``eta``, both update orders, ``tol`` with per-trial stop, the
divergence report and the history (:mod:`numerics.engines.driver`). float32 and float64.

numba compiles scalar loops, so the prox appears here a second time, in scalar form (``_prox_l1``, ``_prox_l0``,
``_prox_tl1``): :mod:`numerics.penalties` is the reference, and ``tests/test_numerics_fused.py`` holds these to it
(to rounding) on both sides of every threshold, in both TL1 regimes. The arithmetic follows the array engine's
expression by expression (no fast-math, no reassociation), so the two engines differ only by the order of the
three dot products' sums.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from numerics import gradients, penalties
from numerics._arrays import to_numpy
from numerics.bookkeeping import HOUSEKEEPING_EVERY, TrialState
from numerics.engines.driver import drive, initial_arrays
from numerics.results import RVSMResult

__all__ = ["MODELS", "PENALTY_CODES", "prox_scalar", "run_fused"]

_PI = math.pi
#: Model codes of the kernel: the ReLU population gradient, the expected coarse gradient (ReLU / identity STE).
MODELS = {"population": 0, "coarse-relu": 1, "coarse-identity": 2}
#: Penalty codes of the kernel.
PENALTY_CODES = {"l1": 0, "l0": 1, "tl1": 2}


# ----------------------------------------------------------------------------------------------------------------------
# Scalar proxes (reference: numerics.penalties)
# ----------------------------------------------------------------------------------------------------------------------
@numba.njit(inline="always")
def _prox_l1(x, mu):  # pragma: no cover - compiled
    """``x - clip(x, -mu, mu)`` (:meth:`numerics.penalties.L1.prox_kernel`): 0 on the tie, NaN stays NaN."""
    c = mu if x > mu else x  # two selects, no branch (mu >= 0: at most one applies), so that loops vectorize
    c = -mu if x < -mu else c
    return x - c


@numba.njit(inline="always")
def _threshold(pen, mu, a):  # pragma: no cover - compiled
    """The prox's threshold (constant along a trial: computed once per trial, not per entry):
    :func:`numerics.penalties.l1_threshold`, :func:`numerics.penalties.l0_threshold`,
    :func:`numerics.penalties.tl1_threshold`."""
    if pen == 0:
        return mu
    if pen == 1:
        return math.sqrt(2.0 * mu)
    if mu <= a * a / (2.0 * (a + 1.0)):
        return mu * ((a + 1.0) / a)
    return math.sqrt(2.0 * mu * (a + 1.0)) - a / 2.0


@numba.njit(inline="always")
def _prox_l0(x, thr):  # pragma: no cover - compiled
    """``x * 1{|x| > sqrt(2 mu)}`` (:meth:`numerics.penalties.L0.prox_kernel`), ``thr = sqrt(2 mu)``."""
    return x * (1.0 if abs(x) > thr else 0.0)


@numba.njit(inline="always")
def _prox_tl1(x, mu, a, thr):  # pragma: no cover - compiled
    """``where(|x| > threshold, shrink, 0)`` with ``thr`` from :func:`numerics.penalties.tl1_threshold` and the
    cancellation-free :func:`numerics.penalties.tl1_shrink`, expression by expression."""
    ax = abs(x)
    if ax <= thr:  # a NaN x fails the test and stays NaN below, as in the array form
        return 0.0 * x
    if mu == 0.0:
        return x
    z = a + ax
    d0 = mu * (a / z) * ((a + 1.0) / z)
    u = min(math.sqrt(6.75 * d0) / math.sqrt(z), 1.0)
    ratio = math.sin(math.asin(u) / 3.0) / (u if u > 0.0 else 1.0)
    mag = ax - (9.0 * d0) * (ratio * ratio)
    if mag < 0.0:
        mag = 0.0
    if x > 0.0:
        return mag
    if x < 0.0:
        return -mag
    return x * mag  # x = 0 (only reachable at thr < 0, which does not happen) or NaN


@numba.njit
def _prox(pen, x, mu, a):  # pragma: no cover - compiled
    thr = _threshold(pen, mu, a)
    if pen == 0:
        return _prox_l1(x, mu)
    if pen == 1:
        return _prox_l0(x, thr)
    return _prox_tl1(x, mu, a, thr)


@numba.njit
def _prox_vec(pen, x, mu, a):  # pragma: no cover - compiled
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _prox(pen, x[i], mu[i], a)
    return out


def prox_scalar(penalty: penalties.Penalty, x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """The kernel's scalar prox applied entrywise to 1-d ``x`` with entrywise ``mu`` (for the tests: the reference
    is ``penalty.prox``)."""
    code, a = _penalty_code(penalty)
    x = np.ascontiguousarray(x)
    return _prox_vec(code, x, np.ascontiguousarray(np.broadcast_to(np.asarray(mu, dtype=x.dtype), x.shape)), a)


# ----------------------------------------------------------------------------------------------------------------------
# The kernel
# ----------------------------------------------------------------------------------------------------------------------
# The three dot products of an iteration are summed in 8 independent partial sums (combined pairwise): a single
# running sum is a chain of d dependent additions, which bounds the kernel by the adder's latency (4 cycles each);
# 8 chains keep the adders busy and let the compiler pack them into vector registers without reassociating anything
# (fast-math stays off). The order differs from NumPy's (which also sums in blocks), by rounding only.
@numba.njit(inline="always")
def _dot(x, y):  # pragma: no cover - compiled
    d = x.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = d - d % 8
    for i in range(0, m, 8):
        s0 += x[i] * y[i]
        s1 += x[i + 1] * y[i + 1]
        s2 += x[i + 2] * y[i + 2]
        s3 += x[i + 3] * y[i + 3]
        s4 += x[i + 4] * y[i + 4]
        s5 += x[i + 5] * y[i + 5]
        s6 += x[i + 6] * y[i + 6]
        s7 += x[i + 7] * y[i + 7]
    for i in range(m, d):
        s0 += x[i] * y[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit(inline="always")
def _axpy_norm2(f, y, x):  # pragma: no cover - compiled
    """``|f y - x|^2`` (8 partial sums, as :func:`_dot`)."""
    d = x.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    m = d - d % 8
    for i in range(0, m, 8):
        r0 = f * y[i] - x[i]
        r1 = f * y[i + 1] - x[i + 1]
        r2 = f * y[i + 2] - x[i + 2]
        r3 = f * y[i + 3] - x[i + 3]
        r4 = f * y[i + 4] - x[i + 4]
        r5 = f * y[i + 5] - x[i + 5]
        r6 = f * y[i + 6] - x[i + 6]
        r7 = f * y[i + 7] - x[i + 7]
        s0 += r0 * r0
        s1 += r1 * r1
        s2 += r2 * r2
        s3 += r3 * r3
        s4 += r4 * r4
        s5 += r5 * r5
        s6 += r6 * r6
        s7 += r7 * r7
    for i in range(m, d):
        r0 = f * y[i] - x[i]
        s0 += r0 * r0
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@numba.njit
def _coefficients(model, w, ws, ns2, ns, k, c):  # pragma: no cover - compiled
    """``(q, s)`` with ``grad l(w) = q w - s w*``: :func:`numerics.population.coefficients_batch` (model 0) or the
    expected coarse gradient's (:class:`numerics.gradients.ExpectedCoarse`), one trial, in the same order."""
    if model == 0:
        p = _dot(w, ws)
        f = p / ns2
        nr2 = _axpy_norm2(f, ws, w)  # |r|^2, r = (p/|w*|^2) w* - w
        nr = math.sqrt(nr2)
        nw2 = p * p / ns2 + nr2
        t = math.atan2(nr * ns, p)
        kk = float(k * k - k)
        c0 = (k + kk / _PI) / float(k * k)
        if nw2 != 0.0:  # NaN passes, as in the array form
            nw = math.sqrt(nw2)
            q = c0 - (k * nr / nw + kk) * ns / (_PI * nw) / float(k * k)
            s = (_PI - t) / (k * _PI)
        else:
            q = 0.0
            s = c0
        return q, s
    nw = math.sqrt(_dot(w, w))
    if nw > 0.0:
        return c / nw, c / ns
    return 0.0, (0.0 if model == 1 else c / ns)


@numba.njit
def _update(model, normalize, pen, a, jacobi, lam0, w, u, ws, ns2, ns, k, c, eta, beta, mu, eb,
            wn, un):  # pragma: no cover - compiled
    """One RVSM update of one trial into ``wn``, ``un``; returns ``|wn - w|`` and the residual's factor."""
    d = w.shape[0]
    q, s = _coefficients(model, w, ws, ns2, ns, k, c)
    a1 = 1.0 - eta * (q + beta)
    a2 = eta * s
    for i in range(d):
        v = a1 * w[i]
        v += a2 * ws[i]
        v += eb * u[i]
        wn[i] = v
    scale = 1.0
    if normalize:
        nn = math.sqrt(_dot(wn, wn))
        scale = nn
        if nn > 0.0:
            for i in range(d):
                wn[i] = wn[i] / nn
    src = w if jacobi else wn
    if lam0:  # the branches hoisted out of the loops, so that each loop is one simple body
        for i in range(d):
            un[i] = src[i]
    elif pen == 0:
        for i in range(d):
            un[i] = _prox_l1(src[i], mu)
    elif pen == 1:
        thr = _threshold(pen, mu, a)
        for i in range(d):
            un[i] = _prox_l0(src[i], thr)
    else:
        thr = _threshold(pen, mu, a)
        for i in range(d):
            un[i] = _prox_tl1(src[i], mu, a, thr)
    return math.sqrt(_axpy_norm2(1.0, wn, w)), scale  # |wn - w| (1.0 * wn is wn exactly)


@numba.njit
def _stationarity(model, normalize, w, u, ws, ns2, ns, k, c, beta):  # pragma: no cover - compiled
    """``|grad l(w) + beta (w - u)|`` (tangential part for a normalized iteration), as the array engine recomputes
    it for a step that rounded to 0."""
    d = w.shape[0]
    q, s = _coefficients(model, w, ws, ns2, ns, k, c)
    g = np.empty(d, dtype=w.dtype)
    for i in range(d):
        g[i] = (q * w[i] - s * ws[i]) + beta * (w[i] - u[i])
    if normalize:
        gw = 0.0
        nw2 = 0.0
        for i in range(d):
            gw += g[i] * w[i]
            nw2 += w[i] * w[i]
        f = gw / (nw2 if nw2 > 0.0 else 1.0)
        for i in range(d):
            g[i] = g[i] - f * w[i]
    r2 = 0.0
    for i in range(d):
        r2 += g[i] * g[i]
    return math.sqrt(r2)


@numba.njit(parallel=True)
def _segment(model, normalize, pen, a, jacobi, k, c, ws, ns2, ns, eta, beta, mu, eb, lam0, w, u, step, resid, it,
             done, done_at, bad, t0, t1, iters, use_tol, tol):  # pragma: no cover - compiled
    """Advance every trial from iteration ``t0`` to ``t1`` in place (see :mod:`numerics.engines.driver`)."""
    B, d = w.shape
    for b in prange(B):
        if done[b] or bad[b] > 0:
            continue
        wb, ub, wsb = w[b], u[b], ws[b]
        wn = np.empty(d, dtype=w.dtype)
        un = np.empty(d, dtype=w.dtype)
        for t in range(t0 + 1, t1 + 1):
            stp, scale = _update(model, normalize, pen, a, jacobi, lam0[b], wb, ub, wsb, ns2[b], ns[b], k, c,
                                 eta[b], beta[b], mu[b], eb[b], wn, un)
            r = stp / eta[b] if not normalize else scale * stp / eta[b]
            for i in range(d):
                wb[i] = wn[i]
                ub[i] = un[i]
            finite = True
            if not math.isfinite(stp):  # a non-finite entry makes the step non-finite (the converse is rare: check)
                for i in range(d):
                    if not math.isfinite(wn[i]):
                        finite = False
            step[b] = stp
            resid[b] = r
            it[b] = t
            if not finite:
                bad[b] = t
                break
            if use_tol:
                if r < tol and stp > 0.0:
                    done[b] = True
                    done_at[b] = t
                    break
                if stp == 0.0 and (t % HOUSEKEEPING_EVERY == 0 or t == iters):
                    r0 = _stationarity(model, normalize, wb, ub, wsb, ns2[b], ns[b], k, c, beta[b])
                    resid[b] = r0
                    if r0 < tol:
                        done[b] = True
                        done_at[b] = t
                        break


# ----------------------------------------------------------------------------------------------------------------------
# The population kernel: G trials in lockstep, two passes over d per iteration
# ----------------------------------------------------------------------------------------------------------------------
#: Trials advanced together by one work item of the population kernel. One trial's iteration is a chain of dependent
#: scalar operations (divisions, square roots, atan2: ~75 ns of latency at any d); with G independent chains
#: interleaved the core overlaps them.
GROUP = 4


def _round_like(x, arr):  # pragma: no cover - replaced by the overload
    return x


@overload(_round_like, inline="always")
def _round_like_ol(x, arr):  # pragma: no cover - compiled
    """``x`` rounded to ``arr``'s dtype, as storing it into ``arr`` rounds it."""
    if arr.dtype == types.float32:
        return lambda x, arr: np.float32(x)
    return lambda x, arr: x


@numba.njit(inline="always")
def _lane(pen, jacobi, lam0, wi, ui, wsi, a1, a2, eb, mu, a, thr, like):  # pragma: no cover - compiled
    """Entry ``i`` of one update from ``w_i``, ``u_i``, ``w*_i``: ``(wn_i, un_i, (wn_i - w_i)^2, wn_i w*_i)``. No loads
    or stores, so that the caller loads a block of entries first and stores it last (the vectorizer bundles them)."""
    v = a1 * wi
    v += a2 * wsi
    v += eb * ui
    v = _round_like(v, like)  # the stored value (float32 rounds here)
    src = wi if jacobi else v
    if pen == 0:
        x = _prox_l1(src, mu)
    elif pen == 1:
        x = _prox_l0(src, thr)
    else:  # TL1: a loop of its own after this one (its branches and asin / sin keep a loop scalar)
        x = src
    x = src if lam0 else x
    r = v - wi  # 1.0 * wn - w of the step's norm, exactly
    return v, x, r * r, v * wsi


@numba.njit(inline="always")
def _fused_update(pen, jacobi, lam0, wc, uc, wn, un, ws, a1, a2, eb, mu, a, thr):  # pragma: no cover - compiled
    """One update of one trial in a single pass over d; returns ``(|wn - wc|^2, wn . ws)``, each in 8 partial sums
    combined as :func:`_dot` and :func:`_axpy_norm2` do (the same values, bit for bit)."""
    d = wc.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    p0 = p1 = p2 = p3 = p4 = p5 = p6 = p7 = 0.0
    m = d - d % 8
    for i in range(0, m, 8):
        v0, x0, r0, q0 = _lane(pen, jacobi, lam0, wc[i + 0], uc[i + 0], ws[i + 0], a1, a2, eb, mu, a, thr, wc)
        v1, x1, r1, q1 = _lane(pen, jacobi, lam0, wc[i + 1], uc[i + 1], ws[i + 1], a1, a2, eb, mu, a, thr, wc)
        v2, x2, r2, q2 = _lane(pen, jacobi, lam0, wc[i + 2], uc[i + 2], ws[i + 2], a1, a2, eb, mu, a, thr, wc)
        v3, x3, r3, q3 = _lane(pen, jacobi, lam0, wc[i + 3], uc[i + 3], ws[i + 3], a1, a2, eb, mu, a, thr, wc)
        v4, x4, r4, q4 = _lane(pen, jacobi, lam0, wc[i + 4], uc[i + 4], ws[i + 4], a1, a2, eb, mu, a, thr, wc)
        v5, x5, r5, q5 = _lane(pen, jacobi, lam0, wc[i + 5], uc[i + 5], ws[i + 5], a1, a2, eb, mu, a, thr, wc)
        v6, x6, r6, q6 = _lane(pen, jacobi, lam0, wc[i + 6], uc[i + 6], ws[i + 6], a1, a2, eb, mu, a, thr, wc)
        v7, x7, r7, q7 = _lane(pen, jacobi, lam0, wc[i + 7], uc[i + 7], ws[i + 7], a1, a2, eb, mu, a, thr, wc)
        wn[i + 0] = v0
        un[i + 0] = x0
        wn[i + 1] = v1
        un[i + 1] = x1
        wn[i + 2] = v2
        un[i + 2] = x2
        wn[i + 3] = v3
        un[i + 3] = x3
        wn[i + 4] = v4
        un[i + 4] = x4
        wn[i + 5] = v5
        un[i + 5] = x5
        wn[i + 6] = v6
        un[i + 6] = x6
        wn[i + 7] = v7
        un[i + 7] = x7
        s0 += r0
        p0 += q0
        s1 += r1
        p1 += q1
        s2 += r2
        p2 += q2
        s3 += r3
        p3 += q3
        s4 += r4
        p4 += q4
        s5 += r5
        p5 += q5
        s6 += r6
        p6 += q6
        s7 += r7
        p7 += q7
    for i in range(m, d):
        v0, x0, r0, q0 = _lane(pen, jacobi, lam0, wc[i], uc[i], ws[i], a1, a2, eb, mu, a, thr, wc)
        wn[i] = v0
        un[i] = x0
        s0 += r0
        p0 += q0
    return (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)),
            ((p0 + p1) + (p2 + p3)) + ((p4 + p5) + (p6 + p7)))


@contextlib.contextmanager
def _slp_vectorize() -> Any:
    """numba's LLVM pipeline with the SLP vectorizer (off by default; read at each compilation): it packs the
    kernel's 8 partial sums and unrolled entries into vector instructions. It reorders nothing (no fast-math), so
    the results are the same, bit for bit."""
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


_POP_KERNELS: dict[tuple[int, bool], Any] = {}


def _population_kernel(pen: int, jacobi: bool) -> Any:
    """The population kernel for one penalty and update order (compile-time constants: the prox's branches fold)."""
    key = (pen, jacobi)
    if key in _POP_KERNELS:
        return _POP_KERNELS[key]
    G = GROUP

    @numba.njit(parallel=True, error_model="numpy")
    def kernel(a, k, ws, ns2, ns, eta, beta, mu, eb, lam0, w, u, step, resid, it, done, done_at, bad, t0, t1,
               iters, use_tol, tol):  # pragma: no cover - compiled
        """:func:`_segment` for the population gradient, without normalization: ``G`` trials per work item, in
        lockstep; ``w``, ``u`` ping-pong between two buffers; per iteration one pass for ``|r|^2`` and one for the
        update, the prox, the step's norm and the next ``w . w*``."""
        B, d = w.shape
        kk = float(k * k - k)
        c0 = (k + kk / _PI) / float(k * k)
        ngroups = (B + G - 1) // G
        for grp in prange(ngroups):
            b0 = grp * G
            nb = min(G, B - b0)
            wA = np.empty((G, d), dtype=w.dtype)
            uA = np.empty((G, d), dtype=w.dtype)
            wB = np.empty((G, d), dtype=w.dtype)
            uB = np.empty((G, d), dtype=w.dtype)
            act = np.zeros(G, dtype=np.bool_)
            p = np.zeros(G)
            a1 = np.zeros(G)
            a2 = np.zeros(G)
            thr = np.zeros(G)
            s2 = np.zeros(G)
            nact = 0
            for g in range(nb):
                b = b0 + g
                if done[b] or bad[b] > 0:
                    continue
                act[g] = True
                nact += 1
                for i in range(d):
                    wA[g, i] = w[b, i]
                    uA[g, i] = u[b, i]
                p[g] = _dot(wA[g], ws[b])
                thr[g] = _threshold(pen, mu[b], a)
            wc, uc, wn, un = wA, uA, wB, uB
            t = t0
            while t < t1 and nact > 0:
                t += 1
                for g in range(nb):  # the coefficients (numerics.population.coefficients_batch), G chains
                    if not act[g]:
                        continue
                    b = b0 + g
                    pg = p[g]
                    f = pg / ns2[b]
                    nr2 = _axpy_norm2(f, ws[b], wc[g])
                    nr = math.sqrt(nr2)
                    nw2 = pg * pg / ns2[b] + nr2
                    th = math.atan2(nr * ns[b], pg)
                    if nw2 != 0.0:  # NaN passes, as in the array form
                        nw = math.sqrt(nw2)
                        q = c0 - (k * nr / nw + kk) * ns[b] / (_PI * nw) / float(k * k)
                        s = (_PI - th) / (k * _PI)
                    else:
                        q = 0.0
                        s = c0
                    a1[g] = 1.0 - eta[b] * (q + beta[b])
                    a2[g] = eta[b] * s
                for g in range(nb):  # the update: one pass
                    if not act[g]:
                        continue
                    b = b0 + g
                    s2[g], p[g] = _fused_update(pen, jacobi, lam0[b], wc[g], uc[g], wn[g], un[g], ws[b], a1[g],
                                                a2[g], eb[b], mu[b], a, thr[g])
                    if pen == 2 and not lam0[b]:
                        ung = un[g]
                        for i in range(d):
                            ung[i] = _prox_tl1(ung[i], mu[b], a, thr[g])
                wc, uc, wn, un = wn, un, wc, uc
                for g in range(nb):  # the per-trial bookkeeping of numerics.bookkeeping
                    if not act[g]:
                        continue
                    b = b0 + g
                    stp = math.sqrt(s2[g])
                    r = stp / eta[b]
                    finite = True
                    if not math.isfinite(stp):  # a non-finite entry makes the step non-finite (the converse is
                        for i in range(d):      # rare: check)
                            if not math.isfinite(wc[g, i]):
                                finite = False
                    step[b] = stp
                    resid[b] = r
                    it[b] = t
                    stop = False
                    if not finite:
                        bad[b] = t
                        stop = True
                    elif use_tol:
                        if r < tol and stp > 0.0:
                            done[b] = True
                            done_at[b] = t
                            stop = True
                        elif stp == 0.0 and (t % HOUSEKEEPING_EVERY == 0 or t == iters):
                            r0 = _stationarity(0, False, wc[g], uc[g], ws[b], ns2[b], ns[b], k, 0.0, beta[b])
                            resid[b] = r0
                            if r0 < tol:
                                done[b] = True
                                done_at[b] = t
                                stop = True
                    if stop:
                        act[g] = False
                        nact -= 1
                        for i in range(d):
                            w[b, i] = wc[g, i]
                            u[b, i] = uc[g, i]
            for g in range(nb):
                if act[g]:
                    b = b0 + g
                    for i in range(d):
                        w[b, i] = wc[g, i]
                        u[b, i] = uc[g, i]

    _POP_KERNELS[key] = kernel
    return kernel


# ----------------------------------------------------------------------------------------------------------------------
# Host side
# ----------------------------------------------------------------------------------------------------------------------
def _penalty_code(penalty: penalties.Penalty) -> tuple[int, float]:
    """The kernel's code of a built-in penalty (and TL1's ``a``); a user-defined penalty has no scalar form."""
    for cls, name in ((penalties.L1, "l1"), (penalties.L0, "l0"), (penalties.TL1, "tl1")):
        if type(penalty) is cls:
            return PENALTY_CODES[name], float(getattr(penalty, "a", 0.0))
    raise ValueError(f"engine='fused' supports the penalties l1, l0 and tl1; got {penalty!r} (use engine='array')")


def _model(bound: Any) -> tuple[int, bool, float, np.ndarray, np.ndarray]:
    """``(model code, normalize, c, |w*|^2, |w*|)`` of a bound gradient source, from the source's own arrays."""
    if isinstance(bound, gradients._BoundPopulation):
        return MODELS["population"], False, 0.0, bound.ns2, bound.ns
    if isinstance(bound, gradients._BoundExpectedCoarse):
        return MODELS["coarse-" + bound.ste], bound.normalize, float(bound.c), bound.ns * bound.ns, bound.ns
    raise ValueError("engine='fused' supports the gradients Population() and ExpectedCoarse(...); sampled gradients "
                     "(Empirical, SampledCoarse) run on engine='array' (their matrix products are BLAS-bound)")


def run_fused(start: Any, *, w0: Any, update: str, iters: int, tol: float | None, record_every: int | None,
              progress: bool, penalty: penalties.Penalty, gradient: Any) -> RVSMResult:
    """:func:`numerics.run` on the fused engine (called by it with ``engine="fused"``; options validated there)."""
    if not isinstance(w0, np.ndarray):
        raise ValueError(f"engine='fused' takes NumPy arrays (w0 is {type(w0).__module__}.{type(w0).__name__}); "
                         "use engine='array' (any backend) or engine='jax'")
    if not isinstance(gradient, (gradients.Population, gradients.ExpectedCoarse)):
        _model(None)
    code, a = _penalty_code(penalty)
    st, _method, batched = start(w0)
    st = _contiguous(st)
    model, normalize, c, ns2, ns = _model(st.grad)
    dt = st.w.dtype
    # fresh writable C arrays: a read-only one (the problem's teacher is) would be another numba signature, compiled
    # again
    lam0 = np.array(to_numpy(st.lam) == 0, order="C")
    ws = np.array(st.grad.w_star, dtype=dt, order="C")
    par = [np.array(np.broadcast_to(v, (st.w.shape[0],)), dtype=dt, order="C")
           for v in (ns2, ns, st.eta, st.beta, st.mu, st.eta_beta)]
    k = int(st.grad.k)
    jacobi = update == "jacobi"

    if model == MODELS["population"] and not normalize:
        kernel = _population_kernel(code, jacobi)

        def segment(arr: dict[str, np.ndarray], t0: int, t1: int) -> dict[str, np.ndarray]:
            with _slp_vectorize():  # compiled (at the first call of a signature) with the SLP vectorizer
                kernel(a, k, ws, par[0], par[1], par[2], par[3], par[4], par[5], lam0, arr["w"], arr["u"],
                       arr["step"], arr["resid"], arr["it"], arr["done"], arr["done_at"], arr["bad"], t0, t1, iters,
                       tol is not None, 0.0 if tol is None else tol)
            return arr

        return _drive(segment, st, iters=iters, tol=tol, record_every=record_every, progress=progress,
                      penalty=penalty, batched=batched)

    def segment(arr: dict[str, np.ndarray], t0: int, t1: int) -> dict[str, np.ndarray]:
        _segment(model, normalize, code, a, jacobi, k, c, ws, par[0], par[1], par[2], par[3], par[4], par[5], lam0,
                 arr["w"], arr["u"], arr["step"], arr["resid"], arr["it"], arr["done"], arr["done_at"], arr["bad"],
                 t0, t1, iters, tol is not None, 0.0 if tol is None else tol)
        return arr

    return _drive(segment, st, iters=iters, tol=tol, record_every=record_every, progress=progress, penalty=penalty,
                  batched=batched)


def _drive(segment: Any, st: TrialState, *, iters: int, tol: float | None, record_every: int | None, progress: bool,
           penalty: penalties.Penalty, batched: bool) -> RVSMResult:
    arr = initial_arrays(np, st)
    with np.errstate(all="ignore"):
        return drive(segment, st, arr, xp=np, penalty=penalty, iters=iters, tol=tol, record_every=record_every,
                     progress=progress, batched=batched)


def _contiguous(st: TrialState) -> TrialState:
    from dataclasses import replace

    return replace(st, w=np.ascontiguousarray(st.w), u=np.ascontiguousarray(st.u))
