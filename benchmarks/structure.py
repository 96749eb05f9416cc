"""The engine's structural targets, measured rather than asserted: no Python loop over trials or samples in the hot
path, and memory O(B d) (W1) / O(N k d + B d) (W2) with no per-iteration history.

- Python work per iteration: :mod:`cProfile` counts the Python-level function calls of the NumPy engine for two
  iteration counts; their difference over the extra iterations is the number of calls per iteration. It is measured
  at two batch sizes (W1) and two sample counts (W2): equal counts mean no Python loop over trials or samples.
- Memory: :mod:`tracemalloc` (which sees NumPy's data buffers) records the peak of a run, for two iteration counts;
  equal peaks mean no history grows with T. The peak is reported in units of the inputs' size.
"""

from __future__ import annotations

import cProfile
import pstats
import tracemalloc
from typing import Any

import numpy as np

from benchmarks.workloads import Config, problem

__all__ = ["calls_per_iteration", "peak_memory", "structure_report"]


def _run(kind: str, cfg: Config, size: int, iters: int) -> Any:
    """One whole engine call (problem validation, gradient binding, the loop and its bookkeeping), as a user makes
    it: ``numerics.run(numerics.Problem(...), w0, ...)`` with the population (W1) or empirical (W2) gradient."""
    import numerics as nm

    if kind == "W1":
        ws, w0 = problem(size, cfg.w1_d, cfg.seed)
        return lambda: nm.run(nm.Problem(ws, cfg.k, "l1", cfg.lam, cfg.beta), w0, eta=cfg.eta, iters=iters)
    ws, w0 = problem(cfg.w2_trials, cfg.w2_d, cfg.seed + 1)
    Z = np.random.default_rng(cfg.seed + 2).standard_normal((size, cfg.k, cfg.w2_d))
    return lambda: nm.run(nm.Problem(ws, cfg.k, "l1", cfg.lam, cfg.beta), w0, eta=cfg.eta, iters=iters,
                          gradient=nm.Empirical(samples=Z))


def _calls(fn: Any) -> int:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    return int(pstats.Stats(prof).total_calls)


def calls_per_iteration(kind: str, cfg: Config, size: int, iters: tuple[int, int] = (16, 48)) -> float:
    """Python function calls per RVSM iteration of the NumPy engine for ``kind`` ``"W1"`` (``size`` trials) or
    ``"W2"`` (``size`` samples): ``(calls(T2) - calls(T1)) / (T2 - T1)``.

    One unprofiled run comes first, so that one-time work of a fresh process (lazy imports, caches filled on first
    use) is not counted in either run: the count does not depend on what ran before it."""
    t1, t2 = iters
    _run(kind, cfg, size, t1)()
    return (_calls(_run(kind, cfg, size, t2)) - _calls(_run(kind, cfg, size, t1))) / (t2 - t1)


def peak_memory(kind: str, cfg: Config, size: int, iters: int) -> int:
    """Peak bytes allocated (tracemalloc) during one NumPy engine run, inputs excluded (after a short unmeasured run,
    so that the modules a fresh process imports on first use are not counted)."""
    _run(kind, cfg, size, 1)()
    fn = _run(kind, cfg, size, iters)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return int(peak - base)


def structure_report(cfg: Config) -> dict[str, Any]:
    """Calls per iteration at two sizes and peak memory at two iteration counts, for W1 and W2."""
    B, N = cfg.w1_trials, cfg.w2_samples
    small_b, small_n = max(2, B // 16), max(2, N // 16)
    w1_calls = {small_b: calls_per_iteration("W1", cfg, small_b), B: calls_per_iteration("W1", cfg, B)}
    w2_calls = {small_n: calls_per_iteration("W2", cfg, small_n, (4, 12)),
                N: calls_per_iteration("W2", cfg, N, (4, 12))}
    w1_state = 8 * B * cfg.w1_d
    w2_inputs = 8 * (N * cfg.k * cfg.w2_d + cfg.w2_trials * cfg.w2_d)
    w1_peak = {t: peak_memory("W1", cfg, B, t) for t in (16, 64)}
    w2_peak = {t: peak_memory("W2", cfg, N, t) for t in (4, 16)}
    return {
        "w1_calls_per_iteration": {str(s): c for s, c in w1_calls.items()},
        "w2_calls_per_iteration": {str(s): c for s, c in w2_calls.items()},
        "w1_peak_bytes": {str(t): p for t, p in w1_peak.items()},
        "w1_peak_over_state": {str(t): p / w1_state for t, p in w1_peak.items()},
        "w2_peak_bytes": {str(t): p for t, p in w2_peak.items()},
        "w2_peak_over_inputs": {str(t): p / w2_inputs for t, p in w2_peak.items()},
        "w2_peak_over_NkB": {str(t): p / (8 * N * cfg.k * cfg.w2_trials) for t, p in w2_peak.items()},
    }
