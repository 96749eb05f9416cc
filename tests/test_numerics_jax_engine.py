"""The JAX engine (the array engine's update under ``jit``, the loop in ``lax.while_loop``) against the array engine.

Run on the CPU here: the same instances as the fused engine's tests, the same 1e-12 bound (float64) for the same
reason (the engines differ by the order of a few sums per iteration; RVSM contracts, so the difference stays at a
few 1e-15). On a GPU the same code runs with ``w0`` a JAX array on the device (``test_jax_arrays_stay_jax``).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import numerics as nm
from numerics import engines

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax (the 'jax' extra) is not installed")
TOL = 1e-12


def instance(B=12, d=7, seed=0):
    """Teachers with zero coordinates, starts, per-trial lam (one zero), beta, eta (all below the stable step)."""
    rng = np.random.default_rng(seed)
    ws = rng.standard_normal((B, d))
    ws[:, ::3] = 0.0
    ws[:, 1] += 0.5
    w0 = rng.standard_normal((B, d))
    lam = rng.uniform(0.01, 0.12, B)
    lam[0] = 0.0
    return ws, w0, lam, rng.uniform(0.2, 0.6, B), rng.uniform(0.3, 0.9, B)


def assert_same(a, b, tol=TOL):
    for name in ("w", "u"):
        np.testing.assert_allclose(np.asarray(getattr(b, name)), getattr(a, name), rtol=0, atol=tol, err_msg=name)
    np.testing.assert_allclose(np.asarray(b.residual), a.residual, rtol=tol, atol=tol, err_msg="residual")
    for name in ("iterations", "converged", "opposite"):
        np.testing.assert_array_equal(np.asarray(getattr(b, name)), getattr(a, name), err_msg=name)
    assert (a.history is None) == (b.history is None)
    if a.history is not None:
        np.testing.assert_array_equal(np.asarray(b.history.iteration), a.history.iteration)
        np.testing.assert_array_equal(np.asarray(b.history.support), a.history.support)
        for name in ("lagrangian", "angle", "step"):
            np.testing.assert_allclose(np.asarray(getattr(b.history, name)), getattr(a.history, name), rtol=tol,
                                       atol=tol, err_msg=name)


def run_both(name, a, *, gradient=None, seed=0, scale_lam=1.0, **kw):
    ws, w0, lam, beta, eta = instance(seed=seed)
    problem = nm.Problem(ws, 5, name, lam * scale_lam, beta, a=a)
    return (nm.run(problem, w0, eta=eta, gradient=gradient, **kw),
            nm.run(problem, w0, eta=eta, gradient=gradient, engine="jax", **kw))


# TL1 a = 1: mu_c = 0.25; the instances' mu = lam/beta spans ~0.02..0.6 with scale_lam = 1, ~0.07..2.4 with 4
@needs_jax
@pytest.mark.parametrize("name, a", [("l1", None), pytest.param("l0", None, marks=pytest.mark.slow),
                                     pytest.param("tl1", 1.0, marks=pytest.mark.slow)])
def test_population_with_tol_and_history_agrees_with_the_array_engine(name, a):
    ref, got = run_both(name, a, iters=3000, tol=1e-9, record_every=250, scale_lam=4.0 if name == "tl1" else 1.0)
    assert isinstance(got.w, np.ndarray) and got.w.dtype == np.float64  # NumPy in, NumPy out
    assert ref.converged.any() and len(set(ref.iterations.tolist())) > 1
    assert_same(ref, got)


@needs_jax
def test_jacobi_and_fixed_iterations_agree():
    ref, got = run_both("tl1", 1.0, iters=300, update="jacobi", scale_lam=4.0)  # both TL1 regimes in one batch
    assert_same(ref, got)


@needs_jax
@pytest.mark.parametrize("normalize", [pytest.param(False, marks=pytest.mark.slow), True])
def test_expected_coarse_gradient_agrees(normalize):
    # without normalization |w| shrinks towards 0, where the iteration stops contracting: compared over 60
    # iterations (see the fused engine's test of the same name)
    g = nm.ExpectedCoarse(ste="identity", normalize=normalize)
    ref, got = run_both("l1", None, gradient=g, iters=600 if normalize else 60, tol=1e-10, record_every=20, seed=3)
    assert_same(ref, got)


@needs_jax
def test_a_step_that_rounds_to_zero_is_judged_from_the_gradient():
    problem = nm.Problem(np.array([1.0, -0.5, 0.3]), k=4, penalty="l1", lam=1e-2, beta=0.5)
    kw = dict(eta=1e-18, iters=100, tol=1e-10)
    ref = nm.run(problem, np.array([0.2, 0.7, -0.4]), **kw)
    got = nm.run(problem, np.array([0.2, 0.7, -0.4]), engine="jax", **kw)
    assert not bool(got.converged) and float(got.residual) > 1e-3 and got.w.shape == (3,)
    assert_same(ref, got)


@needs_jax
def test_divergence_raises_the_array_engines_error():
    ws, w0, lam, beta, _ = instance(B=4, seed=5)
    eta = np.array([0.5, 0.5, 60.0, 40.0])
    problem = nm.Problem(ws, 5, "l1", lam, beta)
    errs = []
    for engine in ("array", "jax"):
        with pytest.raises(nm.DivergenceError) as info:
            nm.run(problem, w0, eta=eta, iters=5000, engine=engine)
        errs.append(info.value)
    assert str(errs[1]) == str(errs[0]) and errs[1].iteration == errs[0].iteration


@needs_jax
def test_jax_arrays_stay_jax_and_float32_is_close():
    import jax
    import jax.numpy as jnp

    ws, w0, lam, beta, eta = instance(seed=2)
    problem = nm.Problem(ws, 5, "l0", lam, beta)
    ref = nm.run(problem, w0.astype(np.float32), eta=eta, iters=400)
    got = nm.run(problem, jnp.asarray(w0, dtype=jnp.float32), eta=eta, iters=400, engine="jax")
    assert isinstance(got.w, jax.Array) and got.w.dtype == jnp.float32
    # float32 rounding accumulated over a contracting map: about eps |w| / (eta min(1/k, beta)) = 6e-6 (as for the
    # fused engine's float32 test); l0 keeps the same support (no coordinate near its threshold in this instance)
    np.testing.assert_allclose(np.asarray(got.w), ref.w, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(got.u) == 0, ref.u == 0)


@needs_jax
def test_the_comparison_sees_a_relative_change_of_1e_8():
    ws, w0, lam, beta, eta = instance(seed=0)
    ref = nm.run(nm.Problem(ws, 5, "l1", lam, beta), w0, eta=eta, iters=400)
    got = nm.run(nm.Problem(ws, 5, "l1", lam * (1 + 1e-8), beta), w0, eta=eta, iters=400, engine="jax")
    with pytest.raises(AssertionError):
        assert_same(ref, got)


def test_jax_without_jax_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    with pytest.raises(engines.EngineUnavailableError, match=r"rvsm-toolkit\[jax\]"):
        engines.check_engine("jax")
