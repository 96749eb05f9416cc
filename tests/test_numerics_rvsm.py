"""Tests of numerics.run against independent references (hand-coded iteration, separate runs, backends)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import numerics as nm
from numerics import bookkeeping, model, penalties, population
from numerics.gradients import BoundGradient

PENALTIES = [("l1", None), ("l0", None), ("tl1", 1.0)]
K, D = 10, 20


def _instance(B, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, d)), rng.standard_normal((B, d))


def _stable_eta(k, beta):
    """2/(L + beta) with L = (k + (k^2 - k)/pi)/k^2, the largest Hessian eigenvalue at w* (theory page section 2)."""
    return 2.0 / ((k + (k * k - k) / math.pi) / k**2 + beta)


@pytest.mark.parametrize("name, a", PENALTIES)
def test_iteration_is_theory_section_4(name, a):
    # Three steps written out by hand with the penalty's prox and the population gradient.
    ws, w0 = _instance(1, d=6, seed=1)
    pen = penalties.get_penalty(name, **({"a": a} if a else {}))
    lam, beta, eta = 0.05, 0.3, 0.2
    w, u = w0[0], pen.prox(w0[0], lam / beta)
    for t in range(1, 4):
        w = w - eta * (population.grad(w, ws[0], 3) + beta * (w - u))
        u = pen.prox(w, lam / beta)
        res = nm.run(nm.Problem(ws[0], 3, name, lam, beta, a=a), w0[0], eta=eta, iters=t)
        np.testing.assert_allclose(res.w, w, rtol=1e-15, atol=1e-15)
        np.testing.assert_array_equal(res.u, pen.prox(res.w, lam / beta))
        assert res.w.shape == (6,) and int(res.iterations) == t and not bool(res.converged)


def test_lam_zero_is_plain_gradient_descent():
    ws, w0 = _instance(2, seed=2)
    res = nm.run(nm.Problem(ws, K, "l0", 0.0, 0.1), w0, eta=0.5, iters=50)
    w = w0.copy()
    for _ in range(50):
        w = w - 0.5 * population.grad(w, ws, K)
    np.testing.assert_allclose(res.w, w, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(res.u, res.w)


def _source(gradient):
    """The gradient source of the old ``gradient=`` flag of these tests (samples: 50, seed 4)."""
    return nm.Population() if gradient == "population" else nm.Empirical(n_samples=50, seed=4)


@pytest.mark.parametrize("gradient", ["population", "empirical"])
@pytest.mark.parametrize("name, a", PENALTIES)
def test_batched_equals_looped(name, a, gradient):
    B = 4
    ws, w0 = _instance(B, seed=3)
    lam = np.array([1e-3, 1e-2, 0.0, 5e-2])
    eta = np.array([0.5, 0.3, 0.4, 0.2])
    kw = {"gradient": _source(gradient), "tol": 1e-9, "record_every": 25}
    res = nm.run(nm.Problem(ws, K, name, lam, 0.1, a=a), w0, eta=eta, iters=400, **kw)
    for b in range(B):
        one = nm.run(nm.Problem(ws[b], K, name, float(lam[b]), 0.1, a=a), w0[b], eta=float(eta[b]), iters=400, **kw)
        # same floating-point operations per trial, except BLAS (gemm vs gemv) for the empirical gradient
        np.testing.assert_allclose(res.w[b], one.w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(res.u[b], one.u, rtol=1e-12, atol=1e-14)
        assert int(res.iterations[b]) == int(one.iterations) and bool(res.converged[b]) == bool(one.converged)
        np.testing.assert_allclose(res.history.lagrangian[:, b], one.history.lagrangian, rtol=1e-12)
    np.testing.assert_array_equal(res.history.iteration, one.history.iteration)


@pytest.mark.parametrize("name, a", PENALTIES)
def test_backends_agree_with_numpy(backend, name, a):
    xp = backend.xp
    ws, w0 = _instance(3, seed=5)
    kw = {"tol": 1e-10, "record_every": 50}
    ref = nm.run(nm.Problem(ws, K, name, 1e-2, 0.1, a=a), w0, eta=0.5, iters=300, **kw)
    res = nm.run(nm.Problem(backend.asarray(ws), K, name, 1e-2, 0.1, a=a), backend.asarray(w0), eta=0.5, iters=300,
                 **kw)
    assert res.w.dtype == xp.float64 and res.u.dtype == xp.float64
    if backend.device is not None:
        assert res.w.device == backend.device and res.history.lagrangian.device == backend.device
    np.testing.assert_allclose(backend.to_numpy(res.w), ref.w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(res.history.lagrangian), ref.history.lagrangian, rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(res.iterations), ref.iterations)
    # empirical gradient on shared samples
    emp = nm.Empirical(n_samples=30, seed=1)
    refe = nm.run(nm.Problem(ws, K, name, 1e-2, 0.1, a=a), w0, eta=0.5, iters=50, gradient=emp)
    rese = nm.run(nm.Problem(backend.asarray(ws), K, name, 1e-2, 0.1, a=a), backend.asarray(w0), eta=0.5, iters=50,
                  gradient=emp)
    np.testing.assert_allclose(backend.to_numpy(rese.w), refe.w, rtol=1e-11, atol=1e-13)
    # float32 is kept; tolerance: 300 steps of contraction 1 - eta/k, each rounding ~6e-8 relative
    r32 = nm.run(nm.Problem(backend.asarray(ws, dtype=xp.float32), K, name, 1e-2, 0.1, a=a),
                 backend.asarray(w0, dtype=xp.float32), eta=0.5, iters=300)
    assert r32.w.dtype == xp.float32 and r32.u.dtype == xp.float32
    np.testing.assert_allclose(backend.to_numpy(r32.w), ref.w, rtol=1e-4, atol=1e-4)


def _max_relative_increase(lag, scale):
    """Largest increase of the recorded Lagrangian between consecutive records, relative to ``scale``."""
    return float(np.max(np.diff(lag, axis=0) / scale))


@pytest.mark.parametrize("name, a", PENALTIES)
def test_lagrangian_never_increases_below_stable_step(name, a):
    B = 50
    ws, w0 = _instance(B, seed=6)
    beta = 0.1
    eta = 0.9 * _stable_eta(K, beta)
    res = nm.run(nm.Problem(ws, K, name, 1e-2, beta, a=a), w0, eta=eta, iters=600, record_every=1)
    lag = res.history.lagrangian
    # The closed-form loss is a difference of O(|w*|^2) terms that cancel near w*: its rounding error is
    # ~ k eps |w*|^2 in absolute terms, so increases are measured against |w*|^2 (+1), with 100 eps allowance.
    scale = 1.0 + np.sum(ws**2, axis=1)
    assert _max_relative_increase(lag, scale) <= 100 * np.finfo(float).eps
    assert np.all(lag[-1] < lag[0])


def test_lagrangian_check_detects_a_too_large_step():
    # The same check fails when eta exceeds 2/(L + beta) (the iterates oscillate along w* and the Lagrangian
    # increases before any divergence).
    ws, w0 = _instance(5, seed=6)
    res = nm.run(nm.Problem(ws, K, "l1", 1e-2, 0.1), w0, eta=1.3 * _stable_eta(K, 0.1), iters=60, record_every=1)
    assert _max_relative_increase(res.history.lagrangian, 1.0 + np.sum(ws**2, axis=1)) > 1e-6


def test_history_contents_and_tol_stop():
    B = 6
    ws, w0 = _instance(B, seed=7)
    problem = nm.Problem(ws, K, "tl1", 1e-3, 0.1, a=1.0)
    free = nm.run(problem, w0, eta=0.5, iters=800, record_every=1)
    h = free.history
    assert h.lagrangian.shape == (801, B) and np.isnan(h.step[0]).all()
    np.testing.assert_array_equal(h.iteration, np.arange(801))
    # independent recomputation of the recorded quantities at the end
    pen = penalties.TL1(1.0)
    lag_end = (population.loss(free.w, ws, K) + 1e-3 * pen.value(free.u).sum(axis=1)
               + 0.05 * np.sum((free.w - free.u) ** 2, axis=1))
    np.testing.assert_allclose(h.lagrangian[-1], lag_end, rtol=1e-14)
    np.testing.assert_array_equal(h.support[-1], np.count_nonzero(free.u, axis=1))
    cos = np.sum(free.w * ws, axis=1) / np.linalg.norm(free.w, axis=1) / np.linalg.norm(ws, axis=1)
    np.testing.assert_allclose(h.angle[-1], np.arccos(np.clip(cos, -1, 1)), atol=1e-7)
    # with tol, each trial stops at the first update whose stationarity residual |w^{t+1} - w^t| / eta is below tol
    # (the step-size-free measure; once it was the step itself), and keeps that iterate
    tol = 1e-8
    stop = nm.run(problem, w0, eta=0.5, iters=800, tol=tol)
    first = np.argmax(h.step[1:] / 0.5 < tol, axis=0) + 1
    assert np.all(stop.converged)
    np.testing.assert_array_equal(stop.iterations, first)
    np.testing.assert_array_equal(stop.residual, h.step[first, np.arange(B)] / 0.5)
    assert np.all(stop.residual < tol) and not np.any(stop.opposite)
    one = nm.run(problem, w0, eta=0.5, iters=int(first[0]))
    np.testing.assert_array_equal(stop.w[0], one.w[0])


def test_compaction_does_not_change_results(monkeypatch):
    B = 40
    ws, w0 = _instance(B, seed=8)
    eta = np.linspace(0.1, 0.6, B)  # trials finish at very different times
    problem = nm.Problem(ws, K, "tl1", 1e-3, 0.1, a=1.0)
    kw = {"tol": 1e-9, "record_every": 7}
    res = nm.run(problem, w0, eta=eta, iters=5000, **kw)
    monkeypatch.setattr(bookkeeping, "COMPACT_FRACTION", 2.0)  # never compact
    ref = nm.run(problem, w0, eta=eta, iters=5000, **kw)
    assert len(set(res.iterations.tolist())) > 10
    for f in ("w", "u", "iterations", "converged"):
        np.testing.assert_array_equal(getattr(res, f), getattr(ref, f))
    for f in ("iteration", "lagrangian", "angle", "support", "step"):
        np.testing.assert_array_equal(getattr(res.history, f), getattr(ref.history, f))


@pytest.mark.parametrize("name, a", PENALTIES)
def test_fixed_point_equations_at_the_limit(name, a):
    # The limit satisfies theory page section 5: u = prox(w) and grad l(w) + beta (w - u) = 0.
    ws, w0 = _instance(20, seed=9)
    lam, beta = 1e-2, 0.1
    res = nm.run(nm.Problem(ws, K, name, lam, beta, a=a), w0, eta=0.5, iters=20000, tol=1e-13)
    assert np.all(res.converged)
    resid = population.grad(res.w, ws, K) + beta * (res.w - res.u)
    # tol bounds the stationarity residual |grad l(w) + beta (w - u)| itself (not eta times it, as the step rule did);
    # recomputed at the kept iterate (one contracting step after the one measured) it is below tol too
    assert np.all(res.residual < 1e-13)
    assert np.max(np.linalg.norm(resid, axis=1)) <= 1e-13
    pen = penalties.get_penalty(name, **({"a": a} if a else {}))
    np.testing.assert_array_equal(res.u, pen.prox(res.w, lam / beta))
    assert np.all(np.abs(res.u[np.abs(ws) < 0.05 * lam]) == 0) or name != "l1"


def _limit_errors(ws, w0, name, a, lam, beta):
    """Simulate to tol 1e-14 and compare with numerics.predict: (max error outside the band against the default
    prediction, max error against the prediction with the simulated support, fraction of trials with a band)."""
    problem = nm.Problem(ws, K, name, lam, beta, a=a)
    res = nm.run(problem, w0, eta=0.5, iters=40000, tol=1e-14)
    assert np.all(res.converged)
    pred = nm.predict(problem)
    no_band = ~np.any(pred.band, axis=1)
    # outside the band the limit is unique: the whole trial must match (w and u)
    err_unique = max(np.max(np.abs(res.u - pred.u)[no_band], initial=0.0),
                     np.max(np.abs(res.w - pred.w)[no_band], initial=0.0))
    # in the band the limit is the fixed point with the support RVSM reached: it must be self-consistent
    fixed = nm.predict(problem, support=res.u != 0)
    assert np.all(fixed.ok)
    err_support = max(np.max(np.abs(res.u - fixed.u)), np.max(np.abs(res.w - fixed.w)))
    return err_unique, err_support, 1.0 - no_band.mean()


@pytest.mark.parametrize("name, a", PENALTIES)
def test_predicted_limits_agree(name, a):
    ws, w0 = _instance(20, seed=10)
    # lam = 1e-2, beta = 0.1: a wide l0/TL1 band (most trials have a coordinate in it);
    # lam = 1e-4, beta = 0.01: a narrow band, so most trials are checked against the unique prediction.
    for lam, beta in ((1e-2, 0.1), (1e-4, 0.01)):
        err_unique, err_support, band_frac = _limit_errors(ws, w0, name, a, lam, beta)
        assert err_unique <= 1e-8 and err_support <= 1e-8, (lam, err_unique, err_support)
        if name == "l1":
            assert band_frac == 0
    assert band_frac < 0.5, band_frac


def test_limit_comparison_detects_a_wrong_penalty():
    # Simulating l1 but predicting for TL1 must be reported as a mismatch by the same comparison.
    ws, w0 = _instance(5, seed=10)
    res = nm.run(nm.Problem(ws, K, "l1", 1e-2, 0.1), w0, eta=0.5, iters=40000, tol=1e-14)
    pred = nm.predict(nm.Problem(ws, K, "tl1", 1e-2, 0.1, a=1.0))
    assert np.max(np.abs(res.u - pred.u)) > 1e-4


def test_empirical_run_deterministic_and_uses_given_samples():
    ws, w0 = _instance(3, seed=11)
    problem = nm.Problem(ws, K, "l1", 1e-3, 0.1)
    r1 = nm.run(problem, w0, eta=0.5, iters=30, gradient=nm.Empirical(n_samples=40, seed=5), record_every=10)
    r2 = nm.run(problem, w0, eta=0.5, iters=30, gradient=nm.Empirical(n_samples=40, seed=5))
    np.testing.assert_array_equal(r1.w, r2.w)
    Z = model.sample_patches(40, K, D, seed=5)
    r3 = nm.run(problem, w0, eta=0.5, iters=30, gradient=nm.Empirical(samples=(Z,)))
    np.testing.assert_array_equal(r1.w, r3.w)
    # the recorded Lagrangian uses the empirical loss
    y = model.labels(Z, ws)
    emp = np.array([model.empirical_loss(r1.w[b], Z, y[:, b]) for b in range(3)])
    lag = emp + 1e-3 * np.abs(r1.u).sum(axis=1) + 0.05 * np.sum((r1.w - r1.u) ** 2, axis=1)
    np.testing.assert_allclose(r1.history.lagrangian[-1], lag, rtol=1e-12)


def test_divergence_error_names_trial_iteration_and_stable_step():
    ws, w0 = _instance(3, seed=12)
    eta = np.array([0.5, 60.0, 0.5])
    with pytest.raises(nm.DivergenceError) as info:
        nm.run(nm.Problem(ws, K, "l1", 1e-3, 0.1), w0, eta=eta, iters=5000)
    err = info.value
    assert isinstance(err, ArithmeticError)
    assert err.trial == 1 and 1 <= err.iteration < 5000
    assert err.stable_eta == pytest.approx(_stable_eta(K, 0.1), rel=1e-12)
    msg = str(err)
    assert "trial 1" in msg and f"iteration {err.iteration}" in msg and f"{_stable_eta(K, 0.1):.6g}" in msg
    # the reported iteration is the first non-finite one: one step earlier everything is finite
    ok = nm.run(nm.Problem(ws[1], K, "l1", 1e-3, 0.1), w0[1], eta=60.0, iters=err.iteration - 1)
    assert np.all(np.isfinite(ok.w))


_PROBLEM_ARGS = {"w_star": "ws", "k": K, "penalty": "tl1", "lam": 1e-3, "beta": 0.1, "a": 1.0}


@pytest.mark.parametrize("kwargs, name", [
    ({"lam": -1e-3}, "lam"), ({"beta": 0.0}, "beta"), ({"k": 0}, "k"), ({"penalty": "l2"}, "penalty"),
    ({"a": -1.0}, "a"), ({"w_star": np.zeros(D)}, "w_star"), ({"w_star": np.full(D, np.nan)}, "w_star"),
    ({"lam": math.inf}, "lam"),
])
def test_validation_of_the_problem(kwargs, name):
    # the checks of the problem's own parameters happen when it is built, before any run
    ws, _ = _instance(3, seed=13)
    args = {**_PROBLEM_ARGS, "w_star": ws, **kwargs}
    with pytest.raises(ValueError, match=name):
        nm.Problem(args.pop("w_star"), args.pop("k"), args.pop("penalty"), args.pop("lam"), args.pop("beta"), **args)


@pytest.mark.parametrize("kwargs, name", [
    ({"eta": -1.0}, "eta"), ({"iters": 0}, "iters"), ({"tol": 0.0}, "tol"), ({"w0": np.ones(D + 1)}, "w0"),
    ({"eta": np.array([0.1, 0.2])}, "batch"), ({"gradient": "exact"}, "gradient"),
    ({"record_every": 0}, "record_every"), ({"eta": np.array([0.1, -0.2, 0.3])}, "eta"),
    ({"update": "simultaneous"}, "update"),
])
def test_validation_of_the_run(kwargs, name):
    ws, w0 = _instance(3, seed=13)
    problem = nm.Problem(ws, K, "tl1", 1e-3, 0.1, a=1.0)
    args = {"w0": w0, "eta": 0.5, "iters": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        nm.run(problem, args.pop("w0"), **args)


def test_validation_of_the_gradient_source():
    # the sampled gradient without samples is rejected when the source is built
    with pytest.raises(ValueError, match="n_samples"):
        nm.Empirical()


def test_progress_line(monkeypatch, capsys):
    monkeypatch.setattr(bookkeeping, "PROGRESS_SECONDS", 0.0)
    ws, w0 = _instance(2, seed=14)
    nm.run(nm.Problem(ws, K, "l1", 1e-3, 0.1), w0, eta=0.5, iters=40, progress=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "iteration 16/40" in err[0] and "active trials 2/2" in err[0]


# ----------------------------------------------------------------------------------------------------------------------
# The update order: Jacobi (u^{t+1} = prox(w^t)) against the default Gauss-Seidel (u^{t+1} = prox(w^{t+1}))
# ----------------------------------------------------------------------------------------------------------------------
def _separated_teachers(rng, n, d):
    """Coordinates 0, +-0.01 (far below every threshold below) or +-U(0.6, 1.5) (far above): no l0/TL1 band, so the
    limit is unique and both update orders must reach it."""
    kind = rng.integers(0, 3, size=(n, d))
    big = rng.uniform(0.6, 1.5, size=(n, d))
    ws = np.where(kind == 0, 0.0, np.where(kind == 1, 0.01, big)) * rng.choice([-1.0, 1.0], size=(n, d))
    ws[:, 0] = 1.0
    return ws


@pytest.mark.parametrize("name, a, lam", [("l1", None, 1e-2), ("l0", None, 1e-3), ("tl1", 1.0, 1e-3)])
def test_jacobi_and_gauss_seidel_reach_the_same_predicted_limit(name, a, lam):
    rng = np.random.default_rng(30)
    ws = _separated_teachers(rng, 12, 8)
    w0 = nm.uniform_sphere(12, 8, seed=31)
    problem = nm.Problem(ws, 4, name, lam, 0.1, a=a)
    gs = nm.run(problem, w0, eta=1.0, iters=40000, tol=1e-14)
    ja = nm.run(problem, w0, eta=1.0, iters=40000, tol=1e-14, update="jacobi")
    assert np.all(gs.converged) and np.all(ja.converged)
    pred = nm.predict(problem)
    assert np.all(pred.ok) and not np.any(pred.band)
    for f in ("w", "u"):
        np.testing.assert_allclose(getattr(ja, f), getattr(gs, f), rtol=0, atol=1e-10)
        np.testing.assert_allclose(getattr(ja, f), getattr(pred, f), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ja.u != 0, pred.support)


def _relative_row_error(got, ref, scale):
    return np.max(np.linalg.norm(got - ref, axis=-1) / np.linalg.norm(scale, axis=-1))


@pytest.mark.parametrize("name, a", PENALTIES)
def test_jacobi_matches_a_plain_numpy_loop_iterate_for_iterate(name, a):
    # u^0 = prox(w^0); w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)); u^{t+1} = prox(w^t), written out with
    # the public closed-form gradient; compared after every one of 50 steps (relative to |w^t|: rounding only)
    ws, w0 = _instance(6, seed=32)
    pen = penalties.get_penalty(name, **({"a": a} if a else {}))
    lam, beta, eta = 1e-2, 0.1, 0.5
    problem = nm.Problem(ws, K, pen, lam, beta)
    w, u = w0.copy(), pen.prox(w0, lam / beta)
    worst, gs_gap = 0.0, 0.0
    for t in range(1, 51):
        w, u = w - eta * (population.grad(w, ws, K) + beta * (w - u)), pen.prox(w, lam / beta)
        res = nm.run(problem, w0, eta=eta, iters=t, update="jacobi")
        worst = max(worst, _relative_row_error(res.w, w, w), _relative_row_error(res.u, u, w))
        gs = nm.run(problem, w0, eta=eta, iters=t)
        gs_gap = max(gs_gap, _relative_row_error(gs.u, u, w))
    assert worst <= 1e-13, worst
    # mutation: the default order's path is a different one, and the same comparison sees it
    assert gs_gap > 1e-3, gs_gap


# ----------------------------------------------------------------------------------------------------------------------
# A new model is a new class: a user-defined gradient source plugs into numerics.run
# ----------------------------------------------------------------------------------------------------------------------
class _BoundQuadratic(BoundGradient):
    def __init__(self, w_star, use_coefficients):
        self.w_star, self.use_coefficients = w_star, use_coefficients

    def coefficients(self, w):
        if not self.use_coefficients:
            return None
        ones = np.ones(w.shape[0])
        return ones, ones  # grad = 1 * w - 1 * w*

    def grad(self, w):
        return w - self.w_star

    def loss(self, w):
        return 0.5 * np.sum((w - self.w_star) ** 2, axis=-1)

    def take(self, idx):
        return _BoundQuadratic(np.take(self.w_star, idx, axis=0), self.use_coefficients)


class Quadratic(nm.GradientSource):
    """l(w) = |w - w*|^2 / 2, grad l(w) = w - w* (NumPy only): the whole model in a dozen lines."""

    def __init__(self, use_coefficients=False):
        self.use_coefficients = use_coefficients

    def bind(self, w_star, k):
        return _BoundQuadratic(w_star, self.use_coefficients)


@pytest.mark.parametrize("use_coefficients", [False, True])
@pytest.mark.parametrize("update", ["gauss-seidel", "jacobi"])
def test_user_defined_gradient_source_reaches_its_own_fixed_point(use_coefficients, update):
    # The fixed point of w - w* + beta (w - u) = 0, u = soft(w, lam/beta) (l1), by hand: kept coordinates
    # u = soft(w*, lam (1 + 1/beta)) and w = (w* + beta u)/(1 + beta); zeroed ones u = 0, w = w*/(1 + beta).
    # (It is the minimizer of the jointly convex l(w) + lam |u|_1 + beta/2 |w - u|^2.)
    rng = np.random.default_rng(40)
    ws = rng.standard_normal((7, 9))
    lam, beta = 0.2, 0.5
    res = nm.run(nm.Problem(ws, 3, "l1", lam, beta), rng.standard_normal((7, 9)), eta=0.5, iters=5000, tol=1e-14,
                 gradient=Quadratic(use_coefficients), update=update, record_every=100)
    assert np.all(res.converged)
    tau = lam * (1 + 1 / beta)
    u_bar = np.sign(ws) * np.maximum(np.abs(ws) - tau, 0)
    w_bar = (ws + beta * u_bar) / (1 + beta)
    assert np.any(u_bar == 0) and np.any(u_bar != 0)  # both branches occur
    np.testing.assert_allclose(res.u, u_bar, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.w, w_bar, rtol=0, atol=1e-12)
    # the history's relaxed Lagrangian uses the source's own loss
    lag = 0.5 * np.sum((res.w - ws) ** 2, axis=1) + lam * np.abs(res.u).sum(axis=1) \
        + 0.5 * beta * np.sum((res.w - res.u) ** 2, axis=1)
    np.testing.assert_allclose(res.history.lagrangian[-1], lag, rtol=1e-12)
    # mutation: the ReLU network's population gradient from the same starts ends elsewhere
    relu = nm.run(nm.Problem(ws, 3, "l1", lam, beta), rng.standard_normal((7, 9)), eta=0.5, iters=5000, tol=1e-14)
    assert np.max(np.abs(relu.u - u_bar)) > 1e-2
