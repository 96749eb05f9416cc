"""The three workloads (population RVSM in batch, empirical RVSM, Monte Carlo of the loss and its gradient), each
timed for the engine on every backend and for the comparators.

Every function returns a list of :class:`Row`; times are per *unit*: a trial-iteration (W1, W2) or a sample (W3).
Each takes ``log``, which receives one line per measurement as it finishes (the command prints them to stderr, so
a long workload shows its progress).
The comparators run on a subset of the trials (or samples) and are scaled per unit; their results are compared with
the engine's on that same subset (``max_abs_diff``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks import reference
from benchmarks.backends import Backend
from benchmarks.limits import Bandwidth, MatmulRate, matmul_rate
from benchmarks.timing import measure

__all__ = ["FULL", "QUICK", "TINY", "Config", "Row", "problem", "run_w1", "run_w2", "run_w3"]

ENGINE = "engine"
NUMPY_LOOP = "numpy loop (per trial)"
TORCH_AUTOGRAD = "torch autograd (per trial)"


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark profile (see :data:`FULL`, :data:`QUICK`, :data:`TINY`).

    W1: ``w1_trials`` x ``w1_d`` for ``w1_iters`` iterations with ``k`` patches; W2: ``w2_samples`` x ``k`` patches
    of dimension ``w2_d`` shared by ``w2_trials`` trials for ``w2_iters`` iterations; W3: ``w3_samples`` samples of
    ``w3_k`` x ``w3_d``. ``*_subset`` is how many trials (samples) the slow comparators run.
    """

    name: str
    w1_trials: int
    w1_d: int
    w1_iters: int
    w1_subset: int
    w2_samples: int
    w2_d: int
    w2_trials: int
    w2_iters: int
    w2_subset: int
    w3_samples: int
    w3_k: int
    w3_d: int
    w3_subset: int
    k: int = 16
    repeats: int = 3
    bandwidth_bytes: int = 256 * 2**20
    penalties: tuple[str, ...] = ("l1", "l0", "tl1")
    w2_penalty: str = "l1"
    lam: float = 0.1
    beta: float = 1.0
    eta: float = 0.5
    a: float = 1.0
    seed: int = 0
    cpu_other_iters: int = 10**9


FULL = Config("full", w1_trials=4096, w1_d=64, w1_iters=2000, w1_subset=4, w2_samples=8192, w2_d=64, w2_trials=64,
              w2_iters=20, w2_subset=2, w3_samples=10**6, w3_k=4, w3_d=5, w3_subset=20_000, repeats=3,
              cpu_other_iters=100)
QUICK = Config("quick", w1_trials=1024, w1_d=64, w1_iters=100, w1_subset=2, w2_samples=1024, w2_d=64, w2_trials=64,
               w2_iters=10, w2_subset=2, w3_samples=100_000, w3_k=4, w3_d=5, w3_subset=2_000, repeats=3,
               bandwidth_bytes=128 * 2**20, cpu_other_iters=20)
TINY = Config("tiny", w1_trials=6, w1_d=5, w1_iters=30, w1_subset=2, w2_samples=64, w2_d=4, w2_trials=4, w2_iters=15,
              w2_subset=2, w3_samples=400, w3_k=3, w3_d=4, w3_subset=50, k=3, repeats=1,
              bandwidth_bytes=4 * 2**20)


@dataclass
class Row:
    """One line of the table.

    Attributes
    ----------
    workload, case, implementation, backend : str
        E.g. ``"W1"``, ``"l1"``, ``"engine"``, ``"numpy"``.
    unit : str
        ``"trial-iteration"`` or ``"sample"``.
    seconds : float or None
        Median wall time per unit (None when the row did not run; ``note`` says why).
    ratio : float or None
        ``seconds / seconds of the NumPy engine`` for the same workload and case (> 1: slower than the engine).
    limit_name : str
        ``"passes over state"`` (W1: per iteration, bytes it could have moved / bytes of the (B, d) state),
        ``"fraction of matmul rate"`` (W2) or ``"passes over Z"`` (W3).
    limit_value : float or None
    max_abs_diff : float or None
        Largest |difference| from the engine's result on the same trials / samples (None for the NumPy engine).
    units_timed : int
        Trial-iterations (or samples) in one timed repeat.
    note : str
    """

    workload: str
    case: str
    implementation: str
    backend: str
    unit: str
    seconds: float | None
    ratio: float | None = None
    limit_name: str = ""
    limit_value: float | None = None
    max_abs_diff: float | None = None
    units_timed: int = 0
    note: str = ""
    times: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def problem(trials: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Teachers (half the coordinates zeroed at random, never all) and start points uniform on the sphere of radius
    |w*|, both (trials, d), from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal((trials, d))
    mask = rng.random((trials, d)) < 0.5
    mask[np.arange(trials), rng.integers(0, d, trials)] = False  # at least one nonzero coordinate per teacher
    ws = np.where(mask, 0.0, ws)
    g = rng.standard_normal((trials, d))
    w0 = g / np.linalg.norm(g, axis=1, keepdims=True) * np.linalg.norm(ws, axis=1, keepdims=True)
    return ws, w0


def _quiet(msg: str) -> None:
    """The default ``log``: say nothing."""


def _diff(ref: tuple[np.ndarray, ...], got: tuple[np.ndarray, ...]) -> float:
    return float(max(np.max(np.abs(np.asarray(r) - np.asarray(g))) for r, g in zip(ref, got, strict=True)))


def _engine_rows(workload: str, case: str, backends: list[Backend], units_per_iter: int, iters: int,
                 make: Callable[[Backend, int], Callable[[], Any]], cfg: Config,
                 limit: Callable[[Backend, float], float], limit_name: str, unit: str,
                 log: Callable[[str], None] = _quiet) -> tuple[list[Row], Any]:
    """Time the engine on each backend for ``iters`` iterations (``cfg.cpu_other_iters`` for a non-NumPy CPU
    backend, whose result is then compared with a NumPy engine run of as many iterations); the NumPy result of
    ``iters`` iterations is returned as the reference of the comparators."""
    rows, ref, ref_by_iters = [], None, {}
    for be in backends:
        n_it = iters if (be.name == "numpy" or be.gpu) else max(1, min(iters, cfg.cpu_other_iters))
        t0 = time.perf_counter()
        try:
            t = measure(make(be, n_it), repeats=cfg.repeats, warmup=make(be, min(n_it, 2)), sync=be.sync)
        except Exception as exc:  # a backend the engine does not support: a row that says so, not a crash
            rows.append(Row(workload, case, ENGINE, be.name, unit, None, limit_name=limit_name,
                            note=f"failed: {type(exc).__name__}: {exc}"[:200]))
            log(f"{workload} {case}: {ENGINE} [{be.name}] failed ({type(exc).__name__})")
            continue
        log(f"{workload} {case}: {ENGINE} [{be.name}] {time.perf_counter() - t0:.1f} s")
        sec = t.median / (units_per_iter * n_it)
        row = Row(workload, case, ENGINE, be.name, unit, sec, limit_name=limit_name, limit_value=limit(be, sec),
                  units_timed=units_per_iter * n_it, times=list(t.times))
        if n_it != iters:
            row.note = f"{n_it} of {iters} iterations"
        if be.name == "numpy":
            ref = ref_by_iters[n_it] = t.result
        elif backends[0].name == "numpy":
            if n_it not in ref_by_iters:
                ref_by_iters[n_it] = make(backends[0], n_it)()
            row.max_abs_diff = _diff(ref_by_iters[n_it], t.result)
        rows.append(row)
    return rows, ref


def _timed_log(log: Callable[[str], None], workload: str, case: str, name: str, t0: float) -> None:
    log(f"{workload} {case}: {name} {time.perf_counter() - t0:.1f} s")


def _finish(rows: list[Row]) -> list[Row]:
    base = {(r.workload, r.case): r.seconds for r in rows if r.implementation == ENGINE and r.backend == "numpy"}
    for r in rows:
        b = base.get((r.workload, r.case))
        if r.seconds is not None and b:
            r.ratio = r.seconds / b
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# W1: population RVSM in batch
# ----------------------------------------------------------------------------------------------------------------------
def run_w1(cfg: Config, backends: list[Backend], limits: dict[str, Bandwidth], torch_ok: bool, *,
           log: Callable[[str], None] = _quiet) -> list[Row]:
    """W1 for each penalty: engine on each backend, NumPy loop and torch autograd on ``cfg.w1_subset`` trials.

    Limit: passes over the (B, d) float64 state per iteration, ``t_iteration * bandwidth / (8 B d)``.
    """
    import numerics as nm

    B, d, T, k = cfg.w1_trials, cfg.w1_d, cfg.w1_iters, cfg.k
    ws, w0 = problem(B, d, cfg.seed)
    state = 8.0 * B * d
    n_sub = min(cfg.w1_subset, B)

    def passes(be: Backend, sec: float) -> float:
        bw = limits.get(be.name, limits["numpy"]).best
        return sec * B * bw / state

    rows: list[Row] = []
    for pen in cfg.penalties:
        a = cfg.a if pen == "tl1" else None

        def make(be: Backend, iters: int, pen=pen, a=a) -> Callable[[], Any]:
            wsb, w0b = be.asarray(ws), be.asarray(w0)

            def run_engine():
                res = nm.run(nm.Problem(wsb, k, pen, cfg.lam, cfg.beta, a=a), w0b, eta=cfg.eta, iters=iters)
                return be.to_numpy(res.w), be.to_numpy(res.u)
            return run_engine

        eng, ref = _engine_rows("W1", pen, backends, B, T, make, cfg, passes, "passes over state", "trial-iteration",
                                log)
        rows += eng
        comparators = [(NUMPY_LOOP, reference.rvsm_population_numpy_loop)]
        if torch_ok:
            comparators.append((TORCH_AUTOGRAD, reference.rvsm_population_torch_autograd))
        for name, fn in comparators:
            def call(fn=fn, pen=pen, a=a, iters=T):
                return fn(ws[:n_sub], w0[:n_sub], k, pen, cfg.lam, cfg.beta, cfg.eta, iters, a)

            def warm(fn=fn, pen=pen, a=a):
                return fn(ws[:1], w0[:1], k, pen, cfg.lam, cfg.beta, cfg.eta, min(T, 5), a)

            t0 = time.perf_counter()
            t = measure(call, repeats=cfg.repeats, warmup=warm)
            _timed_log(log, "W1", pen, name, t0)
            sec = t.median / (n_sub * T)
            row = Row("W1", pen, name, "numpy" if name == NUMPY_LOOP else "torch", "trial-iteration", sec,
                      limit_name="passes over state", limit_value=sec * B * limits["numpy"].best / state,
                      units_timed=n_sub * T, times=list(t.times), note=f"{n_sub} of {B} trials")
            if ref is not None:
                row.max_abs_diff = _diff((ref[0][:n_sub], ref[1][:n_sub]), t.result)
            rows.append(row)
    return _finish(rows)


# ----------------------------------------------------------------------------------------------------------------------
# W2: empirical RVSM on shared samples
# ----------------------------------------------------------------------------------------------------------------------
def w2_matmul_shapes(cfg: Config) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The two products of one W2 iteration: ``(N k, d) @ (d, B)`` and ``(B, N k) @ (N k, d)``."""
    nk, d, B = cfg.w2_samples * cfg.k, cfg.w2_d, cfg.w2_trials
    return [((nk, d), (d, B)), ((B, nk), (nk, d))]


def run_w2(cfg: Config, backends: list[Backend], rates: dict[str, MatmulRate], torch_ok: bool, *,
           log: Callable[[str], None] = _quiet) -> list[Row]:
    """W2: engine on each backend, NumPy loop and torch autograd on ``cfg.w2_subset`` trials.

    Limit: achieved rate ``4 N k d`` flop per trial-iteration over the measured rate of the same two products.
    The engine's time includes its setup (labels, validation), amortized over ``w2_iters`` iterations.
    """
    import numerics as nm

    N, k, d, B, T = cfg.w2_samples, cfg.k, cfg.w2_d, cfg.w2_trials, cfg.w2_iters
    ws, w0 = problem(B, d, cfg.seed + 1)
    Z = np.random.default_rng(cfg.seed + 2).standard_normal((N, k, d))
    y = np.maximum(Z.reshape(N * k, d) @ ws.T, 0.0).reshape(N, k, B).mean(axis=1)  # (N, B) teacher labels
    flop_unit = 4.0 * N * k * d
    pen = cfg.w2_penalty
    a = cfg.a if pen == "tl1" else None
    n_sub = min(cfg.w2_subset, B)

    def frac(be: Backend, sec: float) -> float:
        return flop_unit / sec / rates.get(be.name, rates["numpy"]).rate

    def make(be: Backend, iters: int) -> Callable[[], Any]:
        wsb, w0b, Zb = be.asarray(ws), be.asarray(w0), be.asarray(Z)

        def fn():
            res = nm.run(nm.Problem(wsb, k, pen, cfg.lam, cfg.beta, a=a), w0b, eta=cfg.eta, iters=iters,
                         gradient=nm.Empirical(samples=Zb))
            return be.to_numpy(res.w), be.to_numpy(res.u)
        return fn

    rows, ref = _engine_rows("W2", pen, backends, B, T, make, cfg, frac, "fraction of matmul rate",
                             "trial-iteration", log)
    comparators = [(NUMPY_LOOP, reference.rvsm_empirical_numpy_loop)]
    if torch_ok:
        comparators.append((TORCH_AUTOGRAD, reference.rvsm_empirical_torch_autograd))
    for name, fn in comparators:
        def call(fn=fn):
            return fn(Z, y[:, :n_sub], w0[:n_sub], pen, cfg.lam, cfg.beta, cfg.eta, T, a)

        def warm(fn=fn):
            return fn(Z, y[:, :1], w0[:1], pen, cfg.lam, cfg.beta, cfg.eta, min(T, 2), a)

        t0 = time.perf_counter()
        t = measure(call, repeats=cfg.repeats, warmup=warm)
        _timed_log(log, "W2", pen, name, t0)
        sec = t.median / (n_sub * T)
        row = Row("W2", pen, name, "numpy" if name == NUMPY_LOOP else "torch", "trial-iteration", sec,
                  limit_name="fraction of matmul rate", limit_value=flop_unit / sec / rates["numpy"].rate,
                  units_timed=n_sub * T, times=list(t.times), note=f"{n_sub} of {B} trials")
        if ref is not None:
            row.max_abs_diff = _diff((ref[0][:n_sub], ref[1][:n_sub]), t.result)
        rows.append(row)
    return _finish(rows)


# ----------------------------------------------------------------------------------------------------------------------
# W3: Monte Carlo loss and gradient
# ----------------------------------------------------------------------------------------------------------------------
def _engine_mc(be: Backend, Z: Any, w: Any, ws: Any) -> tuple[np.ndarray, np.ndarray]:
    """The engine's Monte Carlo estimate without its finiteness checks (``validate=False``): the comparators check
    nothing either, and the checks (one pass over Z per call) are not the computation measured."""
    from numerics import model

    y = model.labels(Z, ws, validate=False)
    return (be.to_numpy(model.empirical_loss(w, Z, y, validate=False)),
            be.to_numpy(model.empirical_grad(w, Z, y, validate=False)))


def run_w3(cfg: Config, backends: list[Backend], limits: dict[str, Bandwidth], torch_ok: bool, *,
           log: Callable[[str], None] = _quiet) -> list[Row]:
    """W3: the Monte Carlo estimate of ``l(w)`` and ``grad l(w)`` from N samples (labels included), per sample.

    Limit: passes over the samples Z, ``t * bandwidth / (8 N k d)``. A row for the draw of Z itself (NumPy
    ``Generator.standard_normal``, shared by every implementation and not part of the comparison) gives scale.
    """
    N, k, d = cfg.w3_samples, cfg.w3_k, cfg.w3_d
    rng = np.random.default_rng(cfg.seed + 3)
    ws, w = rng.standard_normal(d), rng.standard_normal(d)
    z_bytes_unit = 8.0 * k * d
    n_sub = min(cfg.w3_subset, N)

    def draw():
        return np.random.default_rng(cfg.seed + 4).standard_normal((N, k, d))

    t_draw = measure(draw, repeats=cfg.repeats)
    Z = t_draw.result

    def passes(be: Backend, sec: float) -> float:
        return sec * limits.get(be.name, limits["numpy"]).best / z_bytes_unit

    def make(be: Backend, iters: int) -> Callable[[], Any]:
        Zb, wb, wsb = be.asarray(Z), be.asarray(w), be.asarray(ws)
        return lambda: _engine_mc(be, Zb, wb, wsb)

    case = f"k={k} d={d}"
    rows, ref = _engine_rows("W3", case, backends, N, 1, make, cfg, passes, "passes over Z", "sample", log)
    rows.append(Row("W3", case, "draw Z (NumPy Generator, shared)", "numpy", "sample", t_draw.median / N,
                    limit_name="passes over Z", limit_value=t_draw.median / N * limits["numpy"].best / z_bytes_unit,
                    units_timed=N, times=list(t_draw.times), note="context, not a comparator"))
    sub_ref = _engine_mc(backends[0], Z[:n_sub], w, ws) if backends and backends[0].name == "numpy" else None
    comparators = [(NUMPY_LOOP.replace("trial", "sample"), reference.mc_numpy_loop, n_sub, sub_ref)]
    if torch_ok:
        comparators.append(("torch autograd (batched)", reference.mc_torch_autograd, N, ref))
    for name, fn, n_used, cmp in comparators:
        Zu, Zw = Z[:n_used], Z[: max(1, n_used // 100)]
        t0 = time.perf_counter()
        t = measure(lambda fn=fn, Zu=Zu: fn(Zu, w, ws), repeats=cfg.repeats,
                    warmup=lambda fn=fn, Zw=Zw: fn(Zw, w, ws))
        _timed_log(log, "W3", case, name, t0)
        sec = t.median / n_used
        row = Row("W3", case, name, "numpy" if fn is reference.mc_numpy_loop else "torch", "sample", sec,
                  limit_name="passes over Z", limit_value=sec * limits["numpy"].best / z_bytes_unit,
                  units_timed=n_used, times=list(t.times), note=f"{n_used} of {N} samples")
        if cmp is not None:
            row.max_abs_diff = _diff(cmp, (np.asarray(t.result[0]), t.result[1]))
        rows.append(row)
    return _finish(rows)


def w2_rates(cfg: Config, backends: list[Backend]) -> dict[str, MatmulRate]:
    """Matrix-product rate of the W2 shapes on each backend (NumPy first: the CPU reference)."""
    return {be.name: matmul_rate(be, w2_matmul_shapes(cfg), repeats=max(3, cfg.repeats)) for be in backends
            if be.name == "numpy" or be.gpu}
