"""The fused engine (numba) against the array engine, the reference: same results to 1e-12 in float64.

Each instance runs both engines on the same inputs and compares every field of the result. The two engines do the
same floating-point operations except the order of the sums in three dot products per iteration, so they differ
by a few ulp per step; RVSM contracts near its limit, so the difference stays at a few 1e-15 (seen: <= 8e-15). A
1e-12 bound therefore has three orders of margin, and a mistake of the size a test would care about (a penalty
weight off by 1e-8 relative, see ``test_the_comparison_sees_a_relative_change_of_1e_8``) breaks it.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

import numerics as nm
from numerics import engines, penalties

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba (the 'fused' extra) is not installed")
TOL = 1e-12


def instance(B=12, d=7, seed=0):
    """Teachers with some zero coordinates, start points, per-trial lam (one zero: the mixed u = w rows), beta, eta."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal((B, d))
    ws[:, ::3] = 0.0
    ws[:, 1] += 0.5
    w0 = rng.standard_normal((B, d))
    lam = rng.uniform(0.01, 0.12, B)
    lam[0] = 0.0
    beta = rng.uniform(0.2, 0.6, B)
    eta = rng.uniform(0.3, 0.9, B)
    return ws, w0, lam, beta, eta


def assert_same(a, b, tol=TOL):
    """Every field of two results: iterates and residuals within ``tol``, the discrete fields exactly."""
    for name in ("w", "u"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=0, atol=tol, err_msg=name)
        assert getattr(b, name).dtype == getattr(a, name).dtype and getattr(b, name).shape == getattr(a, name).shape
    np.testing.assert_allclose(b.residual, a.residual, rtol=tol, atol=tol, err_msg="residual")
    for name in ("iterations", "converged", "opposite"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert (a.history is None) == (b.history is None)
    if a.history is not None:
        np.testing.assert_array_equal(b.history.iteration, a.history.iteration)
        np.testing.assert_array_equal(b.history.support, a.history.support)
        for name in ("lagrangian", "angle", "step"):
            np.testing.assert_allclose(getattr(b.history, name), getattr(a.history, name), rtol=tol, atol=tol,
                                       err_msg=name)


# TL1 with a = 1: mu_c = a^2/(2(a+1)) = 0.25; the instance's mu = lam/beta spans ~0.02..0.6, both regimes
PENALTY_CASES = [("l1", None), ("l0", None), ("tl1", 1.0), ("tl1", 4.0)]


def run_both(engine, penalty, a, *, gradient=None, seed=0, scale_lam=1.0, **kw):
    ws, w0, lam, beta, eta = instance(seed=seed)
    problem = nm.Problem(ws, 5, penalty, lam * scale_lam, beta, a=a)
    ref = nm.run(problem, w0, eta=eta, gradient=gradient, **kw)
    got = nm.run(problem, w0, eta=eta, gradient=gradient, engine=engine, **kw)
    return ref, got


# ----------------------------------------------------------------------------------------------------------------------
# The scalar proxes against numerics.penalties (the reference)
# ----------------------------------------------------------------------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("name, a", [("l1", None), ("l0", None), ("tl1", 0.3), ("tl1", 1.0), ("tl1", 20.0)])
def test_scalar_prox_equals_the_array_prox_on_both_sides_of_every_threshold(name, a):
    from numerics.engines import fused

    pen = penalties.get_penalty(name, **({"a": a} if a else {}))
    mus = [0.0, 1e-3, 0.07, 0.6, 3.0]
    if a:  # both TL1 regimes, and the critical mu itself
        mc = penalties.tl1_critical_mu(a)
        mus += [0.5 * mc, mc, 2.0 * mc, 10.0 * mc]
    rng = np.random.default_rng(1)
    for mu in mus:
        thr = float(pen.threshold(mu))
        x = np.concatenate([thr * (1 + np.array([-1e-9, 0.0, 1e-12, 1e-9, 1e-3, 0.5, 3.0])),
                            rng.uniform(-3 * thr - 1, 3 * thr + 1, 200), [0.0, 1e300, 5e-310]])
        x = np.concatenate([x, -x])
        ref = pen.prox(x, mu)
        got = fused.prox_scalar(pen, x, np.full_like(x, mu))
        np.testing.assert_array_equal(got == 0, ref == 0)  # the same entries thresholded (ties go to 0)
        if name != "tl1":  # l1 and l0: the same operations, exactly
            np.testing.assert_array_equal(got, ref)
        else:  # TL1's branch is |x| - shrinkage: an absolute error of a few ulp of |x| (sin/asin of two libms)
            assert np.all(np.abs(got - ref) <= 4 * np.finfo(float).eps * np.abs(x))
    nan = fused.prox_scalar(pen, np.array([np.nan]), np.array([0.1]))
    assert np.isnan(nan[0]) and np.isnan(pen.prox(np.array([np.nan]), 0.1)[0])


@needs_numba
def test_scalar_prox_comparison_catches_a_wrong_threshold():
    # mutation: an l0 prox at the other convention's threshold mu (not sqrt(2 mu)) differs from the reference on
    # the test's grid; the kernel's prox does not
    from numerics.engines import fused

    pen = penalties.L0()
    x = np.linspace(-2, 2, 401)
    mu = 0.3
    wrong = x * (np.abs(x) > mu)
    assert not np.array_equal(wrong, pen.prox(x, mu))
    np.testing.assert_array_equal(fused.prox_scalar(pen, x, np.full_like(x, mu)), pen.prox(x, mu))


# ----------------------------------------------------------------------------------------------------------------------
# The engine against the array engine
# ----------------------------------------------------------------------------------------------------------------------
@needs_numba
@pytest.mark.parametrize("name, a", PENALTY_CASES)
@pytest.mark.parametrize("scale_lam", [1.0, 4.0])
def test_population_agrees_with_the_array_engine(name, a, scale_lam):
    ref, got = run_both("fused", name, a, iters=400, scale_lam=scale_lam)
    assert_same(ref, got)


@needs_numba
@pytest.mark.parametrize("name, a", PENALTY_CASES)
def test_tol_history_and_jacobi_agree(name, a):
    ref, got = run_both("fused", name, a, iters=3000, tol=1e-9, record_every=37)
    assert ref.converged.any() and len(set(ref.iterations.tolist())) > 1  # trials stop at different iterations
    assert_same(ref, got)
    ref, got = run_both("fused", name, a, iters=300, update="jacobi", record_every=64)
    assert_same(ref, got)


@needs_numba
def test_every_trial_stopping_early_ends_the_history_where_the_array_engine_does():
    ref, got = run_both("fused", "l1", None, iters=20_000, tol=1e-8, record_every=500)
    assert ref.converged.all() and int(ref.history.iteration[-1]) < 20_000
    assert_same(ref, got)


@needs_numba
@pytest.mark.parametrize("ste", ["relu", "identity"])
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("name, a", [("l1", None), ("tl1", 1.0)])
def test_expected_coarse_gradient_agrees(ste, normalize, name, a):
    # Without normalization the coarse gradient shrinks |w| towards 0, where q = c/|w| grows without bound and the
    # iteration stops contracting: there any two summation orders drift apart (seen: 4e-11 after 600 iterations,
    # |w| ~ 0.01 to 0.03 after 60, where they still agree to 3e-14), so the unnormalized runs are compared over
    # their first 60 iterations, while |w| >= 0.01.
    g = nm.ExpectedCoarse(ste=ste, normalize=normalize)
    iters = 600 if normalize else 60
    ref, got = run_both("fused", name, a, gradient=g, iters=iters, tol=1e-10, record_every=20, seed=3)
    if not normalize:
        assert np.min(np.linalg.norm(ref.w, axis=1)) > 0.01
    assert_same(ref, got)


@needs_numba
@pytest.mark.parametrize("normalize", [False, True])
def test_a_step_that_rounds_to_zero_is_judged_from_the_gradient_as_the_array_engine_does(normalize):
    g = nm.ExpectedCoarse(normalize=True) if normalize else None
    problem = nm.Problem(np.array([1.0, -0.5, 0.3]), k=4, penalty="l1", lam=1e-2, beta=0.5)
    kw = dict(eta=1e-18, iters=100, tol=1e-10, gradient=g)
    ref = nm.run(problem, np.array([0.2, 0.7, -0.4]), **kw)
    got = nm.run(problem, np.array([0.2, 0.7, -0.4]), engine="fused", **kw)
    assert not bool(got.converged) and float(got.residual) > 1e-3
    assert_same(ref, got)
    fixed = nm.Problem(np.array([1.0, -0.5, 0.3]), 4, "l1", 0.0, 0.5)
    ref = nm.run(fixed, np.array([1.0, -0.5, 0.3]), eta=1e-18, iters=100, tol=1e-10)
    got = nm.run(fixed, np.array([1.0, -0.5, 0.3]), eta=1e-18, iters=100, tol=1e-10, engine="fused")
    assert bool(got.converged)
    assert_same(ref, got)


@needs_numba
def test_unbatched_run_has_the_array_engines_shapes():
    problem = nm.Problem(np.array([1.0, -0.5, 0.0, 0.25]), 4, "tl1", 0.02, 0.5, a=1.0)
    w0 = np.array([0.3, 0.1, -0.2, 0.9])
    ref = nm.run(problem, w0, eta=0.5, iters=500, tol=1e-11, record_every=50)
    got = nm.run(problem, w0, eta=0.5, iters=500, tol=1e-11, record_every=50, engine="fused")
    assert got.w.shape == (4,) and got.iterations.shape == () and got.history.angle.ndim == 1
    assert_same(ref, got)


@needs_numba
def test_divergence_raises_the_array_engines_error():
    ws, w0, lam, beta, _ = instance(B=4, seed=5)
    eta = np.array([0.5, 0.5, 60.0, 40.0])
    problem = nm.Problem(ws, 5, "l1", lam, beta)
    errs = []
    for engine in ("array", "fused"):
        with pytest.raises(nm.DivergenceError) as info:
            nm.run(problem, w0, eta=eta, iters=5000, engine=engine)
        errs.append(info.value)
    ref, got = errs
    assert (got.trial, got.iteration, got.eta) == (ref.trial, ref.iteration, ref.eta)
    assert got.stable_eta == pytest.approx(ref.stable_eta, rel=1e-15) and str(got) == str(ref)


@needs_numba
def test_float32_is_supported_and_close_to_the_array_engine():
    ws, w0, lam, beta, eta = instance(seed=2)
    problem = nm.Problem(ws, 5, "tl1", lam, beta, a=1.0)
    w32 = w0.astype(np.float32)
    ref = nm.run(problem, w32, eta=eta, iters=400)
    got = nm.run(problem, w32, eta=eta, iters=400, engine="fused")
    assert got.w.dtype == np.float32 and got.u.dtype == np.float32
    # both runs round each step to float32 (eps = 1.2e-7), the kernel's intermediate scalars in float64; near the
    # limit the map contracts by about 1 - eta min(1/k, beta), so rounding errors add up to at most about
    # eps |w| / (eta min(1/k, beta)) <= 1.2e-7 * 3 / 0.06 = 6e-6 (|w| <= 3 here); a bound of 1e-5 keeps that
    # and is 5 orders below a wrong iteration (a lam off by 1e-8 relative already moves w by more in float64)
    scale = float(np.max(np.abs(ref.w)))
    assert scale < 3.0
    np.testing.assert_allclose(got.w, ref.w, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.u, ref.u, rtol=0, atol=1e-5)


@needs_numba
def test_the_comparison_sees_a_relative_change_of_1e_8():
    # the 1e-12 bound is not vacuous: a penalty weight off by one part in 1e8 (a plausible constant mistake is far
    # larger) moves the limit, and the iterates, by far more than it (the limit does not depend on eta, lam it does)
    ws, w0, lam, beta, eta = instance(seed=0)
    ref = nm.run(nm.Problem(ws, 5, "l1", lam, beta), w0, eta=eta, iters=400)
    got = nm.run(nm.Problem(ws, 5, "l1", lam * (1 + 1e-8), beta), w0, eta=eta, iters=400, engine="fused")
    with pytest.raises(AssertionError):
        assert_same(ref, got)


# ----------------------------------------------------------------------------------------------------------------------
# What the fused engine refuses, and the engine name
# ----------------------------------------------------------------------------------------------------------------------
def test_unknown_engine_name_is_a_value_error_listing_the_engines():
    problem = nm.Problem(np.array([1.0, 0.5]), 2, "l1", 0.1, 0.5)
    with pytest.raises(ValueError, match=r"engine must be one of 'array', 'fused', 'jax'; got 'numba'"):
        nm.run(problem, np.array([0.1, 0.2]), eta=0.5, iters=3, engine="numba")


def test_fused_without_numba_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba" else real(name, *a))
    problem = nm.Problem(np.array([1.0, 0.5]), 2, "l1", 0.1, 0.5)
    with pytest.raises(engines.EngineUnavailableError, match=r"rvsm-toolkit\[fused\]"):
        nm.run(problem, np.array([0.1, 0.2]), eta=0.5, iters=3, engine="fused")
    with pytest.raises(ImportError):  # an ImportError: code that catches a missing optional module catches it
        engines.check_engine("fused")


@needs_numba
def test_fused_refuses_what_it_does_not_compile():
    problem = nm.Problem(np.array([1.0, 0.5]), 2, "l1", 0.1, 0.5)
    with pytest.raises(ValueError, match="Population"):
        nm.run(problem, np.array([0.1, 0.2]), eta=0.5, iters=3, engine="fused", gradient=nm.Empirical(n_samples=10))

    class MyL1(penalties.L1):
        pass

    with pytest.raises(ValueError, match="l1, l0 and tl1"):
        nm.run(nm.Problem(np.array([1.0, 0.5]), 2, MyL1(), 0.1, 0.5), np.array([0.1, 0.2]), eta=0.5, iters=3,
               engine="fused")
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="NumPy"):
        nm.run(problem, torch.tensor([0.1, 0.2], dtype=torch.float64), eta=0.5, iters=3, engine="fused")


def test_the_stable_step_in_the_instances_is_respected():
    # the instances iterate with eta below 2/(L + beta) for every trial (no divergence expected outside the
    # divergence test): L = (k + (k^2 - k)/pi)/k^2 at k = 5
    _, _, _, beta, eta = instance()
    L = (5 + 20 / math.pi) / 25
    assert np.all(eta < 2 / (L + beta))


# ----------------------------------------------------------------------------------------------------------------------
# The preferred engine (numerics.engines.prefer) and the checks' --engine
# ----------------------------------------------------------------------------------------------------------------------
@needs_numba
def test_prefer_uses_the_fused_engine_where_it_runs_the_problem_and_the_array_engine_elsewhere(monkeypatch):
    from numerics.engines import fused

    calls = []
    real = fused.run_fused
    monkeypatch.setattr(fused, "run_fused", lambda *a, **k: calls.append(1) or real(*a, **k))
    ws, w0, lam, beta, eta = instance(seed=4)
    problem = nm.Problem(ws, 5, "l1", lam, beta)
    with engines.prefer("fused"):
        got = nm.run(problem, w0, eta=eta, iters=200)
        assert len(calls) == 1
        sampled = nm.run(problem, w0, eta=eta, iters=5, gradient=nm.Empirical(n_samples=50))  # not fused: array
        assert len(calls) == 1
        forced = nm.run(problem, w0, eta=eta, iters=200, engine="array")  # an explicit engine is obeyed
    assert len(calls) == 1
    assert_same(forced, got)
    np.testing.assert_array_equal(sampled.w, nm.run(problem, w0, eta=eta, iters=5,
                                                     gradient=nm.Empirical(n_samples=50)).w)
    nm.run(problem, w0, eta=eta, iters=3)  # outside the block: the array engine again
    assert len(calls) == 1


@needs_numba
def test_checks_cli_runs_its_rvsm_on_the_fused_engine(monkeypatch, capsys):
    from checks.__main__ import main
    from numerics.engines import fused

    calls = []
    real = fused.run_fused
    monkeypatch.setattr(fused, "run_fused", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert main(["--engine", "fused", "--only", "no_false_positives"]) == 0
    assert calls and "fused engine" in capsys.readouterr().out
