"""Rows for the fused engines (numba on the CPU, JAX under ``jit``) beside the array engine, and W1's roofline.

The roofline compares a time per trial-iteration with the machine's floating-point rate: :func:`w1_flops` counts
the floating-point operations one trial-iteration of population RVSM needs (the algorithm's, not any engine's
overhead), :func:`fp_rate` measures the rate with a small compiled loop of independent fused multiply-adds on every
core (numba, fast-math so that it may vectorize and contract), and a row's limit value is
``flops / time / rate``: the fraction of the machine's floating-point rate the engine reaches (1 = at the limit).

The rows run on the same teachers and start points as W1 (and W2 for JAX); each is compared with the NumPy array
engine on the first trials (``max_abs_diff``). A row whose engine is not installed says so instead of failing.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.backends import Backend
from benchmarks.timing import measure
from benchmarks.workloads import Config, Row, problem

__all__ = ["FUSED", "JAX", "flops_by_case", "fp_rate", "roofline_notes", "run_w1_engines", "run_w2_jax", "scaling_rows",
           "w1_flops"]

FUSED = "fused engine (numba)"
JAX = "jax engine (jit while_loop)"
FP_LIMIT = "fraction of FP rate"
#: Trials compared with the array engine per row.
COMPARE_TRIALS = 64


def w1_flops(d: int, penalty: str, kept: float) -> float:
    """Floating-point operations of one trial-iteration of population RVSM (``engine="fused"``'s arithmetic).

    Parameters
    ----------
    d : int
        Dimension.
    penalty : {"l1", "l0", "tl1"}
    kept : float
        Average number of coordinates above the prox's threshold (only TL1's cost depends on it).

    Notes
    -----
    Counted from the kernel (:mod:`numerics.engines.fused`), one operation per add, multiply, divide, square root,
    comparison-free select excluded, a transcendental call (``atan2``, ``sin``, ``asin``) counted as one:

    * coefficients ``(q, s)``: ``p = w . w*`` (2d), ``|r|^2`` with ``r = (p/|w*|^2) w* - w`` (4d), then 20 scalar
      operations (``f``, ``|r|``, ``|w|^2``, ``atan2``, ``|w|``, ``q``: 9, ``s``: 3, the two step factors: 3);
    * ``w^{t+1} = a1 w + a2 w* + eta beta u``: 5d;
    * the step ``|w^{t+1} - w^t|``: 4d + 1, the residual ``/ eta``: 1;
    * prox: l1 ``x - clip(x, -mu, mu)``: d; l0 ``x * 1{|x| > sqrt(2 mu)}``: d + 2; TL1: the threshold (4 per
      coordinate, the kernel evaluates it per entry) and, per kept coordinate, 19 (``z``, ``d0``: 5, ``u``: 4 with
      two square roots, ``asin``, ``/3``, ``sin``, the ratio: 4, ``mag``: 4).
    """
    base = 2 * d + 4 * d + 20 + 5 * d + 4 * d + 2
    if penalty == "l1":
        return float(base + d)
    if penalty == "l0":
        return float(base + d + 2)
    if penalty == "tl1":
        return float(base + 4 * d + 19 * kept)
    raise ValueError(f"penalty must be 'l1', 'l0' or 'tl1'; got {penalty!r}")


def fp_rate(seconds: float = 0.5) -> dict[str, float]:
    """The machine's float64 rate (flop/s) on every core numba uses, and on one, from a compiled FMA loop.

    Each thread updates an array of 64 accumulators in L1, ``a = a x + y`` (an FMA: 2 flops), ``reps`` times; fast-math
    lets the compiler vectorize and contract them (seen on an AMD EPYC znver4: packed ``vfmadd`` on zmm registers,
    12.8 GFLOP/s per core; the same loop over 32 scalars stayed scalar at about half that). It is the rate of a
    simple compiled loop over L1 data, the kind of loop the fused kernel is, not the register-only peak of the
    core. Best of 3 after a warm-up (which compiles). Returns ``{"all cores": rate, "one core": rate,
    "threads": n}``; empty where numba is not installed.
    """
    if importlib.util.find_spec("numba") is None:
        return {}
    import numba

    kernel = _fma_kernel(numba)
    n_threads = numba.get_num_threads()
    out = {"threads": float(n_threads)}
    for label, p in (("all cores", n_threads), ("one core", 1)):
        kernel(p, 10)
        reps = 1000
        while True:  # size the loop to about `seconds`
            t0 = time.perf_counter()
            kernel(p, reps)
            dt = time.perf_counter() - t0
            if dt > seconds / 4 or reps > 2**34:
                break
            reps *= 4
        best = min(_timed(kernel, p, reps) for _ in range(3))
        out[label] = 2.0 * _FMA_WIDTH * reps * p / best
    return out


def _timed(kernel: Any, p: int, reps: int) -> float:
    t0 = time.perf_counter()
    kernel(p, reps)
    return time.perf_counter() - t0


_FMA: list[Any] = []
_FMA_WIDTH = 64


def _fma_kernel(numba: Any) -> Any:
    if _FMA:
        return _FMA[0]

    @numba.njit(parallel=True, fastmath=True)
    def fma(p, reps):  # pragma: no cover - compiled
        out = np.zeros(p)
        for t in numba.prange(p):
            acc = np.empty(64)
            for j in range(64):
                acc[j] = 1.0 + 1e-3 * j + t
            x, y = 0.9999999, 1e-9
            for _ in range(reps):
                for j in range(64):
                    acc[j] = acc[j] * x + y
            out[t] = acc.sum()
        return out

    _FMA.append(fma)
    return fma


def _kept(ws: np.ndarray, w0: np.ndarray, cfg: Config, pen: str, a: float | None) -> float:
    """Average kept coordinates per trial at the end of a short array-engine run on 64 trials (for the count)."""
    import numerics as nm

    n = min(COMPARE_TRIALS, ws.shape[0])
    res = nm.run(nm.Problem(ws[:n], cfg.k, pen, cfg.lam, cfg.beta, a=a), w0[:n], eta=cfg.eta,
                 iters=min(cfg.w1_iters, 200))
    return float(np.mean(np.sum(res.u != 0, axis=1)))


def _available(engine: str) -> str | None:
    mod = {"fused": "numba", "jax": "jax"}[engine]
    return None if importlib.util.find_spec(mod) is not None else f"not installed ({mod}: the '{engine}' extra)"


def _jax_backend(backends: list[Backend]) -> tuple[Backend | None, str]:
    """The backend the JAX engine runs on: JAX on a GPU where the run has one, else JAX on the CPU (NumPy in)."""
    for be in backends:
        if be.name == "jax_gpu":
            return be, "jax_gpu"
    for be in backends:
        if be.name == "numpy":
            return be, "jax (cpu)"
    return None, ""


def run_w1_engines(cfg: Config, backends: list[Backend], rate: dict[str, float], *,
                   log: Callable[[str], None] = print) -> tuple[list[Row], dict[str, str]]:
    """W1 rows for the fused and JAX engines (the array engine's rows come from :func:`workloads.run_w1`), and the
    roofline lines for the report: per penalty the flop count and each engine's fraction of the FP rate."""
    import numerics as nm

    B, d, T, k = cfg.w1_trials, cfg.w1_d, cfg.w1_iters, cfg.k
    ws, w0 = problem(B, d, cfg.seed)
    n_cmp = min(COMPARE_TRIALS, B)
    rows: list[Row] = []
    notes: dict[str, str] = {}
    jbe, jname = _jax_backend(backends)
    for pen in cfg.penalties:
        a = cfg.a if pen == "tl1" else None
        flops = w1_flops(d, pen, _kept(ws, w0, cfg, pen, a))
        ref = nm.run(nm.Problem(ws[:n_cmp], k, pen, cfg.lam, cfg.beta, a=a), w0[:n_cmp], eta=cfg.eta, iters=T)
        notes[f"W1 {pen}: flop per trial-iteration (counted, benchmarks.engines.w1_flops)"] = f"{flops:.0f}"
        for engine, impl, be, bname in (("fused", FUSED, None, "numpy"), ("jax", JAX, jbe, jname)):
            why = _available(engine)
            if why is None and engine == "jax" and jbe is None:
                why = "no backend for JAX"
            if why is not None:
                rows.append(Row("W1", pen, impl, bname or engine, "trial-iteration", None, note=why))
                continue
            conv = (lambda x: x) if be is None or be.name == "numpy" else be.asarray
            back = (lambda x: np.asarray(x)) if be is None else be.to_numpy
            wsb, w0b = conv(ws), conv(w0)

            def make(iters: int, wsb=wsb, w0b=w0b, pen=pen, a=a, engine=engine, back=back) -> Callable[[], Any]:
                def fn():
                    res = nm.run(nm.Problem(wsb, k, pen, cfg.lam, cfg.beta, a=a), w0b, eta=cfg.eta, iters=iters,
                                 engine=engine)
                    return back(res.w), back(res.u)
                return fn

            t0 = time.perf_counter()
            sync = be.sync if be is not None else None
            t = measure(make(T), repeats=cfg.repeats, warmup=make(min(T, 2)), sync=sync)
            log(f"W1 {pen}: {impl} [{bname}] {time.perf_counter() - t0:.1f} s")
            sec = t.median / (B * T)
            frac = flops / sec / rate["all cores"] if rate and not (be is not None and be.gpu) else None
            w, u = t.result
            row = Row("W1", pen, impl, bname, "trial-iteration", sec, limit_name=FP_LIMIT if frac else "",
                      limit_value=frac, units_timed=B * T, times=list(t.times),
                      max_abs_diff=float(max(np.max(np.abs(w[:n_cmp] - ref.w)), np.max(np.abs(u[:n_cmp] - ref.u)))),
                      note=f"diff on {n_cmp} trials" + ("; GPU: FP rate not measured" if frac is None else ""))
            rows.append(row)
    return rows, notes


def roofline_notes(rows: list[Row], rate: dict[str, float], flops: dict[str, float]) -> dict[str, str]:
    """Per W1 case: every CPU engine row's fraction of the FP rate (array engine included)."""
    out = {}
    if not rate:
        return out
    for case, fl in flops.items():
        parts = []
        for r in rows:
            if r.workload == "W1" and r.case == case and r.seconds and r.backend in ("numpy", "jax (cpu)", "torch"):
                parts.append(f"{r.implementation} [{r.backend}] {fl / r.seconds / rate['all cores']:.3g}")
        out[f"W1 {case} roofline (fraction of the FP rate)"] = "; ".join(parts)
    return out


def scaling_rows(cfg: Config, sizes: tuple[int, ...], *, log: Callable[[str], None] = print) -> list[Row]:
    """The fused engine's time per trial-iteration (l1) for B in ``sizes`` at about the same total work: flat when
    one trial's state stays in L1 whatever B (no cache cliff)."""
    import numerics as nm

    why = _available("fused")
    if why is not None:
        return [Row("W1-scaling", "l1", FUSED, "numpy", "trial-iteration", None, note=why)]
    rows = []
    total = cfg.w1_trials * cfg.w1_iters
    for B in sizes:
        ws, w0 = problem(B, cfg.w1_d, cfg.seed)
        T = max(4, total // B)

        def fn(iters: int = T, ws=ws, w0=w0) -> Any:
            return nm.run(nm.Problem(ws, cfg.k, "l1", cfg.lam, cfg.beta), w0, eta=cfg.eta, iters=iters,
                          engine="fused").w

        t0 = time.perf_counter()
        t = measure(fn, repeats=cfg.repeats, warmup=lambda fn=fn: fn(2))
        log(f"W1-scaling B={B}: {FUSED} {time.perf_counter() - t0:.1f} s")
        rows.append(Row("W1-scaling", f"l1 B={B}", FUSED, "numpy", "trial-iteration", t.median / (B * T),
                        units_timed=B * T, times=list(t.times), note=f"{T} iterations"))
    return rows


def run_w2_jax(cfg: Config, backends: list[Backend], *, log: Callable[[str], None] = print) -> list[Row]:
    """W2 (empirical gradient on shared samples) on the JAX engine; the fused kernel does not apply (its gradients
    are the closed forms; W2's matrix products are BLAS's)."""
    import numerics as nm

    rows = [Row("W2", cfg.w2_penalty, FUSED, "numpy", "trial-iteration", None,
                note="not applicable: the fused kernel covers the closed-form gradients (W2 is matrix products)")]
    why = _available("jax")
    be, bname = _jax_backend(backends)
    if why is not None or be is None:
        rows.append(Row("W2", cfg.w2_penalty, JAX, bname or "jax", "trial-iteration", None,
                        note=why or "no backend for JAX"))
        return rows
    N, k, d, B, T = cfg.w2_samples, cfg.k, cfg.w2_d, cfg.w2_trials, cfg.w2_iters
    ws, w0 = problem(B, d, cfg.seed + 1)
    Z = np.random.default_rng(cfg.seed + 2).standard_normal((N, k, d))
    pen = cfg.w2_penalty
    a = cfg.a if pen == "tl1" else None
    conv = (lambda x: x) if be.name == "numpy" else be.asarray
    back = (lambda x: np.asarray(x)) if be.name == "numpy" else be.to_numpy
    wsb, w0b, Zb = conv(ws), conv(w0), conv(Z)

    def make(iters: int, engine: str = "jax") -> Callable[[], Any]:
        def fn():
            res = nm.run(nm.Problem(wsb if engine == "jax" else ws, k, pen, cfg.lam, cfg.beta, a=a),
                         w0b if engine == "jax" else w0, eta=cfg.eta, iters=iters,
                         gradient=nm.Empirical(samples=Zb if engine == "jax" else Z), engine=engine)
            return back(res.w) if engine == "jax" else res.w
        return fn

    t0 = time.perf_counter()
    t = measure(make(T), repeats=cfg.repeats, warmup=make(min(T, 2)), sync=be.sync)
    log(f"W2 {pen}: {JAX} [{bname}] {time.perf_counter() - t0:.1f} s")
    ref = make(T, "array")()
    rows.append(Row("W2", pen, JAX, bname, "trial-iteration", t.median / (B * T), units_timed=B * T,
                    times=list(t.times), max_abs_diff=float(np.max(np.abs(t.result - ref))),
                    note="setup (labels, compile cache) amortized over the iterations, as the engine's row"))
    return rows


def flops_by_case(notes: dict[str, str]) -> dict[str, float]:
    """The W1 flop counts back from :func:`run_w1_engines`' notes, by case."""
    out = {}
    for key, val in notes.items():
        if key.startswith("W1 ") and "flop per trial-iteration" in key:
            out[key.split()[1].rstrip(":")] = float(val)
    return out

