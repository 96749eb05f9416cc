"""Tests of numerics.model: sampling, forward pass, empirical loss and gradient (independent references)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from numerics import model, population


def _forward_loop(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Reference f(Z_n; w) = (1/k) sum_i max(Z_ni . w, 0) with explicit loops."""
    n, k, _ = Z.shape
    out = np.zeros(n)
    for a in range(n):
        out[a] = sum(max(float(Z[a, i] @ w), 0.0) for i in range(k)) / k
    return out


def test_sample_patches_seeded_shape_and_moments():
    Z = model.sample_patches(4000, 3, 5, seed=7)
    assert Z.shape == (4000, 3, 5) and Z.dtype == np.float64
    np.testing.assert_array_equal(Z, model.sample_patches(4000, 3, 5, seed=7))
    assert not np.array_equal(Z, model.sample_patches(4000, 3, 5, seed=8))
    # i.i.d. N(0, 1): mean within 5 standard errors (1/sqrt(60000)), variance within 5 SE (sqrt(2/60000)).
    assert abs(Z.mean()) < 5 / math.sqrt(Z.size)
    assert abs(Z.var() - 1) < 5 * math.sqrt(2 / Z.size)


def test_forward_matches_loop_and_batch():
    rng = np.random.default_rng(0)
    Z = model.sample_patches(30, 4, 6, seed=1)
    W = rng.standard_normal((3, 6))
    F = model.forward(Z, W)
    assert F.shape == (30, 3)
    for b in range(3):
        np.testing.assert_allclose(F[:, b], _forward_loop(Z, W[b]), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(model.forward(Z, W[b]), F[:, b], rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(model.labels(Z, W[0]), model.forward(Z, W[0]))


def test_empirical_loss_and_grad_match_finite_differences():
    rng = np.random.default_rng(2)
    k, d, n = 3, 4, 50
    Z = model.sample_patches(n, k, d, seed=3)
    w_star = rng.standard_normal(d)
    y = model.labels(Z, w_star)
    w = rng.standard_normal(d)
    r = _forward_loop(Z, w) - y
    assert model.empirical_loss(w, Z, y) == pytest.approx(np.mean(r * r), rel=1e-13)
    g = model.empirical_grad(w, Z, y)
    h = 1e-6  # central differences: error O(h^2) while no pre-activation changes sign (none is within h |Z| of 0)
    fd = np.array([(model.empirical_loss(w + h * e, Z, y) - model.empirical_loss(w - h * e, Z, y)) / (2 * h)
                   for e in np.eye(d)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)
    # the same check catches a wrong gradient (a dropped factor 2 of the squared loss)
    assert not np.allclose(g / 2, fd, rtol=1e-7, atol=1e-8)


def test_empirical_grad_batched_with_per_trial_labels():
    rng = np.random.default_rng(4)
    k, d, n, B = 2, 3, 40, 5
    Z = model.sample_patches(n, k, d, seed=5)
    WS = rng.standard_normal((B, d))
    W = rng.standard_normal((B, d))
    Y = model.labels(Z, WS)
    G = model.empirical_grad(W, Z, Y)
    L = model.empirical_loss(W, Z, Y)
    assert G.shape == (B, d) and L.shape == (B,)
    for b in range(B):
        np.testing.assert_allclose(G[b], model.empirical_grad(W[b], Z, Y[:, b]), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(L[b], model.empirical_loss(W[b], Z, Y[:, b]), rtol=1e-13)
    # shared labels (N,) broadcast over the batch
    np.testing.assert_allclose(model.empirical_grad(W, Z, Y[:, 0])[2], model.empirical_grad(W[2], Z, Y[:, 0]),
                               rtol=1e-13, atol=1e-15)


def _unbiasedness_z(reference, k=3, d=4, n=200, seeds=400):
    """z-scores of the mean (over seeds) of the empirical gradient against ``reference(w, w_star, k)``."""
    w_star = np.array([1.0, -0.5, 0.25, 0.0])
    w = np.array([0.3, 0.8, -0.4, 0.6])
    grads = np.empty((seeds, d))
    for s in range(seeds):
        Z = model.sample_patches(n, k, d, seed=1000 + s)
        grads[s] = model.empirical_grad(w, Z, model.labels(Z, w_star))
    mean = grads.mean(axis=0)
    se = grads.std(axis=0, ddof=1) / math.sqrt(seeds)
    return (mean - reference(w, w_star, k)) / se


def _grad_closed_form(w, w_star, k):
    """Population gradient coded here from theory page section 2 (independent of numerics.population)."""
    nw, ns = np.linalg.norm(w), np.linalg.norm(w_star)
    t = math.acos(np.clip(w @ w_star / (nw * ns), -1, 1))
    A = k + (k * k - k) / math.pi - k * ns * math.sin(t) / (math.pi * nw) - (k * k - k) * ns / (math.pi * nw)
    return (A * w - k * (math.pi - t) / math.pi * w_star) / k**2


def test_empirical_grad_is_unbiased():
    # 400 seeds x 200 samples; fixed seeds, so deterministic. 4.5 standard errors per coordinate (d = 4).
    z = _unbiasedness_z(_grad_closed_form)
    assert np.all(np.abs(z) < 4.5), z
    z_pop = _unbiasedness_z(lambda w, ws, k: population.grad(w, ws, k))
    assert np.all(np.abs(z_pop) < 4.5), z_pop


def test_unbiasedness_check_detects_a_wrong_reference():
    # The closed form with the (pi - t) term's constant dropped: the same check must fail.
    def wrong(w, w_star, k):
        return _grad_closed_form(w, w_star, k) + (k * 0.5 / k**2) * w_star

    assert np.any(np.abs(_unbiasedness_z(wrong)) > 4.5)


def test_backends_agree_with_numpy_and_keep_device(backend):
    xp = backend.xp
    rng = np.random.default_rng(6)
    W = rng.standard_normal((3, 5))
    Z_np = model.sample_patches(20, 4, 5, seed=9)
    Z = model.sample_patches(20, 4, 5, seed=9, xp=xp, device=backend.device)
    np.testing.assert_array_equal(backend.to_numpy(Z), Z_np)
    Wx = backend.asarray(W)
    WS = rng.standard_normal((3, 5))
    Y = model.labels(Z, backend.asarray(WS))
    G = model.empirical_grad(Wx, Z, Y)
    L = model.empirical_loss(Wx, Z, Y)
    Y_np = model.labels(Z_np, WS)
    np.testing.assert_allclose(backend.to_numpy(G), model.empirical_grad(W, Z_np, Y_np), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(L), model.empirical_loss(W, Z_np, Y_np), rtol=1e-12)
    assert G.dtype == xp.float64
    if backend.device is not None:
        assert G.device == backend.device and L.device == backend.device
    Z32 = model.sample_patches(20, 4, 5, seed=9, xp=xp, device=backend.device, dtype=xp.float32)
    G32 = model.empirical_grad(backend.asarray(W, dtype=xp.float32), Z32,
                               model.labels(Z32, backend.asarray(WS, dtype=xp.float32)))
    assert G32.dtype == xp.float32
    # float32: rounding of N k = 80 products of O(1) terms, relative ~1e-6
    np.testing.assert_allclose(backend.to_numpy(G32), model.empirical_grad(W, Z_np, Y_np), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("args, name", [((0, 2, 3), "n_samples"), ((5, 0, 3), "k"), ((5, 2, 0), "d"),
                                        ((5, 2.5, 3), "k")])
def test_sample_patches_validation(args, name):
    with pytest.raises(ValueError, match=name):
        model.sample_patches(*args, seed=0)


def test_shape_validation():
    Z = model.sample_patches(5, 2, 3, seed=0)
    with pytest.raises(ValueError, match="w must have shape"):
        model.forward(Z, np.ones(4))
    with pytest.raises(ValueError, match="Z must have shape"):
        model.forward(Z[0], np.ones(3))
    with pytest.raises(ValueError, match="y must have shape"):
        model.empirical_loss(np.ones((2, 3)), Z, np.ones((5, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_raise_naming_the_argument(backend, bad):
    """A NaN (or inf) sample, filter or label made the loss NaN without a word; now a ValueError names it."""
    Z_np = model.sample_patches(6, 2, 3, seed=0)
    w_np, ws_np = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -1.0])
    y_np = model.labels(Z_np, ws_np)
    poisoned = {"Z": Z_np.copy(), "w": w_np.copy(), "y": y_np.copy()}
    poisoned["Z"][3, 1, 2] = bad
    poisoned["w"][1] = bad
    poisoned["y"][4] = bad
    clean = {"Z": Z_np, "w": w_np, "y": y_np}
    for name in ("Z", "w", "y"):
        args = {n: backend.asarray(poisoned[n] if n == name else clean[n]) for n in clean}
        for fn in (model.empirical_loss, model.empirical_grad):
            with pytest.raises(ValueError, match=rf"^{name} must be finite"):
                fn(args["w"], args["Z"], args["y"])
        if name != "y":
            with pytest.raises(ValueError, match=rf"^{name} must be finite"):
                model.forward(args["Z"], args["w"])
    with pytest.raises(ValueError, match=r"^w_star must be finite"):
        model.labels(backend.asarray(Z_np), backend.asarray(np.where(ws_np == 0, bad, ws_np)))


def test_validate_false_is_the_unchecked_fast_path():
    Z = model.sample_patches(6, 2, 3, seed=0)
    w = np.array([0.5, -1.0, 2.0])
    Zn = Z.copy()
    Zn[2, 0, 0] = np.nan
    f = model.forward(Zn, w, validate=False)
    assert np.isnan(f[2]) and np.all(np.isfinite(np.delete(f, 2)))
    y = model.labels(Z, w, validate=False)
    assert np.isnan(model.empirical_loss(w, Zn, y, validate=False))
    assert not np.all(np.isfinite(model.empirical_grad(w, Zn, y, validate=False)))
    assert float(model.empirical_loss(w, Z, y, validate=False)) == pytest.approx(0.0, abs=1e-12)
