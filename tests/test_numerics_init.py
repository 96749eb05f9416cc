"""Tests of numerics.init: uniform points on the sphere and points at a prescribed angle to w*."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from numerics.init import at_angle, uniform_sphere


def _angle_ref(w: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """Independent angle: atan2(|component of w orthogonal to w*|, component along w*)."""
    e = w_star / np.linalg.norm(w_star, axis=-1, keepdims=True)
    along = np.sum(w * e, axis=-1)
    perp = np.linalg.norm(w - along[..., None] * e, axis=-1)
    return np.arctan2(perp, along)


# ----------------------------------------------------------------------------------------------------------------------
# uniform_sphere
# ----------------------------------------------------------------------------------------------------------------------
def test_uniform_sphere_unit_norm_reproducible_and_centered():
    n, d = 20_000, 5
    u = uniform_sphere(n, d, seed=3)
    assert u.shape == (n, d) and u.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(u, uniform_sphere(n, d, seed=3))
    assert not np.array_equal(u, uniform_sphere(n, d, seed=4))
    # each coordinate has mean 0 and variance 1/d: 5 standard errors
    se = math.sqrt(1.0 / d / n)
    assert np.all(np.abs(u.mean(axis=0)) < 5 * se)
    # second moment E[u u^T] = I/d (entries of u_i u_j have variance <= 1/d^2 roughly; 1e-2 is > 5 standard errors)
    np.testing.assert_allclose(u.T @ u / n, np.eye(d) / d, atol=1e-2)


def _ks_pvalue(sampler, d: int) -> float:
    """KS test of the first coordinate against its exact law on the sphere: (u_1 + 1)/2 ~ Beta((d-1)/2, (d-1)/2)."""
    u = sampler(20_000, d)
    return float(stats.kstest((u[:, 0] + 1) / 2, stats.beta((d - 1) / 2, (d - 1) / 2).cdf).pvalue)


@pytest.mark.parametrize("d", [3, 6])
def test_uniform_sphere_distribution_ks(d):
    assert _ks_pvalue(lambda n, d: uniform_sphere(n, d, seed=11), d) > 1e-3


def test_ks_catches_non_uniform_sampler():
    def cube(n, d):  # normalised uniform-in-cube points: not uniform on the sphere
        g = np.random.default_rng(11).uniform(-1, 1, size=(n, d))
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    assert _ks_pvalue(cube, 3) < 1e-6


def test_uniform_sphere_backends(backend):
    xp = backend.xp
    ref = uniform_sphere(50, 4, seed=1)
    for dtype, tol in ((xp.float64, 1e-15), (xp.float32, 1e-6)):
        u = uniform_sphere(50, 4, seed=1, xp=xp, device=backend.device, dtype=dtype)
        assert u.dtype == dtype and tuple(u.shape) == (50, 4)
        if backend.device is not None:
            assert array_api_compat.device(u) == backend.device
        np.testing.assert_allclose(backend.to_numpy(u), ref, rtol=tol, atol=tol)
    u = uniform_sphere(3, 2, seed=0, xp=xp, device=backend.device)
    assert u.dtype == xp.float64


def test_uniform_sphere_rejects_a_non_floating_dtype(backend):
    """Unit vectors rounded to an integer dtype are zeros (as they were returned before): a clear error instead."""
    xp = backend.xp
    for dtype in (xp.int64, xp.int32, xp.bool):
        with pytest.raises(ValueError, match=r"dtype must be a real floating dtype.*got"):
            uniform_sphere(4, 3, seed=0, xp=xp, device=backend.device, dtype=dtype)


def test_uniform_sphere_dtype_as_numpy_understands_it():
    assert uniform_sphere(2, 3, seed=0, dtype="float32").dtype == np.float32
    for bad in ("int64", "no such dtype", np.complex128, 3):
        with pytest.raises(ValueError, match="real floating dtype"):
            uniform_sphere(2, 3, seed=0, dtype=bad)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.sampled_from(["n", "d", "seed"]),
       st.one_of(st.integers(max_value=0), st.floats(0.5, 3.0), st.just(True), st.just(None)))
def test_uniform_sphere_validation(which, bad):
    if which == "seed" and isinstance(bad, int) and not isinstance(bad, bool) and bad == 0:
        bad = -1  # seed 0 is valid
    kwargs = {"n": 3, "d": 2, "seed": 0, which: bad}
    with pytest.raises(ValueError, match=rf"\b{which}\b"):
        uniform_sphere(kwargs["n"], kwargs["d"], seed=kwargs["seed"])


# ----------------------------------------------------------------------------------------------------------------------
# at_angle
# ----------------------------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(2, 12), st.floats(0.0, math.pi), st.integers(0, 2**31), st.one_of(st.none(), st.floats(1e-3, 1e3)))
def test_at_angle_exact_angle_and_norm(d, theta, seed, norm):
    w_star = np.random.default_rng(seed).normal(size=d) * 3.0
    w = at_angle(w_star, theta, seed=seed, norm=norm)
    assert w.shape == (d,)
    r = np.linalg.norm(w_star) if norm is None else norm
    assert abs(np.linalg.norm(w) - r) <= 1e-14 * r
    assert abs(_angle_ref(w, w_star) - theta) <= 1e-14 * (1 + theta)


def test_at_angle_batched_per_trial_angles_and_norms():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(5, 4))
    theta = np.array([0.0, 0.1, 1.0, 2.5, math.pi])
    norms = np.array([1.0, 2.0, 0.5, 3.0, 7.0])
    W = at_angle(S, theta, seed=9, norm=norms)
    np.testing.assert_allclose(_angle_ref(W, S), theta, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), norms, rtol=1e-14)
    np.testing.assert_array_equal(W, at_angle(S, theta, seed=9, norm=norms))  # reproducible
    W1 = at_angle(S, 1.0, seed=9)  # scalar angle, default norm |w*|
    np.testing.assert_allclose(_angle_ref(W1, S), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(W1, axis=1), np.linalg.norm(S, axis=1), rtol=1e-14)
    # the orthogonal direction is random: different seeds, different points at the same angle
    assert not np.allclose(at_angle(S, 1.0, seed=1), at_angle(S, 1.0, seed=2))


@pytest.mark.parametrize("d", [2, 3, 10])
def test_at_angle_teacher_drawn_from_the_same_seed(d):
    """The random direction g is then parallel to w*: the fallback direction must still give the exact angle."""
    w_star = np.random.default_rng(4).standard_normal(d)
    for theta in (0.0, 0.7, math.pi / 2, 3.0):
        w = at_angle(w_star, theta, seed=4)
        assert np.all(np.isfinite(w))
        assert abs(_angle_ref(w, w_star) - theta) <= 1e-14 * (1 + theta)
        assert abs(np.linalg.norm(w) - np.linalg.norm(w_star)) <= 1e-14 * np.linalg.norm(w_star)


def test_at_angle_d1():
    np.testing.assert_array_equal(at_angle(np.array([-2.0]), 0.0, seed=0), [-2.0])
    np.testing.assert_array_equal(at_angle(np.array([-2.0]), math.pi, seed=0, norm=3.0), [3.0])
    with pytest.raises(ValueError, match="angle"):
        at_angle(np.array([1.0]), 1.0, seed=0)


def test_at_angle_backends(backend):
    xp = backend.xp
    S_np = np.random.default_rng(2).normal(size=(3, 6))
    theta_np = np.array([0.2, 1.5, 3.0])
    ref = at_angle(S_np, theta_np, seed=5)
    for dtype, tol in ((xp.float64, 1e-13), (xp.float32, 1e-5)):
        S = backend.asarray(S_np, dtype=dtype)
        W = at_angle(S, backend.asarray(theta_np, dtype=dtype), seed=5)
        assert W.dtype == dtype and array_api_compat.device(W) == array_api_compat.device(S)
        np.testing.assert_allclose(backend.to_numpy(W), ref, atol=tol * np.abs(ref).max())


_bad_angle = st.one_of(st.floats(max_value=-1e-300), st.floats(min_value=3.1416), st.just(math.nan))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(_bad_angle)
def test_at_angle_rejects_bad_angle(theta):
    with pytest.raises(ValueError, match=r"angle.*0 <= angle <= pi"):
        at_angle(np.ones(3), theta, seed=0)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)))
def test_at_angle_rejects_bad_norm(norm):
    with pytest.raises(ValueError, match=r"norm.*norm > 0"):
        at_angle(np.ones(3), 1.0, seed=0, norm=norm)


def test_at_angle_rejects_bad_teacher_shape_and_seed():
    with pytest.raises(ValueError, match="w_star"):
        at_angle(np.zeros(3), 1.0, seed=0)
    with pytest.raises(ValueError, match="w_star"):
        at_angle(np.array([1.0, np.nan]), 1.0, seed=0)
    with pytest.raises(ValueError, match="angle"):
        at_angle(np.ones((2, 3)), np.ones(3), seed=0)
    with pytest.raises(ValueError, match="norm"):
        at_angle(np.ones((2, 3)), 1.0, seed=0, norm=np.ones(3))
    with pytest.raises(ValueError, match="seed"):
        at_angle(np.ones(3), 1.0, seed=-1)
