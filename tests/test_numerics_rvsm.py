"""Tests of numerics.rvsm.run against independent references (hand-coded iteration, separate runs, backends)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import model, penalties, population, rvsm

PENALTIES = [("l1", None), ("l0", None), ("tl1", 1.0)]
K, D = 10, 20


def _instance(B, d=D, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, d)), rng.standard_normal((B, d))


def _stable_eta(k, beta):
    """2/(L + beta) with L = (k + (k^2 - k)/pi)/k^2, the largest Hessian eigenvalue at w* (THEORY.md section 2)."""
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
        res = rvsm.run(ws[0], 3, name, lam, beta, eta, w0[0], t, a=a)
        np.testing.assert_allclose(res.w, w, rtol=1e-15, atol=1e-15)
        np.testing.assert_array_equal(res.u, pen.prox(res.w, lam / beta))
        assert res.w.shape == (6,) and int(res.iterations) == t and not bool(res.converged)


def test_lam_zero_is_plain_gradient_descent():
    ws, w0 = _instance(2, seed=2)
    res = rvsm.run(ws, K, "l0", 0.0, 0.1, 0.5, w0, 50)
    w = w0.copy()
    for _ in range(50):
        w = w - 0.5 * population.grad(w, ws, K)
    np.testing.assert_allclose(res.w, w, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(res.u, res.w)


@pytest.mark.parametrize("gradient", ["population", "empirical"])
@pytest.mark.parametrize("name, a", PENALTIES)
def test_batched_equals_looped(name, a, gradient):
    B = 4
    ws, w0 = _instance(B, seed=3)
    lam = np.array([1e-3, 1e-2, 0.0, 5e-2])
    eta = np.array([0.5, 0.3, 0.4, 0.2])
    kw = {"a": a, "gradient": gradient, "n_samples": 50, "seed": 4, "tol": 1e-9, "record_every": 25}
    res = rvsm.run(ws, K, name, lam, 0.1, eta, w0, 400, **kw)
    for b in range(B):
        one = rvsm.run(ws[b], K, name, float(lam[b]), 0.1, float(eta[b]), w0[b], 400, **kw)
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
    kw = {"a": a, "tol": 1e-10, "record_every": 50}
    ref = rvsm.run(ws, K, name, 1e-2, 0.1, 0.5, w0, 300, **kw)
    res = rvsm.run(backend.asarray(ws), K, name, 1e-2, 0.1, 0.5, backend.asarray(w0), 300, **kw)
    assert res.w.dtype == xp.float64 and res.u.dtype == xp.float64
    if backend.device is not None:
        assert res.w.device == backend.device and res.history.lagrangian.device == backend.device
    np.testing.assert_allclose(backend.to_numpy(res.w), ref.w, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(backend.to_numpy(res.history.lagrangian), ref.history.lagrangian, rtol=1e-12)
    np.testing.assert_array_equal(backend.to_numpy(res.iterations), ref.iterations)
    # empirical gradient on shared samples
    refe = rvsm.run(ws, K, name, 1e-2, 0.1, 0.5, w0, 50, a=a, gradient="empirical", n_samples=30, seed=1)
    rese = rvsm.run(backend.asarray(ws), K, name, 1e-2, 0.1, 0.5, backend.asarray(w0), 50, a=a,
                    gradient="empirical", n_samples=30, seed=1)
    np.testing.assert_allclose(backend.to_numpy(rese.w), refe.w, rtol=1e-11, atol=1e-13)
    # float32 is kept; tolerance: 300 steps of contraction 1 - eta/k, each rounding ~6e-8 relative
    r32 = rvsm.run(backend.asarray(ws, dtype=xp.float32), K, name, 1e-2, 0.1, 0.5,
                   backend.asarray(w0, dtype=xp.float32), 300, a=a)
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
    res = rvsm.run(ws, K, name, 1e-2, beta, eta, w0, 600, a=a, record_every=1)
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
    res = rvsm.run(ws, K, "l1", 1e-2, 0.1, 1.3 * _stable_eta(K, 0.1), w0, 60, record_every=1)
    assert _max_relative_increase(res.history.lagrangian, 1.0 + np.sum(ws**2, axis=1)) > 1e-6


def test_history_contents_and_tol_stop():
    B = 6
    ws, w0 = _instance(B, seed=7)
    free = rvsm.run(ws, K, "tl1", 1e-3, 0.1, 0.5, w0, 800, a=1.0, record_every=1)
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
    # with tol, each trial stops at the first step whose update norm is below tol, and keeps that iterate
    tol = 1e-8
    stop = rvsm.run(ws, K, "tl1", 1e-3, 0.1, 0.5, w0, 800, tol=tol, a=1.0)
    first = np.argmax(h.step[1:] < tol, axis=0) + 1
    assert np.all(stop.converged)
    np.testing.assert_array_equal(stop.iterations, first)
    one = rvsm.run(ws, K, "tl1", 1e-3, 0.1, 0.5, w0, int(first[0]), a=1.0)
    np.testing.assert_array_equal(stop.w[0], one.w[0])


def test_compaction_does_not_change_results(monkeypatch):
    B = 40
    ws, w0 = _instance(B, seed=8)
    eta = np.linspace(0.1, 0.6, B)  # trials finish at very different times
    kw = {"tol": 1e-9, "record_every": 7, "a": 1.0}
    res = rvsm.run(ws, K, "tl1", 1e-3, 0.1, eta, w0, 5000, **kw)
    monkeypatch.setattr(rvsm, "_COMPACT_FRACTION", 2.0)  # never compact
    ref = rvsm.run(ws, K, "tl1", 1e-3, 0.1, eta, w0, 5000, **kw)
    assert len(set(res.iterations.tolist())) > 10
    for f in ("w", "u", "iterations", "converged"):
        np.testing.assert_array_equal(getattr(res, f), getattr(ref, f))
    for f in ("iteration", "lagrangian", "angle", "support", "step"):
        np.testing.assert_array_equal(getattr(res.history, f), getattr(ref.history, f))


@pytest.mark.parametrize("name, a", PENALTIES)
def test_fixed_point_equations_at_the_limit(name, a):
    # The limit satisfies THEORY.md 5: u = prox(w) and grad l(w) + beta (w - u) = 0.
    ws, w0 = _instance(20, seed=9)
    lam, beta = 1e-2, 0.1
    res = rvsm.run(ws, K, name, lam, beta, 0.5, w0, 20000, tol=1e-13, a=a)
    assert np.all(res.converged)
    resid = population.grad(res.w, ws, K) + beta * (res.w - res.u)
    # |w^{t+1} - w^t| = eta |resid| < tol at the stop
    assert np.max(np.linalg.norm(resid, axis=1)) <= 1e-13 / 0.5
    pen = penalties.get_penalty(name, **({"a": a} if a else {}))
    np.testing.assert_array_equal(res.u, pen.prox(res.w, lam / beta))
    assert np.all(np.abs(res.u[np.abs(ws) < 0.05 * lam]) == 0) or name != "l1"


def _limit_errors(limits, ws, w0, name, a, lam, beta):
    """Simulate to tol 1e-14 and compare with limits.predict: (max error outside the band against the default
    prediction, max error against the prediction with the simulated support, fraction of trials with a band)."""
    res = rvsm.run(ws, K, name, lam, beta, 0.5, w0, 40000, tol=1e-14, a=a)
    assert np.all(res.converged)
    pred = limits.predict(ws, K, name, lam, beta, a=a)
    no_band = ~np.any(pred.band, axis=1)
    # outside the band the limit is unique: the whole trial must match (w and u)
    err_unique = max(np.max(np.abs(res.u - pred.u)[no_band], initial=0.0),
                     np.max(np.abs(res.w - pred.w)[no_band], initial=0.0))
    # in the band the limit is the fixed point with the support RVSM reached: it must be self-consistent
    fixed = limits.predict(ws, K, name, lam, beta, a=a, support=res.u != 0)
    assert np.all(fixed.ok)
    err_support = max(np.max(np.abs(res.u - fixed.u)), np.max(np.abs(res.w - fixed.w)))
    return err_unique, err_support, 1.0 - no_band.mean()


@pytest.mark.parametrize("name, a", PENALTIES)
def test_predicted_limits_agree(name, a):
    limits = pytest.importorskip("numerics.limits", reason="numerics.limits is not committed yet")
    ws, w0 = _instance(20, seed=10)
    # lam = 1e-2, beta = 0.1: a wide l0/TL1 band (most trials have a coordinate in it);
    # lam = 1e-4, beta = 0.01: a narrow band, so most trials are checked against the unique prediction.
    for lam, beta in ((1e-2, 0.1), (1e-4, 0.01)):
        err_unique, err_support, band_frac = _limit_errors(limits, ws, w0, name, a, lam, beta)
        assert err_unique <= 1e-8 and err_support <= 1e-8, (lam, err_unique, err_support)
        if name == "l1":
            assert band_frac == 0
    assert band_frac < 0.5, band_frac


def test_limit_comparison_detects_a_wrong_penalty():
    # Simulating l1 but predicting for TL1 must be reported as a mismatch by the same comparison.
    limits = pytest.importorskip("numerics.limits", reason="numerics.limits is not committed yet")
    ws, w0 = _instance(5, seed=10)
    res = rvsm.run(ws, K, "l1", 1e-2, 0.1, 0.5, w0, 40000, tol=1e-14)
    pred = limits.predict(ws, K, "tl1", 1e-2, 0.1, a=1.0)
    assert np.max(np.abs(res.u - pred.u)) > 1e-4


def test_empirical_run_deterministic_and_uses_given_samples():
    ws, w0 = _instance(3, seed=11)
    r1 = rvsm.run(ws, K, "l1", 1e-3, 0.1, 0.5, w0, 30, gradient="empirical", n_samples=40, seed=5,
                  record_every=10)
    r2 = rvsm.run(ws, K, "l1", 1e-3, 0.1, 0.5, w0, 30, gradient="empirical", n_samples=40, seed=5)
    np.testing.assert_array_equal(r1.w, r2.w)
    Z = model.sample_patches(40, K, D, seed=5)
    r3 = rvsm.run(ws, K, "l1", 1e-3, 0.1, 0.5, w0, 30, gradient="empirical", samples=(Z,))
    np.testing.assert_array_equal(r1.w, r3.w)
    # the recorded Lagrangian uses the empirical loss
    y = model.labels(Z, ws)
    emp = np.array([model.empirical_loss(r1.w[b], Z, y[:, b]) for b in range(3)])
    lag = emp + 1e-3 * np.abs(r1.u).sum(axis=1) + 0.05 * np.sum((r1.w - r1.u) ** 2, axis=1)
    np.testing.assert_allclose(r1.history.lagrangian[-1], lag, rtol=1e-12)


def test_divergence_error_names_trial_iteration_and_stable_step():
    ws, w0 = _instance(3, seed=12)
    eta = np.array([0.5, 60.0, 0.5])
    with pytest.raises(rvsm.DivergenceError) as info:
        rvsm.run(ws, K, "l1", 1e-3, 0.1, eta, w0, 5000)
    err = info.value
    assert isinstance(err, ArithmeticError)
    assert err.trial == 1 and 1 <= err.iteration < 5000
    assert err.stable_eta == pytest.approx(_stable_eta(K, 0.1), rel=1e-12)
    msg = str(err)
    assert "trial 1" in msg and f"iteration {err.iteration}" in msg and f"{_stable_eta(K, 0.1):.6g}" in msg
    # the reported iteration is the first non-finite one: one step earlier everything is finite
    ok = rvsm.run(ws[1], K, "l1", 1e-3, 0.1, 60.0, w0[1], err.iteration - 1)
    assert np.all(np.isfinite(ok.w))


@pytest.mark.parametrize("kwargs, name", [
    ({"lam": -1e-3}, "lam"), ({"beta": 0.0}, "beta"), ({"eta": -1.0}, "eta"), ({"k": 0}, "k"),
    ({"iters": 0}, "iters"), ({"tol": 0.0}, "tol"), ({"penalty": "l2"}, "penalty"), ({"a": -1.0}, "a"),
    ({"w_star": np.zeros(D)}, "w_star"), ({"w_star": np.full(D, np.nan)}, "w_star"),
    ({"w0": np.ones(D + 1)}, "w0"), ({"eta": np.array([0.1, 0.2])}, "batch"), ({"gradient": "exact"}, "gradient"),
    ({"gradient": "empirical"}, "n_samples"), ({"record_every": 0}, "record_every"), ({"lam": math.inf}, "lam"),
    ({"eta": np.array([0.1, -0.2, 0.3])}, "eta"),
])
def test_validation(kwargs, name):
    ws, w0 = _instance(3, seed=13)
    args = {"w_star": ws, "k": K, "penalty": "tl1", "lam": 1e-3, "beta": 0.1, "eta": 0.5, "w0": w0, "iters": 10,
            "a": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        rvsm.run(**args)


def test_progress_line(monkeypatch, capsys):
    monkeypatch.setattr(rvsm, "_PROGRESS_SECONDS", 0.0)
    ws, w0 = _instance(2, seed=14)
    rvsm.run(ws, K, "l1", 1e-3, 0.1, 0.5, w0, 40, progress=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "iteration 16/40" in err[0] and "active trials 2/2" in err[0]
